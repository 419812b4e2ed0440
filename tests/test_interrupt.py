"""A training stage stopped mid-run leaves nothing that looks valid, however it was started (a terminal, a
background shell, a detached `dvc queue` worker), and dvc repro then finishes it."""

import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from tools import dvc_cli
from tools.dev.sandbox import apply_overrides, dvc, prepare_sandbox, sandbox_env, tiny_overrides

from conftest import ROOT, SAMPLE, copy_of_tiny_repo, git, stop_queue_workers

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def data_ready(tmp_path_factory):
    """A tiny repository whose data stages have run; no model trained yet."""
    overrides = {**tiny_overrides(SAMPLE), "train.epochs": 30}
    workdir = prepare_sandbox(ROOT, tmp_path_factory.mktemp("interrupt"), overrides)
    env = sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})
    dvc(workdir, "repro", "noise", env=env, capture=True)
    return workdir, env


def ignore_sigint():
    """What a background shell (cron, nohup, ``cmd &``) does to the commands it starts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def pytest_generate_tests(metafunc):
    """``--signal-repeats N`` runs each signal case N times (tests/conftest.py), the proof by repetition."""
    if "repeat" in metafunc.fixturenames:
        repeats = metafunc.config.getoption("--signal-repeats")
        metafunc.parametrize("repeat", range(repeats), ids=[f"run{i + 1}of{repeats}" for i in range(repeats)])


@pytest.mark.parametrize("sig, parent", [(signal.SIGTERM, None), (signal.SIGINT, None),
                                         (signal.SIGINT, ignore_sigint), (signal.SIGTERM, ignore_sigint)],
                         ids=["SIGTERM", "SIGINT", "SIGINT-from-background-shell", "SIGTERM-from-background-shell"])
def test_interrupted_training_leaves_no_output(data_ready, sig, parent, repeat, tmp_path):
    workdir, env = data_ready
    env = {**env, "TMPDIR": str(tmp_path)}  # a stopped stage skips atexit: no temporary file may rely on it
    # Independent cases: a stage that failed to stop in an earlier case may have finished its outputs,
    # and each case starts from scratch rather than resuming the previous one's checkpoint.
    (workdir / "models" / "conv.keras").unlink(missing_ok=True)
    for leftover in (workdir / "plots" / "train" / "conv", workdir / ".resume" / "conv"):
        shutil.rmtree(leftover, ignore_errors=True)
    with tempfile.TemporaryFile("w+") as errors:  # a file, not a pipe nobody reads while stdout is read
        stage = subprocess.Popen([sys.executable, "stages/train.py", "conv"], cwd=workdir, env=env,
                                 preexec_fn=parent, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            first_epoch = threading.Event()
            reader = threading.Thread(target=lambda: [first_epoch.set() for line in stage.stdout
                                                      if re.match(r"\d+/\d+ - ", line)], daemon=True)
            reader.start()  # Keras prints one summary line per finished epoch
            assert first_epoch.wait(timeout=300), "no epoch finished within 300 s"
            time.sleep(repeat % 7 * 0.05)  # repeats land at different points of the second epoch
            stage.send_signal(sig)
            stage.wait(timeout=120)
        finally:
            stage.kill()
        errors.seek(0)
        stderr = errors.read()
    assert stage.returncode == 128 + sig.value, stderr[-2000:]
    assert f"error: interrupted by {sig.name}" in stderr and "Traceback" not in stderr
    assert not (workdir / "models" / "conv.keras").exists()
    assert not (workdir / "plots" / "train" / "conv").exists()
    leftovers = [p for p in workdir.rglob("*partial*") if ".dvc" not in p.parts and ".git" not in p.parts]
    assert leftovers == []
    assert [p.name for p in tmp_path.iterdir()] == []


def test_dvc_repro_then_completes_the_stage(data_ready):
    workdir, env = data_ready
    lock = (workdir / "dvc.lock").read_bytes()  # the data stages' entries, as the fixture left them
    apply_overrides(workdir / "params.yaml", {"train.epochs": 2})  # put back: the signal cases need 30
    try:
        dvc(workdir, "repro", "train@conv", env=env, capture=True)
        assert (workdir / "models" / "conv.keras").is_file()
        assert "up to date" in dvc(workdir, "status", "train@conv", env=env, capture=True).stdout
    finally:  # the params as committed and the lock as it was, whatever the rerun did
        git(workdir, "checkout", "HEAD", "--", "params.yaml")
        (workdir / "dvc.lock").write_bytes(lock)


def queue_log(workdir, env, name):
    return subprocess.run([dvc_cli.executable(), "queue", "logs", name], cwd=workdir, env=env,
                          capture_output=True, text=True).stdout


def wait_until(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(1)
    pytest.fail(f"{what} did not happen within {timeout_s} s")


def test_dvc_queue_kill_stops_a_queued_training_promptly(data_ready):
    """`dvc queue kill` sends SIGINT; the worker runs detached, started here with SIGINT ignored."""
    workdir, env = data_ready
    env = {**env, "PYTHONPATH": "src"}
    dvc(workdir, "exp", "run", "--queue", "-n", "to-kill", "-S", "train.epochs=5000", env=env, capture=True)
    try:
        # Not captured: the worker outlives `dvc queue start` and would hold its pipes open.
        subprocess.run([dvc_cli.executable(), "queue", "start", "-j", "1"], cwd=workdir, env=env, check=True,
                       preexec_fn=ignore_sigint, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: re.search(r"Running stage 'train@\w+'(?s:.*)Epoch 3/", queue_log(workdir, env, "to-kill")),
                   300, "the queued training's third epoch")
        killed_at = time.monotonic()
        dvc(workdir, "queue", "kill", "to-kill", env=env, capture=True)
        status = lambda: dvc(workdir, "queue", "status", env=env, capture=True).stdout  # noqa: E731
        stopped_at = wait_until(lambda: re.search(r"to-kill\s.*Failed", status()), 120, "the experiment's failure")
    finally:
        stop_queue_workers(workdir, env)
    assert stopped_at - killed_at < 60

    log = queue_log(workdir, env, "to-kill")
    stage = re.findall(r"Running stage 'train@(\w+)'", log)[-1]
    assert "error: interrupted by SIGINT" in log and "Traceback" not in log
    info = json.loads(next((workdir / ".dvc" / "tmp" / "exps" / "run").glob("*/*.run")).read_text())
    assert info["name"] == "to-kill" and info["result_ref"] is None  # no experiment commit with results
    workspace = workdir / ".dvc" / "tmp" / "exps" / info["root_dir"].rsplit("/", 1)[-1]
    for leftover in (workspace / "models" / f"{stage}.keras", workspace / "plots" / "train" / stage):
        assert not leftover.exists(), leftover
    assert not [p for p in workspace.rglob("*partial*") if ".dvc" not in p.parts and ".git" not in p.parts]


def stop_handlers_installed(pid):
    """The stage's own handlers are in place: /proc says SIGTERM is caught (Python alone leaves it default)."""
    status = open(f"/proc/{pid}/status").read()
    caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", status, re.MULTILINE).group(1), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def listing(root, relatives):
    return {str(p.relative_to(root)): p.read_bytes() for rel in relatives for p in sorted((root / rel).rglob("*"))
            if p.is_file()} | {rel: (root / rel).read_bytes() for rel in relatives if (root / rel).is_file()}


# (stage command, the outputs it writes); each runs for seconds after its handlers are installed.
LATER_STAGES = [(["evaluate.py", "dense"], ["metrics/dense.json", "plots/robustness/dense.csv"]),
                (["figures.py"], ["plots/figures"])]


@pytest.fixture(scope="module")
def finished(tiny_repo, tmp_path_factory):
    """A copy of `make quick TINY=1`, every stage run: a stage killed here cannot touch the shared one."""
    return copy_of_tiny_repo(tiny_repo, tmp_path_factory, "interrupt-later")


@pytest.mark.parametrize("signals", [(signal.SIGINT,), (signal.SIGTERM, signal.SIGTERM)], ids=["SIGINT", "SIGTERM-twice"])
@pytest.mark.parametrize("command, outputs", LATER_STAGES, ids=["evaluate", "figures"])
def test_an_interrupted_later_stage_keeps_its_previous_outputs(finished, command, outputs, signals):
    """Stopped during evaluation or drawing (a second signal arriving during the cleanup), a stage exits
    with 128 + the signal, prints one line and leaves the outputs of the last run exactly as they were."""
    workdir = finished
    env = sandbox_env(workdir)
    before = listing(workdir, outputs)
    with tempfile.TemporaryFile("w+") as errors:
        stage = subprocess.Popen([sys.executable, f"stages/{command[0]}", *command[1:]], cwd=workdir, env=env,
                                 stdout=subprocess.DEVNULL, stderr=errors, text=True)
        try:
            wait_until(lambda: stop_handlers_installed(stage.pid), 60, "the stage's signal handlers")
            time.sleep(1.5)  # inside TensorFlow's import or the loading of models and data
            for sig in signals:
                stage.send_signal(sig)
                time.sleep(0.05)
            stage.wait(timeout=120)
        finally:
            stage.kill()
        errors.seek(0)
        stderr = errors.read()
    assert stage.returncode == 128 + signals[0].value, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == f"error: interrupted by {signals[0].name}; no output was written, " \
                                              "rerun with dvc repro", stderr[-2000:]
    assert "Traceback" not in stderr
    assert listing(workdir, outputs) == before
    assert not [p for p in workdir.rglob("*partial*") if ".dvc" not in p.parts and ".git" not in p.parts]
