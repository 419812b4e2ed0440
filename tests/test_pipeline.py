"""The real pipeline, end to end: `dvc repro` in a temporary copy of the repository, on tiny settings."""

import json
import re

import pytest

from mnist_ae.models import MODELS
from mnist_ae.sandbox import dvc, prepare_sandbox, sandbox_env

from conftest import ROOT, SAMPLE

pytestmark = pytest.mark.e2e

# Tiny settings: the shipped 2,000 + 500 digit sample, every stage and every model.
TINY = {
    "fetch.local_path": str(SAMPLE),
    "fetch.content_sha256": None,
    "train.epochs": 5,
    "train.batch_size": 16,
    "classifier.epochs": 1,
    "evaluate.probe_train_size": 500,
    "evaluate.n_generated": 100,
    "evaluate.robustness_factors": [0.3, 0.6],
    "figures.manifold_size": 8,
}
REFERENCE_METRICS = ["pca", "mean_image", "floor", "classifier"]
FIGURES = [
    *(f"training_curves_{m}.png" for m in MODELS),
    *(f"reconstructions_{m}.png" for m in MODELS),
    "noisy_digits.png", "denoising_denoise.png", "codes_conv.png", "latent_vae.png", "manifold_vae.png",
    "samples.png", "robustness.png", "metrics_comparison.png",
]


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    workdir = prepare_sandbox(ROOT, tmp_path_factory.mktemp("repo"), TINY)
    env = sandbox_env(workdir, {"MNIST_NPZ": str(SAMPLE)})
    result = dvc(workdir, "repro", env=env, capture=True)
    assert ran_stages(result.stdout) >= {f"train@{m}" for m in MODELS} | {"fetch", "figures", "report"}
    return workdir, env


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
        assert 0.0 <= metrics["probe"]["knn_acc"] <= 1.0
    assert read_metrics(workdir, "vae")["vae"]["neg_elbo_nats"] > 0
    source = json.loads((workdir / "data" / "raw" / "mnist.json").read_text())["source"]
    assert source == f"local:{SAMPLE}"


def test_dvc_sees_an_up_to_date_pipeline_with_metrics_and_plots(repo):
    workdir, env = repo
    assert "up to date" in dvc(workdir, "status", env=env, capture=True).stdout
    shown = json.loads(dvc(workdir, "metrics", "show", "--json", env=env, capture=True).stdout)
    files = next(iter(shown.values()))["data"]
    assert {f"metrics/{m}.json" for m in MODELS} <= set(files)
    dvc(workdir, "plots", "show", "-o", "rendered", env=env, capture=True)
    assert (workdir / "rendered" / "index.html").is_file()


def test_changed_noise_retrains_only_the_denoiser(repo):
    workdir, env = repo
    params = workdir / "params.yaml"
    params.write_text(params.read_text().replace("factor: 0.5", "factor: 0.3", 1))
    ran = ran_stages(dvc(workdir, "repro", env=env, capture=True).stdout)
    evaluations = {f"evaluate@{m}" for m in MODELS}
    assert ran == {"noise", "train@denoise", "baselines", *evaluations, "figures", "report"}
