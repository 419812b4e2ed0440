"""Whole `dvc repro` runs as benchmarks: wall time, each stage's time and peak RSS, the fit overhead."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from benchmarks.timing import ROOT, seconds

SAMPLE = ROOT / "tests" / "data" / "mnist_sample.npz"  # the tiny pipeline's digits


STAGE_LINE = re.compile(r"Running stage '(?P<stage>[^']+)'"
                        r"|INFO mnist_ae\.training: fit: \d+ epochs in (?P<train_fit>[\d.]+) s"
                        r"|INFO stage: done in (?P<seconds>[\d.]+) s, peak RSS (?P<rss>\d+) MiB"
                        r"(?:; fit (?P<fit>[\d.]+) s, evaluation (?P<evaluation>[\d.]+) s)?")


def stage_stats(output: str) -> dict[str, dict[str, float]]:
    """Each stage's own wall time and peak RSS, and its fit and evaluation compute, from the line run_stage
    ends every stage with, as `dvc repro` passes it through. Logs from before that line carried the
    compute give a train stage's fit from its training line alone."""
    stats, current = {}, None
    for match in STAGE_LINE.finditer(output):
        if match["stage"]:
            current = stats.setdefault(match["stage"], {})
        elif current is None:
            continue
        elif match["train_fit"]:
            current["fit_seconds"] = float(match["train_fit"])
        else:
            current.update(seconds=float(match["seconds"]), peak_rss_mib=float(match["rss"]))
            if match["fit"] is not None:
                current.update(evaluation_seconds=float(match["evaluation"]))
                if float(match["fit"]):
                    current.update(fit_seconds=float(match["fit"]))
    return {stage: stat for stage, stat in stats.items() if "seconds" in stat}


def pipeline_run(command: list[str], workdir: Path, env: dict | None = None, echo: bool = False) -> dict:
    """A full `dvc repro`: its wall time, each stage's stats, and the wall time split three ways
    (time_split): fitting the models (the judge classifier included), the study's evaluation compute,
    and machinery. overhead = wall / fit, as earlier runs recorded it."""
    wall, output = seconds(command, workdir, env, echo)
    stages = stage_stats(output)
    fit = sum(stat.get("fit_seconds", 0.0) for stat in stages.values())
    evaluation = sum(stat.get("evaluation_seconds", 0.0) for stat in stages.values())
    return {"wall_seconds": wall, "fit_seconds": fit, "evaluation_seconds": evaluation,
            "overhead": wall / fit if fit else None, "stages": stages}


def tiny_pipeline() -> dict:
    from tools.dvc_cli import executable
    from tools.dev.sandbox import prepare_sandbox, sandbox_env, tiny_overrides

    with tempfile.TemporaryDirectory() as tmp:
        workdir = prepare_sandbox(ROOT, Path(tmp) / "tiny", tiny_overrides(SAMPLE))
        return pipeline_run([executable(), "repro"], workdir, sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)}))


def cell(stat: dict, key: str) -> str:
    """A stage's fit or evaluation seconds for a table; a dash where it has none."""
    return f"{stat[key]:.1f}" if stat.get(key) else "-"


def print_pipeline(run: dict) -> None:
    split = time_split(run)
    print(f"wall: {run['wall_seconds']:.1f} s; " + "; ".join(f"{part}: {value:.1f} s ({value / run['wall_seconds']:.1%})"
                                                            for part, value in split.items()))
    print(f"{'stage':<18} {'seconds':>8} {'fit s':>7} {'eval s':>7} {'peak RSS MiB':>13}")
    for stage, stat in run["stages"].items():
        print(f"{stage:<18} {stat['seconds']:>8.1f} {cell(stat, 'fit_seconds'):>7} "
              f"{cell(stat, 'evaluation_seconds'):>7} {stat['peak_rss_mib']:>13.0f}")


def time_split(run: dict) -> dict[str, float] | None:
    """A pipeline's wall time in three parts: fitting the models and the judge, the study's evaluation
    compute (metrics, baselines, figures), and machinery, everything else: Python and TensorFlow start-up,
    DVC between stages, loading, saving and checkpoints. None for a run recorded before stages logged
    their evaluation compute."""
    if "evaluation_seconds" not in run:
        return None
    machinery = run["wall_seconds"] - run["fit_seconds"] - run["evaluation_seconds"]
    return {"model fitting": run["fit_seconds"], "evaluation compute": run["evaluation_seconds"],
            "machinery": machinery}
