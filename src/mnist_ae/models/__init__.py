"""The model registry: a new model is one module (or a function in a family's module), one line in
``MODELS`` and its params block.

A model's module is imported only when that model is built or loaded, so ``train@vae`` never runs
the dense or conv code, and dvc.yaml can declare exactly one family module per stage (its
``src/mnist_ae/models/${item.module}.py`` dep, from ``train.models.<name>.module`` in params.yaml).
This file imports no TensorFlow itself, so stages can check a model name and its module cheaply.

Every builder takes its typed params (a class in ``mnist_ae.config.MODEL_PARAMS``) and the base
seed, and returns an uncompiled autoencoder whose parts are named ``encoder`` and ``decoder``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from mnist_ae import ConfigError, DataError

if TYPE_CHECKING:
    import keras

    from mnist_ae.config import ModelParams


@dataclass(frozen=True)
class ModelSpec:
    module: str  # the family module under mnist_ae/models that builds it, e.g. "conv"
    builder: str  # that module's function (params, seed) -> uncompiled autoencoder
    # How random codes are drawn to test the decoder as a generator: "uniform" in [0, 1)
    # as notebook §1.6 does, or "normal", the VAE's N(0, I) prior.
    code_prior: str
    # That module's function (model, test digits) -> extra sections of metrics/<model>.json,
    # e.g. the VAE's {"elbo": {...}}.
    extra_metrics: str | None = None
    # The unit of its training loss: the plain autoencoders' BCE is a mean per pixel, the VAE's
    # ELBO a sum per image.
    loss_unit: str = "nats/pixel"

    def family(self) -> ModuleType:
        """Import the family module (which also registers its custom Keras classes)."""
        return importlib.import_module(f"{__name__}.{self.module}")

    @property
    def source(self) -> Path:
        """The family module's file, as dvc.yaml declares it."""
        return Path(__file__).with_name(f"{self.module}.py")


MODELS: dict[str, ModelSpec] = {
    "dense": ModelSpec("dense", "build_dense", "uniform"),
    "sparse": ModelSpec("dense", "build_sparse", "uniform"),
    "deep": ModelSpec("dense", "build_deep", "uniform"),
    "conv": ModelSpec("conv", "build_conv", "uniform"),
    "denoise": ModelSpec("conv", "build_denoise", "uniform"),
    "vae": ModelSpec("vae", "build_vae", "normal", "elbo_metrics", "nats/image"),
}


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; an unknown name lists the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model '{name}'; known models: {', '.join(MODELS)}") from None


def check_module(name: str, params: ModelParams) -> None:
    """``train.models.<name>.module`` must name the module the registry builds ``name`` with.

    dvc.yaml declares ``src/mnist_ae/models/<module>.py`` as the stage's code from that param, so a
    wrong value would make DVC watch the wrong file.
    """
    expected = get_spec(name).module
    if params.module != expected:
        raise ConfigError(f"train.models.{name}.module must be '{expected}' (the module that builds {name}), "
                          f"got '{params.module}'")


def build(name: str, params: ModelParams, seed: int) -> keras.Model:
    spec = get_spec(name)
    return getattr(spec.family(), spec.builder)(params, seed)


def extra_metrics(name: str, model: keras.Model, images: np.ndarray) -> dict[str, dict]:
    """The family's extra sections of test metrics for ``name``; empty when it has none."""
    spec = get_spec(name)
    return {} if spec.extra_metrics is None else getattr(spec.family(), spec.extra_metrics)(model, images)


def encoder_of(model: keras.Model) -> keras.Model:
    return model.get_layer("encoder")


def decoder_of(model: keras.Model) -> keras.Model:
    return model.get_layer("decoder")


def input_shape(model: keras.Model) -> tuple[int, ...]:
    """Per-example input shape, e.g. (784,) for dense models or (28, 28, 1) for conv ones."""
    return tuple(encoder_of(model).input_shape[1:])


def as_model_input(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Reshape (n, 28, 28) digits to what the model takes: (n, 784) or (n, 28, 28, 1)."""
    return images.reshape((-1, *input_shape(model)))


def code_shape(model: keras.Model) -> tuple[int, ...]:
    return tuple(decoder_of(model).input_shape[1:])


def code_size(model: keras.Model) -> int:
    return int(np.prod(code_shape(model)))


def load(path: Path | str, name: str | None = None) -> keras.Model:
    """Load a saved ``.keras`` model; a missing or corrupt file is a DataError naming it.

    ``name``, a registered model, imports its family module first, so custom classes (the VAE's)
    deserialise; plain functional models (the digit classifier) need none.
    """
    import keras

    if name is not None:
        get_spec(name).family()
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; run the stage that makes it (dvc repro)")
    try:
        return keras.saving.load_model(path)
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise DataError(f"{path}: cannot load model ({exc.__class__.__name__}: {exc})") from None
