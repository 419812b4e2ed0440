"""This environment's ``dvc`` command, and git: the two commands the tools run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


# Commits the tools make carry this identity, whatever git's global config holds (or lacks).
IDENTITY = ("-c", "user.name=mnist-ae", "-c", "user.email=mnist-ae@localhost")


def git(cwd: Path | str | None, *args: str, binary: bool = False):
    """``git <args>``'s stdout (bytes with ``binary``); a failure raises CalledProcessError."""
    return subprocess.run(["git", *IDENTITY, *args], cwd=cwd, check=True, capture_output=True,
                          text=not binary).stdout
