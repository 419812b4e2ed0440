"""Models and data through the DVC remote, with one clear line when it fails.

``python -m tools.sharing.remote push`` (``make push``) is ``dvc push --run-cache`` plus the files
the run-cache entries name, which DVC leaves behind; then another clone's ``dvc exp run --pull``
restores any stage this one ran instead of training it.

``python -m tools.sharing.remote pull`` (``make pull``) is ``dvc pull --run-cache`` that names the remote and
every file it could not give when it fails: an unreachable remote, or one missing or holding a
damaged copy (``verify = true`` in .dvc/config makes DVC check each file's hash, so a damaged copy
is refused, never checked out).

``python -m tools.sharing.remote check`` (``make check REMOTE=1``, the pull-request workflow) fails
when an output recorded in dvc.lock is not on the remote, so a result nobody pushed cannot be
merged. With ``DVC_REMOTE_URL`` set, that URL is checked (as remote ``team``, in .dvc/config.local);
without it, a default remote that is a directory missing on this machine means no team remote is
set up here: the check is skipped and says so.

``python -m tools.sharing.remote exp-run -S KEY=VALUE`` (``make exp-run SET=...``) is ``dvc exp run --pull``
after the same checks: the restore path teammates are told to use.

Every failure is one line naming the remote, with DVC's own error (wrong credentials, a missing bucket,
an unreachable endpoint). A remote that is a folder on this machine, whatever its name, is refused when
that folder belongs to another user or is writable by others (sticky bit or not), or the folder that
holds it is writable by others without the sticky bit: whoever can write a remote can plant results that
restore without training (docs/sharing.md, "Trust"). An S3 remote is reached by listing its own prefix
alone, so a user whose ``s3:ListBucket`` is limited to that prefix passes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mnist_ae import StudyError
from tools import dvc_cli

URL_ENV = "DVC_REMOTE_URL"
TEAM_REMOTE = "team"
SHIPPED_REMOTE = "store"  # .dvc/config's default: ../../mnist-ae-dvc-store, a folder beside the clone


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
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        repo = Repo(str(root))
    except NotDvcRepoError:
        raise StudyError(f"{root} is not in a DVC repository: run this in a clone of the project") from None
    with repo:
        config = repo.config
        name = name or config["core"].get("remote")
        if not name:
            raise StudyError("no default DVC remote is set: `dvc remote add -d <name> <url>` (docs/sharing.md)")
        if name not in config["remote"]:
            raise StudyError(f"no DVC remote named '{name}': `dvc remote list` shows those there are")
        return Remote(name, config["remote"][name]["url"])


def untrusted(remote: Remote) -> str | None:
    """Why a folder remote cannot be trusted, or None: it belongs to another user, others may write it
    (where they could make ``files/`` or ``runs/`` before your first push, sticky bit or not), or others
    may write its parent without the sticky bit (and so swap the folder itself)."""
    path = remote.local_path
    if path is None:
        return None
    if path.exists():
        info = path.stat()
        if info.st_uid != os.getuid():
            return f"{path} belongs to uid {info.st_uid}, not to you (uid {os.getuid()})"
        if info.st_mode & stat.S_IWOTH:
            return f"{path} is writable by every user"
    parent = path.parent.stat().st_mode if path.parent.exists() else 0
    if parent & stat.S_IWOTH and not parent & stat.S_ISVTX:
        return f"{path.parent} is writable by every user and has no sticky bit"
    return None


def trusted(remote: Remote) -> Remote:
    """``remote``, or one line saying why its folder is refused."""
    if reason := untrusted(remote):
        raise StudyError(f"DVC remote {remote} is refused: {reason}; anyone who can write it can plant results "
                         f"that restore without training (docs/sharing.md, \"Trust\"): use a folder of your own")
    return remote


def unreachable(remote: Remote) -> str | None:
    """Why ``remote`` cannot be reached, as far as can be told without a network call."""
    path = remote.local_path
    if path is not None and not path.is_dir():
        return f"{path} is not a directory"
    return None


def reach(root: Path, remote: Remote) -> None:
    """One listing of a network remote, so that an unreachable endpoint, wrong credentials or a missing bucket
    end in one line within seconds, before a push or pull retries each of its files in turn, and before a
    check calls every output missing. On S3 it is one ListObjectsV2 of the remote's own prefix (what a
    policy limiting ``s3:ListBucket`` to that prefix allows); elsewhere a listing of the remote's top."""
    if remote.local_path is not None:
        return
    import logging

    from dvc.repo import Repo

    for name in ("botocore", "aiobotocore", "s3fs"):  # their INFO lines ("Found credentials in ...") are noise
        logging.getLogger(name).setLevel(logging.WARNING)
    with Repo(str(root)) as repo:
        top = remote.url
        try:
            location = repo.cloud.get_remote(remote.name)
            top, *prefix = location.fs.parts(location.path)
            if location.fs.protocol == "s3":  # an empty prefix is fine: the first push makes it
                location.fs.fs.call_s3("list_objects_v2", Bucket=top, Prefix="/".join([*prefix, ""]).lstrip("/"),
                                       MaxKeys=1)
            else:
                location.fs.ls(top)
        except FileNotFoundError as exc:
            raise StudyError(f"DVC remote {remote} is unreachable: '{top}' does not exist ({exc})") from None
        except PermissionError as exc:
            raise StudyError(f"DVC remote {remote} refused these credentials: {exc}") from None
        except Exception as exc:  # each cloud's client has its own: botocore's EndpointConnectionError, ...
            raise StudyError(f"DVC remote {remote} is unreachable: {exc}") from None


def failure_line(remote: Remote, output: str) -> str:
    """One line from a failed ``dvc pull``'s output: the remote, and the files it could not give."""
    failed = re.search(r"Checkout failed for following targets:\n(.*?)\nIs your cache up to date\?", output, re.S)
    if failed:
        targets = ", ".join(failed.group(1).split())
        return (f"DVC remote {remote} is missing these, or holds damaged copies: {targets}; "
                "nothing was checked out for them (push them from a clone that has them)")
    return f"dvc pull from DVC remote {remote} failed: {dvc_cli.error_line(output)}"


def restorable(root: Path, name: str | None = None) -> Remote:
    """The remote ``name`` (default: the default one), once it is trusted and answers: what every restore
    (make pull, make exp-run) checks first."""
    remote = trusted(default_remote(root, name))
    if reason := unreachable(remote):
        raise StudyError(f"DVC remote {remote} is unreachable: {reason} (docs/sharing.md says how to set it)")
    reach(root, remote)
    return remote


def pull(root: Path, targets: list[str], name: str | None = None) -> None:
    remote = restorable(root, name)
    command = [dvc_cli.executable(), "pull", "--run-cache", "-r", remote.name, *targets]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise StudyError(failure_line(remote, result.stdout + result.stderr))
    print(result.stdout.strip() or f"pulled from {remote}")


def push_entry_files(repo, remote: str) -> tuple[int, int, int, int]:
    """Push the files every run-cache entry names to ``remote``; (entries, files pushed, files failed,
    entries skipped). An entry whose files are gone from the cache (`dvc gc -w` removes them) is skipped.

    The one place that calls DVC's private API (tests/test_remote.py names each call when a DVC upgrade
    breaks it): ``StageCache.cache_dir`` (wherever `dvc cache dir` put the cache), its
    ``get_used_objs``, ``HashFileDB.exists`` and ``DataCloud.push(objs, remote=, odb=)``.
    """
    from contextlib import chdir

    from dvc.exceptions import DvcException

    runs = Path(repo.stage_cache.cache_dir)
    entries = sorted((entry.parent.name, entry.name) for entry in runs.glob("*/*/*") if entry.is_file())
    wanted: dict = {}  # object database -> object ids, over every entry kept: one push each, not one per entry
    skipped = 0
    with chdir(repo.root_dir):  # DVC builds an entry's stage relative to the working directory
        for entry in entries:
            try:
                used = repo.stage_cache.get_used_objs([entry], remote=remote)
            except DvcException:  # a directory's listing is gone: DVC cannot even say what it held
                skipped += 1
                continue
            if any(not (odb or repo.cache.local).exists(obj.value) for odb, objs in used.items() for obj in objs):
                skipped += 1
                continue
            for odb, objs in used.items():
                wanted.setdefault(odb, set()).update(objs)
        results = [repo.cloud.push(objs, remote=remote, odb=odb) for odb, objs in wanted.items()]
    return (len(entries), sum(len(r.transferred) for r in results), sum(len(r.failed) for r in results), skipped)


def push(root: Path, name: str | None = None) -> None:
    """``dvc push --run-cache``, plus the outputs every run-cache entry names.

    DVC pushes the entries alone (treeverse/dvc#10472): the outputs of a stage that ran at other
    params than the committed ones, and every ``cache: false`` plot or metric (git holds those,
    DVC's cache only a copy for the run cache), would stay on this machine, and another clone's
    ``dvc exp run --pull`` would train again. This pushes them as well. An entry whose files are gone
    from the cache (`dvc gc -w` removes them) is skipped and counted, not a failure.
    """
    from dvc.repo import Repo

    remote = trusted(default_remote(root, name))
    # A local remote is made by its first push: only the folder that will hold it must exist.
    if remote.local_path is not None and not remote.local_path.parent.is_dir():
        raise StudyError(f"DVC remote {remote} is unreachable: {remote.local_path.parent} is not a directory")
    reach(root, remote)
    dvc_cli.output(root, "push", "--run-cache", "-r", remote.name, what=f"dvc push to DVC remote {remote}")
    with Repo(str(root)) as repo:
        entries, pushed, failed, skipped = push_entry_files(repo, remote.name)
    if failed:
        raise StudyError(f"{failed} file(s) of the run cache could not be pushed to DVC remote {remote}")
    gone = f"; {skipped} entries skipped, their files gone from the cache (dvc gc)" if skipped else ""
    print(f"pushed the results, {entries - skipped} run-cache entries' files ({pushed} new) to DVC remote "
          f"{remote}{gone}")


def exp_run(root: Path, overrides: list[str]) -> int:
    """``dvc exp run --pull -S ...`` from the default remote, once it passed the checks a pull passes; DVC's
    exit code."""
    restorable(root)
    sets = [arg for override in overrides for arg in ("-S", override)]
    return subprocess.run([dvc_cli.executable(), "exp", "run", "--pull", *sets], cwd=root).returncode


def not_in_remote(root: Path, remote: Remote) -> list[str]:
    """Outputs recorded in dvc.lock that the remote lacks, from ``dvc data status --not-in-remote``."""
    output = dvc_cli.output(root, "data", "status", "--not-in-remote", "--json", "-r", remote.name,
                            what=f"checking DVC remote {remote}")
    return sorted(json.loads(output or "{}").get("not_in_remote", []))


def check(root: Path) -> None:
    if url := os.environ.get(URL_ENV):
        dvc_cli.output(root, "remote", "add", "--local", "--force", TEAM_REMOTE, url)
        remote = trusted(default_remote(root, TEAM_REMOTE))
    else:
        remote = trusted(default_remote(root))
        if reason := unreachable(remote):
            print(f"skipped: no team remote here ({URL_ENV} is unset and the default remote {remote}: {reason})")
            return
    reach(root, remote)
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
    run_parser = commands.add_parser("exp-run", help="dvc exp run --pull, the default remote checked first")
    run_parser.add_argument("-S", "--set-param", action="append", default=[], metavar="KEY=VALUE",
                            help="a param override, as dvc exp run -S takes it (repeatable)")
    args = parser.parse_args(argv)
    if args.command == "exp-run":
        if code := exp_run(args.root, args.set_param):
            raise SystemExit(code)
    elif args.command == "pull":
        pull(args.root, args.targets, args.remote)
    elif args.command == "push":
        push(args.root, args.remote)
    else:
        check(args.root)


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
