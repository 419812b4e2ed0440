"""Seeded training of any registered autoencoder."""

from __future__ import annotations

import sys

import keras
import numpy as np
import tensorflow as tf

from mnist_ae.config import TrainParams
from mnist_ae.models import input_shape

# Keras 3's Adadelta defaults to 0.001, which does not train the notebook's recipe; the
# notebook relied on Keras 2's default of 1.0.
DEFAULT_LEARNING_RATES = {"adam": 1e-3, "adadelta": 1.0}
OPTIMIZER_CLASSES = {"adam": keras.optimizers.Adam, "adadelta": keras.optimizers.Adadelta}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def make_optimizer(name: str, learning_rate: float | None) -> keras.optimizers.Optimizer:
    rate = DEFAULT_LEARNING_RATES[name] if learning_rate is None else learning_rate
    return OPTIMIZER_CLASSES[name](learning_rate=rate)


def as_model_input(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Reshape (n, 28, 28) digits to what the model takes: (n, 784) or (n, 28, 28, 1)."""
    return images.reshape((-1, *input_shape(model)))


def progress_verbosity() -> int:
    """A live progress bar on a terminal, one line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2


def fit_autoencoder(
    model: keras.Model,
    inputs: np.ndarray,
    targets: np.ndarray,
    val_inputs: np.ndarray,
    val_targets: np.ndarray,
    params: TrainParams,
    callbacks: list[keras.callbacks.Callback] = (),
) -> keras.callbacks.History:
    """Compile with per-pixel BCE and fit; loss and ``bce`` are logged per epoch for both splits.

    ``bce`` is the plain per-pixel BCE, comparable across models even where the loss is not
    (the sparse model adds its L1 penalty, the VAE reports nats per image).
    """
    model.compile(
        optimizer=make_optimizer(params.optimizer, params.learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryCrossentropy(name="bce")],
    )
    return model.fit(
        as_model_input(model, inputs),
        as_model_input(model, targets),
        validation_data=(as_model_input(model, val_inputs), as_model_input(model, val_targets)),
        epochs=params.epochs,
        batch_size=params.batch_size,
        shuffle=True,
        callbacks=list(callbacks),
        verbose=progress_verbosity(),
    )
