"""The dense model of §1.2 with an L1 activity penalty on its code, so fewer units fire."""

from __future__ import annotations

import keras

from mnist_ae.models import SparseParams
from mnist_ae.models.base import dense_autoencoder


def build(params: SparseParams, seed: int) -> keras.Model:
    return dense_autoencoder([params.code_size], "sparse", keras.regularizers.L1(params.l1))
