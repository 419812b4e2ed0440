"""Per-epoch training checkpoints, so that a killed run resumes where it stopped.

A run's checkpoints live under a directory named by :func:`fingerprint` of its settings and code,
so a changed param or file starts afresh instead of resuming someone else's run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras

from mnist_ae.files import atomic_dir


@dataclass(frozen=True)
class Checkpoints:
    """Per-epoch snapshots of one training run, in ``directory/epoch_NNNN/``.

    Each snapshot is written under a temporary name and renamed when complete, so the newest
    ``epoch_*`` directory is always whole. Only the newest is kept.
    """

    directory: Path

    def latest(self) -> tuple[int, Path] | None:
        """(completed epochs, snapshot directory) of the newest snapshot, or None."""
        snapshots = sorted(self.directory.glob("epoch_*"))
        return (int(snapshots[-1].name.removeprefix("epoch_")), snapshots[-1]) if snapshots else None

    def save(self, completed_epochs: int, model: keras.Model, log_dir: Path) -> None:
        with atomic_dir(self.directory / f"epoch_{completed_epochs:04d}") as tmp:
            model.save(tmp / "model.keras")
            shutil.copytree(log_dir, tmp / "log")
        for older in sorted(self.directory.glob("epoch_*"))[:-1]:
            shutil.rmtree(older)

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        for parent in self.directory.parents[:2]:  # .resume/<model>, then .resume, once empty
            try:
                parent.rmdir()
            except OSError:
                break


class SaveCheckpoint(keras.callbacks.Callback):
    """After each epoch (and after dvclive has logged it), snapshot the run for a later resume."""

    def __init__(self, checkpoints: Checkpoints, log_dir: Path):
        super().__init__()
        self.checkpoints, self.log_dir = checkpoints, log_dir

    def on_epoch_end(self, epoch, logs=None):
        self.checkpoints.save(epoch + 1, self.model, self.log_dir)


def fingerprint(settings: dict, files: list[Path]) -> str:
    """A short hash of a run's settings and the bytes of the files it depends on."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in files:
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]
