"""The model registry: a new model is one module, one line in ``MODELS`` and its params.

Every builder takes its typed params (a class in ``mnist_ae.config.MODEL_PARAMS``, kept free of
TensorFlow so params validate fast) and the base seed, and returns an uncompiled autoencoder
whose parts are named ``encoder`` and ``decoder``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import keras
import numpy as np

from mnist_ae import ConfigError
from mnist_ae.config import ModelParams
from mnist_ae.models import conv, dense, vae


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[Any, int], keras.Model]  # (params, seed) -> uncompiled autoencoder
    # How random codes are drawn to test the decoder as a generator: "uniform" in [0, 1)
    # as notebook §1.6 does, or "normal", the VAE's N(0, I) prior.
    code_prior: str
    # Extra test metrics only this family has, e.g. the VAE's negative ELBO.
    extra_metrics: Callable[[keras.Model, np.ndarray], dict] | None = None


MODELS: dict[str, ModelSpec] = {
    "dense": ModelSpec(dense.build_dense, "uniform"),
    "sparse": ModelSpec(dense.build_sparse, "uniform"),
    "deep": ModelSpec(dense.build_deep, "uniform"),
    "conv": ModelSpec(conv.build_conv, "uniform"),
    "denoise": ModelSpec(conv.build_denoise, "uniform"),
    "vae": ModelSpec(vae.build_vae, "normal", vae.elbo_metrics),
}


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; an unknown name lists the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model '{name}'; known models: {', '.join(MODELS)}") from None


def build(name: str, params: ModelParams, seed: int) -> keras.Model:
    return get_spec(name).build(params, seed)


def encoder_of(model: keras.Model) -> keras.Model:
    return model.get_layer("encoder")


def decoder_of(model: keras.Model) -> keras.Model:
    return model.get_layer("decoder")


def input_shape(model: keras.Model) -> tuple[int, ...]:
    """Per-example input shape, e.g. (784,) for dense models or (28, 28, 1) for conv ones."""
    return tuple(encoder_of(model).input_shape[1:])


def code_shape(model: keras.Model) -> tuple[int, ...]:
    return tuple(decoder_of(model).input_shape[1:])


def code_size(model: keras.Model) -> int:
    return int(np.prod(code_shape(model)))


def load(path) -> keras.Model:
    """Load a saved ``.keras`` model; a missing or corrupt file is a DataError naming it."""
    from pathlib import Path

    from mnist_ae import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; run the stage that makes it (dvc repro)")
    try:
        return keras.saving.load_model(path)
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise DataError(f"{path}: cannot load model ({exc.__class__.__name__}: {exc})") from None
