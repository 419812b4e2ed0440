"""A reproducible study of six autoencoders on MNIST, run as a DVC pipeline."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notices) hides the real logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

THREADS_ENV = "MNIST_AE_THREADS"


def _cap_threads() -> None:
    """MNIST_AE_THREADS=N caps TensorFlow's thread pools, so parallel queue workers share the cores.

    TensorFlow reads these variables when its runtime starts, and every stage imports this package
    before TensorFlow. Unset or empty: TensorFlow's default, one thread per core.
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"error: {THREADS_ENV} must be a positive integer, got {value!r}")
    for variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[variable] = value


_cap_threads()


class StudyError(Exception):
    """A bad input the user can fix: a wrong param, a missing or corrupt file.

    Stage scripts turn it into one ``error: ...`` line and a non-zero exit.
    """


class ConfigError(StudyError):
    """A param in params.yaml is missing, unknown, wrongly typed or out of range."""


class DataError(StudyError):
    """An input file is missing, corrupt or fails its checksum."""


class TrainingDiverged(StudyError):
    """The training loss became NaN or infinite; no model is saved."""
