"""What the models share: the image shapes, dense and convolutional stacks, and assembly."""

from __future__ import annotations

import keras
from keras import layers

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


def dense_autoencoder(widths: list[int], name: str, code_regularizer=None) -> keras.Model:
    """784 -> widths (ReLU, the last one the code) -> mirrored back -> 784 sigmoid (§1.2, §1.6)."""
    inputs = keras.Input((PIXELS,), name="pixels")
    x = inputs
    for i, width in enumerate(widths[:-1], start=1):
        x = layers.Dense(width, activation="relu", name=f"hidden_{i}")(x)
    code = layers.Dense(widths[-1], activation="relu", activity_regularizer=code_regularizer, name="code")(x)
    encoder = keras.Model(inputs, code, name="encoder")

    code_in = keras.Input((widths[-1],), name="code")
    x = code_in
    for i, width in enumerate(reversed(widths[:-1]), start=1):
        x = layers.Dense(width, activation="relu", name=f"hidden_{i}")(x)
    outputs = layers.Dense(PIXELS, activation="sigmoid", name="reconstruction", dtype=OUTPUT_DTYPE)(x)
    return assemble(encoder, keras.Model(code_in, outputs, name="decoder"), name)


def conv3x3(filters: int, name: str, padding: str = "same", activation: str = "relu", **kwargs) -> layers.Conv2D:
    return layers.Conv2D(filters, (3, 3), activation=activation, padding=padding, name=name, **kwargs)


def conv_autoencoder(filters: list[int], name: str, trim_last: bool = False) -> keras.Model:
    """Each encoder Conv2D is followed by 2x2 pooling and the decoder mirrors it with upsampling
    (§1.7, §1.13). ``trim_last`` valid-pads the last decoder conv, so 16x16 comes back as 14x14."""
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    x = inputs
    for i, width in enumerate(filters, start=1):
        pool_name = "code" if i == len(filters) else None
        x = layers.MaxPooling2D(2, padding="same", name=pool_name)(conv3x3(width, f"conv_{i}")(x))
    encoder = keras.Model(inputs, x, name="encoder")

    code_in = keras.Input(x.shape[1:], name="code")
    x = code_in
    for i, width in enumerate(reversed(filters), start=1):
        padding = "valid" if trim_last and i == len(filters) else "same"
        x = layers.UpSampling2D(2)(conv3x3(width, f"deconv_{i}", padding=padding)(x))
    outputs = conv3x3(1, "reconstruction", activation="sigmoid", dtype=OUTPUT_DTYPE)(x)
    return assemble(encoder, keras.Model(code_in, outputs, name="decoder"), name)
