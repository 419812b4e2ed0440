"""Results that travel: models and data through the DVC remote, the run cache, experiments and the
named artifacts, between clones of the tiny pipeline, as a team would use them.

Alice's clone holds the tiny run's results (its DVC cache). She pushes them to the default remote,
`../../mnist-ae-dvc-store` from `.dvc/`, so a directory beside every clone in the same folder, and
runs one experiment. Every test then starts from its own fresh clone of the shared git origin.
The SSH round-trip goes through a real sshd on a loopback port, where one can start; the S3 bucket's, through
moto's server, in test_sharing_s3.py, which copies this module's team.
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
from tools.sharing.check import stale_stages
from mnist_ae.dotted import flatten
from tools.dev.sandbox import sandbox_env

from conftest import SAMPLE, built_once, free_port, git, real_part_missing, table_rows, with_the_projects_venv
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
    """``python -m tools.sharing.remote`` (make pull, make check REMOTE=1)."""
    return subprocess.run([sys.executable, "-m", "tools.sharing.remote", *args], cwd=workdir,
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


def team_in(root: Path) -> Team:
    return Team(root, root / "origin.git", root / "alice")


def build_team(workdir: Path, root: Path) -> None:
    """The origin, Alice's clone with the tiny run's results and her experiment, all pushed to the store."""
    team = team_in(root)
    git(root, "clone", "--quiet", "--bare", str(workdir), str(team.origin))
    git(root, "clone", "--quiet", str(team.origin), str(team.alice))
    shutil.copytree(workdir / ".dvc" / "cache", team.alice / ".dvc" / "cache")  # the tiny run's results
    dvc(team.alice, "checkout")
    dvc(team.alice, "push")
    name, override = EXPERIMENT
    dvc(team.alice, "exp", "run", "-n", name, "-S", override)
    dvc(team.alice, "exp", "push", "origin", name)
    pushed = remote_tool(team.alice, "push")  # make push: the run cache with the files its entries name
    assert pushed.returncode == 0, pushed.stderr


@pytest.fixture(scope="module")
def team(tiny_repo, tmp_path_factory) -> Team:
    """This module's copy of the team, built once per test run (test_sharing_s3.py shares it)."""
    built = built_once(tmp_path_factory, "team", lambda root: build_team(tiny_repo[0], root))
    team = team_in(tmp_path_factory.mktemp("team") / "team")
    shutil.copytree(built, team.root, symlinks=True)
    git(team.alice, "remote", "set-url", "origin", str(team.origin))  # the copy's own origin
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


def clone_with_a_spread(team: Team, name: str) -> Path:
    """A clone with its models pulled and, committed, a made-up seed spread at its own params: sd 0.01 for
    dense's BCE and 0.5 for its PSNR, the only ones it has."""
    workdir = clone(team, name)
    dvc(workdir, "pull")
    params = flatten(yaml.safe_load((workdir / "params.yaml").read_text()))
    committed = json.loads((workdir / "metrics" / "dense.json").read_text())["test"]
    spread = {"varied": "base.seed", "seeds": [1, 2, 3], "commit": "0" * 40,
              "params": {key: value for key, value in params.items() if key != "base.seed"},
              "metrics": {"dense": {name: {"mean": committed[name], "sd": sd, "min": committed[name] - sd,
                                           "max": committed[name] + sd, "n": 3}
                                    for name, sd in (("bce_nats", 0.01), ("psnr_db", 0.5))}}}
    (workdir / "records" / "seed_spread.json").write_text(json.dumps(spread))
    dvc(workdir, "repro")  # the report stage reads the spread
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "a seed spread at these params")
    return workdir


def test_a_review_against_head_judges_a_rerun_whose_numbers_moved(team):
    """`make review BASE=HEAD` after README command 1 on another CPU: the rerun's numbers moved; it says
    which moved beyond the seed spread. The spread is made up, at these params, with known sds."""
    kim = clone_with_a_spread(team, "kim")
    # The rerun on another CPU: BCE moved by half a sigma, PSNR by four sigmas, for the worse.
    metrics_file = kim / "metrics" / "dense.json"
    metrics = json.loads(metrics_file.read_text())
    metrics["test"]["bce_nats"] += 0.005
    metrics["test"]["psnr_db"] -= 2.0
    metrics_file.write_text(json.dumps(metrics, indent=2))
    dvc(kim, "commit", "--force", "evaluate@dense")
    dvc(kim, "repro")  # figures and the results table follow the moved metrics, as in a real rerun
    review = subprocess.run([sys.executable, "-m", "tools.review.review", "--base", "HEAD", "--out", "report.md"],
                            cwd=kim, env=env_for(kim), capture_output=True, text=True)
    assert review.returncode == 0, review.stderr
    summary = review.stdout.splitlines()[0]
    assert summary.startswith("key metrics against HEAD") and "1 worse" in summary and "1 within seed noise" in summary
    report = (kim / "report.md").read_text()
    rows = {row[0].strip("`"): row[-1] for row in table_rows(report)}
    assert rows["dense.bce_nats"] == "within seed noise" and rows["dense.psnr_db"] == "**worse**", rows

    # The gate's σ is the base's: a pull request that widens it or deletes it is still judged by it.
    def gate() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tools.review.review", "--base", "HEAD", "--out", "gate.md",
                               "--fail-on-worse", "--allow-stale"], cwd=kim, env=env_for(kim), capture_output=True,
                              text=True)

    record = kim / "records" / "seed_spread.json"
    committed_record = record.read_text()
    widened = json.loads(committed_record)
    widened["metrics"]["dense"]["psnr_db"]["sd"] *= 100  # 4 σ worse becomes 0.04 σ
    for verb, edit in (("changes", lambda: record.write_text(json.dumps(widened))), ("deletes", record.unlink)):
        edit()
        try:
            result = gate()
        finally:
            record.write_text(committed_record)
        assert result.returncode == 1, f"the pull request that {verb} the record passed: {result.stderr}"
        assert "worse: dense.psnr_db" in result.stderr
        assert f"**This pull request {verb} `records/seed_spread.json`**" in (kim / "gate.md").read_text()
    del metrics["test"]["psnr_db"]  # the pull request drops a key metric
    metrics_file.write_text(json.dumps(metrics, indent=2))
    dvc(kim, "commit", "--force", "evaluate@dense")
    dropped = gate()
    assert dropped.returncode == 1
    assert "removed: dense.psnr_db is a key metric at the base" in dropped.stderr, dropped.stderr


def test_the_gate_takes_its_rules_from_the_base_and_its_numbers_from_the_models(team):
    """A pull request that makes dense's PSNR 4 σ worse by editing metrics/dense.json by hand (then
    `dvc commit --force`), and loosens every rule it could reach: SIGMA_MULTIPLE, the review's verdict code and
    the Makefile's gate recipe. The review workflow's gate step, run as written from a checkout of the base,
    fails it twice over: worse beyond 2 σ by the base's rules, and a committed number its models do not give."""
    quinn = clone_with_a_spread(team, "quinn")
    committed = json.loads((quinn / "metrics" / "dense.json").read_text())["test"]
    metrics_file = quinn / "metrics" / "dense.json"
    metrics = json.loads(metrics_file.read_text())
    metrics["test"]["psnr_db"] -= 2.0
    metrics_file.write_text(json.dumps(metrics, indent=2))
    dvc(quinn, "commit", "--force", "evaluate@dense")
    report_py = quinn / "src" / "mnist_ae" / "report.py"
    report_py.write_text(report_py.read_text().replace("SIGMA_MULTIPLE = 2.0", "SIGMA_MULTIPLE = 200.0"))
    with open(quinn / "tools" / "review" / "verdicts.py", "a") as verdicts:
        verdicts.write("\n\ndef regressions(changes):\n    return []\n")
    makefile = quinn / "Makefile"
    makefile.write_text(makefile.read_text().replace("python -m tools.review.gate", "true"))
    dvc(quinn, "repro")  # the report stage follows the moved metric and the new SIGMA_MULTIPLE
    git(quinn, "add", "-A")
    git(quinn, "commit", "-q", "-m", "the pull request")
    git(quinn, "update-ref", "refs/remotes/origin/base-branch", "HEAD~1")  # what actions/checkout fetches
    base = team.root / "quinn-base"  # the gate job's `base` checkout
    git(quinn, "worktree", "add", "--quiet", "--detach", str(base), "HEAD~1")
    with_the_projects_venv(base)
    step = workflow_step(PR_WORKFLOW, "gate", next(
        step["name"] for step in yaml.safe_load(PR_WORKFLOW.read_text())["jobs"]["gate"]["steps"]
        if "tools.review.gate" in step.get("run", "")))
    assert step["working-directory"] == "base"

    def gate_step(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-e", "-c", step["run"].replace("../head", str(quinn))], cwd=base,
                              env={**env_for(quinn, BASE_REF="base-branch", **env), "PYTHONPATH": ""},
                              capture_output=True, text=True, timeout=900)

    recomputed = gate_step(DVC_REMOTE_URL=str(team.store))
    assert recomputed.returncode == 1, recomputed.stdout[-2000:] + recomputed.stderr[-2000:]
    lines = recomputed.stderr.splitlines()
    assert any(line.startswith("worse: dense.psnr_db") for line in lines), recomputed.stderr
    edited = [line for line in lines if line.startswith("recomputed: ")]
    assert edited == [f"recomputed: metrics/dense.json test.psnr_db is committed as {metrics['test']['psnr_db']:.6g}, "
                      f"its models give {committed['psnr_db']:.6g}"], recomputed.stderr
    assert "numbers recomputed from the head's models on the team's DVC remote (metrics/dense.json): 1 differ" \
        in (base.parent / "report.md").read_text()  # the one metrics file the pull request changed


# --- a real sshd on a loopback port --------------------------------------------------------------

@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """An OpenSSH server on 127.0.0.1 that accepts one generated key, for this user; stopped at the end."""
    daemon = shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd",) if Path(p).is_file()), None)
    if daemon is None:
        real_part_missing("sshd", "not installed (Debian: apt-get install openssh-server; .ci/run installs it as root)")
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
            real_part_missing("sshd", f"it could not start: {server.stderr.read().strip()[-300:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        real_part_missing("sshd", "it did not listen on its loopback port within 15 s")
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
    """HOME is the test's own, so the server's key is the only one known and nothing of the user's is read.
    `make push` sends the run cache too, and the files its entries name (Alice's experiment's model)."""
    remote_dir = team.root / "ssh-store"
    alice_ssh = clone(team, "alice-ssh")
    shutil.copytree(team.alice / ".dvc" / "cache", alice_ssh / ".dvc" / "cache")
    dvc(alice_ssh, "checkout")
    add_ssh_remote(alice_ssh, sshd, remote_dir)
    pushed = remote_tool(alice_ssh, "push", HOME=str(sshd["home"]))
    assert pushed.returncode == 0, pushed.stderr
    assert sorted(path.name for path in (remote_dir / "runs").glob("*/*/*")) == \
        sorted(value for _, value in local_entries(alice_ssh))
    assert store_object(remote_dir, experiment_md5(team)).is_file()
    ivan = clone(team, "ivan")
    add_ssh_remote(ivan, sshd, remote_dir)
    dvc(ivan, "pull", HOME=str(sshd["home"]))
    for path in lock_outputs(ivan):
        assert tree_digest(ivan / path) == tree_digest(alice_ssh / path), path
    assert "up to date" in dvc(ivan, "status").stdout


def local_entries(workdir: Path, cache: Path | None = None) -> list[tuple[str, str]]:
    runs = (cache or workdir / ".dvc" / "cache") / "runs"
    return sorted((path.parent.name, path.name) for path in runs.glob("*/*/*"))


def experiment_md5(team: Team) -> str:
    """The md5 of Alice's experiment's model: a file only its run-cache entry names, never dvc.lock."""
    return hashlib.md5(experiment_file(team.alice, EXPERIMENT[0], "models/dense.keras")).hexdigest()


def test_make_push_finds_a_cache_that_dvc_cache_dir_moved(team):
    """A team that moved its cache (`dvc cache dir /scratch/...`) pushes every entry and its files."""
    olga = clone(team, "olga")
    moved = team.root / "olga-scratch-cache"
    shutil.copytree(team.alice / ".dvc" / "cache", moved)
    dvc(olga, "cache", "dir", "--local", str(moved))
    dvc(olga, "checkout")
    store = team.root / "olga-store"
    dvc(olga, "remote", "modify", "--local", "store", "url", str(store))
    pushed = remote_tool(olga, "push")
    assert pushed.returncode == 0, pushed.stderr
    entries = local_entries(olga, moved)
    assert entries and f"{len(entries)} run-cache entries' files" in pushed.stdout, pushed.stdout
    assert sorted(path.name for path in (store / "runs").glob("*/*/*")) == sorted(value for _, value in entries)
    assert store_object(store, experiment_md5(team)).is_file()


PR_WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "pr-review.yml"
SWEEP_WORKFLOW = PR_WORKFLOW.with_name("sweep.yml")


def workflow_step(workflow: Path, job: str, name: str) -> dict:
    steps = yaml.safe_load(workflow.read_text())["jobs"][job]["steps"]
    return next(step for step in steps if step.get("name") == name)


def secrets_filled(step_env: dict, secrets: dict[str, str]) -> dict[str, str]:
    """A step's `env:` with each `${{ secrets.X }}` given as GitHub would, from ``secrets``."""
    filled = {}
    for key, value in step_env.items():
        match = re.fullmatch(r"\$\{\{ secrets\.(\w+) \}\}", str(value))
        assert match, f"{key}: {value} is not a secret"
        filled[key] = secrets[match.group(1)]
    return filled
