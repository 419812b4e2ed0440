"""The pull-request gate: the base's rules judge the head's results, and the head's numbers are recomputed.

``python -m tools.review.gate --base origin/main --head DIR`` (``make gate BASE=main``, the review workflow's
gate job) fails when a key metric of the checkout DIR is worse than BASE's beyond 2 σ of BASE's seed spread,
or cannot be judged. What a pull request could edit to loosen its own gate does not come from it:

- **the rules:** the review code, ``SIGMA_MULTIPLE``, ``KEY_METRICS`` and the seed spread are BASE's. Unless
  this code already is BASE's (the workflow runs it from a checkout of the base branch), it runs BASE's own
  copy of itself from a git worktree of BASE, with BASE's ``src`` first on the import path, so nothing the
  head changed in ``tools/``, ``src/`` or the Makefile takes part;
- **the numbers:** with ``$DVC_REMOTE_URL`` (the team's remote), the head's models and data are pulled from it
  into a scratch copy of DIR, each ``evaluate`` stage and ``baselines`` whose metrics file differs from
  BASE's runs again there (BASE's own were checked when BASE was), and each number in those files that
  differs from its recompute beyond RELATIVE_ROUNDOFF is named: a metric edited by hand and
  ``dvc commit --force``'d fails here. Without a remote the review says, in one line, that its numbers
  are the pull request's word.

The recompute runs the head's own evaluation code (a new metric needs it): a change to that code is in the
diff a reviewer reads, and CODEOWNERS can require one (docs/sharing.md, "What GitHub protects").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mnist_ae import StudyError
from tools import dvc_cli

CODE_ROOT = Path(__file__).resolve().parents[2]  # the checkout this code came from
# How far a recomputed metric may sit from the committed one: room for float round-off between CPUs (the
# last digits of a mean over 10,000 digits; a few of a probe's 10,000 predictions), and below a 2 σ move of
# every key metric in the committed seed spread but pca's (docs/review.md).
RELATIVE_ROUNDOFF = 1e-3
RECOMPUTED_STAGES = ("evaluate", "baselines")  # the stages that measure a committed model (or fit PCA)
# What the scratch copy of the head leaves out: the environment, the data and models it pulls, the review.
SCRATCH_LEAVES_OUT = (".venv", "data", "models", ".resume", "report.md", "report_summary.md", "report_files")
UNVERIFIED = ("numbers unverified: no team remote ($DVC_REMOTE_URL) to pull the head's models from, so the "
              "committed metrics are the pull request's word")


def is_base_code(base_sha: str) -> bool:
    """Is this code BASE's, unedited: its checkout at BASE with no change to what the gate runs?"""
    try:
        here = dvc_cli.git(CODE_ROOT, "rev-parse", "HEAD").strip()
        edits = dvc_cli.git(CODE_ROOT, "status", "--porcelain", "--", "tools", "src").strip()
    except (OSError, subprocess.CalledProcessError):
        return False
    return here == base_sha and not edits


def run_from_base_worktree(head: Path, base_sha: str, argv: list[str]) -> int:
    """Run BASE's own gate from a temporary git worktree of BASE, BASE's ``src`` first on the path."""
    with tempfile.TemporaryDirectory(prefix="gate-base-") as scratch:
        worktree = Path(scratch) / "base"
        try:
            dvc_cli.git(head, "worktree", "add", "--quiet", "--detach", str(worktree), base_sha)
        except subprocess.CalledProcessError as exc:
            raise StudyError(f"cannot check out the base {base_sha[:7]} beside {head}: {exc.stderr.strip()}") from None
        try:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(worktree), str(worktree / "src")])}
            # -P: the working directory is not put first on the path; PYTHONPATH's BASE code is.
            return subprocess.run([sys.executable, "-P", "-m", "tools.review.gate", *argv, "--from-base"],
                                  cwd=worktree, env=env).returncode
        finally:
            dvc_cli.git(head, "worktree", "remove", "--force", str(worktree))


def numeric_leaves(data, prefix: str = "") -> dict[str, float]:
    """Every number in a metrics file, by its dotted key."""
    if isinstance(data, dict):
        return {k: v for key, value in data.items() for k, v in numeric_leaves(value, f"{prefix}{key}.").items()}
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return {prefix.rstrip("."): float(data)}
    return {}


def differences(committed: dict, recomputed: dict, path: str) -> list[str]:
    """One line per number of ``committed`` that ``recomputed`` does not give back within round-off."""
    lines = []
    again = numeric_leaves(recomputed)
    for key, value in numeric_leaves(committed).items():
        other = again.get(key)
        if other is None:
            lines.append(f"recomputed: {path} {key} is committed as {value:.6g} but the recompute has no such metric")
        elif not math.isclose(value, other, rel_tol=RELATIVE_ROUNDOFF, abs_tol=1e-12):
            lines.append(f"recomputed: {path} {key} is committed as {value:.6g}, its models give {other:.6g}")
    return lines


def changed_metric_stages(head: Path, base_sha: str) -> dict[str, list[str]]:
    """The stages of RECOMPUTED_STAGES whose metrics files in ``head`` differ from ``base_sha``'s, with
    those files."""
    from dvc.repo import Repo

    changed = {}
    with Repo(str(head)) as repo:
        for stage in repo.index.stages:
            if stage.name.split("@")[0] not in RECOMPUTED_STAGES:
                continue
            paths = [out.def_path for out in stage.outs if out.metric]
            differ = []
            for path in paths:
                try:
                    base = dvc_cli.git(head, "show", f"{base_sha}:{path}", binary=True)
                except subprocess.CalledProcessError:
                    base = None
                if not (head / path).is_file() or base != (head / path).read_bytes():
                    differ.append(path)
            if differ:
                changed[stage.name] = differ
    return changed


def recompute(head: Path, url: str, base_sha: str) -> tuple[list[str], list[str]]:
    """Pull the head's models and data from ``url`` into a scratch copy of ``head``, rerun the stages whose
    metrics changed from the base, and name every committed number there the rerun does not give back:
    (the files recomputed, one line per difference)."""
    from tools.sharing.remote import TEAM_REMOTE, default_remote, reach, trusted

    with tempfile.TemporaryDirectory(prefix="gate-recompute-") as scratch:
        copy = Path(scratch) / "head"
        shutil.copytree(head, copy, symlinks=True, ignore=lambda folder, names: [
            name for name in names if (Path(folder) == head and name in SCRATCH_LEAVES_OUT)
            or (Path(folder) == head / ".dvc" and name in ("cache", "tmp"))])
        dvc_cli.output(copy, "remote", "add", "--local", "--force", "--default", TEAM_REMOTE, url)
        remote = trusted(default_remote(copy, TEAM_REMOTE))
        reach(copy, remote)
        changed = changed_metric_stages(copy, base_sha)
        stages = sorted(changed)
        if not stages:
            return [], []
        dvc_cli.output(copy, "pull", "--with-deps", *stages, what=f"pulling the head's models from DVC remote {remote}")
        env = {**os.environ, "PYTHONPATH": str(copy / "src"),
               "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
        committed = {path: json.loads((copy / path).read_text()) for paths in changed.values() for path in paths
                     if (copy / path).is_file()}
        for stage in stages:
            result = subprocess.run([dvc_cli.executable(), "repro", "--force", "--single-item", stage], cwd=copy,
                                    env=env, capture_output=True, text=True)
            if result.returncode != 0:
                raise StudyError(f"recomputing {stage} failed: {dvc_cli.error_line(result.stderr + result.stdout)}")
        lines = []
        for path, data in committed.items():
            lines += differences(data, json.loads((copy / path).read_text()), path)
        return sorted(committed), lines


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the git revision whose rules judge (the pull request's base)")
    parser.add_argument("--head", type=Path, default=Path.cwd(), help="the checkout judged (default: here)")
    parser.add_argument("--out", type=Path, help="where the review goes (default: report.md in --head)")
    parser.add_argument("--from-base", action="store_true", help=argparse.SUPPRESS)  # set by the worktree run
    args = parser.parse_args(argv)
    from tools.review.review import Revisions, write_review

    head = args.head.resolve()
    base_sha = Revisions(head, args.base).base_sha  # one clear line for an option or an unknown revision
    out = (args.out or head / "report.md").resolve()
    if not args.from_base and not is_base_code(base_sha):
        code = run_from_base_worktree(head, base_sha, ["--base", base_sha, "--head", str(head), "--out", str(out)])
        if code:
            raise SystemExit(code)
        return

    recomputed: list[str] = []
    if url := os.environ.get("DVC_REMOTE_URL"):
        try:
            files, recomputed = recompute(head, url, base_sha)
            verified = ("no metrics file changed from the base, so there was nothing to recompute" if not files else
                        f"numbers recomputed from the head's models on the team's DVC remote ({', '.join(files)}): "
                        + (f"{len(recomputed)} differ" if recomputed else "each matches"))
        except StudyError as exc:  # fail closed: a number nobody could check is no pass
            recomputed = [f"cannot verify the numbers: {exc}"]
            verified = f"numbers unverified: {exc}"
    else:
        verified = UNVERIFIED
    written, summary, failures = write_review(head, base_sha, out, note=f"> {verified}.\n")
    print(summary)
    print(verified)
    print(f"wrote {written} (judged by the base's code at {base_sha[:7]})")
    failures += recomputed
    if failures:
        print("\n".join(failures), file=sys.stderr)
        raise StudyError(f"{len(failures)} gate failure(s) against {args.base}; see {written}")


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
