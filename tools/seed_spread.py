"""How much the key metrics move with the seed alone: the yardstick of every review verdict.

``python -m tools.seed_spread`` (``make seed-spread``, which queues the runs first) reads
``dvc.api.exp_show()``, keeps the baseline commit and its finished experiments that differ from it
in ``base.seed`` alone, reads each one's metrics files from its commit, and writes
``records/seed_spread.json``: for every key metric of every
model, the mean, standard deviation (n - 1), minimum and maximum over the seeds, their number, and
the commit and params they were measured at.

The spread covers every random draw of the pipeline, since ``base.seed`` seeds them all: the
train/validation split, the noise, the weight initialisation, the batch order, the VAE's sampling,
the probes' subsample and the generated codes. That is wider than a rerun of one code change at a
fixed split would see, so verdicts built on it are conservative.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import yaml

from mnist_ae import StudyError
from mnist_ae.catalogue import KEY_METRICS
from mnist_ae.files import atomic_path
from mnist_ae.paths import SEED_SPREAD
from mnist_ae.dotted import flatten
from mnist_ae.config import PARAMS_FILE
from tools import dvc_cli
from tools.sweep import cell, finished, experiment_groups, params_names

SEED_PARAM = "base.seed"


def seed_runs(rows: list[dict], param_names: list[str]) -> tuple[dict, list[dict]]:
    """(baseline row, its finished rows, the baseline first) that differ from it in base.seed alone."""
    for baseline, experiments in experiment_groups(rows):
        if baseline.get("rev") == "workspace":
            continue
        base_params = {name: cell(baseline, name, PARAMS_FILE) for name in param_names}
        runs = [row for row in [baseline, *filter(finished, experiments)]
                if all(cell(row, name, PARAMS_FILE) == base_params[name]
                       for name in param_names if name != SEED_PARAM)]
        seeds = [cell(row, SEED_PARAM, PARAMS_FILE) for row in runs]
        if len(set(seeds)) > 1:
            unique = [row for i, row in enumerate(runs) if seeds.index(seeds[i]) == i]
            return baseline, unique
    raise StudyError("no finished experiments vary base.seed alone; run make seed-spread "
                     "(or dvc exp run --queue -S base.seed=43,44,45 and dvc queue start)")


def key_metrics_of(files: dict[str, dict]) -> dict[str, dict[str, float]]:
    """{model: {key metric: value}} from the contents of one run's metrics/<model>.json files."""
    values: dict[str, dict[str, float]] = {}
    for path, content in files.items():
        model = Path(path).stem
        for metric in KEY_METRICS:
            value = metric.read(content)
            if isinstance(value, (int, float)):
                values.setdefault(model, {})[metric.name] = float(value)
    return values


def git(*args: str) -> str:
    return dvc_cli.git(None, *args)


def committed_metrics(rev: str) -> dict[str, dict]:
    """Every metrics/*.json of a commit (a run's experiment commit), read through git."""
    names = [name for name in git("ls-tree", "--name-only", rev, "metrics/").split() if name.endswith(".json")]
    return {name: json.loads(git("show", f"{rev}:{name}")) for name in names}


def aggregate(per_run: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per model and key metric: mean, sd (n - 1), min, max and n over the runs that have it."""
    spread: dict[str, dict[str, dict[str, Any]]] = {}
    models = dict.fromkeys(model for run in per_run for model in run)
    for model in models:
        names = dict.fromkeys(name for run in per_run for name in run.get(model, {}))
        for name in names:
            values = [run[model][name] for run in per_run if name in run.get(model, {})]
            if len(values) < 2:
                continue
            spread.setdefault(model, {})[name] = {
                "mean": statistics.fmean(values), "sd": statistics.stdev(values),
                "min": min(values), "max": max(values), "n": len(values)}
    return spread


def seed_spread(rows: list[dict], param_names: list[str], params_at, metrics_at) -> dict[str, Any]:
    """The spread file's content. ``params_at(rev)`` gives (the full commit, its dotted params) and
    ``metrics_at(rev)`` a run's metrics files ({path: content}); both read git in main()."""
    baseline, runs = seed_runs(rows, param_names)
    commit, params = params_at(baseline.get("rev"))
    seeds = [cell(row, SEED_PARAM, PARAMS_FILE) for row in runs]
    return {
        "varied": SEED_PARAM,
        "seeds": sorted(int(seed) if float(seed).is_integer() else seed for seed in seeds),  # DVC shows 42.0
        "commit": commit,
        "params": {name: value for name, value in params.items() if name != SEED_PARAM},
        "metrics": aggregate([key_metrics_of(metrics_at(row["rev"])) for row in runs]),
    }


def committed_params(rev: str) -> tuple[str, dict[str, Any]]:
    """(full commit, params.yaml's dotted keys) at ``rev``, read through git."""
    commit = git("rev-parse", f"{rev}^{{commit}}").strip()
    return commit, flatten(yaml.safe_load(git("show", f"{commit}:{PARAMS_FILE}")))


def wait_for_queue(poll_s: float = 30.0) -> None:
    """Block until DVC's experiment queue has nothing queued or running, printing its progress."""
    import time

    from tools import dvc_cli

    start, last = time.monotonic(), ""
    while True:
        status = dvc_cli.output(Path.cwd(), "queue", "status")
        pending = [line for line in status.splitlines() if line.split()[-1:] in (["Queued"], ["Running"])]
        summary = f"{len(pending)} experiment(s) queued or running"
        if summary != last:
            print(f"[{(time.monotonic() - start) / 60:.0f} min] {summary}", flush=True)
            last = summary
        if not pending:
            return
        time.sleep(poll_s)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wait", action="store_true", help="first wait until the experiment queue is empty")
    parser.add_argument("--rev", help="the commit the seed runs were queued on (default: HEAD)")
    parser.add_argument("--out", type=Path, default=SEED_SPREAD, help=f"where to write (default: {SEED_SPREAD})")
    args = parser.parse_args(argv)
    if args.wait:
        wait_for_queue()
    import dvc.api

    result = seed_spread(dvc.api.exp_show(revs=args.rev), params_names(), committed_params, committed_metrics)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(result['seeds'])} seeds {result['seeds']} at {result['commit']}: wrote {args.out}")


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
