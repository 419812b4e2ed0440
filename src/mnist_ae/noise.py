"""Seeded random streams and the notebook's Gaussian noise: pure functions of arrays and a Generator.

Kept apart from ``data.py`` so that an edit here reruns only the stages that draw random numbers or
noise digits (dvc.yaml declares this file for them), not fetch and prepare.
"""

from __future__ import annotations

import numpy as np


def add_gaussian_noise(x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Notebook §1.12: x + factor * N(0, 1), clipped to [0, 1]."""
    noisy = x + factor * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """An independent, reproducible generator for one use of the base seed."""
    return np.random.default_rng([seed, *stream])
