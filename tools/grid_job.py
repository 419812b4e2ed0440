"""One point of a sweep, as a scheduler runs it: clone, pull what it needs, run the experiment, push it.

``python -m tools.grid_job --repo GIT_URL --commit SHA --dvc-remote URL --grid sweeps/x.grid --index N``
runs the N-th line (from 0) of a grid file; ``--set KEY=VALUE ...`` runs one point given inline, and
``--count GRID`` prints the grid's indices as a JSON list (a CI matrix), needing only the standard library.
A grid file holds one point per line, each a space-separated list of ``-S`` overrides; ``#`` starts a
comment. The job

1. clones GIT_URL into ``--workdir`` (or fetches, if an earlier job left the clone) and checks out SHA;
2. points the clone's DVC at ``--dvc-remote`` (its local config) and runs
   ``dvc exp run --pull --name <grid>-<N> -S ...``, which pulls the outputs and run-cache entries it
   needs, so only the stages the point's params touch run;
3. pushes the experiment: ``dvc exp push origin <name>`` sends its Git ref to GIT_URL and its outputs
   to the DVC remote. ``make experiments`` anywhere then shows it after ``dvc exp pull origin``.

Every step's output goes to the job's log; a failure ends it with one ``error:`` line naming the point
and the step, and a non-zero exit. Slurm runs it once per array task (tools/slurm_sweep.sbatch, with
threads from ``SLURM_CPUS_PER_TASK``), a GitHub Actions matrix once per cell (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
from pathlib import Path

from mnist_ae import StudyError
from mnist_ae.stage import THREADS_ENV
from tools import dvc_cli  # these import the standard library only: --count runs before any install


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


def job_env(clone: Path) -> dict[str, str]:
    """The clone's own code importable; threads from Slurm's allocation unless set explicitly."""
    from tools.sandbox import sandbox_env

    env = sandbox_env(clone)
    if not env.get(THREADS_ENV) and env.get("SLURM_CPUS_PER_TASK"):
        env[THREADS_ENV] = env["SLURM_CPUS_PER_TASK"]
    return env


def step(what: str, command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    """Run one step with its output in the job's log; a failure names the step."""
    print(f"+ {' '.join(command)}", flush=True)
    result = subprocess.run(command, cwd=cwd, env=env)
    if result.returncode != 0:
        raise StudyError(f"{what} failed (`{' '.join(command)}` exited with {result.returncode}; its output is above)")


def run_point(repo: str, commit: str, dvc_remote: str, overrides: list[str], name: str, workdir: Path) -> None:
    """Clone or fetch, run the point's experiment and push it; a failure names the point and the step."""
    try:
        clone = workdir / name
        git = ["git", *dvc_cli.IDENTITY]
        if (clone / ".git").is_dir():
            step("fetching the repository", [*git, "fetch", "--quiet", "origin"], clone)
        else:
            workdir.mkdir(parents=True, exist_ok=True)
            step("cloning the repository", [*git, "clone", "--quiet", "--no-checkout", repo, str(clone)], workdir)
        step(f"checking out {commit}", [*git, "checkout", "--quiet", "--force", commit], clone)
        dvc, env = dvc_cli.executable(), job_env(clone)
        print(f"grid point {name}: {' '.join(overrides)}, {env.get(THREADS_ENV) or 'all'} TensorFlow thread(s)",
              flush=True)
        step("setting the DVC remote", [dvc, "remote", "add", "--local", "--default", "--force", "job", dvc_remote],
             clone, env)
        sets = [arg for override in overrides for arg in ("-S", override)]
        step("the experiment", [dvc, "exp", "run", "--pull", "--name", name, *sets], clone, env)
        step("pushing the experiment", [dvc, "exp", "push", "origin", name], clone, env)
    except StudyError as exc:
        raise StudyError(f"grid point {name} ({' '.join(overrides)}): {exc}") from None
    print(f"grid point {name}: pushed to {repo} and {dvc_remote}", flush=True)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--count"]:  # a CI matrix's cells: [0, 1, ...], one per point
        if len(argv) != 2:
            raise StudyError("--count takes one grid file")
        print(json.dumps(list(range(len(grid_points(Path(argv[1])))))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="the Git remote to clone and push the experiment to")
    parser.add_argument("--commit", required=True, help="the commit every point branches from")
    parser.add_argument("--dvc-remote", required=True, help="the DVC remote every job and the collector share")
    point = parser.add_mutually_exclusive_group(required=True)
    point.add_argument("--grid", type=Path, help="a grid file: one line of KEY=VALUE overrides per point")
    point.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="one point's overrides, inline")
    parser.add_argument("--index", type=int, default=os.environ.get("SLURM_ARRAY_TASK_ID"),
                        help="the grid line to run, from 0 (default: $SLURM_ARRAY_TASK_ID)")
    parser.add_argument("--name", help="the experiment's name (default: <grid name>-<index>, or point-<set>)")
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "mnist-ae-jobs",
                        help="where the job clones the repository (default: $TMPDIR/mnist-ae-jobs)")
    args = parser.parse_args(argv)
    if args.grid is not None:
        if args.index is None:
            raise StudyError("--grid needs --index (or $SLURM_ARRAY_TASK_ID)")
        overrides, name = point_of(args.grid, args.index), args.name or f"{args.grid.stem}-{args.index}"
    else:
        bad = [item for item in args.set if "=" not in item]
        if bad:
            raise StudyError(f"--set {bad[0]!r} is not a KEY=VALUE override")
        overrides = args.set
        name = args.name or "point-" + "-".join(item.replace("=", "-").replace(".", "-") for item in args.set)
    run_point(args.repo, args.commit, args.dvc_remote, overrides, name, args.workdir.resolve())


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
