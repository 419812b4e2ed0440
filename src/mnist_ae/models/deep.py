"""Notebook §1.6: 784-128-64-32-64-128-784 with the notebook's widths."""

from __future__ import annotations

import keras

from mnist_ae.models import DeepParams
from mnist_ae.models.base import dense_autoencoder


def build(params: DeepParams, seed: int) -> keras.Model:
    return dense_autoencoder(params.layers, "deep")
