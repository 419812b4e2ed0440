"""A sweep spread over jobs (tools/sweeps/grid_job.py): each grid point clones, pulls, runs and pushes its own
experiment, and a collector pulls them all. The jobs run as a real Slurm job array (slurm-wlm, a
one-node cluster on loopback that the test writes and starts) and, always, as parallel local processes,
each against its own bare Git repository and local folder as the DVC remote, on the tiny pipeline."""

import getpass
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mnist_ae.machine import THREADS_ENV
from tools import dvc_cli
from tools.dev.sandbox import dvc, sandbox_env

from conftest import ROOT, free_port, git, real_part_missing

pytestmark = pytest.mark.e2e

BAD_POINT = "train.models.dense.code_size=0"


class Sweep:
    """A bare Git repository and a DVC remote holding the tiny pipeline's commit, and a grid file."""

    def __init__(self, tiny_repo, base: Path, name: str, points: list[str]):
        workdir, _ = tiny_repo
        self.base, self.name, self.points = base, name, points
        self.origin, self.store, self.grid = base / "origin.git", base / "store", base / f"{name}.grid"
        git(None, "clone", "--quiet", "--bare", str(workdir), str(self.origin))
        env = sandbox_env(workdir)
        dvc(workdir, "remote", "add", "--local", "gridstore", str(self.store), env=env, capture=True)
        try:
            dvc(workdir, "push", "--remote", "gridstore", env=env, capture=True)  # the baseline's outputs
        finally:
            dvc(workdir, "remote", "remove", "--local", "gridstore", env=env, capture=True)
        self.grid.write_text(f"# {name}: dense code sizes\n" + "\n".join(points) + "\n")
        self.commit = git(workdir, "rev-parse", "HEAD").strip()

    def args(self) -> list[str]:
        return [str(self.origin), self.commit, str(self.store), str(self.grid)]

    @property
    def status(self) -> Path:
        return self.base / "status"

    def job(self, index: int) -> list[str]:
        return [sys.executable, "-m", "tools.sweeps.grid_job", "--repo", str(self.origin), "--commit", self.commit,
                "--dvc-remote", str(self.store), "--grid", str(self.grid), "--index", str(index),
                "--workdir", str(self.base / "jobs"), "--status", str(self.status), "--sweep", "local"]

    def report(self, sweep_id: str) -> str:
        """`make experiments GRID=... STATUS=...` in a fresh clone: the table, then the sweep report."""
        reporter = self.base / "reporter"
        if not reporter.exists():
            git(None, "clone", "--quiet", str(self.origin), str(reporter))
        result = subprocess.run([sys.executable, "-m", "tools.sweeps.exp_table", "--grid", str(self.grid), "--status",
                                 str(self.status), "--sweep", sweep_id], cwd=reporter, env=sandbox_env(reporter), capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return result.stdout.split("Sweep report", 1)[1]

    def collect(self, names: list[str]) -> dict[str, int]:
        """Pull the named experiments into a fresh clone; each has its metrics and its model, byte for byte.
        Returns each one's dense code size."""
        collector = self.base / "collector"
        git(None, "clone", "--quiet", str(self.origin), str(collector))
        env = sandbox_env(collector)
        dvc(collector, "remote", "add", "--local", "--default", "store", str(self.store), env=env, capture=True)
        listed = dvc(collector, "exp", "list", "origin", "--names-only", env=env, capture=True).stdout.split()
        assert sorted(listed) == sorted(names)
        dvc(collector, "exp", "pull", "origin", *names, env=env, capture=True)
        shown = json.loads(dvc(collector, "exp", "show", "--json", env=env, capture=True).stdout)
        runs = {}
        for baseline in shown:
            for experiment in baseline.get("experiments") or []:
                latest = experiment["revs"][0]
                runs[latest["name"]] = latest["data"]
        sizes = {}
        for name in names:
            sizes[name] = runs[name]["params"]["params.yaml"]["data"]["train"]["models"]["dense"]["code_size"]
            bce = runs[name]["metrics"]["metrics/dense.json"]["data"]["test"]["bce_nats"]
            assert 0.05 < bce < 0.5, (name, bce)  # a trained model: above MNIST's floor, below ln 2 (guessing 0.5)
            dvc(collector, "exp", "apply", name, env=env, capture=True)
            lock = yaml.safe_load((collector / "dvc.lock").read_text())
            outs = lock["stages"]["train@dense"]["outs"]
            expected = next(out["md5"] for out in outs if out["path"] == "models/dense.keras")
            assert hashlib.md5((collector / "models" / "dense.keras").read_bytes()).hexdigest() == expected
        return sizes


@pytest.fixture(scope="module")
def local_jobs(tiny_repo, tmp_path_factory):
    """Three grid points started at once as local processes, one of them bad: the fallback that always runs."""
    sweep = Sweep(tiny_repo, tmp_path_factory.mktemp("grid-local"), "dense",
                  ["train.models.dense.code_size=8", "train.models.dense.code_size=24", BAD_POINT])
    env = sandbox_env(ROOT)
    started = [subprocess.Popen(sweep.job(index), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for index in range(3)]
    finished = [(job.communicate(timeout=900)[0], job.returncode) for job in started]
    again = subprocess.run(sweep.job(0), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=900)  # the same point of the same grid at the same commit
    return sweep, [*finished, (again.stdout, again.returncode)]


def test_each_good_point_runs_and_pushes_its_experiment(local_jobs):
    _, finished = local_jobs
    for index, (log, code) in enumerate(finished[:2]):
        assert code == 0, log[-3000:]
        assert f"grid point dense-{index}: pushed to" in log
        assert "Running stage 'train@dense'" in log and "Running stage 'train@vae'" not in log  # the rest pulled


def test_a_bad_point_fails_with_one_line_naming_it(local_jobs):
    _, finished = local_jobs
    log, code = finished[2]
    assert code == 1
    last = log.strip().splitlines()[-1]
    assert re.fullmatch(rf"error: grid point dense-2 \({BAD_POINT}\): the experiment failed "
                        rf"\(`{re.escape(dvc_cli.executable())} exp run --pull --name dense-2 -S {BAD_POINT}` "
                        r"exited with \d+; its output is above\)", last), log[-3000:]
    assert "train.models.dense.code_size must be >= 1, got 0" in log


def test_the_same_grid_runs_again_at_the_same_commit_and_replaces_its_point(local_jobs):
    sweep, finished = local_jobs
    log, code = finished[3]
    assert code == 0, log[-3000:]
    assert "exp remove dense-0" in log and "grid point dense-0: pushed to" in log  # the reused clone's run went
    assert "Running stage 'train@dense'" not in log  # the run cache had the point already
    assert json.loads((sweep.status / "dense-0.json").read_text())["state"] == "finished"


def test_the_jobs_folder_is_private_and_the_clone_keeps_no_credentials(local_jobs):
    sweep, _ = local_jobs
    jobs = sweep.base / "jobs"
    assert jobs.stat().st_mode & 0o777 == 0o700 and jobs.stat().st_uid == os.getuid()
    assert git(jobs / "dense-0", "remote", "get-url", "origin").strip() == str(sweep.origin)


def test_a_collector_pulls_every_good_point_with_its_metrics_and_models(local_jobs):
    sweep, _ = local_jobs
    assert sweep.collect(["dense-0", "dense-1"]) == {"dense-0": 8, "dense-1": 24}


SLURM_CONF = """ClusterName=mnistae
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/none
CredType=cred/none
SlurmUser={user}
SlurmdUser={user}
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A one-node Slurm cluster on loopback (slurmctld and slurmd, no munge: auth/none on a private
    port), stopped afterwards. Skips, saying why, where slurm-wlm is missing or its daemons cannot start."""
    missing = [tool for tool in ("slurmctld", "slurmd", "sbatch", "sinfo") if shutil.which(tool) is None
               and not Path("/usr/sbin", tool).exists()]
    if missing:
        real_part_missing("Slurm", f"not installed ({', '.join(missing)} missing; .ci/run installs slurm-wlm as root)")
    conf_dir = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool"):
        (conf_dir / sub).mkdir()
    conf = conf_dir / "slurm.conf"
    conf.write_text(SLURM_CONF.format(ctld_port=free_port(), d_port=free_port(), user=getpass.getuser(),
                                      dir=conf_dir, cpus=os.cpu_count()))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    daemons = [subprocess.Popen([shutil.which(name) or f"/usr/sbin/{name}", "-D", "-f", str(conf), *extra], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for name, extra in (("slurmctld", []), ("slurmd", ["-N", "localhost"]))]
    try:
        deadline, state = time.monotonic() + 30, ""
        while time.monotonic() < deadline and state != "idle":
            time.sleep(1)
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout.strip()
        if state != "idle":
            logs = " | ".join((conf_dir / log).read_text().strip().splitlines()[-1]
                              for log in ("slurmctld.log", "slurmd.log") if (conf_dir / log).is_file())
            real_part_missing("Slurm", f"the daemons did not start (node state {state or 'unknown'!r}): {logs}")
        yield env
    finally:
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()


@pytest.fixture(scope="module")
def slurm_array(slurm, tiny_repo, tmp_path_factory):
    """`make slurm-sweep` over three points, one bad, one CPU and 500 MB per task, waited for."""
    base = tmp_path_factory.mktemp("grid-slurm")
    sweep = Sweep(tiny_repo, base, "slurm", [f"train.models.dense.code_size={size}" for size in (4, 12)] + [BAD_POINT])
    env = {**slurm, **sandbox_env(ROOT), "MNIST_AE_JOB_DIR": str(base / "jobs"), "MNIST_AE_PYTHON": sys.executable,
           "MNIST_AE_STATUS_DIR": str(sweep.status)}
    env.pop(THREADS_ENV)  # the suite's own cap (conftest.py): here the threads must come from Slurm's allocation
    result = subprocess.run(["make", "--no-print-directory", "slurm-sweep", f"GRID={sweep.grid}",
                             f"REPO={sweep.origin}", f"COMMIT={sweep.commit}", f"DVC_REMOTE={sweep.store}",
                             "TIME=00:20:00", "MEM=500M", "CPUS=1", f"SBATCH=--wait --output={base}/%A_%a.log"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    logs = {int(path.stem.rsplit("_", 1)[1]): path.read_text() for path in base.glob("*_*.log")}
    return sweep, result, logs


def test_a_slurm_array_runs_every_point_with_its_allocated_threads(slurm_array):
    _, result, logs = slurm_array
    assert sorted(logs) == [0, 1, 2], result.stderr
    for index in (0, 1):
        log = logs[index]
        assert f"grid point slurm-{index}: pushed to" in log, log[-3000:]
        assert f"grid point slurm-{index}: train.models.dense.code_size=" in log
        assert ", 1 TensorFlow thread(s)" in log  # from Slurm's allocation, make slurm-sweep CPUS=1
    assert result.returncode != 0  # sbatch --wait: one task failed
    assert "error: grid point slurm-2" in logs[2]


def test_the_sweep_report_names_the_failed_array_task_with_its_last_log_lines(slurm_array):
    sweep, result, _ = slurm_array
    announced = re.search(r"^sweep (\d+); when it ends: make experiments GRID=(\S+) STATUS=(\S+) SWEEP=(\d+)$",
                          result.stdout, re.MULTILINE)
    assert announced and announced[1] == announced[4] and announced[2] == str(sweep.grid), result.stdout
    assert all(json.loads(f.read_text())["sweep"] == announced[1] for f in sweep.status.glob("*.json"))
    report = sweep.report(announced[1])
    lines = report.splitlines()
    assert lines[0].endswith("slurm.grid): 3 point(s): 1 failed, 2 finished"), report
    assert lines[2].startswith(f"- failed: slurm-2 ({BAD_POINT}); grid point slurm-2 ({BAD_POINT}): the experiment "
                               f"failed"), report
    assert any("train.models.dense.code_size must be >= 1, got 0" in line for line in lines[3:-2]), report
    assert lines[-2:] == ["- finished: slurm-0 (train.models.dense.code_size=4)",
                          "- finished: slurm-1 (train.models.dense.code_size=12)"]


def test_a_collector_pulls_the_slurm_sweep(slurm_array):
    sweep, _, _ = slurm_array
    assert sweep.collect(["slurm-0", "slurm-1"]) == {"slurm-0": 4, "slurm-1": 12}
