"""The same params give bit-identical results: `dvc repro -f` of the whole tiny pipeline changes nothing.

The forced rerun trains every model (the conv model and the VAE among them) again in new processes,
so equal weights, metrics and curves here mean run-to-run determinism, not a cache hit.
"""

import shutil

import numpy as np
import pytest

from mnist_ae.sandbox import SAMPLE, TINY_OVERRIDES, dvc, prepare_sandbox, sandbox_env

from conftest import ROOT

pytestmark = pytest.mark.e2e

RESULTS = ("metrics", "plots/train", "plots/robustness", "reports")  # every text output of the pipeline


def snapshot(workdir, dest):
    for path in (*RESULTS, "models"):
        shutil.copytree(workdir / path, dest / path)
    return dest


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    workdir = prepare_sandbox(ROOT, tmp_path_factory.mktemp("determinism"), TINY_OVERRIDES)
    env = sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})
    keep = tmp_path_factory.mktemp("runs")
    dvc(workdir, "repro", env=env, capture=True)
    first = snapshot(workdir, keep / "first")
    forced = dvc(workdir, "repro", "-f", env=env, capture=True).stdout
    assert "Running stage 'train@conv'" in forced and "Running stage 'train@vae'" in forced
    return first, snapshot(workdir, keep / "second")


def files(root, relative):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / relative).rglob("*")) if p.is_file()}


def test_forced_rerun_gives_an_identical_metrics_tree(two_runs):
    first, second = two_runs
    assert files(first, "metrics") and files(first, "metrics") == files(second, "metrics")


@pytest.mark.parametrize("relative", ["plots/train", "plots/robustness", "reports"])
def test_forced_rerun_gives_identical_curves_and_tables(two_runs, relative):
    first, second = two_runs
    assert files(first, relative) == files(second, relative)


@pytest.mark.parametrize("name", ["conv", "vae", "dense", "denoise", "classifier"])
def test_forced_rerun_gives_identical_weights(two_runs, name):
    import keras

    from mnist_ae.models import load

    first, second = two_runs
    keras.backend.clear_session()
    for a, b in zip(load(first / "models" / f"{name}.keras").get_weights(),
                    load(second / "models" / f"{name}.keras").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
