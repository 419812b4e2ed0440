"""Whole `dvc repro` runs as benchmarks: wall time, each stage's time and peak RSS, the fit overhead."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from timing import seconds

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the developer tools (tools/), which are not installed
SAMPLE = ROOT / "tests" / "data" / "mnist_sample.npz"  # the tiny pipeline's digits


STAGE_LINE = re.compile(r"Running stage '(?P<stage>[^']+)'"
                        r"|INFO stage: done in (?P<seconds>[\d.]+) s, peak RSS (?P<rss>\d+) MiB"
                        r"|INFO mnist_ae\.training: fit: \d+ epochs in (?P<fit>[\d.]+) s")


def stage_stats(output: str) -> dict[str, dict[str, float]]:
    """Each stage's own wall time and peak RSS, and each train stage's pure fit time, from the lines
    `dvc repro` passes through (run_stage's last line; train_autoencoder's fit line)."""
    stats, current = {}, None
    for match in STAGE_LINE.finditer(output):
        if match["stage"]:
            current = stats.setdefault(match["stage"], {})
        elif current is None:
            continue
        elif match["fit"]:
            current["fit_seconds"] = float(match["fit"])
        else:
            current.update(seconds=float(match["seconds"]), peak_rss_mib=float(match["rss"]))
    return {stage: stat for stage, stat in stats.items() if "seconds" in stat}


def pipeline_run(command: list[str], workdir: Path, env: dict | None = None, echo: bool = False) -> dict:
    """A full `dvc repro`: its wall time, each stage's stats and the overhead over the models' fit time.

    overhead = wall / sum of fit times: everything but Keras' own training counts against the
    pipeline, process start-up and TensorFlow imports included.
    """
    wall, output = seconds(command, workdir, env, echo)
    stages = stage_stats(output)
    fit = sum(stat.get("fit_seconds", 0.0) for stat in stages.values())
    return {"wall_seconds": wall, "fit_seconds": fit, "overhead": wall / fit if fit else None, "stages": stages}


def tiny_pipeline() -> dict:
    from tools.dvc_cli import executable
    from tools.sandbox import prepare_sandbox, sandbox_env, tiny_overrides

    with tempfile.TemporaryDirectory() as tmp:
        workdir = prepare_sandbox(ROOT, Path(tmp) / "tiny", tiny_overrides(SAMPLE))
        return pipeline_run([executable(), "repro"], workdir, sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)}))


def fit_cell(stat: dict) -> str:
    """A stage's fit seconds for a table: train stages have one, the rest show a dash."""
    return f"{stat['fit_seconds']:.1f}" if "fit_seconds" in stat else "-"


def print_pipeline(run: dict) -> None:
    print(f"wall: {run['wall_seconds']:.1f} s; models' fit: {run['fit_seconds']:.1f} s; "
          f"overhead (wall / fit): {run['overhead']:.2f}")
    print(f"{'stage':<18} {'seconds':>8} {'fit s':>7} {'peak RSS MiB':>13}")
    for stage, stat in run["stages"].items():
        print(f"{stage:<18} {stat['seconds']:>8.1f} {fit_cell(stat):>7} {stat['peak_rss_mib']:>13.0f}")


def overhead_split(run: dict) -> dict[str, float]:
    """Where a pipeline's time beyond fit goes, from its stage stats: between stages (dvc itself, Python
    start-up), in the train stages besides fit (TensorFlow import, data, checkpoints, saving), and in
    every other stage (fetch to figures)."""
    stages = run["stages"]
    own = sum(stat["seconds"] for stat in stages.values())
    around_fit = sum(stat["seconds"] - stat["fit_seconds"] for stat in stages.values() if "fit_seconds" in stat)
    return {"between stages": run["wall_seconds"] - own,
            "train stages besides fit": around_fit,
            "other stages": sum(stat["seconds"] for stat in stages.values() if "fit_seconds" not in stat)}
