"""Fully connected autoencoders of notebook §1.2 and §1.6: single-layer, sparse and deep."""

from __future__ import annotations

import keras
from keras import layers

from mnist_ae.config import DeepParams, DenseParams, SparseParams
from mnist_ae.models.base import OUTPUT_DTYPE, PIXELS, assemble


def dense_encoder(widths: list[int], code_regularizer=None) -> keras.Model:
    inputs = keras.Input((PIXELS,), name="pixels")
    x = inputs
    for i, width in enumerate(widths[:-1], start=1):
        x = layers.Dense(width, activation="relu", name=f"hidden_{i}")(x)
    code = layers.Dense(widths[-1], activation="relu", activity_regularizer=code_regularizer, name="code")(x)
    return keras.Model(inputs, code, name="encoder")


def dense_decoder(widths: list[int]) -> keras.Model:
    inputs = keras.Input((widths[-1],), name="code")
    x = inputs
    for i, width in enumerate(reversed(widths[:-1]), start=1):
        x = layers.Dense(width, activation="relu", name=f"hidden_{i}")(x)
    outputs = layers.Dense(PIXELS, activation="sigmoid", name="reconstruction", dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, outputs, name="decoder")


def build_dense(params: DenseParams, seed: int) -> keras.Model:
    """784-32-784 (§1.2): a ReLU code and a sigmoid reconstruction."""
    return assemble(dense_encoder([params.code_size]), dense_decoder([params.code_size]), "dense")


def build_sparse(params: SparseParams, seed: int) -> keras.Model:
    """The dense model with an L1 activity penalty on the code, so fewer units fire."""
    encoder = dense_encoder([params.code_size], keras.regularizers.L1(params.l1))
    return assemble(encoder, dense_decoder([params.code_size]), "sparse")


def build_deep(params: DeepParams, seed: int) -> keras.Model:
    """784-128-64-32-64-128-784 with the notebook's widths."""
    return assemble(dense_encoder(params.layers), dense_decoder(params.layers), "deep")
