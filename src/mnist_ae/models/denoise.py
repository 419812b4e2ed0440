"""Notebook §1.13: wider filters and a 7x7x32 code, trained on noisy inputs with clean targets."""

from __future__ import annotations

import keras

from mnist_ae.models import DenoiseParams
from mnist_ae.models.base import conv_autoencoder


def build(params: DenoiseParams, seed: int) -> keras.Model:
    return conv_autoencoder([params.filters, params.filters], "denoise")
