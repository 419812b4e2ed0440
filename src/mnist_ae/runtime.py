"""TensorFlow set-up shared by every stage that trains: seeding, op determinism, progress output.

Kept apart from ``training.py`` so the classifier stage, which trains no autoencoder, does not
import (and so does not depend on) the autoencoder registry and its training loop.
"""

from __future__ import annotations

import sys
from pathlib import Path

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


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags as Linux lists them; empty where that file is missing."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return set()
    return next((set(line.partition(":")[2].split()) for line in lines if line.startswith("flags")), set())
