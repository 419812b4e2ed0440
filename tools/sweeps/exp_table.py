"""The experiments as a readable table: changed params and the key metrics, nothing else.

``python -m tools.sweeps.exp_table`` (``make experiments``) runs ``dvc exp show --only-changed``
keeping only the columns of reports/summary.json (``<model>.<key metric>``, named in the metric
catalogue) and of params.yaml. A plain ``--drop`` cannot do it: DVC names a metric by its file only
when another file has the same name, so unique names of the full metrics files (the VAE's
``elbo.*``, the classifier's ``test_acc``) would survive any file-based pattern. Arguments after
the options go to ``dvc exp show`` unchanged, e.g. ``--md``, ``--rev 1a2b3c4`` or
``--sort-by denoise.gain_db``.

After the table comes the sweep report: every point as finished, failed with its error and the last
lines of its log, or never reported. By default the points are the local queue's experiments
(``make sweep``); with ``--grid FILE --status DIR --sweep ID`` (``make experiments GRID=... STATUS=... SWEEP=...``)
they are a grid's points, run by Slurm or a CI matrix, each read from the status file its job wrote
(tools/sweeps/grid_job.py), so a failed array task or matrix cell, or one that never ran, shows here. Only
the files of sweep ID count: a file an earlier sweep left behind leaves its point "never reported".
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from mnist_ae.catalogue import KEY_METRICS
from mnist_ae.config import PARAMS_FILE
from mnist_ae.models import MODELS
from mnist_ae import StudyError
from tools import dvc_cli

SUMMARY_ROWS = (*MODELS, "pca", "classifier")  # the keys of reports/summary.json


def keep_pattern(param_sections: list[str]) -> str:
    """A ``--keep`` regex for the experiment's name and state, every param, and every key metric."""
    metrics = "|".join(re.escape(m.name) for m in KEY_METRICS)
    rows = "|".join(re.escape(name) for name in SUMMARY_ROWS)
    sections = "|".join(re.escape(section) for section in param_sections)
    return (rf"^(Experiment|rev|State|(reports/summary\.json:)?({rows})\.({metrics})$"
            rf"|(params\.yaml:)?({sections})\.)")


def command(param_sections: list[str], extra: list[str]) -> list[str]:
    return ["exp", "show", "--no-pager", "--only-changed", "--drop", ".*", "--keep", keep_pattern(param_sections),
            *extra]


def main(argv: list[str]) -> None:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return
    grid, status, sweep, extra = sweep_options(argv)
    sections = list(yaml.safe_load(Path(PARAMS_FILE).read_text()))
    print(dvc_cli.output(Path.cwd(), *command(sections, extra)))
    if "--csv" not in extra and "--json" not in extra:
        markdown = "--md" in extra
        if grid is not None:
            print(sweep_report(f"sweep {sweep} of {grid}", job_points(grid, status, sweep), markdown))
        else:
            print(sweep_report("local queue", queue_points(Path.cwd()), markdown))


def sweep_options(argv: list[str]) -> tuple[Path | None, Path | None, str | None, list[str]]:
    """(--grid, --status, --sweep, the rest for dvc exp show); the three come together or not at all."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--grid", type=Path)
    parser.add_argument("--status", type=Path)
    parser.add_argument("--sweep")
    known, extra = parser.parse_known_args(argv)
    if len({known.grid is None, known.status is None, not known.sweep}) > 1:
        raise StudyError("--grid, --status and --sweep go together: the grid file, its jobs' status folder and the "
                         "sweep's id (make slurm-sweep prints it; a CI sweep's is its run id)")
    if known.status is not None and not known.status.is_dir():
        raise StudyError(f"--status {known.status}: no such folder (each job writes its status there; "
                         f"a CI sweep downloads them there)")
    return known.grid, known.status, known.sweep, extra


LOG_TAIL = 12  # lines of a failed experiment's log shown


@dataclass(frozen=True)
class PointState:
    """One grid point or queued experiment, as the sweep report shows it."""
    name: str
    state: str  # one of STATES
    point: str = ""  # its overrides, where known
    detail: str = ""  # a failure's error line or log path
    tail: tuple[str, ...] = ()  # a failure's last log lines


STATES = ("failed", "never reported", "started, never ended", "queued or running", "finished")


def sweep_report(title: str, points: list[PointState], markdown: bool = False) -> str:
    """Every point, failures first: finished, failed with its last log lines, or never reported."""
    counts = ", ".join(f"{sum(p.state == state for p in points)} {state}" for state in STATES
                       if any(p.state == state for p in points))
    lines = [f"{'### ' if markdown else ''}Sweep report ({title}): {len(points)} point(s): {counts or 'none'}", ""]
    for p in sorted(points, key=lambda p: STATES.index(p.state)):
        point = f" ({p.point})" if p.point else ""
        lines.append(f"- {p.state}: {p.name}{point}" + (f"; {p.detail}" if p.detail else ""))
        if p.tail:
            lines += ["", "  ```", *(f"  {line}" for line in p.tail), "  ```"] if markdown else \
                [f"    {line}" for line in p.tail]
    return "\n".join(lines)


def job_points(grid: Path, status_dir: Path, sweep: str) -> list[PointState]:
    """Each point of sweep ``sweep`` of a grid run by Slurm or a CI matrix, from the status file its job wrote
    (tools/sweeps/grid_job.py); a file of another sweep does not count."""
    from tools.sweeps.grid_job import grid_points, point_name

    points = []
    for index, overrides in enumerate(grid_points(grid)):
        name, point = point_name(grid, index), " ".join(overrides)
        file = status_dir / f"{name}.json"
        try:
            status = json.loads(file.read_text()) if file.is_file() else None
        except (OSError, ValueError) as exc:
            points.append(PointState(name, "failed", point, f"its status file {file} is unreadable: {exc}"))
            continue
        if status is None:
            points.append(PointState(name, "never reported", point, f"no {file}: the job never started"))
        elif str(status.get("sweep")) != str(sweep):
            points.append(PointState(name, "never reported", point,
                                     f"{file} is from sweep {status.get('sweep')} at commit "
                                     f"{str(status.get('commit'))[:7]}, not sweep {sweep}: "
                                     f"this sweep's job never started"))
        elif status.get("state") == "finished":
            points.append(PointState(name, "finished", point))
        elif status.get("state") == "failed":
            points.append(PointState(name, "failed", point, status.get("error", ""), tuple(status.get("log_tail", []))))
        else:
            where = f"slurm job {status['slurm_job']}" if status.get("slurm_job") else status.get("host", "?")
            points.append(PointState(name, "started, never ended", point,
                                     f"started on {where}: still running, or killed (time or memory limit)"))
    return points


def queue_points(root: Path, tail: int = LOG_TAIL) -> list[PointState]:
    """Each experiment of the local queue (make sweep): a failure with its log's path and last lines, which
    ``dvc queue status`` does not show (treeverse/dvc#8192, #10779)."""
    from dvc.repo import Repo

    points = []
    with Repo(str(root)) as repo:
        queue = repo.experiments.celery_queue
        for entry in [*queue.iter_queued(), *queue.iter_active()]:
            points.append(PointState(entry.name or entry.stash_rev[:7], "queued or running"))
        for done in queue.iter_success():
            points.append(PointState(done.entry.name or done.entry.stash_rev[:7], "finished"))
        for done in queue.iter_failed():
            entry = done.entry
            name = entry.name or entry.stash_rev[:7]
            try:
                log = Path(queue.proc[entry.stash_rev].stdout)
            except KeyError:  # it failed before its process started: DVC kept no log
                points.append(PointState(name, "failed", detail=f"no log was kept (it failed during set-up): "
                                                                 f"dvc queue logs {name}"))
                continue
            lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
            points.append(PointState(name, "failed", detail=f"full log: {log}", tail=tuple(lines[-tail:])))
    return points


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
