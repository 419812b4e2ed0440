"""Shared fixtures: the repository root, its params as a plain dict, and the shipped MNIST sample."""

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "mnist_sample.npz"


@pytest.fixture(scope="session")
def raw_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture
def params_dict(raw_params) -> dict:
    """A fresh, mutable copy of params.yaml for a test to break."""
    return copy.deepcopy(raw_params)


@pytest.fixture(scope="session")
def sample() -> dict[str, np.ndarray]:
    with np.load(SAMPLE) as archive:
        return {key: archive[key] for key in archive.files}
