"""Pure data functions: MNIST layout checks, content hashing, scaling and the train/validation split."""

from __future__ import annotations

import hashlib

import numpy as np

from mnist_ae import DataError
from mnist_ae.files import Split

KERAS_KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SIDE = 28


def check_keras_layout(arrays: dict[str, np.ndarray], origin: str) -> None:
    """Raise DataError unless ``arrays`` look like keras.datasets.mnist: uint8 digits and labels 0-9."""
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise DataError(f"{origin}: x_{part} must be uint8 of shape (n, 28, 28), got {x.dtype} {x.shape}")
        if y.shape != (len(x),):
            raise DataError(f"{origin}: y_{part} must have shape ({len(x)},), got {y.shape}")
        if len(x) == 0 or y.min() < 0 or y.max() > 9:
            raise DataError(f"{origin}: y_{part} must hold digit labels 0-9 for a non-empty set")


def content_sha256(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over x_train, y_train, x_test, y_test bytes (uint8), in that order."""
    digest = hashlib.sha256()
    for key in KERAS_KEYS:
        digest.update(np.ascontiguousarray(arrays[key], dtype=np.uint8).tobytes())
    return digest.hexdigest()


def restore_uint8(pixels: np.ndarray, origin: str) -> np.ndarray:
    """Undo the classic pickle's k/256 float encoding, refusing anything that is not exact."""
    scaled = np.asarray(pixels, dtype=np.float64) * 256.0
    restored = np.round(scaled)
    if np.abs(scaled - restored).max() > 1e-6 or restored.min() < 0 or restored.max() > 255:
        raise DataError(f"{origin}: pixel values are not exact multiples of 1/256 in [0, 1)")
    return restored.astype(np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 digits to float32 in [0, 1], as the notebook does (x / 255)."""
    return images.astype(np.float32) / 255.0


def split_train_val(x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int) -> tuple[Split, Split]:
    """The notebook's seeded shuffle split of the training images (30% validation there)."""
    from sklearn.model_selection import train_test_split  # imported here: it costs stages that never split 0.5 s

    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=val_fraction, random_state=seed)
    return Split(x_train, y_train), Split(x_val, y_val)
