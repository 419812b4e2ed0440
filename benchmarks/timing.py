"""Timing primitives of the benchmarks: seconds per epoch two ways, FLOPs, peak GFLOP/s, wall time.

Used by bench.py; every timed setting runs in a process of its own (child).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository; benchmarks run from it (python -m benchmarks.…)

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
    """(params, model params, inputs, targets, validation inputs, validation targets) as the train stage
    reads them (mnist_ae.files.training_digits)."""
    from mnist_ae.config import load_params
    from mnist_ae.files import training_digits
    from mnist_ae.models import block_of

    params = load_params()
    model_params = block_of(params.train, name)
    digits, _ = training_digits(model_params.input)
    return (params, model_params, digits["inputs"], digits["targets"], digits["val_inputs"], digits["val_targets"])


def time_pipeline_fit(name: str, epochs: int) -> list[float]:
    """Seconds per epoch through the project's training path (what train@ runs); warm-up epoch excluded."""
    import dataclasses

    from mnist_ae.models import build
    from mnist_ae.runtime import seed_everything
    from mnist_ae.training import compile_autoencoder, fit_autoencoder

    params, model_params, x, y, x_val, y_val = load_digits(name)
    train = dataclasses.replace(params.train, epochs=epochs + 1)
    seed_everything(params.base.seed, train.deterministic)
    model = build(name, model_params, params.base.seed)
    compile_autoencoder(model, train)
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


def child(module: str, *args: str) -> list[float]:
    """Run a benchmark module's ``--child`` mode in a fresh process (``python -m``, from the repository
    root), so each timed run starts cold; its last stdout line is JSON."""
    result = subprocess.run([sys.executable, "-m", module, "--child", *args], cwd=ROOT, capture_output=True, text=True)
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
    from mnist_ae.models import build, typed_blocks

    params = load_params()
    return {name: training_flops_per_image(build(name, block, params.base.seed))
            for name, block in typed_blocks(params.train).items()}


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


# The pipeline's code: a benchmark of it is current only if it ran on the last change to these.
CODE_PATHS = ("src", "stages", "dvc.yaml", "params.yaml")
# CPU features that change what is fast: vector width and native bfloat16 (issue 21).
NOTABLE_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def provenance(root: Path) -> dict:
    """When, where and on which code a benchmark ran: commit, UTC date, CPU and its notable flags, threads.

    ``code_changes`` lists uncommitted edits to the pipeline's code, so a figure from a dirty tree says so.
    """
    from datetime import datetime, timezone

    from mnist_ae.machine import cpu_field, cpu_flags, cpu_model

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
               .splitlines()]
    return {"commit": git("rev-parse", "HEAD").strip(), "code_changes": changed,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu_model(),
            "cpu_family_model": cpu_field("cpu family") + "/" + cpu_field("model"),
            "cpu_flags": sorted(cpu_flags() & set(NOTABLE_CPU_FLAGS)), "cpus": os.cpu_count(),
            "threads": int(os.environ.get("MNIST_AE_THREADS") or os.cpu_count())}
