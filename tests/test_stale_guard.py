"""An edit reruns exactly the stages it can change, and `make check` catches results nobody reran.

Runs on git clones of the session's tiny pipeline (the `make quick TINY=1` repository): one fresh, with no
data or models, and one with its outputs checked out from the tiny run's DVC cache. The
stages an edit invalidates are read from `dvc status --json`; stages further down rerun only if
their inputs then change (with byte-reproducible outputs, a comment-only edit changes none).
"""

import json
import subprocess
import sys

import pytest
import yaml

from mnist_ae.models import MODELS
from tools.dev.sandbox import apply_overrides, dvc, sandbox_env

from conftest import ROOT, SAMPLE, git, restore_committed

pytestmark = pytest.mark.e2e

EVALUATIONS = {f"evaluate@{m}" for m in MODELS}


def run_tool(workdir, env, *args, module="tools.sharing.check"):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=workdir, env=env, capture_output=True, text=True)


def git_clone(tiny_repo, tmp_path_factory, name):
    """A git clone of the tiny pipeline's repository: committed files only, no data or models."""
    workdir, _ = tiny_repo
    copy = tmp_path_factory.mktemp(name) / "repo"
    git(workdir.parent, "clone", "-q", str(workdir), str(copy))
    return workdir, copy, sandbox_env(copy, {"MNIST_NPZ": str(SAMPLE)})


def test_the_guard_passes_on_a_fresh_clone_with_no_data(tiny_repo, tmp_path_factory):
    _, copy, env = git_clone(tiny_repo, tmp_path_factory, "fresh")
    assert not (copy / "data").exists() and not (copy / "models").exists()
    result = run_tool(copy, env)
    assert result.returncode == 0, result.stderr
    assert "committed results are current" in result.stdout


@pytest.fixture(scope="module")
def repo(tiny_repo, tmp_path_factory):
    """A clone with data and models checked out from the tiny run's cache: `dvc status` is clean."""
    workdir, copy, env = git_clone(tiny_repo, tmp_path_factory, "clone")
    dvc(copy, "cache", "dir", "--local", str(workdir / ".dvc" / "cache"), env=env, capture=True)
    dvc(copy, "checkout", env=env, capture=True)
    assert "up to date" in dvc(copy, "status", env=env, capture=True).stdout
    return copy, env


def invalidated(copy, env) -> set[str]:
    return set(json.loads(dvc(copy, "status", "--json", env=env, capture=True).stdout))


def append_comment(path):
    path.write_text(path.read_text() + "\n# an edit that changes no behaviour\n")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_editing_a_model_reruns_exactly_that_model(repo, name):
    copy, env = repo
    append_comment(copy / "src" / "mnist_ae" / "models" / f"{name}.py")
    try:
        stages = invalidated(copy, env)
    finally:
        restore_committed(copy, env)
    # figures loads and draws every model; report follows if the metrics change.
    assert stages == {f"train@{name}", f"evaluate@{name}", "figures"}


def test_editing_the_noise_function_reruns_what_draws_noise_and_no_clean_training(repo):
    copy, env = repo
    append_comment(copy / "src" / "mnist_ae" / "noise.py")
    try:
        stages = invalidated(copy, env)
    finally:
        restore_committed(copy, env)
    assert stages == {"noise", "baselines", *EVALUATIONS, "figures"}  # train@denoise follows from data/noisy
    assert not {stage for stage in stages if stage.startswith("train@")}


def first_error_line(result):
    return result.stderr.strip().splitlines()[0]


@pytest.mark.parametrize("edit, stale", [
    ("params", "noise (params noise modified)"),
    ("metrics", "evaluate@dense (output metrics/dense.json modified)"),
    ("code", "train@vae (dep src/mnist_ae/models/vae.py modified)"),
])
def test_the_guard_names_stale_stages_and_why(repo, edit, stale):
    copy, env = repo
    (copy / "report.md").unlink(missing_ok=True)
    if edit == "params":
        factor = yaml.safe_load((copy / "params.yaml").read_text())["noise"]["factor"]
        apply_overrides(copy / "params.yaml", {"noise.factor": factor + 0.1})
    elif edit == "metrics":
        path = copy / "metrics" / "dense.json"
        metrics = json.loads(path.read_text())
        metrics["test"]["bce_nats"] -= 0.01  # a hand-made improvement
        path.write_text(json.dumps(metrics, indent=2) + "\n")
    else:
        append_comment(copy / "src" / "mnist_ae" / "models" / "vae.py")
    try:
        result = run_tool(copy, env)
        review = run_tool(copy, env, "--base", "HEAD", "--out", "report.md", module="tools.review.review")
    finally:
        restore_committed(copy, env)
    assert result.returncode == 1
    line = first_error_line(result)
    assert line.startswith("error: stale results:") and stale in line, result.stderr
    assert "Traceback" not in result.stderr
    assert review.returncode == 1 and stale in first_error_line(review), review.stderr
    assert not (copy / "report.md").exists()
    if edit == "code":  # docs/review.md shows this very line
        assert line in (ROOT / "docs" / "review.md").read_text()


def hand_edit(copy, what):
    """The edits a person makes to committed results without rerunning anything."""
    if what == "curve":
        path = copy / "plots" / "train" / "dense" / "plots" / "metrics" / "eval" / "bce.tsv"
        path.write_text(path.read_text().replace("\t0.", "\t0.0", 1))
    elif what == "figure":
        path = copy / "plots" / "figures" / "samples.png"
        path.write_bytes(path.read_bytes() + b"\0")
    elif what == "results table":
        path = copy / "reports" / "results.md"
        path.write_text(path.read_text().replace("| `dense` |", "| `dense` (best) |"))
    elif what == "deleted output":
        (copy / "plots" / "robustness" / "conv.csv").unlink()
    elif what == "command":
        path = copy / "dvc.yaml"
        path.write_text(path.read_text().replace("cmd: python stages/report.py", "cmd: python -X utf8 stages/report.py"))


@pytest.mark.parametrize("what, stale", [
    ("curve", "train@dense (output plots/train/dense modified)"),
    ("figure", "figures (output plots/figures modified)"),
    ("results table", "report (output reports/results.md modified)"),
    ("deleted output", "evaluate@conv (output plots/robustness/conv.csv deleted)"),
    ("command", "report (changed command)"),
])
def test_the_guard_catches_hand_edited_or_missing_results(repo, what, stale):
    copy, env = repo
    hand_edit(copy, what)
    try:
        result = run_tool(copy, env)
    finally:
        restore_committed(copy, env)
    assert result.returncode == 1 and stale in first_error_line(result), result.stderr


def test_a_draft_review_of_stale_results_says_so(repo):
    copy, env = repo
    append_comment(copy / "src" / "mnist_ae" / "models" / "vae.py")
    try:
        review = run_tool(copy, env, "--base", "HEAD", "--out", "draft.md", "--allow-stale",
                          module="tools.review.review")
        report = (copy / "draft.md").read_text()
    finally:
        restore_committed(copy, env)
    assert review.returncode == 0, review.stderr
    assert "**Draft: stale results.**" in report and "train@vae (dep src/mnist_ae/models/vae.py modified)" in report


def test_the_guard_passes_after_dvc_repro(repo):
    copy, env = repo
    append_comment(copy / "src" / "mnist_ae" / "report.py")  # the report stage's alone, and the quickest to rerun
    try:
        assert run_tool(copy, env).returncode == 1
        ran = dvc(copy, "repro", env=env, capture=True).stdout
        result = run_tool(copy, env)
        changed = [line[3:] for line in git(copy, "status", "--porcelain", "--untracked-files=no").splitlines()]
    finally:
        restore_committed(copy, env)
    assert "Running stage 'report'" in ran and "Running stage 'figures'" not in ran
    assert result.returncode == 0, result.stderr
    assert "dvc.lock" in changed  # the lock records the edited report.py
