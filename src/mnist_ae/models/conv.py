"""Convolutional autoencoders of notebook §1.7 (reconstruction) and §1.13 (denoising)."""

from __future__ import annotations

import keras
from keras import layers

from mnist_ae.config import ConvParams, DenoiseParams
from mnist_ae.models.base import IMAGE_SHAPE, OUTPUT_DTYPE, assemble


def conv3x3(filters: int, name: str, padding: str = "same", activation: str = "relu", **kwargs) -> layers.Conv2D:
    return layers.Conv2D(filters, (3, 3), activation=activation, padding=padding, name=name, **kwargs)


def build_conv(params: ConvParams, seed: int) -> keras.Model:
    """§1.7: a 4x4x8 = 128-value code; the valid-padded conv turns 16x16 back into 14x14."""
    f1, f2, f3 = params.filters
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    x = layers.MaxPooling2D(2, padding="same")(conv3x3(f1, "conv_1")(inputs))
    x = layers.MaxPooling2D(2, padding="same")(conv3x3(f2, "conv_2")(x))
    code = layers.MaxPooling2D(2, padding="same", name="code")(conv3x3(f3, "conv_3")(x))
    encoder = keras.Model(inputs, code, name="encoder")

    code_in = keras.Input(code.shape[1:], name="code")
    x = layers.UpSampling2D(2)(conv3x3(f3, "deconv_1")(code_in))
    x = layers.UpSampling2D(2)(conv3x3(f2, "deconv_2")(x))
    x = layers.UpSampling2D(2)(conv3x3(f1, "deconv_3", padding="valid")(x))
    outputs = conv3x3(1, "reconstruction", activation="sigmoid", dtype=OUTPUT_DTYPE)(x)
    decoder = keras.Model(code_in, outputs, name="decoder")
    return assemble(encoder, decoder, "conv")


def build_denoise(params: DenoiseParams, seed: int) -> keras.Model:
    """§1.13: wider filters and a 7x7x32 code, trained on noisy inputs with clean targets."""
    f = params.filters
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    x = layers.MaxPooling2D(2, padding="same")(conv3x3(f, "conv_1")(inputs))
    code = layers.MaxPooling2D(2, padding="same", name="code")(conv3x3(f, "conv_2")(x))
    encoder = keras.Model(inputs, code, name="encoder")

    code_in = keras.Input(code.shape[1:], name="code")
    x = layers.UpSampling2D(2)(conv3x3(f, "deconv_1")(code_in))
    x = layers.UpSampling2D(2)(conv3x3(f, "deconv_2")(x))
    outputs = conv3x3(1, "reconstruction", activation="sigmoid", dtype=OUTPUT_DTYPE)(x)
    decoder = keras.Model(code_in, outputs, name="decoder")
    return assemble(encoder, decoder, "denoise")
