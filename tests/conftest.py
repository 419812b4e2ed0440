"""Shared fixtures: the repository root, its params as a plain dict, the shipped MNIST sample, and
the tiny pipeline run once per session (`make tiny`), which the end-to-end modules share.
"""

import copy
import fcntl
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "mnist_sample.npz"
# The caller's settings that would change what a stage or dvc does in a test's subprocess: a local MNIST
# file, the project's own switches (threads, debug, dependency records) and proxies.
LEAKY_ENV = ("MNIST_NPZ", "http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


# Skips that mean a real part (a browser, a server) was missing, so its tests did not run at all.
REAL_PARTS = ("Chromium", "sshd", "Slurm")


def pytest_unconfigure(config):
    """Say it in the run's very last lines, not only as a skip reason, when a real part could not run."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    missing = sorted({str(report.longrepr[2]).removeprefix("Skipped: ")
                      for report in reporter.stats.get("skipped", [])
                      if isinstance(report.longrepr, tuple) and any(p in str(report.longrepr[2]) for p in REAL_PARTS)})
    for reason in missing:
        reporter.write_line(f"NOT TESTED HERE: {reason}", yellow=True, bold=True)


def pytest_configure(config):
    """Every test and its subprocesses start from the same environment, however the suite is started."""
    for name in list(os.environ):
        if name in LEAKY_ENV or name.startswith("MNIST_AE_"):
            del os.environ[name]


@pytest.fixture(scope="session")
def raw_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture
def params_dict(raw_params) -> dict:
    """A fresh, mutable copy of params.yaml for a test to break."""
    return copy.deepcopy(raw_params)


@pytest.fixture(scope="session")
def sample() -> dict[str, np.ndarray]:
    with np.load(SAMPLE) as archive:
        return {key: archive[key] for key in archive.files}


def git(workdir, *args) -> str:
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args],
                          cwd=workdir, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def committed(tmp_path_factory) -> Path:
    """The committed tree (a clone of HEAD), for the tests that check its consistency: README against
    reports/, docs' quoted numbers, summary against metrics, dvc.lock against code and params.

    Not the working tree: README command 1 reruns the pipeline there, and on another CPU that
    legitimately moves the last digits of every result (`make verify` judges those).
    """
    clone = tmp_path_factory.mktemp("committed") / "repo"
    try:
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True,
                       capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"the committed tree cannot be read through git here: {exc}")
    return clone


def stage_records_of(workdir: Path) -> Path:
    """Where the tiny run's stages record what they imported and read (mnist_ae.stage.RECORD_ENV)."""
    return workdir.parent / f"{workdir.name}-stage-records"


def build_tiny_repo(workdir: Path) -> str:
    """`make tiny` into ``workdir``, results committed, each stage's record beside it; the run's output."""
    from tools.sandbox import sandbox_env
    from mnist_ae.stage import RECORD_ENV

    env = sandbox_env(ROOT, {RECORD_ENV: str(stage_records_of(workdir))})  # read by test_stage_deps
    command = [sys.executable, "-m", "tools.sandbox", "--tiny", str(SAMPLE), "--dir", str(workdir)]
    result = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "tiny results")
    return result.stdout


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory) -> tuple[Path, str]:
    """`make tiny`: every stage on the shipped sample in a fresh git repository, results committed.

    Returns the repository and the run's output (stdout and stderr interleaved); each stage also
    records the project files it imported and the params it read (stage_records_of). Tests only read
    it, or change it and put it back within the test (a param, restored in ``finally``); a module that
    reruns stages or runs experiments works on its own copy (copy_of_tiny_repo), so no test depends on
    which ran before it.

    Under pytest-xdist (``-n 2``) the first worker to need it builds it once for the run, under a lock,
    and every worker takes its own copy: one build, and no worker sees another's temporary edits.
    """
    workdir = tmp_path_factory.mktemp("repo")
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return workdir, build_tiny_repo(workdir)
    shared = tmp_path_factory.getbasetemp().parent / "tiny"  # this run's, beside every worker's basetemp
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if the build fails
        if not (shared / "output.txt").is_file():
            (shared / "output.txt.partial").write_text(build_tiny_repo(shared / "repo"))
            (shared / "output.txt.partial").rename(shared / "output.txt")
    shutil.copytree(shared / "repo", workdir, symlinks=True, dirs_exist_ok=True)
    shutil.copytree(stage_records_of(shared / "repo"), stage_records_of(workdir))
    return workdir, (shared / "output.txt").read_text()


def copy_of_repo(workdir: Path, tmp_path_factory, name: str) -> Path:
    """A private copy of a test repository, its git history, DVC cache, data and models included."""
    copied = tmp_path_factory.mktemp(name) / "repo"
    shutil.copytree(workdir, copied, symlinks=True)
    return copied


def copy_of_tiny_repo(tiny_repo, tmp_path_factory, name: str) -> Path:
    """A private copy of the session's `make tiny` repository."""
    return copy_of_repo(tiny_repo[0], tmp_path_factory, name)


def stop_queue_workers(workdir: Path, env: dict) -> None:
    """`dvc queue stop --kill`: no Celery worker outlives the test that started it, pass or fail."""
    from tools import dvc_cli

    subprocess.run([dvc_cli.executable(), "queue", "stop", "--kill"], cwd=workdir, env=env, capture_output=True,
                   timeout=120)


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on loopback (for the real servers the tests start)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
