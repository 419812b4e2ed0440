"""This environment's ``dvc`` command, and DVC's dotted names for nested params and metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from mnist_ae import StudyError


def executable() -> str:
    """The dvc installed next to this Python (the project's .venv), whatever PATH says."""
    return str(Path(sys.executable).with_name("dvc"))


def output(cwd: Path | str, *args: str) -> str:
    """``dvc <args>``'s stdout; a failure is a StudyError carrying dvc's last error line."""
    result = subprocess.run([executable(), *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise StudyError(f"dvc {' '.join(args)} failed: {last_line}")
    return result.stdout.strip()


def dotted(tree: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``, the names dvc exp show and params diff use."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(dotted(value, f"{name}."))
        else:
            flat[name] = value
    return flat
