"""This environment's ``dvc`` command, and git: the two commands the tools run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mnist_ae import StudyError


def executable() -> str:
    """The dvc installed next to this Python (the project's .venv), whatever PATH says."""
    return str(Path(sys.executable).with_name("dvc"))


def error_line(output: str) -> str:
    """DVC's own error from a failed command's output: its first ``ERROR:`` line, without the prefixes,
    not the support footer DVC prints last ("Having any troubles? ...")."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip().removeprefix("unexpected error - ") for line in lines
              if line.startswith("ERROR:")]
    meaningful = [line for line in lines if not line.startswith("Having any troubles?")]
    return (errors or meaningful[-1:] or ["no message"])[0]


def output(cwd: Path | str, *args: str, what: str | None = None) -> str:
    """``dvc <args>``'s stdout; a failure is a StudyError carrying DVC's error line (``what`` names the
    command in it, default ``dvc <args>``)."""
    result = subprocess.run([executable(), *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise StudyError(f"{what or 'dvc ' + ' '.join(args)} failed: {error_line(result.stderr + result.stdout)}")
    return result.stdout.strip()


# Commits the tools make carry this identity, whatever git's global config holds (or lacks).
IDENTITY = ("-c", "user.name=mnist-ae", "-c", "user.email=mnist-ae@localhost")


def git(cwd: Path | str | None, *args: str, binary: bool = False):
    """``git <args>``'s stdout (bytes with ``binary``); a failure raises CalledProcessError."""
    return subprocess.run(["git", *IDENTITY, *args], cwd=cwd, check=True, capture_output=True,
                          text=not binary).stdout
