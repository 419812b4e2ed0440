"""Results that travel: models and data through the DVC remote, the run cache, experiments and the
named artifacts, between clones of the tiny pipeline, as a team would use them.

Alice's clone holds the tiny run's results (its DVC cache). She pushes them to the default remote,
`../../mnist-ae-dvc-store` from `.dvc/`, so a directory beside every clone in the same folder, and
runs one experiment. Every test then starts from its own fresh clone of the shared git origin.
The SSH round-trip goes through a real sshd on a loopback port, where one can start.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mnist_ae.models import MODELS
from tools import dvc_cli
from tools.check import stale_stages
from mnist_ae.dotted import flatten
from tools.sandbox import sandbox_env

from conftest import SAMPLE, free_port, git
from test_pipeline import ran_stages

pytestmark = pytest.mark.e2e

STORE = "mnist-ae-dvc-store"  # .dvc/config's default remote, beside the clone
EXPERIMENT = ("dense16", "train.models.dense.code_size=16")  # Alice's experiment: retrains dense only
RUN_CACHED = {f"train@{m}" for m in MODELS} | {f"evaluate@{m}" for m in MODELS} | {
    "fetch", "prepare", "noise", "baselines", "classifier", "figures"}
NO_RUN_CACHE = {"report"}  # reports/results.md is neither metric nor plot; the stage takes a second


@dataclass
class Team:
    root: Path      # the folder that holds the origin, every clone and the default remote
    origin: Path    # the bare git repository everyone pushes to
    alice: Path     # the clone that ran the pipeline and pushed its results

    @property
    def store(self) -> Path:
        return self.root / STORE


def env_for(workdir: Path, **extra: str) -> dict[str, str]:
    return sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE), **extra})


def dvc(workdir: Path, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run([dvc_cli.executable(), *args], cwd=workdir, env=env_for(workdir, **env),
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, f"dvc {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


def remote_tool(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m tools.remote`` (make pull, make check REMOTE=1)."""
    return subprocess.run([sys.executable, "-m", "tools.remote", *args], cwd=workdir,
                          env=env_for(workdir, **env), capture_output=True, text=True, timeout=600)


def clone(team: Team, name: str) -> Path:
    workdir = team.root / name
    git(team.root, "clone", "--quiet", str(team.origin), str(workdir))
    return workdir


def lock_outputs(workdir: Path) -> dict[str, str]:
    """Every DVC-cached output of dvc.lock (data and models) with its md5."""
    lock = yaml.safe_load((workdir / "dvc.lock").read_text())["stages"]
    return {out["path"]: out["md5"] for stage in lock.values() for out in stage.get("outs", [])
            if not is_git_tracked(workdir, out["path"])}


def is_git_tracked(workdir: Path, path: str) -> bool:
    return bool(git(workdir, "ls-files", path).strip())


def tree_digest(path: Path) -> dict[str, str]:
    """sha256 of every file under ``path`` (or of ``path`` itself), by relative name."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {p.relative_to(path).as_posix() if p != path else ".": hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files}


def store_object(store: Path, md5: str) -> Path:
    return store / "files" / "md5" / md5[:2] / md5[2:]


@pytest.fixture(scope="module")
def team(tiny_repo, tmp_path_factory) -> Team:
    workdir, _ = tiny_repo
    root = tmp_path_factory.mktemp("team")
    origin = root / "origin.git"
    git(root, "clone", "--quiet", "--bare", str(workdir), str(origin))
    team = Team(root, origin, root / "alice")
    git(root, "clone", "--quiet", str(origin), str(team.alice))
    shutil.copytree(workdir / ".dvc" / "cache", team.alice / ".dvc" / "cache")  # the tiny run's results
    dvc(team.alice, "checkout")
    dvc(team.alice, "push")
    name, override = EXPERIMENT
    dvc(team.alice, "exp", "run", "-n", name, "-S", override)
    dvc(team.alice, "exp", "push", "origin", name)
    pushed = remote_tool(team.alice, "push")  # make push: the run cache with the files its entries name
    assert pushed.returncode == 0, pushed.stderr
    return team


def test_the_default_remote_is_a_directory_beside_the_clone(team):
    assert dvc(team.alice, "remote", "default").stdout.strip() == "store"
    listed = dvc(team.alice, "remote", "list").stdout
    assert Path(listed.split()[1]).resolve() == team.store.resolve()
    assert (team.store / "files" / "md5").is_dir()


def test_a_second_clone_pulls_identical_models_and_data_and_reruns_nothing(team):
    bob = clone(team, "bob")
    pulled = remote_tool(bob, "pull")
    assert pulled.returncode == 0, pulled.stderr
    outputs = lock_outputs(bob)
    assert {f"models/{m}.keras" for m in MODELS} | {"models/classifier.keras", "data/clean"} <= set(outputs)
    alice_committed = clone(team, "alice-committed")  # Alice's results at the same commit, from her cache
    shutil.copytree(team.alice / ".dvc" / "cache", alice_committed / ".dvc" / "cache")
    dvc(alice_committed, "checkout")
    for path in outputs:
        assert tree_digest(bob / path) == tree_digest(alice_committed / path), path
    assert "up to date" in dvc(bob, "status").stdout
    assert [str(stale) for stale in stale_stages(bob)] == []
    assert ran_stages(dvc(bob, "repro").stdout) == set()


def test_every_stage_that_trains_evaluates_or_draws_keeps_a_run_cache_entry(team):
    """The tiny run's entries, pushed by Alice and pulled into a fresh clone, cover every stage but report."""
    from dvc.repo import Repo

    judy = clone(team, "judy")
    dvc(judy, "pull")
    dvc(judy, "pull", "--run-cache")
    with Repo(str(judy)) as repo:
        cached = {stage.name for stage in repo.index.stages if repo.stage_cache._load(stage)}
        every = {stage.name for stage in repo.index.stages}
    assert cached == every - NO_RUN_CACHE, f"no run-cache entry for {sorted(every - NO_RUN_CACHE - cached)}"
    assert cached == RUN_CACHED


def test_the_run_cache_gives_another_clone_an_experiment_without_training(team):
    """Carol never trained anything: Alice's experiment, and then the way back, restore from the run cache."""
    carol = clone(team, "carol")
    assert remote_tool(carol, "pull").returncode == 0  # make pull: results and run-cache entries
    name, override = EXPERIMENT
    output = dvc(carol, "exp", "run", "--pull", "-S", override).stdout  # --pull: the entries' files
    assert "Stage 'train@dense' is cached - skipping run" in output
    assert ran_stages(output) <= NO_RUN_CACHE, f"retrained or re-evaluated: {ran_stages(output)}"
    alice_model = experiment_file(team.alice, name, "models/dense.keras")
    assert (carol / "models" / "dense.keras").read_bytes() == alice_model
    back = dvc(carol, "exp", "run", "--pull", "-S", "train.models.dense.code_size=32").stdout  # committed value
    assert "Stage 'train@dense' is cached - skipping run" in back and ran_stages(back) <= NO_RUN_CACHE


def experiment_file(workdir: Path, experiment: str, path: str) -> bytes:
    """A DVC-cached output of an experiment, through DVC's API (its commit names the md5)."""
    import dvc.api

    with dvc.api.open(path, repo=str(workdir), rev=experiment, mode="rb") as handle:
        return handle.read()


def test_an_experiment_travels_with_its_models(team):
    dave = clone(team, "dave")
    name, _ = EXPERIMENT
    dvc(dave, "exp", "pull", "origin", name)
    dvc(dave, "exp", "apply", name)
    assert yaml.safe_load((dave / "params.yaml").read_text())["train"]["models"]["dense"]["code_size"] == 16
    assert (dave / "models" / "dense.keras").read_bytes() == experiment_file(team.alice, name, "models/dense.keras")
    assert "up to date" in dvc(dave, "status").stdout


def test_a_model_is_fetched_by_its_artifact_name(team, tmp_path):
    erin = clone(team, "erin")
    subprocess.run([str(Path(sys.executable).with_name("gto")), "register", "dense", "--version", "v1.0.0"],
                   cwd=erin, check=True, capture_output=True, env=env_for(erin, GIT_AUTHOR_NAME="t",
                   GIT_AUTHOR_EMAIL="t@localhost", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@localhost"))
    got = tmp_path / "dense.keras"
    dvc(tmp_path, "artifacts", "get", str(erin), "dense", "-o", str(got))
    assert got.read_bytes() == store_object(team.store, lock_outputs(erin)["models/dense.keras"]).read_bytes()
    assert not (erin / "models" / "dense.keras").exists()  # it came from the remote, not a checkout


def damaged_store(team: Team, workdir: Path, broken: str) -> Path:
    """A copy of the remote in which ``broken``'s object, as ``workdir``'s dvc.lock names it, holds other bytes."""
    copy = team.root / "damaged-store"
    if not copy.exists():
        shutil.copytree(team.store, copy)
        md5 = lock_outputs(workdir)[broken]
        target = store_object(copy, md5)
        target.chmod(0o644)
        target.write_bytes(b"not a keras file")
    return copy


def test_a_damaged_remote_is_one_clear_line_and_checks_out_nothing_false(team):
    frank = clone(team, "frank")
    dvc(frank, "remote", "modify", "--local", "store", "url", str(damaged_store(team, frank, "models/dense.keras")))
    result = remote_tool(frank, "pull")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: DVC remote 'store'"), result.stderr
    assert "models/dense.keras" in lines[0] and "damaged" in lines[0]
    assert not (frank / "models" / "dense.keras").exists()
    assert (frank / "models" / "conv.keras").is_file()  # the intact ones did arrive


def test_an_unreachable_remote_is_one_clear_line(team):
    grace = clone(team, "grace")
    dvc(grace, "remote", "modify", "--local", "store", "url", str(team.root / "no-such-store"))
    result = remote_tool(grace, "pull")
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: DVC remote 'store' ({team.root / 'no-such-store'}) is unreachable: "
                                     f"{team.root / 'no-such-store'} is not a directory (docs/sharing.md says "
                                     f"how to set it)")
    assert not (grace / "models").exists()


def test_the_remote_check_fails_on_an_output_nobody_pushed(team, tmp_path):
    heidi = clone(team, "heidi")
    ok = remote_tool(heidi, "check")
    assert ok.returncode == 0 and "every output in dvc.lock is on DVC remote 'store'" in ok.stdout, ok.stderr
    empty = tmp_path / "empty-store"
    empty.mkdir()
    missing = remote_tool(heidi, "check", DVC_REMOTE_URL=str(empty))
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ") and "models/dense.keras" in missing.stderr
    assert "run `dvc push`" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    dvc(heidi, "remote", "remove", "--local", "team")
    dvc(heidi, "remote", "modify", "--local", "store", "url", str(tmp_path / "nowhere"))
    skipped = remote_tool(heidi, "check")
    assert skipped.returncode == 0 and skipped.stdout.startswith("skipped: no team remote here"), skipped.stdout


def test_a_review_against_head_judges_a_rerun_whose_numbers_moved(team):
    """`make review BASE=HEAD` after README command 1 on another CPU: the rerun's numbers moved; it says
    which moved beyond the seed spread. The spread is made up, at these params, with known sds."""
    kim = clone(team, "kim")
    dvc(kim, "pull")
    params = flatten(yaml.safe_load((kim / "params.yaml").read_text()))
    committed = json.loads((kim / "metrics" / "dense.json").read_text())["test"]
    spread = {"varied": "base.seed", "seeds": [1, 2, 3], "commit": "0" * 40,
              "params": {key: value for key, value in params.items() if key != "base.seed"},
              "metrics": {"dense": {name: {"mean": committed[name], "sd": sd, "min": committed[name] - sd,
                                           "max": committed[name] + sd, "n": 3}
                                    for name, sd in (("bce_nats", 0.01), ("psnr_db", 0.5))}}}
    (kim / "records" / "seed_spread.json").write_text(json.dumps(spread))
    dvc(kim, "repro")  # the report stage reads the spread
    git(kim, "add", "-A")
    git(kim, "commit", "-q", "-m", "a seed spread at these params")
    # The rerun on another CPU: BCE moved by half a sigma, PSNR by four sigmas, for the worse.
    metrics_file = kim / "metrics" / "dense.json"
    metrics = json.loads(metrics_file.read_text())
    metrics["test"]["bce_nats"] += 0.005
    metrics["test"]["psnr_db"] -= 2.0
    metrics_file.write_text(json.dumps(metrics, indent=2))
    dvc(kim, "commit", "--force", "evaluate@dense")
    dvc(kim, "repro")  # figures and the results table follow the moved metrics, as in a real rerun
    review = subprocess.run([sys.executable, "-m", "tools.review", "--base", "HEAD", "--out", "report.md"],
                            cwd=kim, env=env_for(kim), capture_output=True, text=True)
    assert review.returncode == 0, review.stderr
    summary = review.stdout.splitlines()[0]
    assert summary.startswith("key metrics against HEAD") and "1 worse" in summary and "1 within seed noise" in summary
    report = (kim / "report.md").read_text()
    rows = dict(re.findall(r"^\| `([\w.]+)` \|.*\| ([^|]+) \|$", report, re.MULTILINE))
    assert rows["dense.bce_nats"] == "within seed noise" and rows["dense.psnr_db"] == "**worse**", rows


# --- a real sshd on a loopback port --------------------------------------------------------------

@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """An OpenSSH server on 127.0.0.1 that accepts one generated key, for this user; stopped at the end."""
    daemon = shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd",) if Path(p).is_file()), None)
    if daemon is None:
        pytest.skip("no sshd (Debian: apt-get install openssh-server; .ci/run installs it as root)")
    home = tmp_path_factory.mktemp("ssh")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    port = free_port()
    config = home / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {home / 'host_key'}",
        f"AuthorizedKeysFile {home / 'authorized_keys'}", f"PidFile {home / 'sshd.pid'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no", "Subsystem sftp internal-sftp", ""]))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation needs it when run as root
    server = subprocess.Popen([daemon, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.skip(f"sshd could not start: {server.stderr.read().strip()[-300:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.skip("sshd did not listen on its loopback port within 15 s")
    host_key = (home / "host_key.pub").read_text().split()[:2]
    (home / ".ssh").mkdir()
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{port} {' '.join(host_key)}\n")
    yield {"port": port, "key": home / "client_key", "home": home}
    server.terminate()
    server.wait(timeout=10)


def add_ssh_remote(workdir: Path, sshd: dict, path: Path) -> None:
    import getpass

    url = f"ssh://{getpass.getuser()}@127.0.0.1:{sshd['port']}{path}"
    dvc(workdir, "remote", "add", "--local", "--default", "lab", url)
    dvc(workdir, "remote", "modify", "--local", "lab", "keyfile", str(sshd["key"]))


def test_push_and_pull_through_a_real_ssh_server(team, sshd):
    """HOME is the test's own, so the server's key is the only one known and nothing of the user's is read."""
    remote_dir = team.root / "ssh-store"
    alice_ssh = clone(team, "alice-ssh")
    shutil.copytree(team.alice / ".dvc" / "cache", alice_ssh / ".dvc" / "cache")
    dvc(alice_ssh, "checkout")
    add_ssh_remote(alice_ssh, sshd, remote_dir)
    dvc(alice_ssh, "push", HOME=str(sshd["home"]))
    assert (remote_dir / "files" / "md5").is_dir()
    ivan = clone(team, "ivan")
    add_ssh_remote(ivan, sshd, remote_dir)
    dvc(ivan, "pull", HOME=str(sshd["home"]))
    for path in lock_outputs(ivan):
        assert tree_digest(ivan / path) == tree_digest(alice_ssh / path), path
    assert "up to date" in dvc(ivan, "status").stdout
