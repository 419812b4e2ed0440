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

from tools.dev.sandbox import apply_overrides, sandbox_env

from conftest import SAMPLE, copy_of_tiny_repo, git

pytestmark = pytest.mark.e2e

STRATEGIES = ("default", "mirrored")


@pytest.fixture(scope="module")
def finished(tiny_repo, tmp_path_factory):
    """A copy of `make quick TINY=1`, whose models trained on the default path; and that run's output."""
    workdir = copy_of_tiny_repo(tiny_repo, tmp_path_factory, "scaling")
    return workdir, sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)}), tiny_repo[1]


def keep_run(workdir, name, dest):
    shutil.copytree(workdir / "plots" / "train" / name, dest / "log")
    shutil.copy(workdir / "models" / f"{name}.keras", dest / "model.keras")
    return dest


@pytest.fixture(scope="module", params=["dense", "vae"])
def runs(request, finished, tmp_path_factory):
    """{strategy: (stage output, folder with the model and its training logs)} for one model: the default
    path is `make quick TINY=1`'s run (`train.strategy: auto`, the default strategy on one device), the mirrored
    one is trained here at otherwise identical settings."""
    workdir, env, tiny_output = finished
    name, keep = request.param, tmp_path_factory.mktemp(f"strategies-{request.param}")
    results = {"default": (tiny_output, keep_run(workdir, name, keep / "default"))}
    apply_overrides(workdir / "params.yaml", {"train.strategy": "mirrored"})
    try:
        run = subprocess.run([sys.executable, "stages/train.py", name], cwd=workdir, env=env,
                             capture_output=True, text=True)
    finally:
        git(workdir, "checkout", "--", "params.yaml")
    assert run.returncode == 0, run.stderr[-2000:]
    results["mirrored"] = (run.stdout + run.stderr, keep_run(workdir, name, keep / "mirrored"))
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
