"""The real pipeline, end to end, on the shipped sample: `make quick TINY=1`, experiments, a queued sweep,
the sweep plot and the pull-request review, each through the command a user (or CI) runs.

The first tests read the session's `make quick TINY=1` repository. Experiments run on a copy of it, and build
on each other only through fixtures (low-noise, then the sweep, then the review), so any test runs
alone, in any order.
"""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mnist_ae.catalogue import KEY_METRICS
from tools import dvc_cli
from mnist_ae.dotted import flatten
from mnist_ae.models import MODELS
from tools.dev.sandbox import apply_overrides, dvc, sandbox_env

from conftest import (SAMPLE, copy_of_repo, copy_of_tiny_repo, git, restore_committed, stop_queue_workers,
                      table_rows)

pytestmark = pytest.mark.e2e

REFERENCE_METRICS = ["pca", "mean_image", "floor", "classifier"]
FIGURES = [
    *(f"training_curves_{m}.png" for m in MODELS),
    *(f"reconstructions_{m}.png" for m in MODELS),
    "noisy_digits.png", "denoising_denoise.png", "codes_conv.png", "latent_vae.png", "manifold_vae.png",
    "samples.png", "robustness.png", "metrics_comparison.png",
]
EVALUATIONS = {f"evaluate@{m}" for m in MODELS}
# What a new noise factor reruns: no model but the denoiser is retrained.
NOISE_RERUNS = {"noise", "train@denoise", "baselines", *EVALUATIONS, "figures", "report"}
# The exp show invocation the README documents: changed params and key metrics only.
EXP_TABLE = ["tools.sweeps.exp_table", "--md"]  # make experiments
SPREAD_SD = {"gain_db": 0.02, "bce_nats": 0.0005}  # the review fixture's made-up seed spread
SMALL_MANIFOLD = 12  # the sweep's queued good run: figures.manifold_size
KEY_NAMES = {metric.name for metric in KEY_METRICS}


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def run_module(workdir, env, *args):
    """``python -m <args>``, as the Makefile targets run it."""
    result = subprocess.run([sys.executable, "-m", *args], cwd=workdir, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def repo(tiny_repo):
    """`make quick TINY=1`, shared with other modules: read, or changed and put back within a test."""
    workdir, output = tiny_repo
    assert ran_stages(output) >= {f"train@{m}" for m in MODELS} | {"fetch", "figures", "report"}
    env = sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})
    return workdir, env


@pytest.fixture(scope="module")
def experiments(tiny_repo, tmp_path_factory):
    """This module's own copy of `make quick TINY=1`, for experiments. They run at the thread count the tiny run
    used: another count moves the last digits of every evaluation, and the review compares against it."""
    workdir = copy_of_tiny_repo(tiny_repo, tmp_path_factory, "experiments")
    return workdir, sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})


@pytest.fixture(scope="module")
def low_noise(experiments):
    """`dvc exp run -n low-noise -S noise.factor=0.3`, applied in the workspace; the run's output."""
    workdir, env = experiments
    return dvc(workdir, "exp", "run", "-n", "low-noise", "-S", "noise.factor=0.3", env=env, capture=True).stdout


def read_metrics(workdir, name):
    return json.loads((workdir / "metrics" / f"{name}.json").read_text())


def test_every_metrics_file_and_figure_is_written(repo):
    workdir, _ = repo
    for name in [*MODELS, *REFERENCE_METRICS]:
        assert (workdir / "metrics" / f"{name}.json").is_file(), name
    for figure in FIGURES:
        path = workdir / "plots" / "figures" / figure
        assert path.is_file() and path.stat().st_size > 5_000, figure
    assert "| `dense` |" in (workdir / "reports" / "results.md").read_text()
    summary = json.loads((workdir / "reports" / "summary.json").read_text())
    assert set(summary) == {*MODELS, "pca", "classifier"}


def test_every_model_beats_the_mean_image_and_the_denoiser_denoises(repo):
    """Even at 5 epochs on 2,000 digits: a model worse than predicting the mean digit is broken."""
    workdir, _ = repo
    mean_image = read_metrics(workdir, "mean_image")["test"]["bce_nats"]
    for name in MODELS:
        assert read_metrics(workdir, name)["test"]["bce_nats"] < mean_image, name
    assert read_metrics(workdir, "denoise")["noisy_test"]["gain_db"] > 0


def test_dense_beats_the_mean_image(repo):
    workdir, _ = repo
    dense, mean_image = read_metrics(workdir, "dense"), read_metrics(workdir, "mean_image")
    assert dense["test"]["bce_nats"] < mean_image["test"]["bce_nats"]
    assert dense["params"] == 50_992 and dense["compression"] == pytest.approx(24.5)


def test_metrics_carry_every_section(repo):
    workdir, _ = repo
    for name in MODELS:
        metrics = read_metrics(workdir, name)
        assert {"test", "noisy_test", "probe", "generation"} <= set(metrics), name
        assert metrics["probe"]["knn_acc"] > 0.3, name  # chance is 0.1: the codes carry the digit
    elbo = read_metrics(workdir, "vae")["elbo"]
    assert elbo["neg_elbo_nats"] == pytest.approx(elbo["reconstruction_nats"] + elbo["kl_nats"], rel=1e-3)
    assert elbo["iwae_nll_nats"] <= elbo["neg_elbo_nats"]  # the tighter bound
    source = json.loads((workdir / "data" / "raw" / "mnist.json").read_text())["source"]
    assert source == f"local:{SAMPLE}"


def test_dvc_sees_an_up_to_date_pipeline_with_metrics_and_plots(repo):
    workdir, env = repo
    assert "up to date" in dvc(workdir, "status", env=env, capture=True).stdout
    shown = json.loads(dvc(workdir, "metrics", "show", "--json", env=env, capture=True).stdout)
    files = next(iter(shown.values()))["data"]
    assert {f"metrics/{m}.json" for m in MODELS} | {"reports/summary.json"} <= set(files)
    rendered = workdir.parent / "rendered"  # outside the repository, which experiments commit
    dvc(workdir, "plots", "show", "-o", str(rendered), env=env, capture=True)
    assert (rendered / "index.html").is_file()


# report reads every param a metric can depend on (it shows the seed spread only at the params it was
# measured at), and no other: not the figures' nor fetch's URLs.
ALL_TRAINING = {f"train@{m}" for m in MODELS} | {"report"}
MODEL_BLOCKS = {"figures", "report"}  # they draw and tabulate whichever models train.models lists
KNOBS = [
    ("noise.factor", 0.3, {"noise", "figures", "report"}),  # figures captions the noisy digits with it
    ("prepare.train_subset", 1000, {"prepare", "report"}),
    ("train.epochs", 3, ALL_TRAINING),
    ("train.batch_size", 32, ALL_TRAINING),
    ("train.learning_rate", 0.01, ALL_TRAINING),
    ("train.optimizer", "adadelta", ALL_TRAINING),
    ("train.models.dense.code_size", 16, {"train@dense", *MODEL_BLOCKS}),
    ("train.models.sparse.code_size", 16, {"train@sparse", *MODEL_BLOCKS}),
    ("train.models.deep.layers", [128, 64, 16], {"train@deep", *MODEL_BLOCKS}),
    ("train.models.conv.filters", [16, 8, 4], {"train@conv", *MODEL_BLOCKS}),
    ("train.models.denoise.filters", 16, {"train@denoise", *MODEL_BLOCKS}),
    ("train.models.vae.latent_dim", 3, {"train@vae", *MODEL_BLOCKS}),
    ("figures.manifold_size", 10, {"figures"}),
    ("fetch.timeout_s", 5, {"fetch"}),
    ("fetch.content_sha256", "0" * 64, {"fetch", "report"}),
]


@pytest.mark.parametrize("key, value, expected", KNOBS, ids=[k for k, _, _ in KNOBS])
def test_each_knob_invalidates_only_the_stages_that_read_it(repo, key, value, expected):
    """`dvc status` names the stages a changed param reruns first; later ones follow from their outputs."""
    workdir, env = repo
    apply_overrides(workdir / "params.yaml", {key: value})
    try:
        changed = json.loads(dvc(workdir, "status", "--json", env=env, capture=True).stdout)
    finally:
        git(workdir, "checkout", "--", "params.yaml")
    assert set(changed) == expected


def test_single_change_experiment_reruns_only_what_depends_on_it(low_noise):
    assert ran_stages(low_noise) == NOISE_RERUNS


def test_dropping_a_model_reruns_only_figures_and_report(experiments, low_noise):
    workdir, env = experiments
    try:
        output = dvc(workdir, "exp", "run", "-n", "no-sparse", "-S", "~train.models.sparse", env=env,
                     capture=True).stdout
        stages = dvc(workdir, "stage", "list", env=env, capture=True).stdout
        summary = json.loads((workdir / "reports" / "summary.json").read_text())
    finally:
        dvc(workdir, "exp", "apply", "low-noise", env=env, capture=True)  # back to all six models, pass or fail
    assert ran_stages(output) == {"figures", "report"}
    assert "train@sparse" not in stages and "train@dense" in stages
    assert "sparse" not in summary


def wait_for_queue(workdir, env, timeout_s=900):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = dvc(workdir, "queue", "status", env=env, capture=True).stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            return status
        time.sleep(5)
    pytest.fail(f"the queue did not finish in {timeout_s} s:\n{status}")


@pytest.fixture(scope="module")
def sweep(experiments, low_noise):
    """`make sweep`: a queued good run and a bad one that fails, run at once by two workers with one
    TensorFlow thread each. The good one changes a figure param, which reruns the figures alone (a new
    noise factor would retrain the denoiser and rerun six evaluations, which low-noise already does)."""
    workdir, env = experiments
    # Queued from the commit itself, not from low-noise's results in the workspace: small-manifold keeps the
    # committed noise factor, so its denoising gain differs from low-noise's (test_best_experiment ranks them).
    restore_committed(workdir, env)
    dvc(workdir, "exp", "run", "--queue", "--name", "small-manifold", "-S", f"figures.manifold_size={SMALL_MANIFOLD}",
        env=env, capture=True)
    dvc(workdir, "exp", "run", "--queue", "--name", "bad-noise", "-S", "noise.factor=-1", env=env, capture=True)
    try:
        # Not captured: the workers outlive `dvc queue start` and would hold its pipes open.
        # Two workers with one TensorFlow thread each share the cores, as `make sweep` sets them.
        subprocess.run([dvc_cli.executable(), "queue", "start", "-j", "2"], cwd=workdir,
                       env={**env, "PYTHONPATH": "src", "MNIST_AE_THREADS": "1"}, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        status = wait_for_queue(workdir, env)
    finally:
        stop_queue_workers(workdir, env)
        dvc(workdir, "exp", "apply", "low-noise", env=env, capture=True)  # the workspace as low_noise left it
    assert status.count("Success") == 1 and status.count("Failed") == 1, status
    return workdir, env


def test_a_failed_experiment_is_listed_with_its_log(sweep):
    workdir, env = sweep
    shown = run_module(workdir, env, *EXP_TABLE)
    failures = shown.split("failed: ")[1:]
    assert len(failures) == 1 and failures[0].startswith("bad-noise; full log: "), shown[-3000:]
    log = Path(failures[0].split("full log: ")[1].splitlines()[0])
    assert log.is_file() and "error: noise.factor must be >= 0, got -1" in log.read_text()
    assert "error: noise.factor must be >= 0, got -1" in failures[0]  # in the tail shown


def test_queued_sweep_shows_as_a_readable_table(sweep):
    workdir, env = sweep
    table = run_module(workdir, env, *EXP_TABLE)
    header = [cell.strip() for cell in table.splitlines()[0].strip("|").split("|")]
    assert "noise.factor" in header and "denoise.gain_db" in header
    sections = set(yaml.safe_load((workdir / "params.yaml").read_text()))
    summary_column = re.compile(rf"({'|'.join([*MODELS, 'pca', 'classifier'])})\.({'|'.join(KEY_NAMES)})")
    for cell in header:  # nothing from the full metrics files, no hashes: names, params, key metrics
        assert cell in ("Experiment", "rev", "State") or summary_column.fullmatch(cell) \
            or (cell.split(".")[0] in sections and not cell.endswith(tuple(KEY_NAMES))), cell
    rows = [line for line in table.splitlines() if "[" in line]  # the named experiments
    assert len(rows) >= 3, table


def test_the_queued_good_run_reran_only_the_figures(sweep):
    workdir, env = sweep
    logs = dvc(workdir, "queue", "logs", "small-manifold", env=env, capture=True).stdout
    assert ran_stages(logs) == {"figures"}, logs[-3000:]


def test_sweep_plot_draws_every_finished_value(sweep):
    workdir, env = sweep
    out = workdir.parent / "sweep.png"
    printed = run_module(workdir, env, "tools.sweeps.sweep", "--param", "noise.factor", "--model", "denoise",
                         "--out", str(out))
    assert out.stat().st_size > 10_000
    factors = [float(line.split(",")[0]) for line in out.with_suffix(".csv").read_text().splitlines()[1:]]
    # low-noise and the baseline; small-manifold changed another param, and bad-noise has no metrics
    assert factors == [0.3, 0.5], printed


def test_best_experiment_can_be_promoted_to_a_branch(sweep):
    workdir, env = sweep
    shown = run_module(workdir, env, "tools.sweeps.exp_table", "--csv", "--sort-by", "denoise.gain_db",
                       "--sort-order", "desc")
    header, *lines = shown.splitlines()
    rows = [line.split(",") for line in lines]
    gain = header.split(",").index("denoise.gain_db")
    state = header.split(",").index("State") if "State" in header.split(",") else None
    # Rows are (Experiment, rev, ...): the baseline commit has no experiment name, the workspace neither.
    ranked = [row for row in rows if row[1] != "workspace"
              and (state is None or row[state] != "Failed")]  # a failed run has no metrics
    # DVC sorts the experiments under their baseline, which stays on top, so only the named rows are ranked:
    # low-noise's gain differs from small-manifold's (queued at the committed noise factor: the baseline's gain).
    named = [row for row in ranked if row[0]]
    gains = [float(row[gain]) for row in named]
    assert len(set(gains)) >= 2, f"nothing to rank: {named}"
    assert gains == sorted(gains, reverse=True), "--sort-by denoise.gain_db --sort-order desc"
    best = named[0][0]
    dvc(workdir, "exp", "branch", best, "best-noise", env=env, capture=True)
    assert "best-noise" in git(workdir, "branch", "--list", "best-noise")


@pytest.fixture(scope="module")
def review(experiments, low_noise, tmp_path_factory):
    """`make review BASE=HEAD~1` after committing the low-noise experiment's results, in a copy of the
    experiments' repository, so the commit does not move the HEAD whose experiments the sweep lists."""
    workdir = copy_of_repo(experiments[0], tmp_path_factory, "review")
    env = sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})
    # The base: a seed spread measured at its params (made up: the verdicts must use its sd). The gate reads
    # σ from the base's record, so it is committed there, before the change under review.
    params = flatten(yaml.safe_load(git(workdir, "show", "HEAD:params.yaml")))
    spread = {"varied": "base.seed", "seeds": [1, 2, 3], "commit": "0" * 40,
              "params": {key: value for key, value in params.items() if key != "base.seed"},
              "metrics": {"denoise": {"gain_db": {"sd": SPREAD_SD["gain_db"]},
                                      "bce_nats": {"sd": SPREAD_SD["bce_nats"]}}}}
    dvc(workdir, "exp", "apply", "low-noise", env=env, capture=True)
    git(workdir, "stash", "push", "-q")  # the experiment's tracked changes wait while the base gets its spread
    (workdir / "records" / "seed_spread.json").write_text(json.dumps(spread))
    git(workdir, "add", "records/seed_spread.json")
    git(workdir, "commit", "-q", "-m", "a seed spread at these params")
    git(workdir, "stash", "pop", "-q")
    dvc(workdir, "repro", "report", env=env, capture=True)  # the report stage reads the spread
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "noise factor 0.3")
    run_module(workdir, env, "tools.review.review", "--base", "HEAD~1", "--out", "report.md")
    return workdir, (workdir / "report.md").read_text()


def test_review_shows_the_changed_param(review):
    _, report = review
    params = report.split("## Params")[1].split("## Key metrics")[0]
    assert ("params.yaml", "noise.factor", "0.5", "0.3") in table_rows(params), params


def test_review_gives_each_changed_metric_the_right_verdict(review):
    workdir, report = review
    base = json.loads(git(workdir, "show", "HEAD~1:metrics/denoise.json"))
    head = read_metrics(workdir, "denoise")
    rows = {row[0].strip("`"): row[-1] for row in table_rows(report)}
    gain_delta = head["noisy_test"]["gain_db"] - base["noisy_test"]["gain_db"]
    assert abs(gain_delta) > 2 * SPREAD_SD["gain_db"]  # a real change, beyond the seed noise
    assert rows["denoise.gain_db"] == f"**{'better' if gain_delta > 0 else 'worse'}**, at a new noise factor"
    bce_delta = head["test"]["bce_nats"] - base["test"]["bce_nats"]
    expected = ("within seed noise" if abs(bce_delta) <= 2 * SPREAD_SD["bce_nats"]
                else f"**{'better' if bce_delta < 0 else 'worse'}**")
    assert rows["denoise.bce_nats"] == expected  # clean test digits: no noise-factor mark
    assert rows["denoise.psnr_db"] == "changed, no seed spread"  # the made-up spread has none for it
    assert "dense.bce_nats" not in rows  # the dense model was not retrained: counted, not listed
    assert "σ is from 3 runs at the base's params" in report
    assert re.search(r"The other \d+ key metrics are identical", report)
    assert "`noise.factor` changed from 0.5 to 0.3" in report


def test_the_gate_fails_exactly_on_the_metrics_the_review_calls_worse(review, tmp_path):
    """`make review FAIL_ON_WORSE=1`: exit 1 and one line per worse metric; a metric at a new noise factor
    measures other digits, so it is never "worse", and the gate cannot judge it either."""
    workdir, report = review
    env = sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})
    rows = {row[0].strip("`"): row[-1] for row in table_rows(report)}
    worse = sorted(name for name, verdict in rows.items() if verdict == "**worse**")
    assert rows["denoise.gain_db"].endswith(", at a new noise factor")  # never a regression here
    # Fails closed: a changed metric the base's spread has no σ for cannot pass (the made-up spread has none
    # for denoise.psnr_db), and neither can one measured at a new noise factor, which compares other digits.
    unjudged = sorted(name for name, verdict in rows.items()
                      if verdict == "changed, no seed spread" or verdict.endswith(", at a new noise factor"))
    assert "denoise.psnr_db" in unjudged and "denoise.gain_db" in unjudged
    result = subprocess.run([sys.executable, "-m", "tools.review.review", "--base", "HEAD~1", "--out", str(tmp_path / "gate.md"),
                             "--fail-on-worse"], cwd=workdir, env=env, capture_output=True, text=True)
    named = sorted(line.split()[1] for line in result.stderr.splitlines() if line.startswith("worse: "))
    assert named == worse
    named = sorted(line.split()[2].rstrip(":") for line in result.stderr.splitlines()
                   if line.startswith("cannot judge "))
    assert named == unjudged, result.stderr[-2000:]
    assert result.returncode == 1, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and f"{len(unjudged)} the gate cannot judge against HEAD~1" in last
    if worse:
        assert last.startswith(f"error: {len(worse)} key metric(s) worse")
    def key_metrics(text):
        return text.split("## Key metrics")[1].split("## Curves")[0]

    assert key_metrics((tmp_path / "gate.md").read_text()) == key_metrics(report)


def test_review_shows_changed_figures_from_both_sides(review):
    workdir, report = review
    assert "![base denoising_denoise.png](report_files/base/denoising_denoise.png)" in report
    assert "![head denoising_denoise.png](report_files/head/denoising_denoise.png)" in report
    base = workdir / "report_files" / "base" / "denoising_denoise.png"
    head = workdir / "report_files" / "head" / "denoising_denoise.png"
    assert base.read_bytes() == git_bytes(workdir, "HEAD~1:plots/figures/denoising_denoise.png")
    assert head.read_bytes() == (workdir / "plots" / "figures" / "denoising_denoise.png").read_bytes()
    assert base.read_bytes() != head.read_bytes()
    assert "reconstructions_dense.png" not in report  # unchanged figures are left out
    assert (workdir / "report_files" / "plots" / "index.html").is_file()


def test_review_shows_each_curve_chart_as_an_image(review):
    """The comment shows the curves of both revisions without JavaScript: PNGs rendered by vl-convert."""
    workdir, report = review
    curves = report.split("## Curves")[1].split("## Changed figures")[0]
    images = re.findall(r"!\[([^]]+)\]\((report_files/charts/[\w.]+\.png)\)", curves)
    assert [title for title, _ in images] == ["Validation BCE per epoch", "Training BCE per epoch",
                                              "Noise robustness, PSNR against the input noise"]
    for _, path in images:
        assert (workdir / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def git_bytes(workdir, spec):
    return subprocess.run(["git", "show", spec], cwd=workdir, check=True, capture_output=True).stdout
