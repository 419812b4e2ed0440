"""Notebook §1.2: 784-32-784, a ReLU code and a sigmoid reconstruction."""

from __future__ import annotations

import keras

from mnist_ae.models import DenseParams
from mnist_ae.models.base import dense_autoencoder


def build(params: DenseParams, seed: int) -> keras.Model:
    return dense_autoencoder([params.code_size], "dense")
