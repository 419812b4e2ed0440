"""The tf.distribute path: training under a one-device MirroredStrategy equals the default path.

On a machine without GPUs, `train.strategy: mirrored` mirrors over the one CPU device, so the
strategy's code path (scope, distributed dataset, replica-aware VAE loss) runs and must change
nothing: the same weights and the same logged training and validation metrics.
"""

import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tools.sandbox import apply_overrides, dvc, prepare_sandbox, sandbox_env, tiny_overrides

from conftest import ROOT, SAMPLE

pytestmark = pytest.mark.e2e

STRATEGIES = ("default", "mirrored")


@pytest.fixture(scope="module")
def data_ready(tmp_path_factory):
    workdir = prepare_sandbox(ROOT, tmp_path_factory.mktemp("scaling"), tiny_overrides(SAMPLE))
    env = sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})
    dvc(workdir, "repro", "noise", env=env, capture=True)
    return workdir, env


@pytest.fixture(scope="module", params=["dense", "vae"])
def runs(request, data_ready, tmp_path_factory):
    """{strategy: (stage output, folder with the model and its training logs)} for one model."""
    workdir, env = data_ready
    name, keep = request.param, tmp_path_factory.mktemp(f"strategies-{request.param}")
    results = {}
    for strategy in STRATEGIES:
        apply_overrides(workdir / "params.yaml", {"train.strategy": strategy})
        run = subprocess.run([sys.executable, "stages/train.py", name], cwd=workdir, env=env,
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-2000:]
        shutil.copytree(workdir / "plots" / "train" / name, keep / strategy / "log")
        shutil.copy(workdir / "models" / f"{name}.keras", keep / strategy / "model.keras")
        results[strategy] = (run.stdout + run.stderr, keep / strategy)
    return name, results


def test_each_strategy_trains_under_its_own_tf_distribute_strategy(runs):
    name, results = runs
    for strategy, expected in (("default", "DefaultDistributionStrategy"), ("mirrored", "MirroredStrategy")):
        output, _ = results[strategy]
        assert re.search(rf"training {name} on \d+ digits, validating on \d+, 1 replica\(s\) of {expected}", output)


def test_one_device_mirrored_strategy_gives_the_default_paths_weights_and_metrics(runs):
    import keras

    from mnist_ae.models import load

    name, results = runs
    default, mirrored = (results[strategy][1] for strategy in STRATEGIES)
    keras.backend.clear_session()
    for a, b in zip(load(default / "model.keras", name).get_weights(),
                    load(mirrored / "model.keras", name).get_weights(),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    curves = sorted((default / "log").rglob("*.tsv"))
    assert len(curves) >= 4  # loss and bce, train and eval
    for tsv in curves:
        ours, theirs = (np.loadtxt(root / "log" / tsv.relative_to(default / "log"), skiprows=1)
                        for root in (default, mirrored))
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, err_msg=str(tsv.relative_to(default)))
