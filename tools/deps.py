"""Compare what each DVC stage declares with what it really imports and reads.

``tests/test_stage_deps.py`` runs this on the records of the tiny pipeline (``MNIST_AE_RECORD_DEPS``,
written by ``mnist_ae.stage``); the stages come from DVC itself, every ``foreach`` instance included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_ae.dotted import flatten, get

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


def code_problems(stage: StageDecl, imported: list[str], root: Path) -> list[str]:
    """Imported project files no dep covers, and declared code no import uses; each names the stage."""
    problems = []
    for path in imported:
        if path not in EXEMPT_FILES and not any(covers(dep, path) for dep in stage.deps):
            problems.append(f"{stage.name}: imports {path}, which none of its deps covers")
    for dep in stage.deps:
        if not dep.startswith(CODE_ROOTS):
            continue
        target = root / dep
        sources = sorted(p.relative_to(root).as_posix() for p in target.rglob("*.py")) if target.is_dir() else [dep]
        for source in sources:
            if source not in imported:
                problems.append(f"{stage.name}: declares {source}, which it never imports")
    return problems


def covers_key(declared: str, key: str) -> bool:
    """A declared params key covers a key when it is that key or a section that holds it."""
    return covers(declared.replace(".", "/"), key.replace(".", "/"))


def leaf_keys(tree: Any, prefix: str) -> set[str]:
    """Dotted leaf keys under ``prefix`` in a params mapping; a list is one leaf."""
    return {f"{prefix}.{key}" for key in flatten(tree)} if isinstance(tree, dict) else {prefix}


def params_problems(stage: StageDecl, read: list[str], params: dict) -> list[str]:
    """Params read but not declared, and declared params not read in full.

    A declared section covers all of its keys, so all of them must be read; ``train.models`` read as
    a whole (which models there are) is satisfied by declaring ``train.models``.
    """
    problems = []
    read_set = set(read)
    for key in sorted(read_set):
        if not any(covers_key(declared, key) for declared in stage.params):
            problems.append(f"{stage.name}: reads param {key}, which its params: do not declare")
    for declared in stage.params:
        if declared in read_set:
            continue
        try:
            unread = sorted(leaf_keys(get(params, declared), declared) - read_set)
        except KeyError:
            problems.append(f"{stage.name}: declares param {declared}, which params.yaml does not have")
            continue
        if unread:
            problems.append(f"{stage.name}: declares param {declared} but never reads {', '.join(unread)}")
    return problems
