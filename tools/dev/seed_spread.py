"""How much the key metrics move with the seed alone: the yardstick of every review verdict.

``python -m tools.dev.seed_spread`` (``make seed-spread``, which queues the runs first) reads
``dvc.api.exp_show()``, keeps the baseline commit and its finished experiments that differ from it
in ``base.seed`` alone, reads each one's metrics files from its commit, and writes
``records/seed_spread.json``: for every key metric of every
model, the mean, standard deviation (n - 1), minimum and maximum over the seeds, their number, and
the commit and params they were measured at.

``--models vae --add-into records/seed_spread.json`` adds the key metrics the record lacks (one the
catalogue gained after the spread was measured), from these runs alone, and lists them under "added".

``--models deep --pool-into records/seed_spread.json`` measures the same way but keeps only the named
models, and pools their runs into an existing spread file: on another CPU, say, where the last digits of
every float differ and some trajectories drift further than another seed moves them. The pooled mean
and sd are those of all the runs together; the file lists each pooled batch of runs under ``pooled``.

The spread covers every random draw of the pipeline, since ``base.seed`` seeds them all: the
train/validation split, the noise, the weight initialisation, the batch order, the VAE's sampling,
the probes' subsample and the generated codes. That is wider than a rerun of one code change at a
fixed split would see, so verdicts built on it are conservative.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
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
from mnist_ae.report import spread_param_differences
from tools import dvc_cli
from tools.sweeps.sweep import cell, finished, experiment_groups, params_names

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


def pool_stats(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One metric's statistics over the union of two sets of runs: exact mean and sd (n - 1)."""
    n = a["n"] + b["n"]
    mean = (a["n"] * a["mean"] + b["n"] * b["mean"]) / n
    squares = sum((s["n"] - 1) * s["sd"] ** 2 + s["n"] * (s["mean"] - mean) ** 2 for s in (a, b))
    return {"mean": mean, "sd": math.sqrt(squares / (n - 1)), "min": min(a["min"], b["min"]),
            "max": max(a["max"], b["max"]), "n": n}


def pooled(base: dict[str, Any], other: dict[str, Any], models: list[str], machine: str) -> dict[str, Any]:
    """``base`` with ``models``' key metrics pooled over ``other``'s runs, which are listed under "pooled"."""
    if differences := spread_param_differences(base, other["params"]):
        raise StudyError(f"cannot pool: the runs differ in {', '.join(differences)}, not in the seed alone")
    if missing := [model for model in models if model not in base["metrics"] or model not in other["metrics"]]:
        raise StudyError(f"cannot pool: no spread for {', '.join(missing)} in both sets of runs")
    result = copy.deepcopy(base)
    for model in models:
        for name, stats in other["metrics"][model].items():
            if name in result["metrics"][model]:
                result["metrics"][model][name] = pool_stats(result["metrics"][model][name], stats)
    result.setdefault("pooled", []).append(
        {"models": models, "seeds": other["seeds"], "commit": other["commit"], "machine": machine})
    return result


def with_missing_metrics(base: dict[str, Any], other: dict[str, Any], models: list[str]) -> dict[str, Any]:
    """``base`` plus the key metrics of ``models`` that only ``other``'s runs measured (a metric added to the
    catalogue after ``base`` was measured), listed under "added"; the metrics both have stay ``base``'s."""
    if differences := spread_param_differences(base, other["params"]):
        raise StudyError(f"cannot add: the runs differ in {', '.join(differences)}, not in the seed alone")
    result, names = copy.deepcopy(base), []
    for model in models:
        for name, stats in other["metrics"].get(model, {}).items():
            if name not in result["metrics"].setdefault(model, {}):
                result["metrics"][model][name] = stats
                names.append(f"{model}.{name}")
    if not names:
        raise StudyError(f"nothing to add: {SEED_SPREAD} already has every key metric of {', '.join(models)}")
    result.setdefault("added", []).append({"metrics": names, "seeds": other["seeds"], "commit": other["commit"]})
    return result


def committed_params(rev: str) -> tuple[str, dict[str, Any]]:
    """(full commit, params.yaml's dotted keys) at ``rev``, read through git."""
    commit = git("rev-parse", f"{rev}^{{commit}}").strip()
    return commit, flatten(yaml.safe_load(git("show", f"{commit}:{PARAMS_FILE}")))


def wait_for_queue(poll_s: float = 10.0) -> None:
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
    parser.add_argument("--models", help="comma-separated models to keep (default: all that the runs have)")
    parser.add_argument("--pool-into", type=Path, metavar="SPREAD",
                        help="pool these runs into an existing spread file (written in place) instead of --out")
    parser.add_argument("--add-into", type=Path, metavar="SPREAD",
                        help="add the key metrics these runs have and SPREAD lacks (written in place)")
    args = parser.parse_args(argv)
    if args.pool_into and args.add_into:
        parser.error("--pool-into and --add-into exclude each other")
    if args.add_into and not args.models:
        parser.error("--add-into needs --models")
    if args.add_into and not args.add_into.is_file():
        raise StudyError(f"{args.add_into}: no such spread file to add to")
    if args.pool_into and not args.models:
        parser.error("--pool-into needs --models: the runs' other metrics files may be their baseline's copies")
    if args.pool_into and not args.pool_into.is_file():
        raise StudyError(f"{args.pool_into}: no such spread file to pool into")
    if args.wait:
        wait_for_queue()
    import dvc.api

    result = seed_spread(dvc.api.exp_show(revs=args.rev), params_names(), committed_params, committed_metrics)
    if args.models:
        models = args.models.split(",")
        if missing := [model for model in models if model not in result["metrics"]]:
            raise StudyError(f"the seed runs have no metrics for {', '.join(missing)}")
        result["metrics"] = {model: result["metrics"][model] for model in models}
    out = args.pool_into or args.add_into or args.out
    if args.add_into:
        result = with_missing_metrics(json.loads(args.add_into.read_text()), result, models)
    if args.pool_into:
        from mnist_ae.machine import cpu_field, cpu_model

        machine = f"{cpu_model()}, family {cpu_field('cpu family')} model {cpu_field('model')}"
        result = pooled(json.loads(args.pool_into.read_text()), result, models, machine)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(result['seeds'])} seeds {result['seeds']} at {result['commit']}"
          f"{' (pooled: ' + args.models + ')' if args.pool_into else ''}: wrote {out}")


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
