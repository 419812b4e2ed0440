"""The same params give bit-identical weights and metrics, run to run, in separate processes."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from mnist_ae.sandbox import SAMPLE, TINY_OVERRIDES, dvc, prepare_sandbox, sandbox_env

from conftest import ROOT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def inputs_ready(tmp_path_factory):
    workdir = prepare_sandbox(ROOT, tmp_path_factory.mktemp("determinism"), TINY_OVERRIDES)
    env = sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})
    dvc(workdir, "repro", "noise", "classifier", env=env, capture=True)
    return workdir, env


def run_stage(workdir, env, *args):
    result = subprocess.run([sys.executable, *args], cwd=workdir, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def weights(path):
    import keras

    from mnist_ae.models import load

    keras.backend.clear_session()
    return load(path).get_weights()


def train_and_evaluate_twice(workdir, env, name, keep):
    runs = []
    for attempt in range(2):
        run_stage(workdir, env, "stages/train.py", name)
        run_stage(workdir, env, "stages/evaluate.py", name)
        kept = keep / f"run{attempt}"
        shutil.copytree(workdir / "plots" / "train" / name, kept / "log")
        shutil.copy(workdir / "models" / f"{name}.keras", kept / "model.keras")
        shutil.copy(workdir / "metrics" / f"{name}.json", kept / "metrics.json")
        runs.append(kept)
    return runs


@pytest.fixture(scope="module", params=["conv", "vae"])
def two_runs(request, inputs_ready, tmp_path_factory):
    workdir, env = inputs_ready
    return request.param, train_and_evaluate_twice(workdir, env, request.param, tmp_path_factory.mktemp("runs"))


def test_weights_and_metrics_repeat_bit_for_bit(two_runs):
    _, (first, second) = two_runs
    for a, b in zip(weights(first / "model.keras"), weights(second / "model.keras"), strict=True):
        np.testing.assert_array_equal(a, b)
    assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()


def test_training_logs_repeat_bit_for_bit(two_runs):
    _, (first, second) = two_runs
    differ = [str(tsv.relative_to(first / "log")) for tsv in sorted((first / "log").rglob("*.tsv"))
              if tsv.read_bytes() != (second / "log" / tsv.relative_to(first / "log")).read_bytes()]
    assert differ == []
