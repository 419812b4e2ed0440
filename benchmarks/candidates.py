"""Speed-up candidates for training on CPU, each timed against the pipeline's current training path.

Every candidate changes one thing in ``fit_autoencoder``'s setting and is timed in a fresh process,
alternating with the path as params.yaml sets it (A B A B), one warm-up epoch plus ``--epochs``
timed ones:

- ``xla``: ``jit_compile=True``;
- ``spe1``, ``spe8``, ``spe32``: ``train.steps_per_execution`` of 1, 8 or 32 batches per call into
  TensorFlow (params.yaml has 8);
- ``one-thread``: TensorFlow capped to one thread (``MNIST_AE_THREADS=1``);
- ``no-determinism``: ``train.deterministic`` false;
- ``bfloat16``: ``train.precision`` mixed_bfloat16 (CPUs with AMX or AVX512-BF16 run it natively);
- ``onednn``: oneDNN kernels (``TF_ENABLE_ONEDNN_OPTS=1``), which TensorFlow leaves off on AMD CPUs.

    python benchmarks/candidates.py [--models dense conv vae] [--candidates xla spe8] [--epochs 1] [--repeats 2]

Needs the prepared data (dvc repro noise). Prints speed-ups (> 1 is faster); writes nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics

CANDIDATES = {
    "xla": {"compile": {"jit_compile": True}},
    "spe1": {"train": {"steps_per_execution": 1}},
    "spe8": {"train": {"steps_per_execution": 8}},
    "spe32": {"train": {"steps_per_execution": 32}},
    "one-thread": {"env": {"MNIST_AE_THREADS": "1"}},
    "no-determinism": {"train": {"deterministic": False}},
    "bfloat16": {"train": {"precision": "mixed_bfloat16"}},
    "onednn": {"env": {"TF_ENABLE_ONEDNN_OPTS": "1"}},
}


def time_candidate(name: str, candidate: str, epochs: int) -> list[float]:
    """Seconds per epoch through the pipeline's path, with ``candidate`` applied ("baseline": none)."""
    from timing import time_pipeline_fit  # this folder is on sys.path when a script here runs

    change = CANDIDATES.get(candidate, {})
    if "precision" in change.get("train", {}):
        from mnist_ae.training import set_precision

        set_precision(change["train"]["precision"])  # before the model is built, as train_autoencoder does
    return time_pipeline_fit(name, epochs, train_overrides=change.get("train"), compile_options=change.get("compile"))


def run_child(name: str, candidate: str, epochs: int) -> float:
    from timing import child

    env = CANDIDATES.get(candidate, {}).get("env")
    return statistics.median(child(__file__, name, candidate, "--epochs", str(epochs), env=env))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["dense", "conv", "denoise", "vae"])
    parser.add_argument("--candidates", nargs="*", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "CANDIDATE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(time_candidate(*args.child, args.epochs)))
        return
    print(f"{'model':<8} {'candidate':<15} {'baseline s':>10} {'candidate s':>11} {'speed-up':>9}  per pair")
    for name in args.models:
        for candidate in args.candidates:
            pairs = [(run_child(name, "baseline", args.epochs), run_child(name, candidate, args.epochs))
                     for _ in range(args.repeats)]
            base, cand = (statistics.median(p[i] for p in pairs) for i in (0, 1))
            spread = ", ".join(f"{b / c:.2f}" for b, c in pairs)
            print(f"{name:<8} {candidate:<15} {base:>10.2f} {cand:>11.2f} {base / cand:>9.2f}  {spread}", flush=True)


if __name__ == "__main__":
    main()
