"""Are the committed results current? ``python -m tools.sharing.check`` (``make check``).

The committed ``dvc.lock``, ``metrics/``, ``plots/`` and ``reports/`` must be what the committed code
and params produce. This asks DVC's own ``status`` and calls a stage stale when

- its params in ``params.yaml`` differ from those recorded in ``dvc.lock``;
- a git-tracked dep (code, or a committed result another stage reads) differs from its lock hash;
- a git-tracked output (a ``cache: false`` metric, plot or report) differs from its lock hash;
- its command or its list of deps changed, or it never ran.

Data and models live in DVC's cache, not in git, so on a fresh clone they are missing; that is
expected, not staleness. The first line of a failure names every stale stage and why; exit code 1.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_ae import StudyError
from tools import dvc_cli

RERUN_HINT = "rerun `dvc repro` and commit dvc.lock, metrics/, plots/ and reports/"


@dataclass(frozen=True)
class Stale:
    stage: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.stage} ({'; '.join(self.reasons)})"


def git_tracked(root: Path) -> set[str]:
    """Every path git tracks in ``root``, and every folder that holds one."""
    listed = dvc_cli.git(root, "ls-files", "-z")
    tracked = set()
    for path in filter(None, listed.split("\0")):
        parts = path.split("/")
        tracked.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return tracked


def stale_reasons(entries: list[Any], tracked: set[str]) -> list[str]:
    """Why one stage is stale, from its ``dvc status`` entries; empty when it is current."""
    reasons = []
    for entry in entries:
        if isinstance(entry, str):  # "changed command", "always changed"
            reasons.append(entry)
            continue
        for kind, label in (("changed deps", "dep"), ("changed outs", "output")):
            for path, state in entry.get(kind, {}).items():
                if isinstance(state, dict):  # a params file: {key: "modified" | "new" | "deleted"}
                    keys = ", ".join(f"{key} {change}" for key, change in state.items())
                    reasons.append(f"params {keys}")
                # "not in cache": a DVC-cached file that is simply not here, as on a fresh clone.
                elif state == "new" or (path.rstrip("/") in tracked and state != "not in cache"):
                    reasons.append(f"{label} {path} {state}")
    return reasons


def stale_stages(root: Path) -> list[Stale]:
    """Every stage whose committed results do not match the committed code and params."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    tracked = git_tracked(root)
    try:
        with Repo(str(root)) as repo:
            status = repo.status()
    except DvcException as exc:
        raise StudyError(f"dvc status failed in {root}: {exc}") from None
    stale = []
    for stage, entries in status.items():
        reasons = stale_reasons(entries, tracked)
        if reasons:
            stale.append(Stale(stage.rsplit(":", 1)[-1], tuple(reasons)))
    return stale


def describe(stale: list[Stale]) -> str:
    """One line: how many stages are stale, and each with its reasons."""
    return f"{len(stale)} stage(s) do not match dvc.lock: {', '.join(str(s) for s in stale)}"


def check_current(root: Path, hint: str = RERUN_HINT) -> None:
    """Raise a StudyError naming the stale stages, if any; its message is one line ending in ``hint``."""
    stale = stale_stages(root)
    if stale:
        raise StudyError(f"stale results: {describe(stale)}; {hint}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: here)")
    args = parser.parse_args(argv)
    check_current(args.root)
    print("committed results are current: every stage matches dvc.lock (missing data and models are expected)")


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
