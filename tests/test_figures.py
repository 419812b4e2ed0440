"""Every figure function draws from plain arrays and returns a Figure (no window, no file)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mnist_ae import ConfigError, figures
from mnist_ae.config import parse_params, select_figures
from mnist_ae.models import MODELS

RNG = np.random.default_rng(0)
DIGITS = RNG.random((10, 28, 28), dtype=np.float32)


def curve(metric):
    return pd.DataFrame({"step": range(5), metric: np.linspace(1.0, 0.5, 5)})


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_training_curves_has_a_panel_per_metric_with_both_splits_and_units():
    history = {m: {"train": curve(m), "eval": curve(m)} for m in ("loss", "bce", "kl_loss")}
    history["loss"] = {split: frame.assign(loss=frame["loss"] * 784) for split, frame in history["loss"].items()}
    fig = figures.training_curves("vae", history, "nats/image")
    assert len(fig.axes) == 3
    assert [line.get_label() for line in fig.axes[0].lines] == ["train", "validation"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss (nats/image)", "bce (nats/pixel)", "kl loss (nats/image)"]


def test_training_curves_draw_a_loss_equal_to_the_bce_once():
    history = {m: {"train": curve(m), "eval": curve(m)} for m in ("loss", "bce")}
    fig = figures.training_curves("dense", history, "nats/pixel")
    assert [ax.get_title() for ax in fig.axes] == ["bce"]


def test_digit_rows_draws_each_labelled_row_as_one_strip_of_its_digits():
    noisy = DIGITS[::-1]
    fig = figures.digit_rows({"original": DIGITS, "noisy": noisy, "denoise": DIGITS}, "t")
    assert [ax.get_ylabel() for ax in fig.axes] == ["original", "noisy", "denoise"]
    strip = fig.axes[1].images[0].get_array()
    step = 28 + figures.DIGIT_GAP
    assert strip.shape == (28, 10 * 28 + 9 * figures.DIGIT_GAP)
    for c in (0, 9):  # the row's own digits, in order, each in its place
        assert np.array_equal(strip[:, c * step:c * step + 28], noisy[c].reshape(28, 28))
    assert strip.mask[:, 28:step].all() and not strip.mask[:, :28].any()  # a white gap, not a black one


def test_code_images_and_latent_scatter():
    codes = RNG.random((10, 4, 4, 8))
    fig = figures.code_images(DIGITS, codes, "codes")
    assert len(fig.axes) == 20 and [fig.axes[0].get_ylabel(), fig.axes[10].get_ylabel()] == ["digit", "code"]
    drawn = fig.axes[10].images[0].get_array()
    assert drawn.shape == (32, 4) and np.allclose(drawn, codes[0].reshape(4, 32).T)  # §1.11: 4x32, transposed
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
    samples = figures.digit_rows({"vae": DIGITS, "dense": DIGITS}, "s", {"vae": "a", "dense": "b"})
    assert [(ax.get_ylabel(), ax.get_title()) for ax in samples.axes] == [("vae", "a"), ("dense", "b")]
    frame = pd.DataFrame({"noise_factor": [0.1, 0.5], "psnr_db": [20.0, 15.0], "ssim": [0.9, 0.5]})
    robust = figures.robustness({"denoise": frame, "noisy_input": frame}, 0.5)
    psnr_panel, ssim_panel = robust.axes
    assert [line.get_label() for line in psnr_panel.get_lines()[:2]] == ["denoise", "noisy_input"]
    assert list(ssim_panel.get_lines()[0].get_ydata()) == [0.9, 0.5]
    assert list(psnr_panel.get_lines()[2].get_xdata()) == [0.5, 0.5]  # the denoiser's training noise
    metrics = {"dense": {"test": {"bce_nats": 0.09, "psnr_db": 20, "ssim": 0.9}, "probe": {"knn_acc": 0.9}},
               "mean_image": {"test": {"bce_nats": 0.26, "psnr_db": 12, "ssim": 0.1}}}
    metrics["dense"]["noisy_test"] = {"psnr_db": 15.0, "input_psnr_db": 9.4}
    fig = figures.metrics_comparison(metrics, bce_floor=0.058)
    assert len(fig.axes) == 6
    assert "floor" in fig.axes[0].get_title() and "lower is better" in fig.axes[0].get_title()
    assert "9.40 dB" in fig.axes[3].get_title()  # the noisy digits' own PSNR is marked
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.0900", "0.2600"]  # one format per panel


def test_figure_selection_skips_the_manifold_of_a_wider_code(raw_params):
    """`-S train.models.vae.latent_dim=8` must not break the figures stage."""
    cfg = parse_params(raw_params).figures
    wide, skipped = select_figures(cfg, MODELS, MODELS, {"vae": 8, "conv": 128, "denoise": 1568})
    assert wide.manifold_model is None and wide.latent_scatter == ["vae"]
    assert skipped == ["figures.manifold_model: skipping vae, its code has 8 values and the figure needs exactly two"]
    same, skipped = select_figures(cfg, MODELS, MODELS, {"vae": 2})
    assert same == cfg and skipped == []  # the committed setting draws both
    assert select_figures(cfg, MODELS, MODELS, {"vae": 1})[0].latent_scatter == []


def test_latent_scatter_projects_wider_codes():
    z = np.random.default_rng(0).normal(size=(50, 8))
    fig = figures.latent_scatter(z, np.arange(50) % 10, "vae")
    assert "8-D, projected by PCA" in fig.axes[0].get_title()


def test_figure_selection_skips_models_left_out_of_training(raw_params):
    cfg, skipped = select_figures(parse_params(raw_params).figures, MODELS, ["dense", "denoise"])
    assert cfg.samples == ["dense"] and cfg.denoising == ["denoise"] and cfg.manifold_model is None
    assert cfg.robustness == ["denoise", "dense", "pca", "noisy_input"]
    assert "figures.code_images: skipping conv, not in train.models" in skipped


@pytest.mark.parametrize("key", ["code_images", "robustness", "manifold_model"])
def test_figure_selection_rejects_an_unregistered_name(raw_params, key):
    figures_params = dict(raw_params["figures"], **{key: "vea" if key == "manifold_model" else ["vea"]})
    with pytest.raises(ConfigError, match=f"figures.{key}: 'vea' is not one of"):
        select_figures(parse_params(dict(raw_params, figures=figures_params)).figures, MODELS, MODELS)


def test_a_digit_strips_gaps_are_masked_zeros_not_uninitialised_memory():
    strip = figures.digit_strip(np.full((3, 784), 0.5, np.float32))
    gaps = strip.mask
    assert gaps.any() and not gaps[:, :28].any()
    assert (strip.data[gaps] == 0).all()  # the colormap reads these too: garbage there overflowed it
    assert (strip.data[~gaps] == 0.5).all()
