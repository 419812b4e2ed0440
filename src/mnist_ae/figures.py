"""The notebook's figures as pure functions: arrays in, a matplotlib Figure out (the stage saves it)."""

from __future__ import annotations

from typing import Callable

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mnist_ae.catalogue import metric, metrics_named  # noqa: E402

SPLIT_STYLES = {"train": ("-", "train"), "eval": ("--", "validation")}


# Units of the logged curves other than the loss, whose unit depends on the model (ModelSpec.loss_unit).
CURVE_UNITS = {"bce": "nats/pixel", "reconstruction_loss": "nats/image", "kl_loss": "nats/image"}


def _same_curves(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame] | None) -> bool:
    return b is not None and a.keys() == b.keys() and all(
        np.allclose(a[split].iloc[:, -1], b[split].iloc[:, -1], rtol=1e-6, atol=0) for split in a)


def training_curves(name: str, history: dict[str, dict[str, pd.DataFrame]], loss_unit: str) -> Figure:
    """One panel per logged metric (loss, bce; the VAE adds its reconstruction and KL terms).

    A loss equal to the BCE (every autoencoder without a penalty) is drawn once, as the BCE.
    """
    metrics = [m for m in history if not (m == "loss" and _same_curves(history["loss"], history.get("bce")))]
    units = {**CURVE_UNITS, "loss": loss_unit}
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, curve in zip(axes[0], metrics):
        for split, (style, label) in SPLIT_STYLES.items():
            if split in history[curve]:
                frame = history[curve][split]
                ax.plot(frame["step"] + 1, frame[curve], style, label=label)
        label = curve.replace("_", " ")
        ax.set(title=label, xlabel="epoch", ylabel=f"{label} ({units.get(curve, '?')})")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{name}: training curves")
    fig.tight_layout()
    return fig


DIGIT_GAP = 6  # white pixels between two digits of a row


def digit_strip(images: np.ndarray) -> np.ma.MaskedArray:
    """28x28 digits side by side in one image, a white gap (masked pixels) between two."""
    n = len(images)
    # Zeros under the mask: masked_all leaves the memory uninitialised, and the colormap still reads it.
    shape = (28, n * 28 + (n - 1) * DIGIT_GAP)
    strip = np.ma.masked_array(np.zeros(shape, np.float32), mask=np.ones(shape, bool))
    for c, image in enumerate(images):
        left = c * (28 + DIGIT_GAP)
        strip[:, left:left + 28] = image.reshape(28, 28)
    return strip


def digit_rows(rows: dict[str, np.ndarray], title: str, captions: dict[str, str] | None = None) -> Figure:
    """Rows of digits, one labelled row per entry, e.g. original above reconstruction.

    ``captions`` adds a line of text above a row, e.g. a decoder's generation scores. Each row is one
    image (digit_strip): a panel per digit drew the same picture several times slower.
    """
    n = len(next(iter(rows.values())))
    row_height = 1.45 if captions is None else 1.75  # room for the caption
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.3 * n, row_height * len(rows) + 0.5), squeeze=False)
    cmap = plt.get_cmap("gray").with_extremes(bad="white")
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        ax.imshow(digit_strip(images), cmap=cmap, vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=11)
        if captions is not None:
            ax.set_title(captions[label], fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def code_images(digits: np.ndarray, codes: np.ndarray, title: str) -> Figure:
    """§1.11: each 4x4x8 code reshaped to 4x32 and drawn transposed, under the digit it encodes."""
    n = len(codes)
    fig, axes = plt.subplots(2, n, figsize=(1.3 * n, 6.0), gridspec_kw={"height_ratios": [1, 4]}, squeeze=False)
    for column, (digit, code) in enumerate(zip(digits, codes)):
        height, width, channels = code.shape
        axes[0, column].imshow(digit.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[1, column].imshow(code.reshape(height, width * channels).T, cmap="gray")
        for ax in axes[:, column]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("digit", rotation=0, ha="right", va="center")
    axes[1, 0].set_ylabel("code", rotation=0, ha="right", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def latent_scatter(z: np.ndarray, labels: np.ndarray, title: str) -> Figure:
    """§2.4: latent means coloured by digit class; a code wider than 2-D on its first two principal axes."""
    axis_labels = ("z[0]", "z[1]")
    width = z.shape[1]
    if width > 2:
        from sklearn.decomposition import PCA

        z = PCA(n_components=2, svd_solver="full").fit_transform(z)
        axis_labels = ("1st principal axis of z", "2nd principal axis of z")
        title = f"{title}, {width}-D, projected by PCA"
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=3, alpha=0.7, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1], title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def manifold(decode: Callable[[np.ndarray], np.ndarray], size: int, extent: float, title: str) -> Figure:
    """§2.4: digits decoded from a size x size grid over [-extent, extent]^2, with axis ticks."""
    grid_x = np.linspace(-extent, extent, size)
    grid_y = np.linspace(-extent, extent, size)[::-1]
    codes = np.array([[x, y] for y in grid_y for x in grid_x], dtype=np.float32)
    digits = decode(codes).reshape(size, size, 28, 28)
    canvas = digits.transpose(0, 2, 1, 3).reshape(size * 28, size * 28)
    fig, ax = plt.subplots(figsize=(10, 10))
    ax.imshow(canvas, cmap="Greys_r")
    ticks = np.arange(14, size * 28, 28)
    step = max(1, size // 10)  # about ten labelled ticks per axis
    ax.set_xticks(ticks[::step], np.round(grid_x, 1)[::step])
    ax.set_yticks(ticks[::step], np.round(grid_y, 1)[::step])
    ax.set(xlabel="z[0]", ylabel="z[1]", title=title)
    fig.tight_layout()
    return fig


def robustness(curves: dict[str, pd.DataFrame], trained_factor: float) -> Figure:
    """PSNR and SSIM of each model's output against the clean digits, per input noise factor."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, column, label in zip(axes, ("psnr_db", "ssim"), ("PSNR (dB)", "SSIM")):
        for name, frame in curves.items():
            style = ":" if name == "noisy_input" else "-"
            ax.plot(frame["noise_factor"], frame[column], style, marker="o", markersize=3, label=name)
        ax.axvline(trained_factor, color="grey", lw=0.8, ls="--")
        ax.set(xlabel="noise factor σ of the input", ylabel=label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"Noise robustness (dashed line: the denoiser's training noise, {trained_factor})")
    fig.tight_layout()
    return fig


COMPARISON_PANELS = metrics_named(("bce_nats", "psnr_db", "ssim", "noisy_psnr_db", "logreg_acc", "knn_acc"))
INPUT_PSNR = metric("input_psnr_db")


def metrics_comparison(metrics: dict[str, dict], bce_floor: float | None) -> Figure:
    """Bar charts of the headline test metrics for every model and the reference rows."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    names = list(metrics)
    colors = plt.get_cmap("tab10")(np.arange(len(names)) % 10)
    input_psnr = next((v for m in metrics.values() if (v := INPUT_PSNR.read(m)) is not None), None)
    for ax, panel in zip(axes.flat, COMPARISON_PANELS):
        values = [np.nan if (v := panel.read(metrics[n])) is None else v for n in names]
        bars = ax.bar(names, values, color=colors)
        ax.bar_label(bars, fmt=f"%.{panel.digits}f", fontsize=8)
        title = f"{panel.title}, {'higher' if panel.higher_is_better else 'lower'} is better"
        if panel.name == "bce_nats" and bce_floor is not None:
            ax.axhline(bce_floor, color="black", lw=1, ls="--")
            title += f"\n(dashed: floor BCE(x, x) = {panel.format(bce_floor)})"
        if panel.name == "noisy_psnr_db" and input_psnr is not None:
            ax.axhline(input_psnr, color="black", lw=1, ls="--")
            title += f"\n(dashed: the noisy digits themselves, {INPUT_PSNR.format(input_psnr)} dB)"
        ax.set_title(title)
        ax.margins(y=0.12)
        ax.tick_params(axis="x", rotation=35)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Test-set metrics, all models and baselines")
    fig.tight_layout()
    return fig
