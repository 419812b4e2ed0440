"""This machine, read without loading TensorFlow: its CPU from ``/proc/cpuinfo``, and the variables
TensorFlow reads once at start-up, set before any stage imports it.

A stage's dependency: oneDNN's kernels give other last digits than TensorFlow's own, so turning them
on is a change of results on the CPUs where TensorFlow leaves them off.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from mnist_ae import StudyError

THREADS_ENV = "MNIST_AE_THREADS"  # N caps TensorFlow's thread pools, so parallel queue workers share the cores
CPUINFO = Path("/proc/cpuinfo")


def cpuinfo_lines(cpuinfo: Path = CPUINFO) -> list[str]:
    try:
        return cpuinfo.read_text().splitlines()
    except OSError:
        return []


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The first CPU's feature flags as Linux lists them; empty where that file is missing."""
    return next((set(line.partition(":")[2].split()) for line in cpuinfo_lines(cpuinfo)
                 if line.startswith("flags")), set())


def cpu_field(name: str, cpuinfo: Path = CPUINFO) -> str:
    """One field of the first CPU, e.g. "cpu family"; "?" where there is none."""
    return next((line.split(":", 1)[1].strip() for line in cpuinfo_lines(cpuinfo)
                 if line.split(":")[0].strip() == name), "?")


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's marketing name, or the architecture where there is none."""
    name = cpu_field("model name", cpuinfo)
    return platform.machine() if name == "?" else name


def configure_tensorflow(environ=os.environ) -> None:
    """Set TensorFlow's start-up variables; it reads them once, when a stage first imports it.

    Its C++ start-up chatter (CUDA probing, oneDNN notices) hides the real logs, so it is turned down.
    oneDNN's kernels are on for every x86 CPU, not only those TensorFlow turns them on for (AVX512-VNNI,
    BF16 or AMX): about twice as fast for the convolutional models elsewhere (docs/performance.md). A
    user's own ``TF_ENABLE_ONEDNN_OPTS``, ``0`` included, is kept.
    ``MNIST_AE_THREADS=N`` caps the thread pools; unset or empty keeps one thread per core.
    """
    environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    value = environ.get(THREADS_ENV, "").strip()
    if not value:
        return
    if not value.isdigit() or int(value) < 1:
        raise StudyError(f"{THREADS_ENV} must be a positive integer, got {value!r}")
    for variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        environ[variable] = value
