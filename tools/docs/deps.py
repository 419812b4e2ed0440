"""What each DVC stage declares, as DVC resolves it (every ``foreach`` instance included), and when a
declared dep or params key covers a file or key: for the reruns tables (tools/docs/reruns.py) and for
``tests/test_stage_deps.py``, which compares them with what each stage of the tiny pipeline really
imported and read (``MNIST_AE_RECORD_DEPS``, written by ``mnist_ae.stage``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_ae.dotted import flatten

# Project files a stage may import without declaring them, because they decide how it logs, exits
# or names its files, never what a file it writes contains.
EXEMPT_FILES = {
    "src/mnist_ae/__init__.py": "the exception classes, nothing else",
    "src/mnist_ae/stage.py": "logging, signals, the error line and exit code, and the done line's timings",
    "src/mnist_ae/paths.py": "where outputs go; dvc.yaml names the same paths as outs, which DVC checks",
}
# Declared deps under these folders are code: each must be imported by the stage that declares it.
CODE_ROOTS = ("src/", "stages/")


@dataclass(frozen=True)
class StageDecl:
    """What dvc.yaml says one stage (a ``foreach`` instance included) runs and reads."""

    name: str  # e.g. train@vae
    cmd: str
    deps: tuple[str, ...]  # every non-params dep path, as written in dvc.yaml
    params: tuple[str, ...]  # declared params keys or sections, e.g. base.seed, evaluate
    outs: tuple[str, ...] = ()  # every output path, cached or not


def declared_stages(root: Path) -> list[StageDecl]:
    """Every stage of ``root``'s dvc.yaml as DVC resolves it (templating and foreach applied)."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        stages = []
        for stage in repo.index.stages:
            params = [key for dep in stage.deps if isinstance(dep, ParamsDependency) for key in dep.params]
            paths = [dep.def_path for dep in stage.deps if not isinstance(dep, ParamsDependency)]
            outs = tuple(out.def_path for out in stage.outs)
            stages.append(StageDecl(stage.name, stage.cmd, tuple(dict.fromkeys(paths)), tuple(params), outs))
        return stages


def covers(dep: str, path: str) -> bool:
    """A dep covers a file when it is that file or a folder that holds it."""
    dep = dep.rstrip("/")
    return path == dep or path.startswith(dep + "/")


def covers_key(declared: str, key: str) -> bool:
    """A declared params key covers a key when it is that key or a section that holds it."""
    return covers(declared.replace(".", "/"), key.replace(".", "/"))


def leaf_keys(tree: Any, prefix: str) -> set[str]:
    """Dotted leaf keys under ``prefix`` in a params mapping; a list is one leaf."""
    return {f"{prefix}.{key}" for key in flatten(tree)} if isinstance(tree, dict) else {prefix}
