"""Smoke runs of the benchmarks on tiny settings: they run and print their tables (timings are not checked)."""

import json
import os
import re
import subprocess
import sys

import pytest

from tools.sandbox import sandbox_env

from conftest import ROOT, SAMPLE

pytestmark = pytest.mark.e2e

sys.path.insert(0, str(ROOT / "benchmarks"))
import determinism  # noqa: E402
import pipeline_runs  # noqa: E402
import tables  # noqa: E402
import timing  # noqa: E402


@pytest.fixture(scope="module")
def workspace(tiny_repo):
    """The session's up-to-date `make quick TINY=1` repository, so the no-op repro has nothing to run."""
    workdir, _ = tiny_repo
    return workdir, sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})


def run(workdir, env, *args):
    result = subprocess.run([sys.executable, *args], cwd=workdir, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_bench_measures_each_section(workspace, tmp_path):
    out = tmp_path / "bench.json"
    printed = run(*workspace, "benchmarks/bench.py", "--models", "dense", "vae", "--epochs", "1", "--repeats", "1",
                  "--skip-tiny-pipeline", "--out", str(out))
    results = json.loads(out.read_text())
    for name in ("dense", "vae"):
        model = results["models"][name]
        assert model["pipeline_images_per_s"] > 0 and model["plain_images_per_s"] > 0 and model["ratio"] > 0
        assert 0 < model["share_of_peak"] < 1
    assert results["peak_gflops"] > 0 and results["startup"]["import_tensorflow_s"] > 0
    assert "(up to date)" in printed  # the no-op repro found nothing to run
    run_info = results["run"]  # when, where and on which code
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workspace[0], capture_output=True, text=True).stdout
    assert run_info["commit"] == head.strip() and run_info["code_changes"] == []
    assert run_info["cpus"] >= 1 and run_info["threads"] >= 1 and re.fullmatch(r"\d+-\d\d-\d\dT.*", run_info["date"])
    assert set(run_info["cpu_flags"]) <= set(timing.NOTABLE_CPU_FLAGS)
    assert f"commit `{head[:7]}` on {run_info['date'][:10]}" in tables.markdown(results)


def test_flops_per_image_of_the_dense_model_from_its_layers():
    import keras

    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(32), keras.layers.Dense(784)])
    wrapper = keras.Sequential([keras.Input((784,)), model])
    assert timing.training_flops_per_image(wrapper) == 3 * 2 * (784 * 32 + 32 * 784)


def test_stage_times_and_memory_are_read_from_a_real_run(tiny_repo):
    _, output = tiny_repo
    stats = pipeline_runs.stage_stats(output)
    assert {"prepare", "train@conv", "evaluate@vae", "figures", "report"} <= set(stats)
    # fetch, noise and report load only NumPy: about 50-70 MiB, so only bare-interpreter size is a safe floor
    assert all(s["seconds"] >= 0 and s["peak_rss_mib"] > 10 for s in stats.values())  # report may take < 0.05 s
    assert stats["train@conv"]["seconds"] > 0.5 and stats["train@conv"]["peak_rss_mib"] > 300  # TensorFlow loaded


def test_determinism_benchmark_prints_and_writes_a_row_per_model(workspace, tmp_path):
    out_file = tmp_path / "determinism.json"  # not the workspace's committed file
    out = run(*workspace, "benchmarks/determinism.py", "--epochs", "1", "--repeats", "1", "--models", "dense",
              "--out", str(out_file))
    assert re.search(r"^dense\s+\d+\.\d+\s+\d+\.\d+\s+[+-]\d+%", out, flags=re.MULTILINE), out
    results = json.loads(out_file.read_text())
    assert list(results["models"]) == ["dense"] and results["models"]["dense"]["deterministic_s"] > 0
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workspace[0], capture_output=True, text=True).stdout
    assert results["run"]["commit"] == head.strip()  # when, where and on which code, as bench.json
    assert f"commit `{head[:7]}` on {results['run']['date'][:10]}" in determinism.markdown(results)


def test_fail_fast_benchmark_times_every_stage(workspace):
    out = run(*workspace, "benchmarks/fail_fast.py", "--repeats", "1")
    assert len(re.findall(r"^stages/\S+( dense)? \(bad param\)\s+\d+\.\d+$", out, flags=re.MULTILINE)) == 9, out


def test_candidates_benchmark_times_a_candidate_against_the_baseline(workspace):
    out = run(*workspace, "benchmarks/candidates.py", "--models", "dense", "--candidates", "spe8",
              "--epochs", "1", "--repeats", "1")
    for candidate in ("spe8",):
        assert re.search(rf"^dense\s+{candidate}\s+\d+\.\d+\s+\d+\.\d+\s+\d+\.\d+", out, flags=re.MULTILINE), out


def test_profile_sums_a_real_epoch_by_op_type(workspace, tmp_path):
    """One epoch of conv under the profiler: its own convolution gradients must be among the ops found."""
    out_file = tmp_path / "profile.json"
    printed = run(*workspace, "benchmarks/profile_ops.py", "--models", "conv", "--out", str(out_file))
    conv = json.loads(out_file.read_text())["models"]["conv"]
    ops = {op["op"]: op for op in conv["ops"]}
    assert {"Conv2DBackpropFilter", "Conv2DBackpropInput"} <= set(ops) or \
        {"_MklNativeConv2DBackpropInput"} <= set(ops), sorted(ops)
    assert all(op["seconds"] > 0 and op["count"] > 0 for op in conv["ops"])
    # in seconds, not the trace's picoseconds: ops on the compute threads fit in the epoch on every core
    assert 0 < sum(op["seconds"] for op in conv["ops"]) <= conv["epoch_seconds"] * os.cpu_count()
    assert "| conv |" in printed and "by pass: forward" in printed


@pytest.mark.parametrize("op_type, expected", [
    ("Conv2DBackpropFilter", "backward"), ("MaxPoolGrad", "backward"), ("_MklNativeConv2DBackpropInput", "backward"),
    ("_FusedConv2D", "forward"), ("Tile", "forward"), ("ResourceApplyAdam", "update"),
    ("AssignAddVariableOp", "update")])
def test_profile_sorts_op_types_into_passes(op_type, expected):
    import profile_ops

    assert profile_ops.op_pass(op_type) == expected


def test_readme_tables_flag_each_goal_from_the_measurements():
    stage = {"seconds": 10.0, "peak_rss_mib": 900.0}
    run = {"wall_seconds": 130.0, "fit_seconds": 100.0, "overhead": 1.3,
           "stages": {"prepare": dict(stage), "train@dense": {**stage, "seconds": 110.0, "fit_seconds": 100.0},
                      "figures": {**stage, "peak_rss_mib": 2100.0}}}
    model = {"pipeline_images_per_s": 1000.0, "plain_images_per_s": 900.0, "ratio": 1.11, "pair_ratios": [1.1],
             "training_mflops_per_image": 1.0, "share_of_peak": 0.1}
    results = {"machine": "test", "peak_gflops": 100.0, "epochs": 1, "repeats": 1, "models": {"dense": model},
               "startup": {"python_s": 0.01, "import_tensorflow_s": 3.0}, "noop_repro_s": 0.9,
               "canonical_pipeline": run}
    assert pipeline_runs.overhead_split(run) == {"between stages": 0.0, "train stages besides fit": 10.0, "other stages": 20.0}
    table = tables.markdown(results)
    assert "| ratio A/B | ≥ 1.0 for every model | 1.11 at the lowest (dense) | yes |" in table
    assert "| canonical pipeline overhead | ≤ 1.10 | 1.30 | **no** |" in table
    assert "| peak RSS of any stage | ≤ 2 GiB | 2,100 MiB (figures, canonical) | **no** |" in table
    assert "| canonical | 130 s | 100 s | 1.30 | 0 s | 10 s | 20 s |" in table
    assert "Sections 1–5 measured on test, commit and date not recorded" in table
    run["run"] = {"commit": "0123456789abcdef", "code_changes": [], "date": "2026-11-29T05:00:00+00:00",
                  "cpu": "Some CPU", "cpu_family_model": "6/143", "cpu_flags": ["amx_bf16", "avx2"], "cpus": 2,
                  "threads": 2}
    assert ("The canonical run (section 6): test, commit `0123456` on 2026-11-29, CPU family/model 6/143 "
            "(amx_bf16, avx2), 2 threads.") in tables.markdown(results)


def test_versus_table_sums_one_epoch_of_each_model_into_the_training_speed_up():
    import versus

    def side(seconds):
        return {"seconds_per_epoch": seconds, "user_s": 1.0, "sys_s": 0.1, "minor_faults": 10.0}

    record = {"machine": {"commit": "1111111aaaa", "date": "2026-11-30T00:00:00+00:00", "cpu": "Some CPU",
                          "cpu_family_model": "6/207", "cpu_flags": ["avx2"], "threads": 2},
              "against": "2222222bbbb", "epochs": 2, "repeats": 2,
              "models": {"dense": {"against": side(3.0), "this": side(1.0), "speed_up": 3.0, "pairs": [3.0, 3.0]},
                         "conv": {"against": side(27.0), "this": side(19.0), "speed_up": 1.42, "pairs": [1.4, 1.44]}}}
    table = versus.markdown(record)
    # (3 + 27) / (1 + 19): weighted by each model's epoch time, not the mean of the two speed-ups (2.21)
    assert ("One epoch of each model above (dense, conv), summed: 30.0 s at `2222222`, 20.0 s at `1111111` "
            "(**1.50×**)") in table
    assert "| conv | `1111111` | 19.0 | 1.0 | 0.1 | 10 | **1.42** (1.40, 1.44) |" in table
