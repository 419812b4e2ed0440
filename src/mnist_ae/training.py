"""Seeded, resumable training of any registered autoencoder.

Each epoch's batch order is drawn from (seed, epoch) alone, and each completed epoch is
checkpointed (weights, optimizer state, seed-generator state and the dvclive logs so far), so a
run killed after epoch k and rerun with the same params continues at epoch k + 1 and ends with
the same weights as a run that never stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from mnist_ae import TrainingDiverged
from mnist_ae.config import ModelParams, TrainParams
from mnist_ae.io import atomic_dir
from mnist_ae.models import build, input_shape, load

log = logging.getLogger(__name__)

# Keras 3's Adadelta defaults to 0.001, which does not train the notebook's recipe; the
# notebook relied on Keras 2's default of 1.0.
DEFAULT_LEARNING_RATES = {"adam": 1e-3, "adadelta": 1.0}
OPTIMIZER_CLASSES = {"adam": keras.optimizers.Adam, "adadelta": keras.optimizers.Adadelta}

# The code a checkpoint depends on: change any of it and old checkpoints no longer apply.
TRAINING_SOURCES = (Path(__file__), *sorted((Path(__file__).parent / "models").glob("*.py")))


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and Keras; optionally make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def make_optimizer(name: str, learning_rate: float | None) -> keras.optimizers.Optimizer:
    return OPTIMIZER_CLASSES[name](learning_rate=learning_rate_of(name, learning_rate))


def learning_rate_of(optimizer: str, learning_rate: float | None) -> float:
    return DEFAULT_LEARNING_RATES[optimizer] if learning_rate is None else learning_rate


def as_model_input(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Reshape (n, 28, 28) digits to what the model takes: (n, 784) or (n, 28, 28, 1)."""
    return images.reshape((-1, *input_shape(model)))


def progress_verbosity() -> int:
    """A live progress bar on a terminal, one line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2


def compile_autoencoder(model: keras.Model, params: TrainParams) -> None:
    """Per-pixel BCE as the loss, and ``bce`` as a metric every model logs.

    ``bce`` is comparable across models even where the loss is not (the sparse model adds its
    L1 penalty, the VAE compiles its own loss in nats per image).
    """
    model.compile(
        optimizer=make_optimizer(params.optimizer, params.learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryCrossentropy(name="bce")],
    )


def shuffled_batches(inputs: np.ndarray, targets: np.ndarray, batch_size: int, seed: int,
                     first_epoch: int) -> tf.data.Dataset:
    """Endless (input, target) batches, epoch after epoch from ``first_epoch`` on.

    Epoch e is the permutation drawn from (seed, e) alone, so a run resumed at epoch e sees
    the same batches as one that never stopped. The last batch of an epoch may be short.
    """
    inputs, targets = tf.constant(inputs), tf.constant(targets)
    n = int(inputs.shape[0])

    def one_epoch(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    return (
        tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max)
        .flat_map(one_epoch)
        .map(lambda index: (tf.gather(inputs, index), tf.gather(targets, index)))
        .prefetch(tf.data.AUTOTUNE)
    )


def fit_autoencoder(
    model: keras.Model,
    inputs: np.ndarray,
    targets: np.ndarray,
    val_inputs: np.ndarray,
    val_targets: np.ndarray,
    params: TrainParams,
    seed: int,
    initial_epoch: int = 0,
    callbacks: list[keras.callbacks.Callback] = (),
) -> keras.callbacks.History:
    """Fit a compiled autoencoder from ``initial_epoch`` to ``params.epochs``, validating each epoch."""
    batches = shuffled_batches(as_model_input(model, inputs), as_model_input(model, targets),
                               params.batch_size, seed, initial_epoch)
    return model.fit(
        batches,
        steps_per_epoch=math.ceil(len(inputs) / params.batch_size),
        validation_data=(as_model_input(model, val_inputs), as_model_input(model, val_targets)),
        validation_batch_size=params.batch_size,
        epochs=params.epochs,
        initial_epoch=initial_epoch,
        shuffle=False,  # the batches are already shuffled, per epoch, by shuffled_batches
        callbacks=list(callbacks),
        verbose=progress_verbosity(),
    )


class StopOnDivergence(keras.callbacks.Callback):
    """Fail at the first non-finite loss, naming the model, the epoch and the likely cause."""

    def __init__(self, name: str, params: TrainParams):
        super().__init__()
        self.name, self.train_params, self.epoch = name, params, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check((logs or {}).get("loss"), "training")

    def on_epoch_end(self, epoch, logs=None):
        self._check((logs or {}).get("val_loss"), "validation")

    def _check(self, loss, split: str) -> None:
        if loss is None or math.isfinite(float(loss)):
            return
        rate = learning_rate_of(self.train_params.optimizer, self.train_params.learning_rate)
        raise TrainingDiverged(
            f"train@{self.name}: {split} loss became {float(loss)} in epoch {self.epoch + 1} of "
            f"{self.train_params.epochs}; training diverged, most likely because the learning rate is too "
            f"high ({self.train_params.optimizer} at {rate:g}): lower train.learning_rate"
        )


@dataclass(frozen=True)
class Checkpoints:
    """Per-epoch snapshots of one training run, in ``directory/epoch_NNNN/``.

    Each snapshot is written under a temporary name and renamed when complete, so the newest
    ``epoch_*`` directory is always whole. Only the newest is kept.
    """

    directory: Path

    def latest(self) -> tuple[int, Path] | None:
        """(completed epochs, snapshot directory) of the newest snapshot, or None."""
        snapshots = sorted(self.directory.glob("epoch_*"))
        return (int(snapshots[-1].name.removeprefix("epoch_")), snapshots[-1]) if snapshots else None

    def save(self, completed_epochs: int, model: keras.Model, log_dir: Path) -> None:
        with atomic_dir(self.directory / f"epoch_{completed_epochs:04d}") as tmp:
            model.save(tmp / "model.keras")
            shutil.copytree(log_dir, tmp / "log")
        for older in sorted(self.directory.glob("epoch_*"))[:-1]:
            shutil.rmtree(older)

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        for parent in self.directory.parents[:2]:  # .resume/<model>, then .resume, once empty
            try:
                parent.rmdir()
            except OSError:
                break


class SaveCheckpoint(keras.callbacks.Callback):
    """After each epoch (and after dvclive has logged it), snapshot the run for a later resume."""

    def __init__(self, checkpoints: Checkpoints, log_dir: Path):
        super().__init__()
        self.checkpoints, self.log_dir = checkpoints, log_dir

    def on_epoch_end(self, epoch, logs=None):
        self.checkpoints.save(epoch + 1, self.model, self.log_dir)


def fingerprint(settings: dict, files: list[Path]) -> str:
    """A short hash of a run's settings and the bytes of the files it depends on."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in files:
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


def train_autoencoder(
    name: str,
    model_params: ModelParams,
    params: TrainParams,
    seed: int,
    splits: dict[str, np.ndarray],
    log_dir: Path,
    checkpoints: Checkpoints,
) -> keras.Model:
    """Build (or resume) and fit one registered model; dvclive logs its curves into ``log_dir``.

    ``splits`` holds ``inputs``/``targets`` and ``val_inputs``/``val_targets`` as (n, 28, 28) digits.
    """
    seed_everything(seed, params.deterministic)
    latest = checkpoints.latest()
    if latest is None:
        first_epoch = 0
        model = build(name, model_params, seed)
        compile_autoencoder(model, params)
        model.summary(print_fn=log.info)
    else:
        first_epoch, snapshot = latest
        log.info("resuming %s after epoch %d of %d from %s", name, first_epoch, params.epochs, snapshot)
        model = load(snapshot / "model.keras")  # weights and optimizer state
        shutil.copytree(snapshot / "log", log_dir, dirs_exist_ok=True)
    log.info("training %s on %d digits, validating on %d", name, len(splits["inputs"]), len(splits["val_inputs"]))
    try:
        with Live(dir=str(log_dir), resume=first_epoch > 0, save_dvc_exp=False, dvcyaml=None) as live:
            callbacks = [StopOnDivergence(name, params), DVCLiveCallback(live=live), SaveCheckpoint(checkpoints, log_dir)]
            fit_autoencoder(model, splits["inputs"], splits["targets"], splits["val_inputs"], splits["val_targets"],
                            params, seed, initial_epoch=first_epoch, callbacks=callbacks)
    except TrainingDiverged:
        checkpoints.clear()  # resuming a diverged run would only diverge again
        raise
    return model
