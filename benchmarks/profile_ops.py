"""Where a training epoch's time goes, op by op: TensorFlow's profiler over one epoch of ``train@``.

Each model runs in a fresh process through the project's own training path (build,
compile_autoencoder, fit_autoencoder) on the prepared digits: a warm-up fit on a few batches traces
and compiles the training step, then one whole epoch, validation included, runs under
``tf.profiler``. The op events of TensorFlow's compute threads are summed per op type and sorted
into forward, backward (an op type that names a gradient) and optimizer update (``Apply*``,
``Assign*``); the input pipeline's threads (``tf.data``) are summed apart.

    python -m benchmarks.profile_ops [--models conv denoise]

Needs the prepared data (dvc repro noise). Prints a table per model and writes them, with when
and where they ran, to ``benchmarks/profile.json`` (``--out``); docs/performance.md's table is
spliced from that file by ``make docs``. Op times are summed over threads: two ops that overlap
both count, so shares are of the summed op time, not of the epoch's wall time.

This TensorFlow build leaves oneDNN off on AMD CPUs (``IsMklEnabled()`` is false there), so the
convolution gradients run on Eigen's kernels; ``TF_ENABLE_ONEDNN_OPTS=1`` in the environment turns
it on, and the op types then read ``_MklNative…``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from benchmarks.timing import ROOT

OUT = Path(__file__).with_name("profile.json")
WARM_UP_BATCHES = 4
TOP_OPS = 8  # the table's rows per model; the rest are summed into one


def op_pass(op_type: str) -> str:
    if op_type.startswith(("ResourceApply", "Apply", "AssignAdd", "AssignSub", "AssignVariable")):
        return "update"
    return "backward" if "Grad" in op_type or "Backprop" in op_type else "forward"


def profile_epoch(name: str) -> dict:
    """One epoch of ``name`` under the profiler (runs inside the child process)."""
    import dataclasses
    import time

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from mnist_ae.models import build
    from mnist_ae.runtime import seed_everything
    from mnist_ae.training import compile_autoencoder, fit_autoencoder
    from benchmarks.timing import load_digits

    params, model_params, x, y, x_val, y_val = load_digits(name)
    train = dataclasses.replace(params.train, epochs=1)
    seed_everything(params.base.seed, train.deterministic)
    model = build(name, model_params, params.base.seed)
    compile_autoencoder(model, train)
    few = WARM_UP_BATCHES * train.batch_size
    fit_autoencoder(model, x[:few], y[:few], x_val[:few], y_val[:few], train, params.base.seed)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        fit_autoencoder(model, x, y, x_val, y_val, train, params.base.seed)
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    seconds, counts, input_pipeline = defaultdict(float), defaultdict(int), 0.0
    for plane in space.planes:
        if not plane.name.startswith("/host:"):
            continue
        for line in plane.lines:
            for event in line.events:
                label = plane.event_metadata[event.metadata_id].name
                if ":" not in label or "::" in label:  # ops are "<op name>:<op type>"; the rest, framework spans
                    continue
                if line.name.startswith("tf_Compute"):
                    op_type = label.rpartition(":")[2]
                    seconds[op_type] += event.duration_ps * 1e-12
                    counts[op_type] += 1
                elif line.name.startswith("tf_data"):
                    input_pipeline += event.duration_ps * 1e-12
    return {"epoch_seconds": wall, "input_pipeline_seconds": input_pipeline,
            "ops": [{"op": op, "pass": op_pass(op), "seconds": s, "count": counts[op]}
                    for op, s in sorted(seconds.items(), key=lambda item: -item[1])]}


def markdown(results: dict) -> str:
    """docs/performance.md's table, from a profile.json."""
    run = results["run"]
    lines = [f"Commit `{run['commit'][:7]}` on {run['date'][:10]}, {run['cpu']} (family/model "
             f"{run['cpu_family_model']}; {', '.join(run['cpu_flags']) or 'no AVX-512'}), {run['threads']} threads; "
             "one whole epoch per model, validation included.", "",
             "| model | epoch s | op type | pass | op s | share of op time | calls |", "|---|---:|---|---|---:|---:|---:|"]
    for name, model in results["models"].items():
        total = sum(op["seconds"] for op in model["ops"]) or 1.0
        top, rest = model["ops"][:TOP_OPS], model["ops"][TOP_OPS:]
        passes = defaultdict(float)
        for op in model["ops"]:
            passes[op["pass"]] += op["seconds"]
        for i, op in enumerate(top):
            model_cells = f"{name} | {model['epoch_seconds']:.1f}" if i == 0 else " | "
            lines.append(f"| {model_cells} | `{op['op']}` | {op['pass']} | {op['seconds']:.1f} | "
                         f"{op['seconds'] / total:.0%} | {op['count']:,} |")
        if rest:
            rest_seconds = sum(op["seconds"] for op in rest)
            lines.append(f"|  |  | {len(rest)} other op types | | {rest_seconds:.1f} | {rest_seconds / total:.0%} | |")
        shares = ", ".join(f"{p} {passes[p] / total:.0%}" for p in ("forward", "backward", "update"))
        lines.append(f"|  |  | by pass: {shares} | | {total:.1f} | 100% | |")
        lines.append(f"|  |  | input pipeline (`tf.data` threads) | | {model['input_pipeline_seconds']:.1f} | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["conv", "denoise"])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--child", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(profile_epoch(args.child)))
        return
    from benchmarks.timing import child, provenance

    results = {"run": provenance(ROOT), "models": {}}
    for name in args.models:
        results["models"][name] = child(__spec__.name, name)
        print(f"{name}: {results['models'][name]['epoch_seconds']:.1f} s", flush=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
