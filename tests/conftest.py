"""Shared fixtures: the repository root, its params as a plain dict, the shipped MNIST sample, and
the tiny pipeline run once per session (`make quick TINY=1`), which the end-to-end modules share.
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

from mnist_ae.machine import THREADS_ENV, configure_tensorflow

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "mnist_sample.npz"
# The caller's settings that would change what a stage or dvc does in a test's subprocess: a local MNIST
# file, the project's own switches (threads, debug, dependency records) and proxies.
# a team's remote and its credentials (a test that wants them sets its own).
LEAKY_ENV = ("MNIST_NPZ", "http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
             "DVC_REMOTE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
             "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")


# Skips that mean a real part (a browser, a server) was missing, so its tests did not run at all.
REAL_PARTS = ("Chromium", "sshd", "Slurm", "S3 server", "git", "root or sudo", "make")
# Who the suite's commits, merges and applied experiments are by: from the environment, never from the
# machine's global git config, which a hosted CI runner does not have.
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "mnist-ae tests", "GIT_AUTHOR_EMAIL": "tests@localhost",
                "GIT_COMMITTER_NAME": "mnist-ae tests", "GIT_COMMITTER_EMAIL": "tests@localhost"}


def real_part_missing(part: str, reason: str) -> None:
    """A real part (a browser, a server, git) cannot run here: a skip that says why, or, under CI=true,
    where every real part must run, a failure naming it."""
    assert part in REAL_PARTS, part
    if os.environ.get("CI") == "true":
        pytest.fail(f"{part} could not run, and under CI=true every real part must: {reason}", pytrace=False)
    pytest.skip(f"{part}: {reason}")


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


def pytest_addoption(parser):
    parser.addoption("--signal-repeats", type=int, default=1, metavar="N",
                     help="run each training-interrupt case N times, each stop a little later (a soak)")


def pytest_configure(config):
    """Every test and its subprocesses start from the same environment, however the suite is started."""
    for name in list(os.environ):
        if name in LEAKY_ENV or name.startswith("MNIST_AE_"):
            del os.environ[name]
    # One TensorFlow thread per process, here and in every stage a test starts: two xdist workers share
    # the cores, and on the tests' tiny models a second thread per process costs more than it gives
    # (docs/testing.md). Set before this process first imports TensorFlow.
    os.environ[THREADS_ENV] = "1"
    configure_tensorflow(os.environ)
    # As on a hosted runner: no global or system git config, so every identity comes from GIT_IDENTITY.
    empty = Path(config.rootpath) / ".pytest_cache" / "empty-gitconfig"
    empty.parent.mkdir(exist_ok=True)
    empty.touch()
    os.environ.update(GIT_IDENTITY, GIT_CONFIG_GLOBAL=str(empty), GIT_CONFIG_NOSYSTEM="1")


@pytest.fixture
def make_installed() -> None:
    """GNU make, which the README's commands and the workflows run: a skip where it is missing, and under
    CI=true a failure."""
    if shutil.which("make") is None:
        real_part_missing("make", "GNU make is not installed (Debian: apt-get install make)")


def as_another_user(path: Path, uid: int = 65534) -> None:
    """Give ``path`` to another user (nobody), as root or through passwordless sudo (a hosted CI runner);
    elsewhere a skip that says why, and under CI=true a failure naming the test."""
    if os.geteuid() == 0:
        os.chown(path, uid, uid)
        return
    try:
        result = subprocess.run(["sudo", "-n", "chown", f"{uid}:{uid}", str(path)], capture_output=True, text=True)
        why = result.stderr.strip() if result.returncode else ""
    except FileNotFoundError:
        why = "sudo is not installed"
    if why:
        real_part_missing("root or sudo", f"only root can give a folder to another user, and `sudo -n` failed "
                                          f"here: {why}")


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
    legitimately moves the last digits of every result (`make review BASE=HEAD` judges those).
    """
    clone = tmp_path_factory.mktemp("committed") / "repo"
    try:
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True,
                       capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        real_part_missing("git", f"the committed tree cannot be read through git here: {exc}")
    return clone


def stage_records_of(workdir: Path) -> Path:
    """Where the tiny run's stages record what they imported and read (mnist_ae.stage.RECORD_ENV)."""
    return workdir.parent / f"{workdir.name}-stage-records"


DETERMINISM_MODULE = "test_determinism.py"  # the module that compares two independent tiny runs


def start_logged(command: list[str], cwd: Path, env: dict, log: Path) -> subprocess.Popen:
    """A build in the background, its output to a file (a pipe nobody reads while waiting would fill)."""
    with open(log, "w") as out:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)


def finished_output(build: subprocess.Popen, log: Path) -> str:
    build.wait()
    output = log.read_text()
    assert build.returncode == 0, output[-3000:]
    return output


def build_tiny_runs(workdir: Path, second: Path | None) -> str:
    """`make quick TINY=1` into ``workdir``, results committed, each stage's record beside it; its output.

    With ``second``, at the same time: `make bench WHAT=canonical` (a timed `dvc repro --force`) in a
    second sandbox at the same settings, for the determinism tests; its bench.json is written beside it.
    Two processes at once on two cores take less time than one after the other.
    """
    from mnist_ae.stage import RECORD_ENV
    from tools.dev.sandbox import prepare_sandbox, sandbox_env, tiny_overrides

    env = sandbox_env(ROOT, {RECORD_ENV: str(stage_records_of(workdir))})  # read by test_stage_deps
    log = workdir.parent / f"{workdir.name}.log"
    builds = [(start_logged([sys.executable, "-m", "tools.dev.sandbox", "--tiny", str(SAMPLE), "--dir", str(workdir)],
                            ROOT, env, log), log)]
    if second is not None:
        prepare_sandbox(ROOT, second, tiny_overrides(SAMPLE))
        log = second.parent / f"{second.name}.log"
        builds.append((start_logged([sys.executable, "-m", "benchmarks.bench", "--canonical", "--out",
                                     str(second.parent / "bench.json")],
                                    second, sandbox_env(second, {"MNIST_NPZ": str(SAMPLE)}), log), log))
    try:
        outputs = [finished_output(build, log) for build, log in builds]
    finally:
        for build, _ in builds:
            build.kill()  # a build still running after the other failed; no-op once finished
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "tiny results")
    return outputs[0]


def wants_second_run(session) -> bool:
    return any(item.path.name == DETERMINISM_MODULE for item in session.items)


@pytest.fixture(scope="session")
def tiny_runs(request, tmp_path_factory) -> tuple[Path, str, Path | None]:
    """`make quick TINY=1`: every stage on the shipped sample in a fresh git repository, results committed; and,
    when the determinism tests are collected, a second run built at the same time (build_tiny_runs).

    Returns the first run's repository, its output (stdout and stderr interleaved) and the second run's
    folder (the repository and its bench.json) or None. Each stage of the first run also records the
    project files it imported and the params it read (stage_records_of).

    They are built once per test run (built_once), and every caller takes its own copy of the first: no
    worker sees another's temporary edits. The second is only read.
    """
    second_wanted = wants_second_run(request.session)

    def build(shared: Path) -> None:
        second = shared / "second-run" / "repo" if second_wanted else None
        (shared / "output.txt").write_text(build_tiny_runs(shared / "repo", second))

    shared = built_once(tmp_path_factory, "tiny", build)
    workdir = tmp_path_factory.mktemp("repo")
    shutil.copytree(shared / "repo", workdir, symlinks=True, dirs_exist_ok=True)
    shutil.copytree(stage_records_of(shared / "repo"), stage_records_of(workdir))
    second = shared / "second-run"
    return workdir, (shared / "output.txt").read_text(), second if (second / "repo").is_dir() else None


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder that ``build(folder)`` fills once per test run, for tests to copy, never to change. Under
    pytest-xdist the first worker to ask builds it under a lock, and every worker gets that same folder."""
    base = tmp_path_factory.getbasetemp()
    shared = (base if os.environ.get("PYTEST_XDIST_WORKER") is None else base.parent) / f"built-{name}"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if the build fails
        if not (shared / "state").is_dir():
            partial = shared / "partial"
            shutil.rmtree(partial, ignore_errors=True)  # an earlier build that failed
            partial.mkdir()
            build(partial)
            partial.rename(shared / "state")
    return shared / "state"


@pytest.fixture(scope="session")
def tiny_repo(tiny_runs) -> tuple[Path, str]:
    """The first of tiny_runs: the `make quick TINY=1` repository and its output. Tests only read it, or change
    it and put it back within the test (a param, restored in ``finally``); a module that reruns stages
    or runs experiments works on its own copy (copy_of_tiny_repo), so no test depends on which ran
    before it."""
    workdir, output, _ = tiny_runs
    return workdir, output


def restore_committed(workdir: Path, env: dict) -> None:
    """Every file as committed: git's from HEAD (not the index, where DVC's autostage puts a rerun's dvc.lock),
    then DVC's outputs as that lock names them, so no rerun's data or model bytes outlive the test that made them."""
    from tools.dev.sandbox import dvc

    git(workdir, "checkout", "HEAD", "--", ".")
    dvc(workdir, "checkout", "--force", env=env, capture=True)


def copy_of_repo(workdir: Path, tmp_path_factory, name: str) -> Path:
    """A private copy of a test repository, its git history, DVC cache, data and models included."""
    copied = tmp_path_factory.mktemp(name) / "repo"
    shutil.copytree(workdir, copied, symlinks=True)
    return copied


def copy_of_tiny_repo(tiny_repo, tmp_path_factory, name: str) -> Path:
    """A private copy of the session's `make quick TINY=1` repository."""
    return copy_of_repo(tiny_repo[0], tmp_path_factory, name)


def with_the_projects_venv(workdir: Path) -> None:
    """The clone uses this checkout's .venv, as `make install` would have made it (the lock unchanged)."""
    (workdir / ".venv").symlink_to(Path(sys.executable).parents[1])
    for name in ("pyproject.toml", "requirements.lock"):  # older than .venv/bin/dvc: make installs nothing
        os.utime(workdir / name, (0, 0))


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


def assert_each_command_is_tested(commands: list[str], tested: dict[str, tuple[str, str]], where: str) -> None:
    """Each of ``commands`` starts with a key of ``tested``, whose (test file, marker) names the test file
    that runs it and what in that file runs it."""
    for command in commands:
        known = [prefix for prefix in tested if command.startswith(prefix)]
        assert known, f"{where} runs an untested command: {command}"
        test_file, marker = tested[known[0]]
        assert marker in (ROOT / "tests" / test_file).read_text(), f"{command}: {test_file} does not run it"


def table_rows(markdown: str) -> set[tuple[str, ...]]:
    """Every row of every markdown table in ``markdown``, as its stripped cells (pandas pads them)."""
    return {tuple(cell.strip() for cell in line.strip().strip("|").split("|"))
            for line in markdown.splitlines() if line.startswith("|")}
