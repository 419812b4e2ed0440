"""Seeded, resumable training of any registered autoencoder.

Each epoch's batch order is drawn from (seed, epoch) alone, and each completed epoch is checkpointed
(weights, optimizer and seed-generator state, the dvclive logs so far), so a run killed after epoch k
and rerun with the same params continues at epoch k + 1 and ends as if it had never stopped.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from mnist_ae import TrainingDiverged
from mnist_ae.config import TrainParams
from mnist_ae.checkpoints import Checkpoints, SaveCheckpoint
from mnist_ae.models import ModelParams, as_model_input, build, get_spec, load
from mnist_ae.models.base import PIXELS
from mnist_ae.machine import cpu_flags
from mnist_ae.runtime import progress_verbosity, seed_everything
from mnist_ae.stage import add_compute, stops_between_steps

log = logging.getLogger(__name__)

# Keras 3's Adadelta defaults to 0.001, which does not train the notebook's recipe (Keras 2's was 1.0).
DEFAULT_LEARNING_RATES = {"adam": 1e-3, "adadelta": 1.0}
OPTIMIZER_CLASSES = {"adam": keras.optimizers.Adam, "adadelta": keras.optimizers.Adadelta}


def distribution_strategy(name: str) -> tf.distribute.Strategy:
    """``train.strategy``: "auto" mirrors across GPUs when more than one is visible."""
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()  # every visible GPU, or the CPU when there is none
    return tf.distribute.get_strategy()


def set_precision(policy: str) -> None:
    """``train.precision`` as Keras' global dtype policy; output layers stay float32 (see models)."""
    on_cpu = not tf.config.list_logical_devices("GPU")
    if policy == "mixed_float16" and on_cpu:
        log.warning("train.precision is mixed_float16 but no GPU is visible: float16 is slow on CPUs")
    if policy == "mixed_bfloat16" and on_cpu and not cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        log.warning("train.precision is mixed_bfloat16 but this CPU has no native bfloat16 units "
                    "(avx512_bf16, amx_bf16): expect it to be slower than float32")
    keras.config.set_dtype_policy(policy)


def make_optimizer(name: str, learning_rate: float | None) -> keras.optimizers.Optimizer:
    return OPTIMIZER_CLASSES[name](learning_rate=learning_rate_of(name, learning_rate))


def learning_rate_of(optimizer: str, learning_rate: float | None) -> float:
    return DEFAULT_LEARNING_RATES[optimizer] if learning_rate is None else learning_rate


def compile_autoencoder(model: keras.Model, params: TrainParams) -> None:
    """Per-pixel BCE as the loss, and ``bce`` as a metric every model logs: comparable across models even
    where the loss is not (the sparse model adds its L1 penalty, the VAE compiles its own in nats)."""
    model.compile(
        optimizer=make_optimizer(params.optimizer, params.learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryCrossentropy(name="bce")],
        steps_per_execution=params.steps_per_execution,
    )


class EpochBatches(keras.callbacks.Callback):
    """(input, target) batches of one epoch per pass: epoch e's order is drawn from (seed, e) alone.

    ``dataset`` yields exactly one epoch each time Keras iterates it, so ``steps_per_execution`` never
    carries batches across an epoch's end, and a run resumed at epoch e sees the same batches as one
    that never stopped. As a callback, it learns which epoch is starting and writes that epoch's order
    into a variable the dataset reads. The last batch may be short. If ``targets is inputs``, one copy.

    No Python generator: ``Dataset.from_generator`` pins glibc's malloc trim threshold, so every large
    activation cost fresh pages from the kernel (half a conv epoch's CPU time went to page faults).
    """

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, batch_size: int, seed: int, first_epoch: int):
        super().__init__()
        self.seed, self.epoch, self.n, self.batch_size = seed, first_epoch, len(inputs), batch_size
        self.steps = math.ceil(self.n / batch_size)
        inputs_tensor = tf.constant(inputs)
        targets_tensor = inputs_tensor if targets is inputs else tf.constant(targets)
        self.order = tf.Variable(self.epoch_order(first_epoch), trainable=False, name="epoch_order")

        # Plain tracing, no AutoGraph: its converted copy lives in a temporary file that only a normal
        # interpreter exit deletes, and a stopped stage leaves with os._exit (mnist_ae.stage).
        @tf.autograph.experimental.do_not_convert
        def batch(step):
            index = self.order[step * batch_size : tf.minimum((step + 1) * batch_size, self.n)]
            return tf.gather(inputs_tensor, index), tf.gather(targets_tensor, index)

        self.dataset = tf.data.Dataset.range(self.steps).map(batch).prefetch(tf.data.AUTOTUNE)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.order.assign(self.epoch_order(epoch))

    def epoch_order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)


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
    model_inputs = as_model_input(model, inputs)
    model_targets = model_inputs if targets is inputs else as_model_input(model, targets)
    model_val_inputs = as_model_input(model, val_inputs)
    model_val_targets = model_val_inputs if val_targets is val_inputs else as_model_input(model, val_targets)
    batches = EpochBatches(model_inputs, model_targets, params.batch_size, seed, initial_epoch)
    return model.fit(
        batches.dataset,
        validation_data=(model_val_inputs, model_val_targets),
        validation_batch_size=params.batch_size,
        epochs=params.epochs,
        initial_epoch=initial_epoch,
        shuffle=False,  # the batches are already shuffled, per epoch, by EpochBatches
        callbacks=[batches, *callbacks],
        verbose=progress_verbosity(),
    )


class FitClock(keras.callbacks.Callback):
    """Keras' own training time: each epoch from its start to the end of its validation pass.

    Placed first among the callbacks, it stops the clock before dvclive logs and the epoch is
    checkpointed, so ``seconds`` leaves that bookkeeping out (it counts as pipeline overhead).
    """

    def __init__(self):
        super().__init__()
        self.seconds, self.epochs, self._start = 0.0, 0, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self._start
        self.epochs += 1


class StopOnDivergence(keras.callbacks.Callback):
    """Fail at the first non-finite loss, naming the model, the epoch and the likely cause."""

    def __init__(self, name: str, params: TrainParams):
        super().__init__()
        self.name, self.train_params, self.epoch, self.val_loss = name, params, 0, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check((logs or {}).get("loss"), "training")

    def on_epoch_end(self, epoch, logs=None):
        self.val_loss = (logs or {}).get("val_loss")
        self._check(self.val_loss, "validation")

    def _check(self, loss, split: str) -> None:
        if loss is None or math.isfinite(float(loss)):
            return
        raise TrainingDiverged(
            f"train@{self.name}: {split} loss became {float(loss)} in epoch {self.epoch + 1} of "
            f"{self.train_params.epochs}; training diverged, {self._likely_cause()}"
        )

    def check_learned(self, loss_unit: str) -> None:
        """A finite loss can still be ruined (a huge learning rate saturates every output): a model
        worse than predicting 0.5 for every pixel, ln 2 nats, has learned nothing worth saving."""
        if self.val_loss is None:
            return  # resumed after its last epoch: nothing was fitted in this run
        per_pixel = float(self.val_loss) / (PIXELS if loss_unit == "nats/image" else 1)
        if per_pixel > math.log(2):
            raise TrainingDiverged(
                f"train@{self.name}: validation loss {per_pixel:.4g} nats/pixel after {self.train_params.epochs} "
                f"epochs is worse than ln 2 = 0.693, predicting 0.5 for every pixel; {self._likely_cause()}")

    def _likely_cause(self) -> str:
        rate = learning_rate_of(self.train_params.optimizer, self.train_params.learning_rate)
        return (f"most likely because the learning rate is too high ({self.train_params.optimizer} at {rate:g}): "
                "lower train.learning_rate")


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

    ``splits`` holds ``inputs``/``targets`` and ``val_inputs``/``val_targets`` as (n, 28, 28) digits;
    where targets are the inputs, pass the same array for both and it is held once. The model is
    built and fitted under ``train.strategy`` and ``train.precision``.
    """
    seed_everything(seed, params.deterministic)
    set_precision(params.precision)
    strategy = distribution_strategy(params.strategy)
    latest = checkpoints.latest()
    with strategy.scope():
        if latest is None:
            first_epoch = 0
            model = build(name, model_params, seed)
            compile_autoencoder(model, params)
            model.summary(print_fn=log.info)
        else:
            first_epoch, snapshot = latest
            log.info("resuming %s after epoch %d of %d from %s", name, first_epoch, params.epochs, snapshot)
            model = load(snapshot / "model.keras", name)  # weights and optimizer state
            shutil.copytree(snapshot / "log", log_dir, dirs_exist_ok=True)
        log.info("training %s on %d digits, validating on %d, %d replica(s) of %s, %s", name,
                 len(splits["inputs"]), len(splits["val_inputs"]), strategy.num_replicas_in_sync,
                 type(strategy).__name__.lstrip("_"), params.precision)
        clock = FitClock()
        try:
            live = Live(dir=str(log_dir), resume=first_epoch > 0, save_dvc_exp=False, dvcyaml=None)
            with live, stops_between_steps() as held_stop:  # last: after the epoch's checkpoint is written
                stopper = StopOnDivergence(name, params)
                callbacks = [clock, stopper, DVCLiveCallback(live=live), SaveCheckpoint(checkpoints, log_dir), held_stop]
                fit_autoencoder(model, splits["inputs"], splits["targets"], splits["val_inputs"],
                                splits["val_targets"], params, seed, initial_epoch=first_epoch, callbacks=callbacks)
            stopper.check_learned(get_spec(name).loss_unit)
        except TrainingDiverged:
            checkpoints.clear()  # resuming a diverged run would only diverge again
            raise
    log.info("fit: %d epochs in %.2f s", clock.epochs, clock.seconds)
    add_compute("fit", clock.seconds)  # the stage's done line: make bench splits fit from machinery
    return model
