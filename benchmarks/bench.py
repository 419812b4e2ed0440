"""The performance benchmark (make bench): the pipeline's training path against a plain Keras script.

Sections, each printed as a table and written together to ``benchmarks/bench.json`` (not a DVC
metrics file, so `dvc metrics diff` leaves timings out of pull-request reviews):

1. throughput: for every model, one warm-up epoch plus ``--epochs`` timed epochs, run two ways in
   fresh processes, alternating A B A B:
   A, the project's training path (build, compile_autoencoder, fit_autoencoder: what train@ runs);
   B, plain Keras as the notebook does it: ``model.fit`` on NumPy arrays, batch 256, Adam,
   ``shuffle=True``, validating on the same digits. Both time whole epochs, validation included.
2. utilisation: training FLOPs per image from the layers (forward multiply-adds x 2, x 3 for the
   backward pass), against this machine's float32 GFLOP/s on a large matmul.
3. start-up: Python alone, and importing TensorFlow, which every TensorFlow stage pays.
4. the tiny pipeline: wall time of a full `dvc repro` on the shipped sample in a temporary copy, and
   each stage's own wall time and peak RSS (from the line run_stage logs).
5. a no-op `dvc repro` on this (up-to-date) workspace.
6. with ``--canonical`` only (make bench WHAT=canonical): `dvc repro --force` of this workspace at the
   committed params, its wall time against the models' fit time and every stage's peak RSS. Model
   files are saved byte-reproducibly, so on the same machine the rebuild changes no tracked output.
   A plain run keeps the last section 6 found in ``--out``.

Sections 4 and 6 report the overhead, the wall time of `dvc repro` divided by the sum of the
models' pure fit times that the train stages log.

    python -m benchmarks.bench [--epochs 2] [--repeats 4] [--models dense conv] [--out benchmarks/bench.json]
    python -m benchmarks.bench --canonical     # make bench WHAT=canonical

Needs the prepared data of the committed params (dvc repro noise).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

from benchmarks.pipeline_runs import ROOT, pipeline_run, print_pipeline, tiny_pipeline
from benchmarks.tables import markdown
from benchmarks.timing import (child, matmul_gflops, model_flops, provenance, seconds, time_pipeline_fit,
                               time_plain_fit)
from mnist_ae.files import atomic_path, write_json
from mnist_ae.machine import configure_tensorflow, cpu_model

VARIANTS = ("pipeline", "plain")


def write_results(out: Path, results: dict) -> None:
    """bench.json, and beside it bench.md, its tables (once sections 1-5 have run)."""
    write_json(out, results)
    if "models" in results:
        with atomic_path(out.with_suffix(".md")) as tables:
            tables.write_text(markdown(results))
    print(f"\nwrote {out} and its tables")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per process, after one warm-up")
    parser.add_argument("--repeats", type=int, default=4, help="A B pairs per model (conv swings 2x pair to pair here)")
    parser.add_argument("--models", nargs="*", help="default: every model in params.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "bench.json")
    parser.add_argument("--skip-tiny-pipeline", action="store_true", help="leave out section 4 (a full tiny dvc repro)")
    parser.add_argument("--canonical", action="store_true",
                        help="only section 6: rebuild every stage of this workspace in place with `dvc repro --force` "
                             "(tens of minutes) and add its overhead and stage memory to --out")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_tensorflow()  # as every stage does, before TensorFlow loads here or in a child: oneDNN, threads
    if args.child:
        variant, name = args.child
        timed = time_pipeline_fit if variant == "pipeline" else time_plain_fit
        print(json.dumps(timed(name, args.epochs)))
        return

    from mnist_ae.config import load_params
    from tools.dvc_cli import executable
    from mnist_ae.files import load_split, read_json
    from mnist_ae.paths import data_dir

    machine = f"{cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"
    previous = read_json(args.out) if args.out.exists() else {}
    if args.canonical:
        print("6. The canonical pipeline: dvc repro --force of this workspace")
        run = provenance(ROOT)
        canonical = {**pipeline_run([executable(), "repro", "--force"], ROOT, echo=True), "machine": machine,
                     "run": run}
        print_pipeline(canonical)
        write_results(args.out, {**previous, "canonical_pipeline": canonical})
        return

    params = load_params()
    names = args.models or list(params.train.models)
    n_train = len(load_split(data_dir("clean"), "train").y)  # images per epoch, for every model
    results: dict = {"machine": machine, "run": provenance(ROOT), "epochs": args.epochs, "repeats": args.repeats,
                     "models": {}}
    if "canonical_pipeline" in previous:  # the long section 6 is kept until --canonical measures it again
        results["canonical_pipeline"] = previous["canonical_pipeline"]

    print("1. Training throughput, images per second (whole epochs, validation included)")
    print(f"{'model':<8} {'pipeline':>9} {'plain':>9} {'A/B':>6}  per-pair A/B")
    for name in names:
        times = {variant: [] for variant in VARIANTS}
        ratios = []
        for _ in range(args.repeats):
            pair = {variant: statistics.median(child(__spec__.name, variant, name, "--epochs", str(args.epochs)))
                    for variant in VARIANTS}
            for variant, value in pair.items():
                times[variant].append(value)
            ratios.append(pair["plain"] / pair["pipeline"])  # A/B of throughput = B/A of seconds
        a, b = (n_train / statistics.median(times[v]) for v in VARIANTS)
        results["models"][name] = {"pipeline_images_per_s": a, "plain_images_per_s": b, "ratio": a / b,
                                   "pair_ratios": ratios}
        print(f"{name:<8} {a:>9.0f} {b:>9.0f} {a / b:>6.2f}  {', '.join(f'{r:.2f}' for r in ratios)}", flush=True)

    print("\n2. Utilisation of this machine's float32 matmul peak")
    peak = matmul_gflops()
    results["peak_gflops"] = peak
    flops = model_flops()
    print(f"peak: {peak:.1f} GFLOP/s")
    print(f"{'model':<8} {'MFLOP/image':>12} {'GFLOP/s':>8} {'of peak':>8}")
    for name in names:
        achieved = flops[name] * results["models"][name]["pipeline_images_per_s"] / 1e9
        results["models"][name].update(training_mflops_per_image=flops[name] / 1e6, gflops=achieved,
                                       share_of_peak=achieved / peak)
        print(f"{name:<8} {flops[name] / 1e6:>12.2f} {achieved:>8.2f} {achieved / peak:>8.1%}")

    print("\n3. Start-up every stage pays")
    python, _ = seconds([sys.executable, "-c", "pass"], ROOT)
    tensorflow, _ = seconds([sys.executable, "-c", "import tensorflow"], ROOT)
    results["startup"] = {"python_s": python, "import_tensorflow_s": tensorflow}
    print(f"python: {python:.2f} s; import tensorflow: {tensorflow:.2f} s")

    if not args.skip_tiny_pipeline:
        print("\n4. The tiny pipeline (shipped sample), full dvc repro in a temporary copy")
        results["tiny_pipeline"] = tiny_pipeline()
        print_pipeline(results["tiny_pipeline"])

    print("\n5. A no-op dvc repro on this workspace")
    noop, output = seconds([executable(), "repro"], ROOT)
    results["noop_repro_s"] = noop
    print(f"{noop:.2f} s ({'up to date' if 'Running stage' not in output else 'NOT up to date: it ran stages'})")

    write_results(args.out, results)


if __name__ == "__main__":
    main()
