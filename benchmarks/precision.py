"""bfloat16 against float32 over the whole pipeline: seconds per epoch, and each key metric's shift in seed σ.

    python -m benchmarks.precision --run DIR            # two whole pipelines, one after the other (hours)
    python -m benchmarks.precision --summarise DIR --record benchmarks/precision.json

``--run`` copies this checkout's committed code and params to DIR/work, without results, and runs
``dvc repro`` there at float32, then ``dvc exp run -S train.precision=mixed_bfloat16``, which reruns
only the stages that read ``train.precision`` (every ``train@``) and those after them. Each run's
output goes to DIR/<precision>.log, ending in ``wall=SECONDS``, and its metrics to
DIR/<precision>/metrics/. Nothing else should share the cores meanwhile. ``--summarise`` reads DIR
and prints, per model, seconds per epoch in each precision (fit seconds over ``train.epochs``) and
every key metric against this checkout's committed float32 results, in standard deviations over
seeds (records/seed_spread.json). ``--record`` also writes it as JSON, which ``make docs`` quotes.

The whole run at bfloat16 is the float32 run's wall time with the rerun stages' own times swapped
for their bfloat16 times: the stages before them (fetch to noise, the baselines and the judge) do
not read the precision.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import yaml

from benchmarks.timing import ROOT

PRECISIONS = ("float32", "mixed_bfloat16")
WALL_LINE = re.compile(r"^wall=(?P<seconds>[\d.]+)$", re.MULTILINE)
WITHIN_SIGMAS = 2.0  # the bar: a precision that keeps every key metric within 2 σ of the committed run


def run(directory: Path) -> None:
    """Both pipelines in DIR/work, with their logs, metrics and the machine they ran on."""
    from benchmarks.timing import provenance, seconds

    from mnist_ae.paths import RAW_NPZ
    from tools.dvc_cli import executable
    from tools.dev.sandbox import prepare_sandbox, sandbox_env

    work = directory / "work"
    if work.exists():
        sys.exit(f"error: {work} exists; give --run an empty or new folder")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "provenance.json").write_text(json.dumps(provenance(ROOT), indent=2) + "\n")
    prepare_sandbox(ROOT, work, {})
    extra = {"MNIST_NPZ": str(ROOT / RAW_NPZ)} if (ROOT / RAW_NPZ).is_file() else {}  # still checksum-verified
    env = sandbox_env(work, extra)
    commands = {"float32": [executable(), "repro"],
                "mixed_bfloat16": [executable(), "exp", "run", "-S", "train.precision=mixed_bfloat16"]}
    for precision, command in commands.items():
        print(f"{precision}: {' '.join(command[1:])} in {work}", flush=True)
        wall, output = seconds(command, work, env, echo=True)
        (directory / f"{precision}.log").write_text(output + f"wall={wall:.1f}\n")
        shutil.copytree(work / "metrics", directory / precision / "metrics", dirs_exist_ok=True)


def key_metrics_in(folder: Path) -> dict[str, dict[str, float]]:
    """{model: {key metric: value}} of every metrics/*.json in ``folder``."""
    from tools.dev.seed_spread import key_metrics_of

    return key_metrics_of({path.as_posix(): json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))})


def read_run(directory: Path, precision: str) -> dict:
    """One run's wall time, stage stats and key metrics, from DIR/<precision>.log and its metrics."""
    from benchmarks.pipeline_runs import stage_stats

    log = directory / f"{precision}.log"
    if not log.is_file():
        sys.exit(f"error: {log}: not found; run --run {directory} first")
    output = log.read_text()
    wall = WALL_LINE.search(output)
    if not wall:
        sys.exit(f"error: {log}: no wall=SECONDS line; the run did not finish")
    return {"wall_seconds": float(wall["seconds"]), "stages": stage_stats(output),
            "metrics": key_metrics_in(directory / precision / "metrics")}


def summarise(directory: Path) -> dict:
    from mnist_ae.paths import SEED_SPREAD
    from tools.review.verdicts import compare

    runs = {precision: read_run(directory, precision) for precision in PRECISIONS}
    epochs = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["epochs"]
    committed = key_metrics_in(ROOT / "metrics")
    spread = json.loads((ROOT / SEED_SPREAD).read_text())["metrics"]
    fast, slow = runs["mixed_bfloat16"], runs["float32"]
    rerun = set(fast["stages"])
    whole = {"float32": slow["wall_seconds"],
             "mixed_bfloat16": slow["wall_seconds"] - sum(slow["stages"][s]["seconds"] for s in rerun)
             + sum(fast["stages"][s]["seconds"] for s in rerun)}
    models = {}
    for stage, stat in slow["stages"].items():
        if "fit_seconds" not in stat:
            continue
        name = stage.split("@", 1)[1]
        per_epoch = {p: runs[p]["stages"][stage]["fit_seconds"] / epochs for p in PRECISIONS}
        shifts = {p: {c.metric.name: c for c in compare(committed, runs[p]["metrics"], spread=spread)
                      if c.model == name} for p in PRECISIONS}
        models[name] = {"seconds_per_epoch": per_epoch,
                        "speed_up": per_epoch["float32"] / per_epoch["mixed_bfloat16"],
                        "metrics": {metric: {"committed": change.base, "sd": change.sd,
                                             **{p: shifts[p][metric].head for p in PRECISIONS},
                                             **{f"{p}_sigmas": shifts[p][metric].sigmas for p in PRECISIONS}}
                                    for metric, change in shifts["float32"].items()}}
    return {"machine": json.loads((directory / "provenance.json").read_text()), "epochs": epochs,
            "whole_run_seconds": whole, "whole_run_speed_up": whole["float32"] / whole["mixed_bfloat16"],
            "rerun_stages": sorted(rerun), "models": models}


def within(figures: dict, precision: str) -> bool:
    """Every key metric of a model within WITHIN_SIGMAS seed σ of the committed run at ``precision``."""
    return all(m[f"{precision}_sigmas"] is not None and abs(m[f"{precision}_sigmas"]) <= WITHIN_SIGMAS
               for m in figures["metrics"].values())


def markdown(record: dict) -> str:
    """docs/performance.md's table of a recorded float32 / bfloat16 comparison."""
    from mnist_ae.catalogue import BY_NAME

    from benchmarks.tables import provenance

    machine = record["machine"]
    whole = record["whole_run_seconds"]
    lines = [f"{machine['cpu']}, {provenance(machine)}; {record['epochs']} epochs per model, each precision once. "
             f"σ: the metric's standard deviation over seeds; the shift is against the committed float32 results.",
             "",
             f"Whole `dvc repro`: {whole['float32']:,.0f} s at float32, {whole['mixed_bfloat16']:,.0f} s at "
             f"mixed_bfloat16 (**{record['whole_run_speed_up']:.2f}×**).", "",
             "| model | float32 s / epoch | bfloat16 s / epoch | speed-up | key metric | committed | "
             "float32 here (σ) | bfloat16 here (σ) |", "|---|---:|---:|---:|---|---:|---:|---:|"]

    def cell(value: float | None, sigmas: float | None, metric) -> str:
        shift = "no spread" if sigmas is None else f"{sigmas:+.1f}"
        flag = "**" if sigmas is not None and abs(sigmas) > WITHIN_SIGMAS else ""
        return f"{metric.format(value)} ({flag}{shift}{flag})"

    for name, figures in record["models"].items():
        seconds = figures["seconds_per_epoch"]
        head = (f"| {name} | {seconds['float32']:.2f} | {seconds['mixed_bfloat16']:.2f} | "
                f"{figures['speed_up']:.2f} |")
        for metric_name, m in figures["metrics"].items():
            metric = BY_NAME[metric_name]
            lines.append(f"{head} {metric.title} | {metric.format(m['committed'])} | "
                         f"{cell(m['float32'], m['float32_sigmas'], metric)} | "
                         f"{cell(m['mixed_bfloat16'], m['mixed_bfloat16_sigmas'], metric)} |")
            head = "| | | | |"
    outside = [name for name, figures in record["models"].items() if not within(figures, "mixed_bfloat16")]
    lines += ["", f"Beyond {WITHIN_SIGMAS:g} σ at bfloat16 (bold): "
                  f"{', '.join(outside) if outside else 'no model'}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--run", type=Path, metavar="DIR", help="run both pipelines, keeping logs and metrics in DIR")
    action.add_argument("--summarise", type=Path, metavar="DIR", help="compare the two runs kept in DIR")
    parser.add_argument("--record", type=Path, help="with --summarise: also write the comparison here as JSON")
    args = parser.parse_args()
    if args.run:
        run(args.run)
        args.summarise = args.run
    record = summarise(args.summarise)
    print(markdown(record))
    if args.record:
        args.record.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.record}")


if __name__ == "__main__":
    main()
