"""This tree's training path against another commit's, epoch by epoch, on the prepared data.

Each side runs in a fresh process, alternating (A B A B), one warm-up epoch plus ``--epochs`` timed
ones; the other commit is checked out in a temporary git worktree and runs its own code and params.
Besides seconds per epoch it reports where the process's CPU time went, user or kernel (sys), and
its minor page faults:
``tf.data``'s Python generator made TensorFlow pin glibc's malloc trim threshold, and the kernel
time that cost is what this script was written to show.

    python benchmarks/versus.py --against 4a5dcbb [--models conv dense] [--epochs 2] [--repeats 2] [--record FILE]

Needs the prepared data (dvc repro noise). Prints speed-ups (> 1: this tree is faster); ``--record``
also writes the figures, with both commits and the machine, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(root: Path, name: str, epochs: int) -> dict:
    """Seconds per timed epoch, and the whole fit's user and sys CPU seconds and minor faults per epoch.

    ``root`` is the side's checkout: its ``benchmarks/timing.py`` drives its own ``src/``.
    """
    sys.path.insert(0, str(root / "benchmarks"))
    from timing import time_pipeline_fit

    before, faults = os.times(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seconds = time_pipeline_fit(name, epochs)
    after = os.times()
    fitted = epochs + 1  # the warm-up epoch is in the CPU figures too
    return {"seconds": seconds, "user_s": (after.user - before.user) / fitted,
            "sys_s": (after.system - before.system) / fitted,
            "minor_faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / fitted}


def run_side(root: Path, name: str, epochs: int) -> dict:
    """One fresh process in ``root``: its ``src/`` and ``params.yaml``, on this tree's prepared data."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, __file__, "--child", name, "--root", str(root), "--epochs", str(epochs)],
                            capture_output=True, text=True, env=env, cwd=root)
    if result.returncode != 0:
        sys.exit(f"error: {name} from {root} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def summary(runs: list[dict]) -> dict:
    return {"seconds_per_epoch": statistics.median(s for run in runs for s in run["seconds"]),
            **{key: statistics.median(run[key] for run in runs) for key in ("user_s", "sys_s", "minor_faults")}}


def markdown(record: dict) -> str:
    """docs/performance.md's table of a recorded comparison."""
    machine = record["machine"]
    flags = ", ".join(machine["cpu_flags"]) or "none of AVX2, AVX-512, AMX"
    lines = [f"Commit `{machine['commit'][:7]}` against `{record['against'][:7]}`, {machine['date'][:10]}, "
             f"{machine['cpu']} (family/model {machine['cpu_family_model']}; {flags}), {machine['threads']} threads; "
             f"{record['epochs']} timed epochs per process, {record['repeats']} A B pairs; CPU seconds and "
             f"page faults per epoch.", "",
             "| model | code | s / epoch | user CPU s | sys CPU s | minor page faults | speed-up (per pair) |",
             "|---|---|---:|---:|---:|---:|---|"]
    for name, figures in record["models"].items():
        pairs = ", ".join(f"{pair:.2f}" for pair in figures["pairs"])
        for side, label in (("against", f"`{record['against'][:7]}`"), ("this", f"`{machine['commit'][:7]}`")):
            row = figures[side]
            speed_up = f"**{figures['speed_up']:.2f}** ({pairs})" if side == "this" else ""
            lines.append(f"| {name} | {label} | {row['seconds_per_epoch']:.1f} | {row['user_s']:.1f} | "
                         f"{row['sys_s']:.1f} | {row['minor_faults']:,.0f} | {speed_up} |")
    totals = {side: sum(figures[side]["seconds_per_epoch"] for figures in record["models"].values())
              for side in ("against", "this")}
    lines += ["", f"One epoch of each model above ({', '.join(record['models'])}), summed: "
              f"{totals['against']:.1f} s at `{record['against'][:7]}`, "
              f"{totals['this']:.1f} s at `{machine['commit'][:7]}` (**{totals['against'] / totals['this']:.2f}×**). "
              "Every model trains the same number of epochs, so with all of them listed this is the speed-up "
              "of the canonical run's training."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", help="the commit to compare with (a git revision)")
    parser.add_argument("--models", nargs="*", default=["conv", "dense"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--record", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--child", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.root, args.child, args.epochs)))
        return
    if not args.against:
        parser.error("--against REVISION is required")
    from timing import provenance

    def git(*command: str) -> str:
        result = subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"error: git {' '.join(command)}: {result.stderr.strip()}")
        return result.stdout.strip()

    against = git("rev-parse", "--verify", f"{args.against}^{{commit}}")
    record = {"machine": provenance(ROOT), "against": against, "epochs": args.epochs, "repeats": args.repeats,
              "models": {}}
    with tempfile.TemporaryDirectory(prefix="versus-") as scratch:
        worktree = Path(scratch) / "against"
        git("worktree", "add", "--detach", str(worktree), against)
        (worktree / "data").symlink_to(ROOT / "data")  # the prepared digits, which git does not hold
        try:
            print(f"{'model':<8} {'side':<6} {'s/epoch':>8} {'user s':>7} {'sys s':>7} {'faults':>10}")
            for name in args.models:
                runs = {"this": [], "against": []}
                for _ in range(args.repeats):
                    runs["against"].append(run_side(worktree, name, args.epochs))
                    runs["this"].append(run_side(ROOT, name, args.epochs))
                sides = {side: summary(side_runs) for side, side_runs in runs.items()}
                pairs = [statistics.median(a["seconds"]) / statistics.median(t["seconds"])
                         for a, t in zip(runs["against"], runs["this"], strict=True)]
                record["models"][name] = {**sides, "speed_up": statistics.median(pairs), "pairs": pairs}
                for side, figures in sides.items():
                    print(f"{name:<8} {side:<6} {figures['seconds_per_epoch']:>8.1f} {figures['user_s']:>7.1f} "
                          f"{figures['sys_s']:>7.1f} {figures['minor_faults']:>10.0f}")
                print(f"{name:<8} speed-up {record['models'][name]['speed_up']:.2f} "
                      f"(pairs {', '.join(f'{p:.2f}' for p in pairs)})", flush=True)
        finally:
            git("worktree", "remove", "--force", str(worktree))
    if args.record:
        args.record.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.record}")


if __name__ == "__main__":
    main()
