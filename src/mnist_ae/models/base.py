"""What every model family shares: the image shapes, and how an autoencoder is assembled."""

from __future__ import annotations

import keras

PIXELS = 28 * 28
IMAGE_SHAPE = (28, 28, 1)
# Under a mixed-precision policy (train.precision) the layers that feed the loss compute in
# float32, as Keras' mixed-precision guide advises; under float32 this changes nothing.
OUTPUT_DTYPE = "float32"


def assemble(encoder: keras.Model, decoder: keras.Model, name: str) -> keras.Model:
    """Chain an encoder and a decoder into one trainable autoencoder.

    The parts keep their names, so after loading a ``.keras`` file they are
    ``model.get_layer("encoder")`` and ``model.get_layer("decoder")``.
    """
    inputs = keras.Input(encoder.input_shape[1:], name="image")
    return keras.Model(inputs, decoder(encoder(inputs)), name=name)
