"""Smoke runs of the benchmarks on tiny settings: they run and print their tables (timings are not checked)."""

import json
import re
import subprocess
import sys

import pytest

from benchmarks import pipeline_runs, tables, timing
from tools.dev.sandbox import sandbox_env

from conftest import SAMPLE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def workspace(tiny_repo):
    """The session's up-to-date `make quick TINY=1` repository, so the no-op repro has nothing to run."""
    workdir, _ = tiny_repo
    return workdir, sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})


def run(workdir, env, *args):
    result = subprocess.run([sys.executable, "-m", *args], cwd=workdir, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_bench_measures_each_section(workspace, tmp_path):
    out = tmp_path / "bench.json"
    printed = run(*workspace, "benchmarks.bench", "--models", "dense", "--epochs", "1", "--repeats", "1",
                  "--skip-tiny-pipeline", "--out", str(out))
    results = json.loads(out.read_text())
    assert list(results["models"]) == ["dense"]
    for model in results["models"].values():
        # The tiny sample trains in well under a second an epoch; a broken clock gives 0, inf or nonsense.
        assert 100 < model["pipeline_images_per_s"] < 1e7 and 100 < model["plain_images_per_s"] < 1e7
        assert 0.1 < model["ratio"] < 10, model  # the same model and data two ways: within 10x of each other
        assert model["ratio"] == pytest.approx(model["pipeline_images_per_s"] / model["plain_images_per_s"])
        assert 1e-5 < model["share_of_peak"] < 1
    assert 1 < results["peak_gflops"] < 1e5  # a CPU's float32 matmul
    assert 0.5 < results["startup"]["import_tensorflow_s"] < 120
    assert results["startup"]["python_s"] < results["startup"]["import_tensorflow_s"]
    assert "(up to date)" in printed  # the no-op repro found nothing to run
    run_info = results["run"]  # when, where and on which code
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workspace[0], capture_output=True, text=True).stdout
    assert run_info["commit"] == head.strip() and run_info["code_changes"] == []
    assert run_info["cpus"] >= 1 and run_info["threads"] >= 1 and re.fullmatch(r"\d+-\d\d-\d\dT.*", run_info["date"])
    assert set(run_info["cpu_flags"]) <= set(timing.NOTABLE_CPU_FLAGS)
    assert f"commit `{head[:7]}` on {run_info['date'][:10]}" in tables.markdown(results)


def test_stage_times_and_memory_are_read_from_a_real_run(tiny_repo):
    _, output = tiny_repo
    stats = pipeline_runs.stage_stats(output)
    assert {"prepare", "train@conv", "evaluate@vae", "figures", "report"} <= set(stats)
    # A stage's own time excludes its start-up, so report can take well under a second; none takes minutes on
    # the tiny sample. fetch, noise and report load only NumPy (about 50-70 MiB): an interpreter's floor.
    assert all(0 < s["seconds"] < 300 and 20 < s["peak_rss_mib"] < 4096 for s in stats.values()), stats
    assert stats["train@conv"]["seconds"] > 0.5 and stats["train@conv"]["peak_rss_mib"] > 300  # TensorFlow loaded
    for stage, stat in stats.items():  # the compute each stage reports lies within its own time
        assert stat.get("fit_seconds", 0) + stat.get("evaluation_seconds", 0) <= stat["seconds"], stage
        assert ("fit_seconds" in stat) == (stage.startswith("train@") or stage == "classifier"), stage
    assert all(stats[stage]["evaluation_seconds"] > 0 for stage in ("evaluate@vae", "baselines", "figures"))
