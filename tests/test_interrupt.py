"""A training stage stopped mid-run leaves nothing that looks valid, and dvc repro then finishes it."""

import re
import signal
import subprocess
import sys

import pytest

from mnist_ae.sandbox import SAMPLE, TINY_OVERRIDES, apply_overrides, dvc, prepare_sandbox, sandbox_env

from conftest import ROOT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def data_ready(tmp_path_factory):
    """A tiny repository whose data stages have run; no model trained yet."""
    workdir = prepare_sandbox(ROOT, tmp_path_factory.mktemp("interrupt"), {**TINY_OVERRIDES, "train.epochs": 30})
    env = sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})
    dvc(workdir, "repro", "noise", env=env, capture=True)
    return workdir, env


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupted_training_leaves_no_output(data_ready, sig):
    workdir, env = data_ready
    stage = subprocess.Popen([sys.executable, "stages/train.py", "conv"], cwd=workdir, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in stage.stdout:  # Keras prints one summary line per finished epoch
        if re.match(r"\d+/\d+ - ", line):
            break
    stage.send_signal(sig)
    _, stderr = stage.communicate(timeout=120)
    assert stage.returncode == 128 + sig.value
    assert f"error: interrupted by {sig.name}" in stderr and "Traceback" not in stderr
    assert not (workdir / "models" / "conv.keras").exists()
    assert not (workdir / "plots" / "train" / "conv").exists()
    leftovers = [p for p in workdir.rglob("*partial*") if ".dvc" not in p.parts and ".git" not in p.parts]
    assert leftovers == []


def test_dvc_repro_then_completes_the_stage(data_ready):
    workdir, env = data_ready
    apply_overrides(workdir / "params.yaml", {"train.epochs": 2})
    dvc(workdir, "repro", "train@conv", env=env, capture=True)
    assert (workdir / "models" / "conv.keras").is_file()
    assert "up to date" in dvc(workdir, "status", "train@conv", env=env, capture=True).stdout
