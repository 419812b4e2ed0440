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
6. with ``--canonical`` only (make bench-canonical): `dvc repro --force` of this workspace at the
   committed params, its wall time against the models' fit time and every stage's peak RSS. Model
   files are saved byte-reproducibly, so on the same machine the rebuild changes no tracked output.
   A plain run keeps the last section 6 found in ``--out``.

Sections 4 and 6 report the overhead, the wall time of `dvc repro` divided by the sum of the
models' pure fit times that the train stages log.

    python benchmarks/bench.py [--epochs 2] [--repeats 4] [--models dense conv] [--out benchmarks/bench.json]
    python benchmarks/bench.py --canonical

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
SAMPLE = ROOT / "tests" / "data" / "mnist_sample.npz"  # the tiny pipeline's digits
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
    from mnist_ae.files import load_split
    from mnist_ae.paths import data_dir

    params = load_params()
    model_params = params.train.models[name]
    split = {(kind, s): load_split(data_dir(kind), s).x
             for kind in {"clean", model_params.input} for s in ("train", "val")}
    return (params, model_params, split[model_params.input, "train"], split["clean", "train"],
            split[model_params.input, "val"], split["clean", "val"])


def time_pipeline_fit(name: str, epochs: int, validate: bool = True, train_overrides: dict | None = None,
                      compile_options: dict | None = None) -> list[float]:
    """Seconds per epoch through the project's training path; warm-up epoch excluded.

    ``train_overrides`` replace ``train`` params (e.g. ``deterministic``); ``compile_options``
    (e.g. ``jit_compile``) recompile the model with the same optimizer, loss and metrics.
    """
    import dataclasses

    import keras

    from mnist_ae.models import build
    from mnist_ae.runtime import seed_everything
    from mnist_ae.training import compile_autoencoder, fit_autoencoder

    params, model_params, x, y, x_val, y_val = load_digits(name)
    train = dataclasses.replace(params.train, epochs=epochs + 1, **(train_overrides or {}))
    if not validate:  # one batch, so the comparison is about training alone
        x_val, y_val = x_val[: train.batch_size], y_val[: train.batch_size]
    seed_everything(params.base.seed, train.deterministic)
    model = build(name, model_params, params.base.seed)
    compile_autoencoder(model, train)
    if compile_options:
        options = {"steps_per_execution": train.steps_per_execution, **compile_options}
        model.compile(optimizer=model.optimizer, loss=model.loss,
                      metrics=[keras.metrics.BinaryCrossentropy(name="bce")], **options)
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


def seconds(command: list[str], cwd: Path, env: dict | None = None, echo: bool = False) -> tuple[float, str]:
    """Wall time of ``command`` and its output, stdout and stderr interleaved as printed (and echoed)."""
    start = time.perf_counter()
    lines = []
    with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        for line in process.stdout:
            lines.append(line)
            if echo:
                print(line, end="", flush=True)
    elapsed = time.perf_counter() - start
    output = "".join(lines)
    if process.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed:\n{output[-2000:]}")
    return elapsed, output


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, or the architecture where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


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
    from mnist_ae.tools.dvc_cli import executable
    from mnist_ae.tools.sandbox import prepare_sandbox, sandbox_env, tiny_overrides

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


GOAL_OVERHEAD, GOAL_NOOP_S, GOAL_RSS_MIB = 1.10, 3.0, 2048  # the goals


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


def markdown(results: dict) -> str:
    """The tables of docs/performance.md, from a bench.json."""
    lines = [f"Measured on {results['machine']}; float32 matmul peak {results['peak_gflops']:.0f} GFLOP/s; "
             f"{results['epochs']} timed epochs per process, {results['repeats']} A B pairs.", ""]
    runs = {label: results[key] for label, key in (("tiny", "tiny_pipeline"), ("canonical", "canonical_pipeline"))
            if key in results}
    ratios = {name: m["ratio"] for name, m in results["models"].items()}
    worst_ratio = min(ratios, key=ratios.get)
    peaks = {(label, stage): stat["peak_rss_mib"]
             for label, run in runs.items() for stage, stat in run["stages"].items()}
    goals = [("ratio A/B", "≥ 1.0 for every model", f"{ratios[worst_ratio]:.2f} at the lowest ({worst_ratio})",
              ratios[worst_ratio] >= 1.0)]
    if "canonical" in runs:
        overhead = runs["canonical"]["overhead"]
        goals.append(("canonical pipeline overhead", f"≤ {GOAL_OVERHEAD:.2f}", f"{overhead:.2f}",
                      overhead <= GOAL_OVERHEAD))
    goals.append(("no-op `dvc repro`", f"≤ {GOAL_NOOP_S:.0f} s", f"{results['noop_repro_s']:.2f} s",
                  results["noop_repro_s"] <= GOAL_NOOP_S))
    if peaks:
        (label, stage), peak = max(peaks.items(), key=lambda item: item[1])
        goals.append(("peak RSS of any stage", "≤ 2 GiB", f"{peak:,.0f} MiB ({stage}, {label})",
                      peak <= GOAL_RSS_MIB))
    lines += ["| measure | goal | measured | met |", "|---|---|---|---|"]
    lines += [f"| {measure} | {goal} | {value} | {'yes' if met else '**no**'} |" for measure, goal, value, met in goals]
    lines += ["", "| model | pipeline img/s | plain Keras img/s | A/B | A/B per pair | training MFLOP/img | "
                  "share of peak |", "|---|---|---|---|---|---|---|"]
    for name, m in results["models"].items():
        pairs = ", ".join(f"{r:.2f}" for r in m["pair_ratios"])
        lines.append(f"| {name} | {m['pipeline_images_per_s']:,.0f} | {m['plain_images_per_s']:,.0f} | "
                     f"{m['ratio']:.2f} | {pairs} | {m['training_mflops_per_image']:.2f} | {m['share_of_peak']:.1%} |")
    startup = results["startup"]
    lines += ["", f"Start-up: Python {startup['python_s']:.2f} s, `import tensorflow` "
                  f"{startup['import_tensorflow_s']:.2f} s. No-op `dvc repro`: {results['noop_repro_s']:.2f} s."]
    if runs:
        lines += ["", "| pipeline | `dvc repro` wall | models' fit | overhead (wall / fit) | "
                      + " | ".join(overhead_split(next(iter(runs.values())))) + " |",
                  "|---" * 7 + "|"]
        for label, run in runs.items():
            split = " | ".join(f"{seconds:.0f} s" for seconds in overhead_split(run).values())
            lines.append(f"| {label} | {run['wall_seconds']:.0f} s | {run['fit_seconds']:.0f} s | "
                         f"{run['overhead']:.2f} | {split} |")
        header = " | ".join(f"{label} s | {label} fit s | {label} peak RSS" for label in runs)
        lines += ["", f"| stage | {header} |", "|---" * (1 + 3 * len(runs)) + "|"]
        for stage in next(iter(runs.values()))["stages"]:
            cells = []
            for run in runs.values():
                stat = run["stages"].get(stage, {})
                cells += [f"{stat.get('seconds', float('nan')):.1f}", fit_cell(stat),
                          f"{stat.get('peak_rss_mib', 0):,.0f} MiB"]
            lines.append(f"| {stage} | {' | '.join(cells)} |")
    return "\n".join(lines)


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
    parser.add_argument("--markdown", type=Path, metavar="BENCH_JSON", help="print the docs/performance.md tables of a bench.json")
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
    from mnist_ae.tools.dvc_cli import executable
    from mnist_ae.files import load_split, read_json, write_json
    from mnist_ae.paths import data_dir

    machine = f"{cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"
    previous = read_json(args.out) if args.out.exists() else {}
    if args.canonical:
        print("6. The canonical pipeline: dvc repro --force of this workspace")
        canonical = {**pipeline_run([executable(), "repro", "--force"], ROOT, echo=True), "machine": machine}
        print_pipeline(canonical)
        write_json(args.out, {**previous, "canonical_pipeline": canonical})
        print(f"\nwrote {args.out}")
        return

    params = load_params()
    names = args.models or list(params.train.models)
    n_train = len(load_split(data_dir("clean"), "train").y)  # images per epoch, for every model
    results: dict = {"machine": machine, "epochs": args.epochs, "repeats": args.repeats, "models": {}}
    if "canonical_pipeline" in previous:  # the long section 6 is kept until --canonical measures it again
        results["canonical_pipeline"] = previous["canonical_pipeline"]

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
        print_pipeline(results["tiny_pipeline"])

    print("\n5. A no-op dvc repro on this workspace")
    noop, output = seconds([executable(), "repro"], ROOT)
    results["noop_repro_s"] = noop
    print(f"{noop:.2f} s ({'up to date' if 'Running stage' not in output else 'NOT up to date: it ran stages'})")

    write_json(args.out, results)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
