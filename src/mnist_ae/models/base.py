"""What every model family shares: the params every block has, and how an autoencoder is assembled."""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

from mnist_ae.config import check

PIXELS = 28 * 28
IMAGE_SHAPE = (28, 28, 1)
INPUTS = ("clean", "noisy")


@dataclass(frozen=True)
class ModelParams:
    # Which prepared digits the model is fed in training (data/<input>); targets are always clean.
    input: str = field(metadata=check(lambda v: v in INPUTS, f"one of {INPUTS}"))


def assemble(encoder: keras.Model, decoder: keras.Model, name: str) -> keras.Model:
    """Chain an encoder and a decoder into one trainable autoencoder.

    The parts keep their names, so after loading a ``.keras`` file they are
    ``model.get_layer("encoder")`` and ``model.get_layer("decoder")``.
    """
    inputs = keras.Input(encoder.input_shape[1:], name="image")
    return keras.Model(inputs, decoder(encoder(inputs)), name=name)
