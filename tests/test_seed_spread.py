"""`make seed-spread` for real, on the tiny sample: a second seed queued, run and measured against the first.

One model keeps the queued rerun short; the spread is gathered the same way for six.
"""

import json
import subprocess

import pytest
import yaml

from mnist_ae.catalogue import KEY_METRICS
from tools.dev.sandbox import dvc, sandbox_env

from conftest import SAMPLE, copy_of_tiny_repo, git, stop_queue_workers, with_the_projects_venv

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def measured(tiny_repo, tmp_path_factory):
    """A copy of the tiny repository reduced to the dense model and committed, then `make seed-spread SEEDS=43`."""
    workdir = copy_of_tiny_repo(tiny_repo, tmp_path_factory, "seed-spread")
    env = sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["train"]["models"] = {"dense": params["train"]["models"]["dense"]}
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc(workdir, "repro", env=env, capture=True)
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "the dense model alone")
    with_the_projects_venv(workdir)
    try:
        result = subprocess.run(["make", "--no-print-directory", "seed-spread", "SEEDS=43"], cwd=workdir, env=env,
                                capture_output=True, text=True, timeout=900)
    finally:
        stop_queue_workers(workdir, env)
    return workdir, result


def test_the_spread_covers_both_seeds_at_the_committed_commit_and_params(measured):
    workdir, result = measured
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    head = git(workdir, "rev-parse", "HEAD").strip()
    assert result.stdout.strip().splitlines()[-1] == f"2 seeds [42, 43] at {head}: wrote records/seed_spread.json"
    spread = json.loads((workdir / "records" / "seed_spread.json").read_text())
    assert spread["varied"] == "base.seed" and spread["seeds"] == [42, 43] and spread["commit"] == head
    assert spread["params"]["train.models.dense.code_size"] == 32 and "base.seed" not in spread["params"]


def test_each_key_metric_spans_the_committed_run_and_the_second_seed(measured):
    """n = 2: the committed seed's value is one end of the range and the mean is its midpoint; another seed
    gives another model, so the spread is not zero."""
    workdir, _ = measured
    dense = json.loads((workdir / "records" / "seed_spread.json").read_text())["metrics"]["dense"]
    committed = json.loads((workdir / "metrics" / "dense.json").read_text())
    measured_names = [metric.name for metric in KEY_METRICS if metric.read(committed) is not None]
    assert sorted(dense) == sorted(measured_names) and "bce_nats" in dense
    for name, stats in dense.items():
        value = next(metric.read(committed) for metric in KEY_METRICS if metric.name == name)
        assert stats["n"] == 2 and value in (stats["min"], stats["max"]), name
        assert stats["mean"] == pytest.approx((stats["min"] + stats["max"]) / 2), name
        assert stats["sd"] == pytest.approx((stats["max"] - stats["min"]) / 2 ** 0.5), name
    assert dense["bce_nats"]["sd"] > 0


def test_runs_pooled_into_a_spread_count_twice_as_many_and_name_the_machine(measured):
    """`--pool-into` (make seed-spread POOL=...): these runs joined to a spread at the same params. Pooled into
    a copy of their own spread, every count doubles, the mean stays and the batch is listed with this CPU."""
    from mnist_ae.machine import cpu_field, cpu_model

    workdir, _ = measured
    record = workdir / "records" / "seed_spread.json"
    copy = workdir / "pooled.json"
    copy.write_text(record.read_text())
    result = subprocess.run([str(workdir / ".venv" / "bin" / "python"), "-m", "tools.dev.seed_spread", "--models",
                             "dense", "--pool-into", str(copy)], cwd=workdir, env=sandbox_env(workdir),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    before, after = json.loads(record.read_text()), json.loads(copy.read_text())
    for name, stats in after["metrics"]["dense"].items():
        assert stats["n"] == 4 and stats["mean"] == pytest.approx(before["metrics"]["dense"][name]["mean"]), name
    machine = f"{cpu_model()}, family {cpu_field('cpu family')} model {cpu_field('model')}"
    assert after["pooled"] == [{"models": ["dense"], "seeds": [42, 43], "commit": before["commit"],
                                "machine": machine}]
