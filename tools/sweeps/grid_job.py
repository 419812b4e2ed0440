"""One point of a sweep, as a scheduler runs it: clone, pull what it needs, run the experiment, push it.

``python -m tools.sweeps.grid_job --repo GIT_URL --commit SHA --dvc-remote URL --grid sweeps/x.grid --index N
--sweep ID`` runs the N-th line (from 0) of a grid file; ``--set KEY=VALUE ...`` runs one point given inline, and
``--count GRID`` prints the grid's indices as a JSON list (a CI matrix), ``--array GRID`` as Slurm's
``0-N``, both needing only the standard library. A grid file holds one point per line, each a
space-separated list of ``-S`` overrides; ``#`` starts a comment. The job

1. clones GIT_URL into its own folder under ``--workdir`` (or fetches, if an earlier job of this user
   left the clone) and checks out SHA. The job folder is private: made mode 0700, and refused when
   another user owns it, so nobody else on a shared node can plant a clone (and its git hooks) there;
2. points the clone's DVC at ``--dvc-remote`` (its local config) and runs
   ``dvc exp run --pull --name <grid>-<N> -S ...``, which pulls the outputs and run-cache entries it
   needs, so only the stages the point's params touch run. The same grid can run again at the same
   commit: an earlier run of the point in the clone is removed first (not ``exp run --force``, which
   would rerun every stage), and the push replaces the one on GIT_URL;
3. pushes the experiment: ``dvc exp push --force GIT_URL <name>`` sends its Git ref to GIT_URL and its
   outputs to the DVC remote. ``make experiments`` anywhere then shows it after ``dvc exp pull origin``.

A URL with a credential in it (``https://user:token@host/...``) belongs in ``$MNIST_AE_REPO``, not ``--repo``:
a command line is visible to every user of the node (``ps``), a process's environment only to its owner.
Either way the credential is taken out of the URL before any step runs: git and DVC get the bare URL, and
the user and token through ``GIT_ASKPASS`` (tools/sweeps/askpass) from their environment. So no command
line, log line or ``.git/config`` holds it; every step's output goes to the job's log, URLs masked.

The job writes ``--status DIR/<name>.json`` (default ``sweeps/<grid>-status``, beside the submit
directory), naming its sweep (``--sweep``: Slurm's array job id, or the CI run's id, by default) and commit:
``started`` first, then ``finished``, or ``failed`` with its error line and the last lines of
its log. ``make experiments GRID=... STATUS=DIR SWEEP=ID`` reads that sweep's files into the sweep report
(tools/sweeps/exp_table.py),
which names every point that failed or never reported. A failure ends the job with one ``error:`` line
naming the point and the step, and a non-zero exit. Slurm runs it once per array task
(tools/sweeps/slurm_sweep.sbatch, ``make slurm-sweep``), a GitHub Actions matrix once per cell (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shlex
import stat
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from mnist_ae import StudyError
from mnist_ae.machine import THREADS_ENV
from tools import dvc_cli  # these import the standard library only: --count runs before any install

LOG_TAIL = 20  # lines of a failed job's log kept in its status file
REPO_ENV = "MNIST_AE_REPO"  # the Git URL, a credential in it too, when --repo is not given
ASKPASS = Path(__file__).with_name("askpass")
SWEEP_ENVS = ("SLURM_ARRAY_JOB_ID", "GITHUB_RUN_ID")  # where a sweep's id comes from, unless --sweep names it
CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it masked (``https://***@host/...``)."""
    return CREDENTIALS.sub(r"\g<scheme>***@", text)


def without_credentials(url: str) -> str:
    """The URL with no user or token in it: what the clone's ``.git/config`` keeps."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc or parts.scheme in ("ssh", "git+ssh"):
        return url  # a path, or SSH's user@host, which holds no secret
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def credentials_of(url: str) -> tuple[str, str] | None:
    """(user, secret) of a URL that carries them, or None: what GIT_ASKPASS hands git instead."""
    if without_credentials(url) == url:
        return None
    user, _, secret = urlsplit(url).netloc.rsplit("@", 1)[0].partition(":")
    return unquote(user), unquote(secret)


def git_env(url: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a step that talks to ``url``'s server: its credentials for GIT_ASKPASS, no prompt."""
    env = dict(os.environ if env is None else env)
    env["GIT_TERMINAL_PROMPT"] = "0"
    if (credentials := credentials_of(url)) is not None:
        env |= {"GIT_ASKPASS": str(ASKPASS), "MNIST_AE_GIT_USERNAME": credentials[0],
                "MNIST_AE_GIT_PASSWORD": credentials[1]}
    return env


def default_workdir() -> Path:
    """The user's own cache folder: ``$XDG_CACHE_HOME/mnist-ae/jobs``, or ``~/.cache/mnist-ae/jobs``."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mnist-ae" / "jobs"


def private_dir(path: Path) -> Path:
    """``path`` as a folder of this user's alone (mode 0700), made if missing; one owned by another user,
    or a link, is refused with one line."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise StudyError(f"job folder {path} is a link or not a folder; refusing to run jobs in it")
    if info.st_uid != os.getuid():
        raise StudyError(f"job folder {path} belongs to uid {info.st_uid}, not to you (uid {os.getuid()}); "
                         f"refusing to run jobs in it: pass --workdir (or MNIST_AE_JOB_DIR) a folder of your own")
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def grid_points(grid: Path) -> list[list[str]]:
    """The grid file's points, each a list of ``KEY=VALUE`` overrides."""
    try:
        lines = grid.read_text().splitlines()
    except OSError as exc:
        raise StudyError(f"{grid}: cannot read the grid file ({exc.strerror})") from None
    points = [shlex.split(line, comments=True) for line in lines]
    points = [point for point in points if point]
    for number, point in enumerate(points):
        bad = [item for item in point if "=" not in item]
        if bad:
            raise StudyError(f"{grid}: point {number} has {bad[0]!r}, not a KEY=VALUE override")
    if not points:
        raise StudyError(f"{grid}: no points (one line of KEY=VALUE overrides per point)")
    return points


def point_of(grid: Path, index: int) -> list[str]:
    points = grid_points(grid)
    if not 0 <= index < len(points):
        raise StudyError(f"{grid}: index {index} is outside its {len(points)} points (0 to {len(points) - 1})")
    return points[index]


def point_name(grid: Path, index: int) -> str:
    """The experiment name of a grid point; the sweep report finds each point's status by it."""
    return f"{grid.stem}-{index}"


def default_status_dir(grid: Path | None) -> Path:
    return Path("sweeps") / f"{grid.stem if grid else 'points'}-status"


def job_env(clone: Path) -> dict[str, str]:
    """The clone's own code importable; threads from Slurm's allocation unless set explicitly."""
    from tools.dev.sandbox import sandbox_env

    env = sandbox_env(clone)
    if not env.get(THREADS_ENV) and env.get("SLURM_CPUS_PER_TASK"):
        env[THREADS_ENV] = env["SLURM_CPUS_PER_TASK"]
    return env


class Job:
    """The steps of one point, their output copied to the log with credentials masked, the last lines kept."""

    def __init__(self, name: str, overrides: list[str], status_dir: Path | None, index: int | None,
                 sweep: str | None = None, commit: str | None = None):
        self.name, self.overrides, self.status_dir, self.index = name, overrides, status_dir, index
        self.sweep, self.commit = sweep, commit
        self.tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL)

    def say(self, line: str) -> None:
        line = redact(line)
        print(line, flush=True)
        self.tail.append(line)

    def step(self, what: str, command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        """Run one step with its output in the job's log; a failure names the step."""
        shown = redact(" ".join(command))
        self.say(f"+ {shown}")
        with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace") as process:
            for line in process.stdout:
                self.say(line.rstrip("\n"))
        if process.returncode != 0:
            raise StudyError(f"{what} failed (`{shown}` exited with {process.returncode}; its output is above)")

    def record(self, state: str, error: str | None = None) -> None:
        """This point's status file, for the sweep report; written whole or not at all."""
        if self.status_dir is None:
            return
        from mnist_ae.files import atomic_path

        self.status_dir.mkdir(parents=True, exist_ok=True)
        status = {"name": self.name, "index": self.index, "point": self.overrides, "state": state,
                  "sweep": self.sweep, "commit": self.commit, "host": os.uname().nodename,
                  "slurm_job": os.environ.get("SLURM_JOB_ID")}
        if error is not None:
            status |= {"error": error, "log_tail": list(self.tail)}
        with atomic_path(self.status_dir / f"{self.name}.json") as tmp:
            tmp.write_text(json.dumps(status, indent=2) + "\n")


def run_point(repo: str, commit: str, dvc_remote: str, job: Job, workdir: Path) -> None:
    """Clone or fetch, run the point's experiment and push it; a failure names the point and the step."""
    name, overrides = job.name, job.overrides
    job.record("started")
    try:
        clone = private_dir(workdir) / name
        git, url, remote_env = ["git", *dvc_cli.IDENTITY], without_credentials(repo), git_env(repo)
        fetch = [*git, "fetch", "--quiet", url, "+refs/heads/*:refs/remotes/origin/*"]
        if (clone / ".git").is_dir():
            if clone.lstat().st_uid != os.getuid():
                raise StudyError(f"the clone {clone} belongs to another user")
            job.step("fetching the repository", fetch, clone, remote_env)
        else:
            job.step("cloning the repository", [*git, "clone", "--quiet", "--no-checkout", url, str(clone)], workdir,
                     remote_env)
        job.step(f"checking out {commit}", [*git, "checkout", "--quiet", "--force", commit], clone)
        dvc, env = dvc_cli.executable(), job_env(clone)
        job.say(f"grid point {name}: {' '.join(overrides)}, {env.get(THREADS_ENV) or 'all'} TensorFlow thread(s)")
        job.step("setting the DVC remote", [dvc, "remote", "add", "--local", "--default", "--force", "job",
                                            dvc_remote], clone, env)
        if name in dvc_cli.output(clone, "exp", "list", "--names-only").split():  # an earlier run of this grid
            job.step("removing the earlier run of this point", [dvc, "exp", "remove", name], clone, env)
        sets = [arg for override in overrides for arg in ("-S", override)]
        job.step("the experiment", [dvc, "exp", "run", "--pull", "--name", name, *sets], clone, env)
        job.step("pushing the experiment", [dvc, "exp", "push", "--force", url, name], clone, git_env(repo, env))
    except StudyError as exc:
        error = redact(f"grid point {name} ({' '.join(overrides)}): {exc}")
        job.record("failed", error)
        raise StudyError(error) from None
    job.record("finished")
    job.say(f"grid point {name}: pushed to {without_credentials(repo)} and {dvc_remote}")


def main(argv: list[str]) -> None:
    if argv[:1] in (["--count"], ["--array"]):  # a CI matrix's cells [0, 1, ...], or Slurm's --array=0-N
        if len(argv) != 2:
            raise StudyError(f"{argv[0]} takes one grid file")
        indices = list(range(len(grid_points(Path(argv[1])))))
        print(json.dumps(indices) if argv[0] == "--count" else f"0-{indices[-1]}")
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=os.environ.get(REPO_ENV),
                        help=f"the Git remote to clone and push the experiment to (default: ${REPO_ENV}, where a URL "
                             f"with a token belongs)")
    parser.add_argument("--commit", required=True, help="the commit every point branches from")
    parser.add_argument("--dvc-remote", required=True, help="the DVC remote every job and the collector share")
    point = parser.add_mutually_exclusive_group(required=True)
    point.add_argument("--grid", type=Path, help="a grid file: one line of KEY=VALUE overrides per point")
    point.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="one point's overrides, inline")
    parser.add_argument("--index", type=int, default=os.environ.get("SLURM_ARRAY_TASK_ID"),
                        help="the grid line to run, from 0 (default: $SLURM_ARRAY_TASK_ID)")
    parser.add_argument("--name", help="the experiment's name (default: <grid name>-<index>, or point-<set>)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help=f"a private folder for the job's clone (default: {default_workdir()})")
    parser.add_argument("--sweep", default=next((os.environ[e] for e in SWEEP_ENVS if os.environ.get(e)), None),
                        help=f"the sweep's id, in every status file (default: ${' or $'.join(SWEEP_ENVS)})")
    parser.add_argument("--status", type=Path, default=None,
                        help="where the point's status file goes (default: sweeps/<grid name>-status)")
    args = parser.parse_args(argv)
    if not args.repo:
        raise StudyError(f"no Git remote: pass --repo, or set ${REPO_ENV} (where a URL with a token belongs)")
    os.environ.pop(REPO_ENV, None)  # its token reaches the git steps alone (git_env), not the pipeline's stages
    if args.grid is not None:
        if args.index is None:
            raise StudyError("--grid needs --index (or $SLURM_ARRAY_TASK_ID)")
        overrides, name = point_of(args.grid, args.index), args.name or point_name(args.grid, args.index)
    else:
        bad = [item for item in args.set if "=" not in item]
        if bad:
            raise StudyError(f"--set {bad[0]!r} is not a KEY=VALUE override")
        overrides = args.set
        name = args.name or "point-" + "-".join(item.replace("=", "-").replace(".", "-") for item in args.set)
    if not args.sweep:
        raise StudyError(f"--sweep: name the sweep this point belongs to (the report counts one sweep's points); "
                         f"Slurm and GitHub Actions set it (${' or $'.join(SWEEP_ENVS)})")
    status = (args.status or default_status_dir(args.grid)).resolve()
    job = Job(name, overrides, status, args.index if args.grid is not None else None, args.sweep, args.commit)
    run_point(args.repo, args.commit, args.dvc_remote, job, (args.workdir or default_workdir()).resolve())


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
