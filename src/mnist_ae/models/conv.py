"""Notebook §1.7: a 4x4x8 = 128-value code; the valid-padded conv turns 16x16 back into 14x14."""

from __future__ import annotations

import keras

from mnist_ae.models import ConvParams
from mnist_ae.models.base import conv_autoencoder


def build(params: ConvParams, seed: int) -> keras.Model:
    return conv_autoencoder(params.filters, "conv", trim_last=True)
