"""Every figure function draws from plain arrays and returns a Figure (no window, no file)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from mnist_ae import figures

RNG = np.random.default_rng(0)
DIGITS = RNG.random((10, 28, 28), dtype=np.float32)


def curve(metric):
    return pd.DataFrame({"step": range(5), metric: np.linspace(1.0, 0.5, 5)})


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_training_curves_has_a_panel_per_metric_with_both_splits():
    history = {m: {"train": curve(m), "eval": curve(m)} for m in ("loss", "bce", "kl_loss")}
    fig = figures.training_curves("vae", history)
    assert len(fig.axes) == 3
    assert [line.get_label() for line in fig.axes[0].lines] == ["train", "validation"]


def test_digit_rows_labels_each_row():
    fig = figures.digit_rows({"original": DIGITS, "noisy": DIGITS, "denoise": DIGITS}, "t")
    assert len(fig.axes) == 30
    assert fig.axes[10].get_ylabel() == "noisy"


def test_code_images_and_latent_scatter():
    assert isinstance(figures.code_images(DIGITS, RNG.random((10, 4, 4, 8)), "codes"), Figure)
    fig = figures.latent_scatter(RNG.normal(size=(100, 2)), np.arange(100) % 10, "latent")
    assert fig.axes[0].get_xlabel() == "z[0]"


def test_manifold_decodes_the_whole_grid_with_ticks():
    seen = []

    def decode(codes):
        seen.append(codes)
        return np.zeros((len(codes), 784), dtype=np.float32)

    fig = figures.manifold(decode, size=6, extent=4.0, title="m")
    assert seen[0].shape == (36, 2) and seen[0].min() == -4.0 and seen[0].max() == 4.0
    assert fig.axes[0].get_xticklabels()[0].get_text() == "-4.0"


def test_samples_robustness_and_comparison():
    assert isinstance(figures.digit_rows({"vae": DIGITS, "dense": DIGITS}, "s", {"vae": "a", "dense": "b"}), Figure)
    frame = pd.DataFrame({"noise_factor": [0.1, 0.5], "psnr_db": [20.0, 15.0], "ssim": [0.9, 0.5]})
    assert isinstance(figures.robustness({"denoise": frame, "noisy_input": frame}, 0.5), Figure)
    metrics = {"dense": {"test": {"bce_nats": 0.09, "psnr_db": 20, "ssim": 0.9}, "probe": {"knn_acc": 0.9}},
               "mean_image": {"test": {"bce_nats": 0.26, "psnr_db": 12, "ssim": 0.1}}}
    fig = figures.metrics_comparison(metrics, bce_floor=0.058)
    assert len(fig.axes) == 6
    assert "floor" in fig.axes[0].get_title()


def load_figures_stage():
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("figures_stage", ROOT / "stages" / "figures.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    return stage


def test_figures_stage_skips_the_manifold_of_a_wider_code(raw_params):
    """`-S train.models.vae.latent_dim=8` must not break the figures stage."""
    from mnist_ae.config import parse_params

    stage = load_figures_stage()
    cfg = parse_params(raw_params).figures
    wide = stage.drop_unsuitable_codes(cfg, {"vae": 8})
    assert wide.manifold_model is None and wide.latent_scatter == ["vae"]
    assert stage.drop_unsuitable_codes(cfg, {"vae": 2}) == cfg  # the committed setting draws both
    assert stage.drop_unsuitable_codes(cfg, {"vae": 1}).latent_scatter == []


def test_latent_scatter_projects_wider_codes():
    z = np.random.default_rng(0).normal(size=(50, 8))
    fig = figures.latent_scatter(z, np.arange(50) % 10, "vae")
    assert "8-D, projected by PCA" in fig.axes[0].get_title()


def test_figures_stage_skips_models_left_out_of_training(raw_params):
    from mnist_ae.config import parse_params

    stage = load_figures_stage()
    cfg = stage.trained_only(parse_params(raw_params).figures, ["dense", "denoise"])
    assert cfg.samples == ["dense"] and cfg.denoising == ["denoise"] and cfg.manifold_model is None
    assert cfg.robustness == ["denoise", "dense", "pca", "noisy_input"]
