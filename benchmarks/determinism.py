"""What TensorFlow's op determinism costs each model: seconds per training epoch with and without it.

Each (model, mode) is timed in a fresh process, because op determinism cannot be switched off once
on, and the two modes alternate (A B A B) so that drifting machine load hits both alike. Each
process runs the project's own training path (build, compile_autoencoder, fit_autoencoder) on the
prepared training digits for one warm-up epoch plus ``--epochs`` timed ones; validation is cut to
one batch so it does not dilute the comparison.

    python -m benchmarks.determinism [--epochs 2] [--repeats 2] [--models dense conv]

Needs the prepared data (dvc repro prepare noise). Prints a table and writes it, with the machine,
to ``benchmarks/determinism.json`` (``--out``); docs/reproducibility.md's table is spliced from that
file by ``make docs``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

OUT = Path(__file__).with_name("determinism.json")

MODES = {"deterministic": True, "default": False}


def time_epochs(name: str, deterministic: bool, epochs: int) -> list[float]:
    """Seconds per training epoch, warm-up excluded (runs inside the child process)."""
    from benchmarks.timing import time_pipeline_fit

    return time_pipeline_fit(name, epochs, validate=False, train_overrides={"deterministic": deterministic})


def run_child(name: str, mode: str, epochs: int) -> list[float]:
    from benchmarks.timing import child

    return child(__spec__.name, name, mode, "--epochs", str(epochs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per process, after one warm-up")
    parser.add_argument("--repeats", type=int, default=2, help="A B pairs per model")
    parser.add_argument("--models", nargs="*", help="default: every model in params.yaml")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write the results (default: {OUT.name})")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, mode = args.child
        print(json.dumps(time_epochs(name, MODES[mode], args.epochs)))
        return

    from benchmarks.timing import provenance
    from mnist_ae.config import load_params
    from mnist_ae.files import write_json
    from mnist_ae.machine import cpu_model

    names = args.models or list(load_params().train.models)
    results = {"machine": f"{cpu_model()}, {os.cpu_count()} CPUs", "run": provenance(Path.cwd()),
               "epochs": args.epochs, "repeats": args.repeats, "models": {}}
    print(f"{'model':<8} {'deterministic s/epoch':>22} {'default s/epoch':>16} {'overhead':>9}  per-pair overheads")
    for name in names:
        times = {mode: [] for mode in MODES}
        pairs = []
        for _ in range(args.repeats):
            pair = {mode: statistics.median(run_child(name, mode, args.epochs)) for mode in MODES}
            for mode, seconds in pair.items():
                times[mode].append(seconds)
            pairs.append(pair["deterministic"] / pair["default"] - 1)
        det, default = statistics.median(times["deterministic"]), statistics.median(times["default"])
        spread = ", ".join(f"{p:+.0%}" for p in pairs)
        print(f"{name:<8} {det:>22.2f} {default:>16.2f} {det / default - 1:>+9.0%}  {spread}", flush=True)
        results["models"][name] = {"deterministic_s": det, "default_s": default, "pair_overheads": pairs}
    write_json(args.out, results)
    print(f"wrote {args.out}")


def markdown(results: dict) -> str:
    """docs/reproducibility.md's table, from a determinism.json."""
    from benchmarks.tables import provenance

    lines = [f"Measured on {results['machine']}, {provenance(results.get('run'))}: the median of "
             f"{results['epochs']} epochs in each of {results['repeats']} pairs.", "",
             "| model | deterministic s/epoch | default s/epoch | overhead | per pair |", "|---|---|---|---|---|"]
    for name, m in results["models"].items():
        pairs = ", ".join(f"{p:+.0%}" for p in m["pair_overheads"])
        lines.append(f"| {name} | {m['deterministic_s']:.2f} | {m['default_s']:.2f} | "
                     f"{m['deterministic_s'] / m['default_s'] - 1:+.0%} | {pairs} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
