"""The same params give bit-identical results: `dvc repro -f` of the whole tiny pipeline changes nothing.

The forced rerun trains every model (the conv model and the VAE among them) again in new processes,
so equal weights, metrics and curves here mean run-to-run determinism, not a cache hit. It runs on a
copy of the session's `make tiny` repository.
"""

import json
import shutil
import subprocess
import sys

import pytest

from tools.sandbox import sandbox_env

from conftest import SAMPLE, copy_of_tiny_repo, git

pytestmark = pytest.mark.e2e

RESULTS = ("metrics", "plots/train", "plots/robustness", "reports")  # every text output of the pipeline


def snapshot(workdir, dest):
    for path in (*RESULTS, "models"):
        shutil.copytree(workdir / path, dest / path)
    return dest


@pytest.fixture(scope="module")
def two_runs(tiny_repo, tmp_path_factory):
    workdir = copy_of_tiny_repo(tiny_repo, tmp_path_factory, "determinism")
    env = sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})  # the thread count make tiny ran with
    keep = tmp_path_factory.mktemp("runs")
    first, lock_before = snapshot(workdir, keep / "first"), (workdir / "dvc.lock").read_text()
    # `make bench WHAT=canonical` is this rerun (dvc repro --force) plus its timing, so it runs it here.
    bench_json = keep / "bench.json"
    forced = subprocess.run([sys.executable, "benchmarks/bench.py", "--canonical", "--out", str(bench_json)],
                            cwd=workdir, env=env, capture_output=True, text=True)
    assert forced.returncode == 0, forced.stdout[-2000:] + forced.stderr[-2000:]
    assert "Running stage 'train@conv'" in forced.stdout and "Running stage 'train@vae'" in forced.stdout
    second, lock_after = snapshot(workdir, keep / "second"), (workdir / "dvc.lock").read_text()
    changed = git(workdir, "status", "--porcelain").split()
    return first, second, (lock_before, lock_after, changed), json.loads(bench_json.read_text())


def files(root, relative):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / relative).rglob("*")) if p.is_file()}


def test_forced_rerun_gives_an_identical_metrics_tree(two_runs):
    first, second, *_ = two_runs
    assert files(first, "metrics") and files(first, "metrics") == files(second, "metrics")


@pytest.mark.parametrize("relative", ["plots/train", "plots/robustness", "reports"])
def test_forced_rerun_gives_identical_curves_and_tables(two_runs, relative):
    first, second, *_ = two_runs
    assert files(first, relative) == files(second, relative)


@pytest.mark.parametrize("name", ["conv", "vae", "dense", "denoise", "classifier"])
def test_forced_rerun_gives_byte_identical_model_files(two_runs, name):
    first, second, *_ = two_runs
    path = f"models/{name}.keras"
    assert (first / path).read_bytes() == (second / path).read_bytes()  # save_model pins Keras' save time


def test_forced_rerun_changes_nothing_at_all(two_runs):
    *_, (lock_before, lock_after, changed), _ = two_runs
    assert changed == []
    assert lock_before == lock_after


def test_the_canonical_benchmark_times_the_forced_rerun(two_runs):
    *_, bench = two_runs
    run = bench["canonical_pipeline"]
    assert {"train@conv", "train@vae", "evaluate@dense", "report"} <= set(run["stages"])
    fits = [stat["fit_seconds"] for stat in run["stages"].values() if "fit_seconds" in stat]
    assert len(fits) == 6  # one logged fit time per train stage
    for name, stat in run["stages"].items():  # each fit is timed inside its stage's own time
        assert "fit_seconds" not in stat or 0 < stat["fit_seconds"] < stat["seconds"], name
    # Stages run one after another inside the wall time, and training is not all of it.
    assert sum(fits) < sum(stat["seconds"] for stat in run["stages"].values()) <= run["wall_seconds"]
    assert run["overhead"] > 1
