"""The performance benchmark (make bench): the pipeline's training path against a plain Keras script.

Sections, each printed as a table and written together to ``metrics/bench.json`` (not a DVC
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

    python benchmarks/bench.py [--epochs 2] [--repeats 2] [--models dense conv] [--out metrics/bench.json]

Needs the prepared data of the committed params (dvc repro noise).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("pipeline", "plain")
PLAIN_BATCH = 256  # the notebook's batch size


def epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.start = [], 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    return EpochTimer()


def load_digits(name: str):
    """(params, model params, inputs, targets, validation inputs, validation targets) as the train stage reads them."""
    from mnist_ae.config import load_params
    from mnist_ae.io import load_split
    from mnist_ae.paths import data_dir

    params = load_params()
    model_params = params.train.models[name]
    split = {(kind, s): load_split(data_dir(kind), s).x
             for kind in {"clean", model_params.input} for s in ("train", "val")}
    return (params, model_params, split[model_params.input, "train"], split["clean", "train"],
            split[model_params.input, "val"], split["clean", "val"])


def time_pipeline_fit(name: str, epochs: int, deterministic: bool | None = None, validate: bool = True,
                      compile_options: dict | None = None) -> list[float]:
    """Seconds per epoch through the project's training path; warm-up epoch excluded.

    ``compile_options`` (e.g. ``jit_compile``) recompile the model with the same loss and metrics.
    """
    import dataclasses

    import keras

    from mnist_ae.models import build
    from mnist_ae.training import compile_autoencoder, fit_autoencoder, seed_everything

    params, model_params, x, y, x_val, y_val = load_digits(name)
    deterministic = params.train.deterministic if deterministic is None else deterministic
    train = dataclasses.replace(params.train, epochs=epochs + 1, deterministic=deterministic)
    if not validate:  # one batch, so the comparison is about training alone
        x_val, y_val = x_val[: train.batch_size], y_val[: train.batch_size]
    seed_everything(params.base.seed, deterministic)
    model = build(name, model_params, params.base.seed)
    compile_autoencoder(model, train)
    if compile_options:
        model.compile(optimizer=model.optimizer, loss=model.loss,
                      metrics=[keras.metrics.BinaryCrossentropy(name="bce")], **compile_options)
    timer = epoch_timer()
    fit_autoencoder(model, x, y, x_val, y_val, train, params.base.seed, callbacks=[timer])
    return timer.seconds[1:]


def time_plain_fit(name: str, epochs: int) -> list[float]:
    """Seconds per epoch of the notebook's own recipe on the same model; warm-up epoch excluded."""
    import keras

    from mnist_ae.models import build, input_shape

    params, model_params, x, y, x_val, y_val = load_digits(name)
    model = build(name, model_params, params.base.seed)
    shape = (-1, *input_shape(model))
    model.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")
    timer = epoch_timer()
    model.fit(x.reshape(shape), y.reshape(shape), epochs=epochs + 1, batch_size=PLAIN_BATCH, shuffle=True,
              validation_data=(x_val.reshape(shape), y_val.reshape(shape)), callbacks=[timer], verbose=0)
    return timer.seconds[1:]


def child(script: str, *args: str, env: dict[str, str] | None = None) -> list[float]:
    """Run a benchmark script's ``--child`` mode in a fresh process; its last stdout line is JSON.

    Shared by every script here: op determinism and thread counts are per process, so each timed
    setting gets a process of its own.
    """
    result = subprocess.run([sys.executable, script, "--child", *args], capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def training_flops_per_image(model) -> float:
    """Forward multiply-adds of Dense and Conv2D layers x 2 FLOPs, x 3 for forward plus backward."""
    import keras

    def forward(layer) -> float:
        if isinstance(layer, keras.Model):
            return sum(forward(inner) for inner in layer.layers)
        if isinstance(layer, keras.layers.Dense):
            return 2.0 * layer.kernel.shape[0] * layer.kernel.shape[1]
        if isinstance(layer, keras.layers.Conv2D):
            height, width = layer.output.shape[1:3]
            kernel = layer.kernel.shape  # (k, k, in, out)
            return 2.0 * kernel[0] * kernel[1] * kernel[2] * kernel[3] * height * width
        return 0.0

    return 3.0 * sum(forward(layer) for layer in model.layers if isinstance(layer, keras.Model))


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Sustained float32 GFLOP/s of a large matmul (best of ``repeats``)."""
    import tensorflow as tf

    a = tf.random.stateless_uniform((size, size), seed=(1, 2))
    b = tf.random.stateless_uniform((size, size), seed=(3, 4))
    tf.linalg.matmul(a, b).numpy()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9


def model_flops() -> dict[str, float]:
    from mnist_ae.config import load_params
    from mnist_ae.models import build

    params = load_params()
    return {name: training_flops_per_image(build(name, block, params.base.seed))
            for name, block in params.train.models.items()}


def seconds(command: list[str], cwd: Path, env: dict | None = None) -> tuple[float, str]:
    """Wall time of ``command`` and its output, stdout and stderr interleaved as printed."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed:\n{result.stdout[-2000:]}")
    return elapsed, result.stdout


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, or the architecture where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


STAGE_LINE = re.compile(r"Running stage '([^']+)'|INFO stage: done in ([\d.]+) s, peak RSS (\d+) MiB")


def stage_stats(output: str) -> dict[str, dict[str, float]]:
    """Each stage's own wall time and peak RSS, from the lines `dvc repro` passes through."""
    stats, current = {}, None
    for match in STAGE_LINE.finditer(output):
        if match.group(1):
            current = match.group(1)
        elif current is not None:
            stats[current] = {"seconds": float(match.group(2)), "peak_rss_mib": float(match.group(3))}
    return stats


def tiny_pipeline() -> dict:
    from mnist_ae.dvc_cli import executable
    from mnist_ae.sandbox import SAMPLE, TINY_OVERRIDES, prepare_sandbox, sandbox_env

    with tempfile.TemporaryDirectory() as tmp:
        workdir = prepare_sandbox(ROOT, Path(tmp) / "tiny", TINY_OVERRIDES)
        wall, output = seconds([executable(), "repro"], workdir, sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)}))
    return {"wall_seconds": wall, "stages": stage_stats(output)}


def markdown(results: dict) -> str:
    """The README's tables, from a bench.json."""
    rows = ["| model | pipeline img/s | plain Keras img/s | A/B | A/B per pair | training MFLOP/img | share of peak |",
            "|---|---|---|---|---|---|---|"]
    for name, m in results["models"].items():
        pairs = ", ".join(f"{r:.2f}" for r in m["pair_ratios"])
        rows.append(f"| {name} | {m['pipeline_images_per_s']:,.0f} | {m['plain_images_per_s']:,.0f} | {m['ratio']:.2f} "
                    f"| {pairs} | {m['training_mflops_per_image']:.2f} | {m['share_of_peak']:.1%} |")
    lines = [f"Measured on {results['machine']}; float32 matmul peak {results['peak_gflops']:.0f} GFLOP/s; "
             f"{results['epochs']} timed epochs per process, {results['repeats']} A B pairs.", "", *rows, ""]
    startup = results["startup"]
    lines.append(f"Start-up: Python {startup['python_s']:.2f} s, "
                 f"`import tensorflow` {startup['import_tensorflow_s']:.2f} s. "
                 f"No-op `dvc repro`: {results['noop_repro_s']:.2f} s.")
    if "tiny_pipeline" in results:
        tiny = results["tiny_pipeline"]
        stages = tiny["stages"]
        heaviest = max(stages, key=lambda stage: stages[stage]["peak_rss_mib"])
        own_work = sum(v["seconds"] for v in stages.values())
        lines += ["", f"Tiny pipeline: `dvc repro` {tiny['wall_seconds']:.0f} s wall, of which the {len(stages)} "
                      f"stages' own work is {own_work:.0f} s; the largest peak RSS is "
                      f"{stages[heaviest]['peak_rss_mib']:.0f} MiB ({heaviest})."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per process, after one warm-up")
    parser.add_argument("--repeats", type=int, default=2, help="A B pairs per model")
    parser.add_argument("--models", nargs="*", help="default: every model in params.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "metrics" / "bench.json")
    parser.add_argument("--skip-tiny-pipeline", action="store_true", help="leave out section 4 (a full tiny dvc repro)")
    parser.add_argument("--markdown", type=Path, metavar="BENCH_JSON", help="print the README tables of a bench.json")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return
    if args.child:
        variant, name = args.child
        timed = time_pipeline_fit if variant == "pipeline" else time_plain_fit
        print(json.dumps(timed(name, args.epochs)))
        return

    from mnist_ae.config import load_params
    from mnist_ae.io import load_split, write_json
    from mnist_ae.paths import data_dir

    params = load_params()
    names = args.models or list(params.train.models)
    n_train = len(load_split(data_dir("clean"), "train").y)  # images per epoch, for every model
    machine = f"{cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"
    results: dict = {"machine": machine, "epochs": args.epochs, "repeats": args.repeats, "models": {}}

    print("1. Training throughput, images per second (whole epochs, validation included)")
    print(f"{'model':<8} {'pipeline':>9} {'plain':>9} {'A/B':>6}  per-pair A/B")
    for name in names:
        times = {variant: [] for variant in VARIANTS}
        ratios = []
        for _ in range(args.repeats):
            pair = {variant: statistics.median(child(__file__, variant, name, "--epochs", str(args.epochs)))
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
        stages = results["tiny_pipeline"]["stages"]
        print(f"wall: {results['tiny_pipeline']['wall_seconds']:.1f} s; stages' own time: "
              f"{sum(s['seconds'] for s in stages.values()):.1f} s over {len(stages)} stages")
        print(f"{'stage':<18} {'seconds':>8} {'peak RSS MiB':>13}")
        for stage, stat in stages.items():
            print(f"{stage:<18} {stat['seconds']:>8.1f} {stat['peak_rss_mib']:>13.0f}")

    print("\n5. A no-op dvc repro on this workspace")
    from mnist_ae.dvc_cli import executable

    noop, output = seconds([executable(), "repro"], ROOT)
    results["noop_repro_s"] = noop
    print(f"{noop:.2f} s ({'up to date' if 'Running stage' not in output else 'NOT up to date: it ran stages'})")

    write_json(args.out, results)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
