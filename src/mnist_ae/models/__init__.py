"""The model registry: a new model is one module, one params class and one line in ``MODELS`` here,
and its block in params.yaml.

Each model ``<name>`` is built by ``build(params, seed)`` in its own module, ``models/<name>.py``, so
dvc.yaml can declare exactly that file as the code of ``train@<name>`` and ``evaluate@<name>``;
what several models share (dense stacks, conv stacks, assembly) lives in ``models/base.py``. A
model's module is imported only when that model is built or loaded, and this file imports no
TensorFlow, so stages check a name and type its params block cheaply.
"""

from __future__ import annotations

import importlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from mnist_ae import ConfigError, DataError
from mnist_ae.typed_params import ModelBlocks, Section, check, name_sections, parse_dataclass, positive

if TYPE_CHECKING:
    import keras

    from mnist_ae.config import TrainParams

MODEL_INPUTS = ("clean", "noisy")


@dataclass(frozen=True)
class ModelParams(Section):
    # Which prepared digits the model is fed in training (data/<input>); targets are always clean.
    input: str = field(metadata=check(lambda v: v in MODEL_INPUTS, f"one of {MODEL_INPUTS}"))


@dataclass(frozen=True)
class DenseParams(ModelParams):
    code_size: int = positive()


@dataclass(frozen=True)
class SparseParams(DenseParams):
    l1: float = field(metadata=check(lambda v: v >= 0, ">= 0"))  # activity penalty on the code


@dataclass(frozen=True)
class DeepParams(ModelParams):
    # Encoder widths; the last one is the code and the decoder mirrors the rest.
    layers: list[int] = field(metadata=check(lambda v: len(v) > 0 and min(v) >= 1, "a non-empty list of ints >= 1"))


@dataclass(frozen=True)
class ConvParams(ModelParams):
    # Encoder Conv2D widths, each followed by 2x2 pooling: 28 -> 14 -> 7 -> 4.
    filters: list[int] = field(metadata=check(lambda v: len(v) == 3 and min(v) >= 1, "three ints >= 1"))


@dataclass(frozen=True)
class DenoiseParams(ModelParams):
    filters: int = positive()  # every Conv2D but the output; 28 -> 14 -> 7 and back


@dataclass(frozen=True)
class VAEParams(ModelParams):
    hidden: int = positive()  # width of the single hidden layer on each side
    latent_dim: int = positive()


@dataclass(frozen=True)
class ModelSpec:
    params: type[ModelParams]  # its block under train.models, typed
    # How random codes are drawn to test the decoder as a generator: "uniform" in [0, 1)
    # as notebook §1.6 does, or "normal", the VAE's N(0, I) prior.
    code_prior: str
    # Its module's function (model, test digits) -> extra sections of metrics/<model>.json,
    # e.g. the VAE's {"elbo": {...}}.
    extra_metrics: str | None = None
    # The unit of its training loss: the plain autoencoders' BCE is a mean per pixel, the VAE's
    # ELBO a sum per image.
    loss_unit: str = "nats/pixel"


MODELS: dict[str, ModelSpec] = {
    "dense": ModelSpec(DenseParams, "uniform"),
    "sparse": ModelSpec(SparseParams, "uniform"),
    "deep": ModelSpec(DeepParams, "uniform"),
    "conv": ModelSpec(ConvParams, "uniform"),
    "denoise": ModelSpec(DenoiseParams, "uniform"),
    "vae": ModelSpec(VAEParams, "normal", "elbo_metrics", "nats/image"),
}

# Reads of a model's params are recorded under its block, so each class must be its model's own.
assert len({spec.params for spec in MODELS.values()}) == len(MODELS), "each model needs a params class of its own"
name_sections({spec.params: f"train.models.{name}" for name, spec in MODELS.items()})


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; an unknown name lists the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model '{name}'; known models: {', '.join(MODELS)}") from None


def source(name: str) -> Path:
    """The model's module file, as dvc.yaml declares it."""
    return Path(__file__).with_name(f"{name}.py")


def module(name: str) -> ModuleType:
    """Import the model's module (which also registers its custom Keras classes)."""
    get_spec(name)
    return importlib.import_module(f"{__name__}.{name}")


def typed_blocks(train: TrainParams) -> ModelBlocks:
    """Every block under ``train.models``, typed by its registry entry. An unknown model or a bad key
    is a ConfigError naming it; typing reads no param."""
    def typed(name: str, block: object) -> ModelParams:
        if name not in MODELS:
            raise ConfigError(f"train.models.{name}: unknown model; known models: {', '.join(MODELS)}")
        return parse_dataclass(MODELS[name].params, block, f"train.models.{name}")

    return train.models.map(typed)


def block_of(train: TrainParams, name: str) -> ModelParams:
    """The typed params block of one registered model, which params.yaml must have."""
    get_spec(name)
    blocks = typed_blocks(train)
    if name not in blocks:
        raise ConfigError(f"train.models.{name}: missing params block")
    return blocks[name]


def build(name: str, params: ModelParams, seed: int) -> keras.Model:
    """An uncompiled autoencoder whose parts are named ``encoder`` and ``decoder``."""
    return module(name).build(params, seed)


def extra_metrics(name: str, model: keras.Model, images: np.ndarray) -> dict[str, dict]:
    """The model's extra sections of test metrics for ``name``; empty when it has none."""
    spec = get_spec(name)
    return {} if spec.extra_metrics is None else getattr(module(name), spec.extra_metrics)(model, images)


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


def saved_name(path: Path) -> str:
    """The name a ``.keras`` archive gives its model ("dense", "vae", ...), read without building it."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        return str(config["config"]["name"])
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError):
        raise DataError(f"{path}: not a Keras model archive (damaged or another kind of file); "
                        "rerun the stage that makes it (dvc repro)") from None


def load(path: Path | str, name: str | None = None) -> keras.Model:
    """Load a saved ``.keras`` model; a missing, corrupt or wrong model's file is a DataError naming it.

    ``name`` is the model the file must hold: a registered model, whose module is imported first so
    custom classes (the VAE's) deserialise, or another, e.g. ``classifier``, the digit classifier.
    """
    import keras

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; run the stage that makes it (dvc repro)")
    held = saved_name(path)
    if name is not None:
        if name in MODELS:
            module(name)
        if held != name:
            stage = f"train@{name}" if name in MODELS else name
            raise DataError(f"{path}: holds a {held} model, not {name}; rerun {stage} (dvc repro)")
    try:
        return keras.saving.load_model(path)
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise DataError(f"{path}: cannot load model ({exc.__class__.__name__}: {exc})") from None
