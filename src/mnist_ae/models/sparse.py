"""The dense model of §1.2 with an L1 activity penalty on its code, so fewer units fire."""

from __future__ import annotations

import keras

from mnist_ae.models import SparseParams
from mnist_ae.models.base import OUTPUT_DTYPE, dense_autoencoder


@keras.saving.register_keras_serializable(package="mnist_ae")
class FloatL1(keras.regularizers.L1):
    """L1 computed in float32. Under a mixed policy (train.precision) the code is half precision, and
    Keras 3.15 adds the penalty to the float32 loss as it is, which fails on mixing the two dtypes.
    Under float32 the cast does nothing."""

    def __call__(self, x):
        return super().__call__(keras.ops.cast(x, OUTPUT_DTYPE))


def build(params: SparseParams, seed: int) -> keras.Model:
    return dense_autoencoder([params.code_size], "sparse", FloatL1(params.l1))
