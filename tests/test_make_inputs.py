"""Every make variable a user or a workflow sets is data: driven with a quote, `;`, `$( )`, backticks and make's own
`$(shell ...)`, no recipe runs any of it, and each program receives the value whole. The Makefile runs for real
in a copy whose .venv/bin holds recorders in place of the project's python, dvc and pytest, and of sbatch:
each writes the arguments and environment it was given, so the test sees exactly what reached it."""

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT

PAYLOAD = "x'y\"; touch PWNED1; $(touch PWNED2) `touch PWNED3` $(shell touch PWNED4)"
TOKEN = "ghs_T0kenInTheUrl"

RECORDER = textwrap.dedent("""\
    #!/usr/bin/env python3
    import json, os, sys
    with open(os.environ["RECORD_TO"], "a") as log:
        log.write(json.dumps({"argv": [os.path.basename(sys.argv[0]), *sys.argv[1:]],
                              "repo": os.environ.get("MNIST_AE_REPO")}) + "\\n")
    if "--array" in sys.argv:
        print("0-1")
    elif os.path.basename(sys.argv[0]) == "sbatch":
        print("4242")
    """)


@pytest.fixture
def project(tmp_path) -> Path:
    """The Makefile in a folder of its own, with recorders for every program its recipes start."""
    shutil.copy2(ROOT / "Makefile", tmp_path / "Makefile")
    for name in ("pyproject.toml", "requirements.lock"):
        (tmp_path / name).write_text("")
        os.utime(tmp_path / name, (0, 0))  # older than .venv/bin/dvc: make install has nothing to do
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "dvc", "pytest", "pip", "sbatch"):
        (bin_dir / name).write_text(RECORDER)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def make(project: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    env = {"PATH": f"{project / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": str(project),
           "RECORD_TO": str(project / "calls.jsonl")}
    result = subprocess.run(["make", "--no-print-directory", *args], cwd=project, env=env, capture_output=True,
                            text=True, timeout=60)
    calls = project / "calls.jsonl"
    recorded = [json.loads(line) for line in calls.read_text().splitlines()] if calls.is_file() else []
    calls.unlink(missing_ok=True)
    return result, recorded


# (target and its other settings, the variable driven, what receives it: a program's argument or an error line)
CASES = [
    (["review"], "BASE", ["--base", PAYLOAD]),
    (["gate"], "BASE", ["--base", PAYLOAD]),
    (["exp-run"], "SET", ["-S", PAYLOAD]),
    (["sweep"], "SET", ["-S", PAYLOAD]),
    (["sweep"], "JOBS", "error: JOBS="),
    (["experiments", "PLOT=1"], "PARAM", ["--param", PAYLOAD]),
    (["experiments", "PLOT=1"], "MODEL", ["--model", PAYLOAD]),
    (["experiments"], "REV", ["--rev", PAYLOAD]),
    (["experiments", "STATUS=s", "SWEEP=1"], "GRID", ["--grid", PAYLOAD]),
    (["experiments", "GRID=g"], "STATUS", ["--status", PAYLOAD]),
    (["experiments", "GRID=g", "STATUS=s"], "SWEEP", ["--sweep", PAYLOAD]),
    (["slurm-sweep", "DVC_REMOTE=s3://b/x", "COMMIT=abc"], "GRID", ["--array", PAYLOAD]),
    (["slurm-sweep", "DVC_REMOTE=s3://b/x"], "COMMIT", [PAYLOAD]),
    (["slurm-sweep", "COMMIT=abc"], "DVC_REMOTE", [PAYLOAD]),
    (["slurm-sweep", "DVC_REMOTE=s3://b/x", "COMMIT=abc"], "TIME", [f"--time={PAYLOAD}"]),
    (["slurm-sweep", "DVC_REMOTE=s3://b/x", "COMMIT=abc"], "MEM", [f"--mem={PAYLOAD}"]),
    (["slurm-sweep", "DVC_REMOTE=s3://b/x", "COMMIT=abc"], "CPUS", [f"--cpus-per-task={PAYLOAD}"]),
    (["slurm-sweep", "DVC_REMOTE=s3://b/x", "COMMIT=abc"], "SBATCH", ["x'y\";", "touch", "PWNED1;"]),  # words
    (["slurm-sweep", "DVC_REMOTE=s3://b/x", "COMMIT=abc"], "REPO", None),  # in the environment: below
    (["seed-spread"], "SEEDS", ["-S", f"base.seed={PAYLOAD}"]),
    (["seed-spread"], "POOL", ["--models", PAYLOAD]),
    (["seed-spread", "POOL=deep"], "ADD", ["--add-into"]),
    (["bench"], "WHAT", "expected canonical or nothing"),
    (["quick"], "TINY", ["--tiny"]),
    (["experiments"], "MD", ["--md"]),
    (["review"], "ALLOW_STALE", ["--allow-stale"]),
    (["review"], "FAIL_ON_WORSE", ["--fail-on-worse"]),
    (["check"], "REMOTE", ["check"]),
]


def contains(argv: list[str], expected: list[str]) -> bool:
    return any(argv[i:i + len(expected)] == expected for i in range(len(argv)))


@pytest.mark.usefixtures("make_installed")
@pytest.mark.parametrize("target, variable, received", CASES, ids=[f"{c[0][0]}-{c[1]}" for c in CASES])
def test_a_value_reaches_its_program_as_data_and_runs_nothing(project, target, variable, received):
    value = f"https://x-access-token:{TOKEN}@example.org/{PAYLOAD}" if variable == "REPO" else PAYLOAD
    result, calls = make(project, *target, f"{variable}={value}")
    assert not list(project.glob("PWNED*")), result.stdout + result.stderr
    if isinstance(received, str):  # refused before anything ran
        assert result.returncode != 0 and received in result.stderr and not calls, result.stderr
        return
    assert result.returncode == 0, result.stderr
    if variable == "REPO":
        sbatch = next(call for call in calls if call["argv"][0] == "sbatch")
        assert sbatch["repo"] == value and not any(TOKEN in arg for call in calls for arg in call["argv"])
        assert TOKEN not in result.stdout + result.stderr  # make's echo of the recipe does not show it
        return
    assert any(contains(call["argv"], received) for call in calls), calls


@pytest.mark.usefixtures("make_installed")
def test_the_python_make_builds_the_venv_with_is_data_too(project):
    shutil.rmtree(project / ".venv")
    result, _ = make(project, "install", f"PYTHON={PAYLOAD}")
    assert result.returncode != 0 and not list(project.glob("PWNED*")), result.stderr


@pytest.mark.usefixtures("make_installed")
def test_the_sweep_report_is_not_preceded_by_makes_echo_of_its_command(project):
    result, calls = make(project, "experiments", "MD=1", "GRID=g", "STATUS=s", "SWEEP=1")
    assert result.returncode == 0 and result.stdout == "" and calls  # the recorder printed nothing; make neither
