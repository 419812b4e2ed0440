"""File helpers: atomic outputs, so a failed or stopped stage never leaves a file that looks valid."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:
    import keras
    import pandas as pd

from mnist_ae import DataError
from mnist_ae.stage import raise_if_stopped


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` (same suffix); it replaces ``path`` only on success."""
    path = Path(path)
    created = make_parents(path.parent)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield tmp
        raise_if_stopped()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        if not path.exists():
            remove_if_empty(created)


@contextmanager
def atomic_dir(path: Path | str) -> Iterator[Path]:
    """Yield an empty temporary directory that replaces directory ``path`` only on success."""
    path = Path(path)
    created = make_parents(path.parent)
    tmp = path.with_name(f".{path.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        raise_if_stopped()
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not path.exists():
            remove_if_empty(created)


def make_parents(directory: Path) -> list[Path]:
    """``mkdir -p directory``; returns the directories it created, outermost first."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()][::-1]
    directory.mkdir(parents=True, exist_ok=True)
    return missing


def remove_if_empty(directories: list[Path]) -> None:
    """Undo :func:`make_parents` after a failure, so a failed stage leaves not even an empty folder."""
    for directory in reversed(directories):
        try:
            directory.rmdir()
        except OSError:  # not empty: something else lives there
            return


def write_json(path: Path | str, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


# Keras stamps the save time into a .keras file (metadata.json's date_saved and the zip entry of
# the weights) and numbers shared objects (a dtype policy several layers use) by their memory
# address in config.json; save_model pins all three, so identical weights give an identical file.
PINNED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def renumber_shared_objects(config: Any, numbers: dict | None = None) -> Any:
    """``config`` with each distinct ``shared_object_id`` replaced by its order of first appearance."""
    numbers = {} if numbers is None else numbers
    if isinstance(config, dict):
        return {key: numbers.setdefault(value, len(numbers)) if key == "shared_object_id"
                else renumber_shared_objects(value, numbers) for key, value in config.items()}
    if isinstance(config, list):
        return [renumber_shared_objects(item, numbers) for item in config]
    return config


def save_model(model: keras.Model, path: Path | str) -> None:
    """``model.save`` to ``path``, atomically and byte-reproducibly.

    A rerun that reproduces the weights then keeps the file's DVC hash, so the stages downstream
    of it stay cached.
    """
    with atomic_path(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp) as archive:
            entries = [(info, archive.read(info)) for info in archive.infolist()]
        with zipfile.ZipFile(tmp, "w") as archive:
            for info, data in entries:
                if info.filename == "metadata.json":
                    metadata = json.loads(data)
                    metadata.pop("date_saved", None)
                    data = json.dumps(metadata).encode()
                elif info.filename == "config.json":
                    data = json.dumps(renumber_shared_objects(json.loads(data))).encode()
                pinned = zipfile.ZipInfo(info.filename, date_time=PINNED_ZIP_TIME)
                pinned.compress_type, pinned.external_attr = info.compress_type, info.external_attr
                archive.writestr(pinned, data)


def read_json(path: Path | str) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; run the stage that makes it (dvc repro)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: corrupt JSON ({exc.msg} at line {exc.lineno})") from None


def load_npz(path: Path | str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Load named arrays from an .npz file; a missing file, key or a corrupt archive is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; run the stage that makes it (dvc repro)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DataError(f"{path}: missing array(s) {missing}; found {archive.files}")
            return {k: archive[k] for k in keys}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: corrupt .npz file ({exc})") from None


@dataclass(frozen=True)
class Split:
    """Images as float32 in [0, 1], shape (n, 28, 28), and their digit labels."""

    x: np.ndarray
    y: np.ndarray


SPLITS = ("train", "val", "test")


def save_split(path: Path, split: Split) -> None:
    # np.savez is byte-for-byte reproducible (fixed zip timestamps), so an identical rerun keeps
    # its DVC hash and downstream stages stay cached; tests/test_io.py guards this.
    np.savez(path, x=split.x, y=split.y)


def training_digits(model_input: str) -> tuple[dict[str, np.ndarray], dict[str, Path]]:
    """What a model trains on, as its train stage and the benchmarks read it: ``inputs``, ``targets``,
    ``val_inputs`` and ``val_targets``, the ``model_input`` digits (clean or noisy) against the clean
    ones; and the file each comes from. Each file is read once: a model on clean digits gets the very
    same array as inputs and targets."""
    from mnist_ae.paths import data_dir

    sources = {"inputs": (model_input, "train"), "targets": ("clean", "train"),
               "val_inputs": (model_input, "val"), "val_targets": ("clean", "val")}
    digits = {(kind, split): load_split(data_dir(kind), split).x for kind, split in set(sources.values())}
    return ({key: digits[source] for key, source in sources.items()},
            {key: data_dir(kind) / f"{split}.npz" for key, (kind, split) in sources.items()})


def load_split(directory: Path | str, name: str) -> Split:
    """Load and check one split: a wrong dtype, shape or range names the file, not a later crash."""
    path = Path(directory) / f"{name}.npz"
    arrays = load_npz(path, ("x", "y"))
    x, y = arrays["x"], arrays["y"]
    if x.dtype != np.float32 or x.ndim != 3 or x.shape[1:] != (28, 28):
        raise DataError(f"{path}: x must be float32 digits of shape (n, 28, 28), got {x.dtype} {x.shape}")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or len(y) != len(x):
        raise DataError(f"{path}: y must hold {len(x)} integer labels, got {y.dtype} {y.shape}")
    if len(x) and (x.min() < 0.0 or x.max() > 1.0):
        raise DataError(f"{path}: x must be scaled to [0, 1], got values in [{x.min():g}, {x.max():g}]")
    return Split(x, y)


def read_training_history(log_dir: Path | str) -> dict[str, dict[str, pd.DataFrame]]:
    """dvclive's Keras logs as {metric: {"train"|"eval": frame with step and metric columns}}."""
    import pandas as pd

    root = Path(log_dir) / "plots" / "metrics"
    files = sorted(root.glob("*/*.tsv"))
    if not files:
        raise DataError(f"{root}: no training logs found; run the train stage (dvc repro)")
    history: dict[str, dict[str, pd.DataFrame]] = {}
    for tsv in files:
        history.setdefault(tsv.stem, {})[tsv.parent.name] = pd.read_csv(tsv, sep="\t")
    return dict(sorted(history.items(), key=lambda item: item[0] != "loss"))  # loss first
