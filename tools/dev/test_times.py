"""How long the tests take on this machine: CI's whole run and the fast loop (records/test_times.json).

    .venv/bin/python -m tools.dev.test_times [--record records/test_times.json]     # tens of minutes
    .venv/bin/python -m tools.dev.test_times --timeline FILE     # where the time of a `pytest --timeline FILE` went

In a fresh clone of HEAD in a temporary folder, it runs ``.ci/run`` as CI does (``CI=true``: a new
``.venv`` from requirements.lock, then ``make test``), and then, in the same clone, the fast loop
that the README names. Each is timed from start to end and keeps pytest's last line ("N passed in
…"); either failing is an error. ``--record`` writes both, with the commit, the date and the CPU,
and ``make docs`` quotes them in the README. Nothing else should share the cores
meanwhile. The CI run also writes its timeline (``pytest --timeline``, see ``tests/conftest.py``),
and its summary is printed at the end: each worker's busy time, module by module, and the longest
test phases with the moment each started, which shows what the run waited for.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mnist_ae import StudyError
from mnist_ae.files import atomic_path

ROOT = Path(__file__).resolve().parents[2]
RECORD = Path("records/test_times.json")
FAST_LOOP = [".venv/bin/pytest", "-m", "not e2e", "-n", "2"]
GOALS_MINUTES = {"ci": 15.0, "fast_loop": 2.0}  # issue 35: the whole .ci/run on the Intel Xeon, and the fast loop
SUMMARY = re.compile(r"^=+ (?P<summary>\d+ passed.*?) =+$", re.MULTILINE)


def timed(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict:
    """Wall seconds and pytest's summary line of ``command``; its whole output goes to ``log``."""
    start = time.perf_counter()
    with open(log, "w") as out:
        result = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    output = log.read_text()
    summaries = SUMMARY.findall(output)
    if result.returncode != 0 or not summaries:
        raise StudyError(f"{' '.join(command)} failed (exit {result.returncode}); its output: {log}")
    return {"command": shlex.join(command), "seconds": round(seconds, 1), "summary": summaries[-1]}


def timeline_summary(path: Path, top: int = 15) -> str:
    """Each worker's busy seconds, by module, and the ``top`` longest phases with their start (s from the first)."""
    phases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    if not phases:
        raise StudyError(f"{path} holds no test phases: run pytest with --timeline {path} first")
    first = min(phase["start"] for phase in phases)
    lines = [f"{len(phases)} test phases over {max(phase['stop'] for phase in phases) - first:.0f} s of wall time"]
    for worker in sorted({phase["worker"] for phase in phases}):
        modules: dict[str, float] = {}
        for phase in phases:
            if phase["worker"] == worker:
                module = phase["test"].split("::")[0]
                modules[module] = modules.get(module, 0.0) + phase["stop"] - phase["start"]
        ranked, busy = sorted(modules.items(), key=lambda item: -item[1]), sum(modules.values())
        lines.append(f"{worker}: busy {busy:.0f} s; " + ", ".join(
            f"{Path(module).stem} {seconds:.0f}" for module, seconds in ranked if seconds >= 0.01 * busy))
    lines.append(f"the {top} longest phases (seconds, started at, worker, phase, test):")
    for phase in sorted(phases, key=lambda phase: phase["start"] - phase["stop"])[:top]:
        lines.append(f"{phase['stop'] - phase['start']:8.1f} {phase['start'] - first:8.0f}  {phase['worker']:5} "
                     f"{phase['phase']:8} {phase['test']}")
    return "\n".join(lines)


def measure(workdir: Path) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from timing import provenance

    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(workdir)], check=True)
    timeline = workdir.parent / "timeline.jsonl"
    env = {**os.environ, "CI": "true"}
    record = {"run": provenance(workdir)}
    print(f"timing .ci/run in {workdir} (tens of minutes)", flush=True)
    record["ci"] = timed(["bash", ".ci/run"], workdir, {**env, "PYTEST_ADDOPTS": f"--timeline {shlex.quote(str(timeline))}"},
                         workdir.parent / "ci.log")
    print(f".ci/run: {record['ci']['seconds'] / 60:.1f} min; {record['ci']['summary']}", flush=True)
    print(timeline_summary(timeline), flush=True)
    record["fast_loop"] = timed(FAST_LOOP, workdir, env, workdir.parent / "fast-loop.log")
    print(f"fast loop: {record['fast_loop']['seconds'] / 60:.1f} min; {record['fast_loop']['summary']}")
    return record


def markdown(record: dict) -> str:
    """The README's lines on how long the tests take here."""
    run = record["run"]
    lines = []
    for key, label in (("ci", "`.ci/run` (command 2 as CI runs it, the install included)"),
                       ("fast_loop", f"the fast loop, `{shlex.join(FAST_LOOP)}`")):
        minutes = record[key]["seconds"] / 60
        met = "within" if minutes <= GOALS_MINUTES[key] else "over"
        counts = ", ".join(part for part in record[key]["summary"].split(" in ")[0].split(", ") if "warning" not in part)
        lines.append(f"- {label}: {minutes:.1f} min ({counts}; "
                     f"{met} the goal of {GOALS_MINUTES[key]:g} min)")
    return "\n".join([*lines, f"\nMeasured by `python -m tools.dev.test_times` at commit `{run['commit'][:7]}` on "
                               f"{run['date'][:10]}, {run['cpu']} (family/model {run['cpu_family_model']}), "
                               f"{run['cpus']} CPUs."])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", type=Path, help=f"also write the times here as JSON (the docs quote {RECORD})")
    parser.add_argument("--timeline", type=Path, help="only summarise this timeline of a `pytest --timeline` run")
    args = parser.parse_args(argv)
    if args.timeline:
        try:
            print(timeline_summary(args.timeline))
        except StudyError as exc:
            sys.exit(f"error: {exc}")
        return 0
    with tempfile.TemporaryDirectory(prefix="mnist-ae-test-times-") as tmp:
        try:
            record = measure(Path(tmp) / "repo")
        except StudyError as exc:
            kept = Path(tempfile.mkdtemp(prefix="mnist-ae-test-times-log-"))
            for log in [*Path(tmp).glob("*.log"), *Path(tmp).glob("*.jsonl")]:  # the outputs and the timeline
                log.rename(kept / log.name)
            sys.exit(f"error: {exc}".replace(tmp, str(kept)))
    print(markdown(record))
    if args.record:
        with atomic_path(args.record) as partial:
            partial.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
