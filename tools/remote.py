"""Models and data through the DVC remote, with one clear line when it fails.

``python -m tools.remote push`` (``make push``) is ``dvc push --run-cache`` plus the files
the run-cache entries name, which DVC leaves behind; then another clone's ``dvc exp run --pull``
restores any stage this one ran instead of training it.

``python -m tools.remote pull`` (``make pull``) is ``dvc pull --run-cache`` that names the remote and
every file it could not give when it fails: an unreachable remote, or one missing or holding a
damaged copy (``verify = true`` in .dvc/config makes DVC check each file's hash, so a damaged copy
is refused, never checked out).

``python -m tools.remote check`` (``make check REMOTE=1``, the pull-request workflow) fails
when an output recorded in dvc.lock is not on the remote, so a result nobody pushed cannot be
merged. With ``DVC_REMOTE_URL`` set, that URL is checked (as remote ``team``, in .dvc/config.local);
without it, a default remote that is a directory missing on this machine means no team remote is
set up here: the check is skipped and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mnist_ae import StudyError
from tools import dvc_cli

URL_ENV = "DVC_REMOTE_URL"
TEAM_REMOTE = "team"


@dataclass(frozen=True)
class Remote:
    name: str
    url: str

    @property
    def local_path(self) -> Path | None:
        """The directory of a local remote (a plain path or file://), None for a network one."""
        parsed = urlparse(self.url)
        if parsed.scheme in ("", "file"):
            return Path(parsed.path if parsed.scheme else self.url)
        return None

    def __str__(self) -> str:
        return f"'{self.name}' ({self.url})"


def default_remote(root: Path, name: str | None = None) -> Remote:
    """The remote ``name``, or the default one, with its URL as DVC resolves it."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        config = repo.config
        name = name or config["core"].get("remote")
        if not name:
            raise StudyError("no default DVC remote is set: `dvc remote add -d <name> <url>` (docs/sharing.md)")
        if name not in config["remote"]:
            raise StudyError(f"no DVC remote named '{name}': `dvc remote list` shows those there are")
        return Remote(name, config["remote"][name]["url"])


def unreachable(remote: Remote) -> str | None:
    """Why ``remote`` cannot be reached, as far as can be told without a network call."""
    path = remote.local_path
    if path is not None and not path.is_dir():
        return f"{path} is not a directory"
    return None


def failure_line(remote: Remote, output: str) -> str:
    """One line from a failed ``dvc pull``'s output: the remote, and the files it could not give."""
    failed = re.search(r"Checkout failed for following targets:\n(.*?)\nIs your cache up to date\?", output, re.S)
    if failed:
        targets = ", ".join(failed.group(1).split())
        return (f"DVC remote {remote} is missing these, or holds damaged copies: {targets}; "
                "nothing was checked out for them (push them from a clone that has them)")
    errors = [line.removeprefix("ERROR:").strip() for line in output.splitlines() if line.startswith("ERROR:")]
    return f"dvc pull from remote {remote} failed: {errors[0] if errors else output.strip()[-300:]}"


def pull(root: Path, targets: list[str], name: str | None = None) -> None:
    remote = default_remote(root, name)
    if reason := unreachable(remote):
        raise StudyError(f"DVC remote {remote} is unreachable: {reason} (docs/sharing.md says how to set it)")
    command = [dvc_cli.executable(), "pull", "--run-cache", "-r", remote.name, *targets]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise StudyError(failure_line(remote, result.stdout + result.stderr))
    print(result.stdout.strip() or f"pulled from {remote}")


def run_cache_entries(root: Path) -> list[tuple[str, str]]:
    """(key, value) of every run-cache entry in this clone's cache, as DVC stores them under runs/."""
    runs = root / ".dvc" / "cache" / "runs"
    return sorted((entry.parent.name, entry.name) for entry in runs.glob("*/*/*") if entry.is_file())


def push(root: Path, name: str | None = None) -> None:
    """``dvc push --run-cache``, plus the outputs every run-cache entry names.

    DVC pushes the entries alone (treeverse/dvc#10472): the outputs of a stage that ran at other
    params than the committed ones, and every ``cache: false`` plot or metric (git holds those,
    DVC's cache only a copy for the run cache), would stay on this machine, and another clone's
    ``dvc exp run --pull`` would train again. This pushes them as well.
    """
    from dvc.repo import Repo

    remote = default_remote(root, name)
    # A local remote is made by its first push: only the folder that will hold it must exist.
    if remote.local_path is not None and not remote.local_path.parent.is_dir():
        raise StudyError(f"DVC remote {remote} is unreachable: {remote.local_path.parent} is not a directory")
    dvc_cli.output(root, "push", "--run-cache", "-r", remote.name)
    entries = run_cache_entries(root)
    with Repo(str(root)) as repo:
        pushed = failed = 0
        for odb, objs in repo.stage_cache.get_used_objs(entries, remote=remote.name).items():
            result = repo.cloud.push(objs, remote=remote.name, odb=odb)
            pushed, failed = pushed + len(result.transferred), failed + len(result.failed)
    if failed:
        raise StudyError(f"{failed} file(s) of the run cache could not be pushed to DVC remote {remote}")
    print(f"pushed the results, {len(entries)} run-cache entries and {pushed} of their files to DVC remote {remote}")


def not_in_remote(root: Path, remote: Remote) -> list[str]:
    """Outputs recorded in dvc.lock that the remote lacks, from ``dvc data status --not-in-remote``."""
    output = dvc_cli.output(root, "data", "status", "--not-in-remote", "--json", "-r", remote.name)
    return sorted(json.loads(output or "{}").get("not_in_remote", []))


def check(root: Path) -> None:
    if url := os.environ.get(URL_ENV):
        dvc_cli.output(root, "remote", "add", "--local", "--force", TEAM_REMOTE, url)
        remote = default_remote(root, TEAM_REMOTE)
    else:
        remote = default_remote(root)
        if reason := unreachable(remote):
            print(f"skipped: no team remote here ({URL_ENV} is unset and the default remote {remote}: {reason})")
            return
    missing = not_in_remote(root, remote)
    if missing:
        raise StudyError(f"{len(missing)} output(s) in dvc.lock are not on DVC remote {remote}: "
                         f"{', '.join(missing)}; run `dvc push`")
    print(f"every output in dvc.lock is on DVC remote {remote}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: here)")
    commands = parser.add_subparsers(dest="command", required=True)
    pull_parser = commands.add_parser("pull", help="dvc pull --run-cache, with one clear line when it fails")
    pull_parser.add_argument("-r", "--remote", help="a remote other than the default")
    pull_parser.add_argument("targets", nargs="*", help="outputs or stages to pull (default: all)")
    push_parser = commands.add_parser("push", help="dvc push --run-cache, with the outputs of every entry")
    push_parser.add_argument("-r", "--remote", help="a remote other than the default")
    commands.add_parser("check", help=f"fail when an output in dvc.lock is not on the remote (${URL_ENV})")
    args = parser.parse_args(argv)
    if args.command == "pull":
        pull(args.root, args.targets, args.remote)
    elif args.command == "push":
        push(args.root, args.remote)
    else:
        check(args.root)


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
