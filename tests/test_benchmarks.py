"""Smoke runs of the benchmarks on tiny settings: they run and print their tables (timings are not checked)."""

import re
import subprocess
import sys

import pytest

from mnist_ae.sandbox import SAMPLE, TINY_OVERRIDES, dvc, prepare_sandbox, sandbox_env

from conftest import ROOT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def data_ready(tmp_path_factory):
    workdir = prepare_sandbox(ROOT, tmp_path_factory.mktemp("bench"), TINY_OVERRIDES)
    env = sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})
    dvc(workdir, "repro", "noise", env=env, capture=True)
    return workdir, env


def run(workdir, env, *args):
    result = subprocess.run([sys.executable, *args], cwd=workdir, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_determinism_benchmark_prints_a_row_per_model(data_ready):
    out = run(*data_ready, "benchmarks/determinism.py", "--epochs", "1", "--repeats", "1", "--models", "dense", "vae")
    for name in ("dense", "vae"):
        assert re.search(rf"^{name}\s+\d+\.\d+\s+\d+\.\d+\s+[+-]\d+%", out, flags=re.MULTILINE), out


def test_fail_fast_benchmark_times_every_stage(data_ready):
    out = run(*data_ready, "benchmarks/fail_fast.py", "--repeats", "1")
    assert len(re.findall(r"^stages/\S+( dense)? \(bad param\)\s+\d+\.\d+$", out, flags=re.MULTILINE)) == 9, out
