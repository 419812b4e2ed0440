"""TensorFlow set-up shared by every stage that trains: seeding, op determinism, progress output.

Kept apart from ``training.py`` so the classifier stage, which trains no autoencoder, does not
import (and so does not depend on) the autoencoder registry and its training loop.
"""

from __future__ import annotations

import sys

import keras
import tensorflow as tf


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and Keras; optionally make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def progress_verbosity() -> int:
    """A live progress bar on a terminal, one line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2
