"""The pull-request workflow, the Makefile and the README agree, and call only tested commands."""

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.sweeps.grid_job import grid_points

from conftest import ROOT, assert_each_command_is_tested, real_part_missing

WORKFLOW = ROOT / ".github" / "workflows" / "pr-review.yml"
# Each workflow command, the test file that runs what it expands to, and the module it runs there
# (checked below: the file must name that module). `bash .ci/run` is the suite itself.
TESTED_COMMANDS = {
    "bash .ci/run": None,
    "make -C base install": None,  # the base's own README install
    ".venv/bin/python -m tools.review.gate": ("test_sharing.py", "tools.review.gate"),  # run as written there
    "make quick TINY=1": ("conftest.py", "tools.dev.sandbox"),            # the tiny_repo fixture (test_pipeline's)
    "make review": ("test_pipeline.py", "tools.review.review"),           # the review fixture
    "make check": ("test_stale_guard.py", "tools.sharing.check"),         # fresh and edited clones
    "make check REMOTE=1": ("test_sharing_s3.py", "tools.sharing.remote"),  # pass, fail and skip
}
# GitHub-only: publish report.md, nothing to run here. The summary is the default, CML an opt-in.
SUMMARY = 'cat report_summary.md >> "$GITHUB_STEP_SUMMARY"'
POSTING = "cml comment create"


def make_dry_run(*args: str) -> str:
    """What `make -n` would run for ``args`` (a target and its options)."""
    if shutil.which("make") is None:
        real_part_missing("make", "GNU make is not installed (Debian: apt-get install make)")
    return subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def steps(job: str | None = None):
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return [step for name, body in jobs.items() if job in (None, name) for step in body["steps"]]


def test_workflow_runs_on_pull_requests():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True] == "pull_request"  # YAML 1.1 reads the key `on` as True
    uses = [step["uses"].split("@")[0] for step in steps() if "uses" in step]
    assert uses == ["actions/checkout", "actions/setup-python", "actions/checkout", "actions/checkout",
                    "actions/setup-python", "actions/upload-artifact", "iterative/setup-cml"]


def test_the_gate_job_runs_the_bases_code_on_the_heads_files():
    """No step of the gate job runs the pull request's code before the gate: the base is checked out,
    installed and run; the head is only read (docs/sharing.md, "What GitHub protects")."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["permissions"] == {"contents": "read"}
    gate = steps("gate")
    checkouts = [step for step in gate if step.get("uses", "").startswith("actions/checkout")]
    assert checkouts[0]["with"] == {"ref": "${{ github.base_ref }}", "path": "base"}
    assert checkouts[1]["with"]["path"] == "head"
    runs = [step for step in gate if "run" in step]
    assert runs[0]["run"].strip() == "make -C base install"
    assert runs[1]["working-directory"] == "base" and "--head ../head" in runs[1]["run"]


def test_every_run_step_is_a_tested_command():
    commands = [step["run"].strip() for step in steps() if "run" in step]
    assert commands[:5] == ["bash .ci/run", "make check", "make check REMOTE=1", "make quick TINY=1",
                            "make -C base install"]
    for command in commands[:-2]:
        assert any(command == known or command.startswith(known + " ") for known in TESTED_COMMANDS), command
    assert commands[-2] == SUMMARY
    assert commands[-1].startswith(POSTING) and commands[-1].endswith("report.md")


def test_the_review_gates_and_is_published_even_when_the_gate_fails():
    gate = steps("gate")
    runs = [step.get("run", "").strip() for step in gate]
    review = next(command for command in runs if "tools.review.gate" in command)
    assert review.endswith("--out ../report.md")
    after = gate[runs.index(review) + 1:]
    assert after and all(step.get("if", "").startswith("always()") for step in after)
    cml = [step for step in after if POSTING in step.get("run", "") or "setup-cml" in step.get("uses", "")]
    assert cml and all("vars.POST_WITH_CML == 'true'" in step["if"] for step in cml)  # opt-in only


def test_each_tested_command_is_run_by_the_test_it_names():
    for command, claim in TESTED_COMMANDS.items():
        if claim is None or not command.startswith("make "):
            continue
        test_file, module = claim
        assert module in (ROOT / "tests" / test_file).read_text(), f"{command}: {test_file} does not run {module}"
        dry_run = make_dry_run(*command.split()[1:])
        assert f"python -m {module}" in dry_run, f"{command} does not run {module}"


def test_the_workflow_names_its_own_test():
    assert "tests/test_workflow.py" in WORKFLOW.read_text().splitlines()[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert command in readme


@pytest.mark.usefixtures("make_installed")
@pytest.mark.parametrize("target, expansion", [
    (["quick"], "python -m tools.dev.sandbox"),
    (["quick", "TINY=1"], "python -m tools.dev.sandbox --tiny tests/data/mnist_sample.npz"),
    (["review", "BASE=origin/main"], 'python -m tools.review.review --base "$BASE" --out report.md'),
    (["gate", "BASE=origin/main"], 'python -m tools.review.gate --base "$BASE" --head . --out report.md'),
    (["exp-run", "SET=noise.factor=0.3"], 'python -m tools.sharing.remote exp-run -S "$SET"'),
    (["experiments"], "python -m tools.sweeps.exp_table"),
    (["experiments", "PLOT=1", "PARAM=noise.factor", "MODEL=denoise"],
     'python -m tools.sweeps.sweep --param "$PARAM" --model "$MODEL"'),
    (["experiments", "REV=abc1234"], '--rev "$REV"'),
    (["check"], "python -m tools.sharing.check"),
    (["check", "REMOTE=1"], "python -m tools.sharing.remote check"),
    (["pull"], "python -m tools.sharing.remote pull"),  # run by test_sharing.py, as are push and review BASE=HEAD
    (["push"], "python -m tools.sharing.remote push"),
    (["review", "BASE=HEAD"], 'python -m tools.review.review --base "$BASE" --out report.md'),
    (["verify"], "python -m tools.review.review --base HEAD --out report.md"),  # run by test_sharing.py (BASE=HEAD)
    (["review", "BASE=main", "FAIL_ON_WORSE=1"],
     'python -m tools.review.review --base "$BASE" --out report.md  --fail-on-worse'),
    (["review", "BASE=main", "ALLOW_STALE=1"],
     'python -m tools.review.review --base "$BASE" --out report.md --allow-stale'),
    (["docs"], "python -m tools.docs.facts --write"),
    (["bench"], "python -m benchmarks.bench"),  # smoke-run by test_benchmarks.py
    (["bench", "WHAT=canonical"], "python -m benchmarks.bench --canonical"),  # run by test_determinism.py
    (["vendor"], "python -m tools.review.vega"),  # its output: test_plots_page.py
])
def test_make_targets_run_the_tested_modules(target, expansion):
    assert expansion in make_dry_run(*target)


def imported_project_modules(path: Path) -> set[str]:
    """The tools and benchmarks modules that a file imports, anywhere in it (``from tools.review import
    verdicts`` is tools.review.verdicts)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("tools", "benchmarks"):
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] in ("tools", "benchmarks")}
    return {module for module in found if (ROOT / (module.replace(".", "/") + ".py")).is_file()}


@pytest.mark.usefixtures("make_installed")
def test_every_tool_and_benchmark_is_a_make_target_or_what_one_runs():
    """A module of tools/ or benchmarks/ that no make target runs, directly or through its imports, is a
    test helper (it belongs under tests/) or dead code."""
    makefile = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^([a-z-]+):.*## ", makefile, flags=re.MULTILINE)
    required = {"slurm-sweep": ["GRID=grids/noise.grid", "REPO=/r.git", "DVC_REMOTE=s3://b/x"]}
    dry_runs = [make_dry_run(target, *required.get(target, [])) for target in targets
                if target not in ("lock", "bench")]
    dry_runs += [make_dry_run("bench", *([f"WHAT={what}"] if what else [])) for what in ["", "canonical"]]
    dry_runs.append(make_dry_run("experiments", "PLOT=1"))
    commands = "\n".join(dry_runs)
    for script in re.findall(r"\S+\.sbatch", commands):  # a job script's own python -m lines
        commands += "\n" + (ROOT / script).read_text()
    reached = set(re.findall(r"python3? -m ((?:tools|benchmarks)(?:\.\w+)+)", commands))
    assert {"tools.review.review", "benchmarks.bench", "tools.sweeps.grid_job"} <= reached  # the patterns still match
    frontier = set(reached)
    while frontier:
        new = imported_project_modules(ROOT / (frontier.pop().replace(".", "/") + ".py")) - reached
        reached |= new
        frontier |= new
    modules = {".".join(path.relative_to(ROOT).with_suffix("").parts) for folder in ("tools", "benchmarks")
               for path in (ROOT / folder).rglob("*.py") if path.stem != "__init__"}
    assert sorted(modules - reached) == []


def test_each_folder_of_tools_does_one_job():
    """tools/ holds the job folders and the one module they share, nothing else."""
    jobs = {"review": "Review", "sharing": "Sharing", "sweeps": "Sweeps", "docs": "Docs", "dev": "Development"}
    folders = {path.name for path in (ROOT / "tools").iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders == set(jobs)
    assert sorted(path.name for path in (ROOT / "tools").glob("*.py")) == ["__init__.py", "dvc_cli.py"]
    for folder, job in jobs.items():  # each folder says its job first
        assert (ROOT / "tools" / folder / "__init__.py").read_text().startswith(f'"""{job}: ')


@pytest.mark.usefixtures("make_installed")
def test_the_options_that_replace_targets_are_off_by_default():
    assert "--tiny" not in make_dry_run("quick") and "tools.sharing.remote" not in make_dry_run("check")
    assert "tools.sweeps.sweep" not in make_dry_run("experiments")
    assert "tools.sweeps.exp_table" not in make_dry_run("experiments", "PLOT=1")


@pytest.mark.usefixtures("make_installed")
def test_make_sweep_queues_then_starts_workers_that_share_the_cores():
    """The same two steps as the sweep fixture of test_pipeline.py, with threads split by JOBS."""
    dry_run = make_dry_run("sweep", "SET=noise.factor=0.2,0.8", "JOBS=2")
    assert 'dvc exp run --queue -S "$SET"' in dry_run
    assert "MNIST_AE_THREADS=$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 )) PYTHONPATH=src" in dry_run
    assert 'dvc queue start -j "$JOBS"' in dry_run


def test_the_committed_results_are_current(committed):
    """What the workflow's `make check` step checks, on the committed tree: dvc.lock, metrics, plots and
    reports match the code and params (data and models are absent, as on a fresh clone)."""
    from tools.sharing.check import stale_stages

    assert [str(stale) for stale in stale_stages(committed)] == [], "rerun `dvc repro` and commit the results"


SWEEP = ROOT / ".github" / "workflows" / "sweep.yml"


# Each command the sweep workflow runs, and the test file that runs it here (checked to name it).
SWEEP_COMMANDS = {
    'echo "indices=$(PYTHONPATH=src python3 -m tools.sweeps.grid_job --count':
        ("test_sweep_report.py", 'run("--count")'),
    "make install": ("../.ci/run", "make install"),
    ".venv/bin/python -m tools.sweeps.grid_job --grid": ("test_grid.py", "tools.sweeps.grid_job"),
    ".venv/bin/dvc remote add --local --default": ("test_grid.py", '"remote", "add", "--local", "--default"'),
    ".venv/bin/dvc exp pull origin": ("test_grid.py", '"exp", "pull", "origin"'),
    'make experiments MD=1 GRID="$GRID" STATUS=sweeps/status SWEEP="$GITHUB_RUN_ID" >> "$GITHUB_STEP_SUMMARY"':
        ("test_grid.py", '"tools.sweeps.exp_table", "--grid"'),
    "make experiments PLOT=1": ("test_pipeline.py", "tools.sweeps.sweep"),
}


def sweep_commands() -> list[str]:
    """Each command sweep.yml runs: a folded step (>-) loads as one line, a literal one (|) as one per line."""
    jobs = yaml.safe_load(SWEEP.read_text())["jobs"]
    return [line.strip() for job in jobs.values() for step in job["steps"] if "run" in step
            for line in step["run"].strip().splitlines()]


def test_every_sweep_step_is_a_tested_command():
    commands = sweep_commands()
    assert len(commands) == 8, commands  # make install runs in two jobs
    assert_each_command_is_tested(commands, SWEEP_COMMANDS, "sweep.yml")


def test_the_sweep_matrix_runs_the_grid_job_once_per_point_then_collects():
    """The matrix's cells come from the job script's own --count, each cell runs that script for its index,
    and the last job pulls every experiment and publishes the table and the sweep plot."""
    workflow = yaml.safe_load(SWEEP.read_text())
    assert workflow[True] == {"workflow_dispatch": workflow[True]["workflow_dispatch"]}  # started by hand
    jobs = workflow["jobs"]
    count = next(step["run"] for step in jobs["points"]["steps"] if "run" in step)
    assert "PYTHONPATH=src python3 -m tools.sweeps.grid_job --count" in count
    grid = workflow[True]["workflow_dispatch"]["inputs"]["grid"]["default"]
    counted = subprocess.run([sys.executable, "-m", "tools.sweeps.grid_job", "--count", grid], cwd=ROOT,
                             capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": "src"})
    assert json.loads(counted.stdout) == list(range(len(grid_points(ROOT / grid)))) and counted.stdout != "[]\n"
    assert jobs["point"]["strategy"]["matrix"]["index"] == "${{ fromJSON(needs.points.outputs.indices) }}"
    point = " ".join(step.get("run", "") for step in jobs["point"]["steps"])
    assert "python -m tools.sweeps.grid_job --grid" in point and '--index "$INDEX"' in point
    assert jobs["point"]["env"]["INDEX"] == "${{ matrix.index }}"
    assert '--status sweeps/status' in point  # uploaded, then downloaded by the collector for the sweep report
    uploads = [step for step in jobs["point"]["steps"] if step.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["if"] == "always()" and uploads[0]["with"]["path"] == "sweeps/status/"
    download = next(step for step in jobs["collect"]["steps"] if "download-artifact" in step.get("uses", ""))
    assert download["with"]["path"] == "sweeps/status" and download["with"]["merge-multiple"] is True
    assert jobs["collect"]["if"] == "always()"  # failed points do not hide the finished ones
    collect = " ".join(step.get("run", "") for step in jobs["collect"]["steps"])
    assert "dvc exp pull origin" in collect and "make experiments" in collect and "make experiments PLOT=1" in collect


@pytest.mark.parametrize("workflow", [WORKFLOW, SWEEP], ids=lambda path: path.name)
def test_no_expression_is_pasted_into_a_shell_script(workflow):
    """`${{ ... }}` inside `run:` is pasted into the script before it runs: an input, a branch name or a
    commit message could inject commands. Every value must reach the shell through `env:`."""
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    pasted = [f"{name}: {step['run'].strip()[:80]}" for name, job in jobs.items() for step in job["steps"]
              if "${{" in step.get("run", "")]
    assert pasted == []


def test_the_summaries_are_markdown_tables_and_name_files_that_exist():
    """The sweep's table is `dvc exp show --md` (a box table does not render); the review's summary is the
    version without links to files the summary cannot show."""
    assert "--md" in make_dry_run("experiments", "MD=1") and "--md" not in make_dry_run("experiments")
    dry = make_dry_run("experiments", "MD=1", "GRID=grids/noise.grid", "STATUS=sweeps/status", "SWEEP=7")
    assert 'python -m tools.sweeps.exp_table --grid "$GRID" --status "$STATUS" --sweep "$SWEEP" --md' in dry
    summary = next(step for step in steps() if "GITHUB_STEP_SUMMARY" in step.get("run", ""))
    assert "report_summary.md" in summary["run"] and "report_summary.md" in summary["if"]


def test_make_slurm_sweep_asks_for_the_documented_time_memory_and_cpus():
    dry = make_dry_run("slurm-sweep", "GRID=grids/noise.grid", "REPO=/r.git", "DVC_REMOTE=s3://b/x", "COMMIT=abc",
                       "TIME=00:30:00", "MEM=2G", "CPUS=4", "SBATCH=--partition=short")
    assert 'python -m tools.sweeps.grid_job --array "$GRID"' in dry
    assert ('--time="$TIME" --mem="$MEM" --cpus-per-task="$CPUS" $SBATCH tools/sweeps/slurm_sweep.sbatch '
            '"${COMMIT:-$(git rev-parse HEAD)}" "$DVC_REMOTE" "$GRID"') in " ".join(dry.replace("\\\n", " ").split())
    assert 'MNIST_AE_REPO="${REPO:-$(git remote get-url origin)}" sbatch' in dry and "/r.git" not in dry
    script = (ROOT / "tools" / "sweeps" / "slurm_sweep.sbatch").read_text()
    for option in ("--time=", "--mem=", "--cpus-per-task="):
        assert f"#SBATCH {option}" in script  # the defaults sbatch's options override
    assert "make slurm-sweep" in script and all(name in script for name in ("TIME=", "MEM=", "CPUS="))


def test_a_real_part_that_cannot_run_skips_here_and_fails_under_ci(monkeypatch):
    from conftest import real_part_missing

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="^sshd: not installed"):
        real_part_missing("sshd", "not installed")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="^S3 server could not run, and under CI=true every real part"):
        real_part_missing("S3 server", "moto is missing")


def test_the_sweep_grants_write_access_and_secrets_only_where_they_are_used():
    """Only the point job pushes a Git ref, so only it may write; the token and the remote's secrets sit in
    the env of the steps that use them, never a job's or the workflow's, where `make install` would see them."""
    workflow = yaml.safe_load(SWEEP.read_text())
    assert workflow["permissions"] == {"contents": "read"}
    writers = {name for name, job in workflow["jobs"].items()
               if (job.get("permissions") or {}).get("contents") == "write"}
    assert writers == {"point"}
    secret = re.compile(r"secrets\.|github\.token")
    assert not any(secret.search(str(value)) for value in (workflow.get("env") or {}).values())
    for name, job in workflow["jobs"].items():
        assert not any(secret.search(str(value)) for value in (job.get("env") or {}).values()), name
        for step in job["steps"]:
            if secret.search(str(step.get("env") or {})):
                assert "make install" not in step.get("run", ""), step
    point = next(step for step in workflow["jobs"]["point"]["steps"] if "tools.sweeps.grid_job" in step.get("run", ""))
    assert "x-access-token:${{ github.token }}" in point["env"]["MNIST_AE_REPO"] and "--repo" not in point["run"]


def test_the_suite_takes_its_git_identity_from_its_environment_not_the_machines_config():
    """As on a hosted runner, which has no git identity: no global config is read, and a commit still works."""
    import os

    from conftest import GIT_IDENTITY

    assert subprocess.run(["git", "config", "--global", "--list"], capture_output=True, text=True).stdout == ""
    ident = subprocess.run(["git", "var", "GIT_COMMITTER_IDENT"], capture_output=True, text=True, check=True).stdout
    assert ident.startswith(f"{GIT_IDENTITY['GIT_COMMITTER_NAME']} <{GIT_IDENTITY['GIT_COMMITTER_EMAIL']}>")
    assert os.environ["GIT_CONFIG_NOSYSTEM"] == "1"


def test_a_root_only_test_that_cannot_run_fails_under_ci_naming_itself(monkeypatch, tmp_path):
    """Giving a folder to another user needs root or passwordless sudo: without either, a skip that says why,
    and under CI=true a failure."""
    import os

    from conftest import as_another_user

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sudo here
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="^root or sudo: only root can give a folder"):
        as_another_user(tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="^root or sudo could not run, and under CI=true"):
        as_another_user(tmp_path)
