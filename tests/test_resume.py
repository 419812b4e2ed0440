"""A training run killed after its second epoch resumes there and ends exactly like an uninterrupted run."""

import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tools.dev.sandbox import sandbox_env, tiny_overrides

from conftest import SAMPLE, copy_of_tiny_repo

pytestmark = pytest.mark.e2e

EPOCHS = tiny_overrides(SAMPLE)["train.epochs"]


@pytest.fixture(scope="module")
def finished(tiny_repo, tmp_path_factory):
    """A copy of `make quick TINY=1`: its conv and VAE runs (by dvc repro, never interrupted) are the references."""
    workdir = copy_of_tiny_repo(tiny_repo, tmp_path_factory, "resume")
    return workdir, sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})


def stage(workdir, env, *args):
    result = subprocess.run([sys.executable, *args], cwd=workdir, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def keep_outputs(workdir, name, dest):
    """Copy a finished run's model, training logs and test metrics aside."""
    shutil.copytree(workdir / "plots" / "train" / name, dest / "log")
    shutil.copy(workdir / "models" / f"{name}.keras", dest / "model.keras")
    shutil.copy(workdir / "metrics" / f"{name}.json", dest / "metrics.json")
    return dest


def kill_after_epoch(workdir, env, name, epoch):
    """Start train@name and SIGKILL it (no cleanup at all) once its checkpoint of ``epoch`` is on disk."""
    run = subprocess.Popen([sys.executable, "stages/train.py", name], cwd=workdir, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((workdir / ".resume" / name).glob(f"*/epoch_{epoch:04d}")):
        assert run.poll() is None, "training ended before the checkpoint appeared"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)


@pytest.fixture(scope="module", params=["conv", "vae"])
def resumed_and_uninterrupted(request, finished, tmp_path_factory):
    workdir, env = finished
    name, keep = request.param, tmp_path_factory.mktemp(f"runs-{request.param}")

    uninterrupted = keep_outputs(workdir, name, keep / "uninterrupted")
    assert not (workdir / ".resume").exists()  # a finished run deletes its checkpoints

    (workdir / "models" / f"{name}.keras").unlink()
    shutil.rmtree(workdir / "plots" / "train" / name)
    kill_after_epoch(workdir, env, name, 2)
    assert not (workdir / "models" / f"{name}.keras").exists()
    rerun = stage(workdir, env, "stages/train.py", name)
    stage(workdir, env, "stages/evaluate.py", name)
    return name, rerun.stdout + rerun.stderr, uninterrupted, keep_outputs(workdir, name, keep / "resumed"), workdir


def test_rerun_continues_after_the_last_completed_epoch(resumed_and_uninterrupted):
    name, output, *_ = resumed_and_uninterrupted
    resumed = re.search(rf"resuming {name} after epoch (\d+) of {EPOCHS}", output)
    assert resumed, output[-2000:]
    done = int(resumed.group(1))
    assert 2 <= done < EPOCHS  # killed right after epoch 2's checkpoint; a slow machine may reach 3
    epochs_run = re.findall(r"^Epoch (\d+)/", output, flags=re.MULTILINE)
    assert epochs_run[0] == str(done + 1)  # epoch 1 is not run again


def test_resumed_run_equals_an_uninterrupted_one(resumed_and_uninterrupted):
    import keras

    from mnist_ae.models import load

    name, _, uninterrupted, resumed, _ = resumed_and_uninterrupted
    keras.backend.clear_session()
    for a, b in zip(load(uninterrupted / "model.keras", name).get_weights(),
                    load(resumed / "model.keras", name).get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert (uninterrupted / "metrics.json").read_bytes() == (resumed / "metrics.json").read_bytes()
    for tsv in sorted((uninterrupted / "log").rglob("*.tsv")):  # full curves, epoch 1 on
        assert tsv.read_bytes() == (resumed / "log" / tsv.relative_to(uninterrupted / "log")).read_bytes(), tsv


def test_finished_run_removes_its_checkpoints(resumed_and_uninterrupted):
    *_, workdir = resumed_and_uninterrupted
    assert not (workdir / ".resume").exists()
