"""Test metrics: reconstruction quality, latent-code probes and generation quality."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

N_CLASSES = 10
BOOTSTRAP_RESAMPLES = 1000
EPSILON = 1e-7  # Keras' clipping of probabilities in binary cross-entropy


def bootstrap_interval(values: np.ndarray, rng: np.random.Generator, resamples: int = BOOTSTRAP_RESAMPLES,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (one value per test digit)."""
    values = np.asarray(values, dtype=np.float64)
    means = np.empty(resamples)
    for i in range(resamples):  # a loop of index draws: memory stays at one resample
        means[i] = values[rng.integers(0, len(values), len(values))].mean()
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def with_interval(scores: dict[str, float], name: str, values: np.ndarray, rng: np.random.Generator) -> None:
    """Add ``<name>_ci_low`` and ``<name>_ci_high``, the 95% bootstrap interval over the test digits."""
    scores[f"{name}_ci_low"], scores[f"{name}_ci_high"] = bootstrap_interval(values, rng)


def per_image_bce(clean: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Mean per-pixel BCE of each image, clipped as Keras clips it; their mean is the test BCE."""
    target = np.asarray(clean, dtype=np.float32).reshape(len(clean), -1)
    # Clipped in float32, as Keras clips (1 - 1e-7 rounds there), then summed in float64.
    predicted = np.clip(np.asarray(output, dtype=np.float32).reshape(len(output), -1),
                        np.float32(EPSILON), np.float32(1.0 - EPSILON))
    return -(target * np.log(predicted) + (1.0 - target) * np.log(1.0 - predicted)).astype(np.float64).mean(axis=1)


def as_images(x: np.ndarray) -> tf.Tensor:
    """Any (n, ...) batch of 784-pixel digits as (n, 28, 28, 1) float32, for tf.image."""
    return tf.convert_to_tensor(np.asarray(x, dtype=np.float32).reshape(-1, 28, 28, 1))


def reconstruction_metrics(clean: np.ndarray, output: np.ndarray,
                           rng: np.random.Generator | None = None) -> dict[str, float]:
    """Mean per-pixel BCE (nats) and MSE; per-image PSNR (dB) and SSIM, averaged over images.

    With ``rng``, BCE and PSNR also get 95% bootstrap intervals over the images.
    """
    flat_clean = np.asarray(clean, dtype=np.float32).reshape(len(clean), -1)
    flat_output = np.asarray(output, dtype=np.float32).reshape(len(output), -1)
    images_clean, images_output = as_images(clean), as_images(output)
    psnr = tf.image.psnr(images_clean, images_output, max_val=1.0)
    scores = {
        "bce_nats": float(keras.losses.BinaryCrossentropy()(flat_clean, flat_output)),
        "mse": float(keras.losses.MeanSquaredError()(flat_clean, flat_output)),
        "psnr_db": float(tf.reduce_mean(psnr)),
        "ssim": float(tf.reduce_mean(tf.image.ssim(images_clean, images_output, max_val=1.0))),
    }
    if rng is not None:  # the per-image values cost work the robustness sweep does not need
        with_interval(scores, "bce_nats", per_image_bce(clean, output), rng)
        with_interval(scores, "psnr_db", psnr.numpy(), rng)
    return scores


def denoising_metrics(clean: np.ndarray, noisy: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """Reconstruction metrics of the output fed noisy digits, plus the noisy input's own scores."""
    scores = reconstruction_metrics(clean, output)
    images_clean, images_noisy = as_images(clean), as_images(noisy)
    scores["input_psnr_db"] = float(tf.reduce_mean(tf.image.psnr(images_clean, images_noisy, max_val=1.0)))
    scores["input_ssim"] = float(tf.reduce_mean(tf.image.ssim(images_clean, images_noisy, max_val=1.0)))
    scores["gain_db"] = scores["psnr_db"] - scores["input_psnr_db"]
    return scores


def probe_accuracies(train_codes, train_labels, test_codes, test_labels, knn_neighbors: int,
                     rng: np.random.Generator | None = None) -> dict[str, float]:
    """How linearly (logistic regression) and locally (kNN) the codes separate the digits.

    With ``rng``, each accuracy also gets a 95% bootstrap interval over the test digits.
    """
    probes = {"logreg_acc": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
              "knn_acc": KNeighborsClassifier(n_neighbors=knn_neighbors)}
    scores: dict[str, float] = {}
    correct = {}
    for name, probe in probes.items():
        correct[name] = probe.fit(train_codes, train_labels).predict(test_codes) == np.asarray(test_labels)
        scores[name] = float(correct[name].mean())
    for name in probes if rng is not None else ():  # after both fits: the intervals change no probe
        with_interval(scores, name, correct[name], rng)
    return scores


def generation_quality(probabilities: np.ndarray, confidence_threshold: float) -> dict[str, float]:
    """Do generated samples look like digits, and like all ten of them?

    mean_confidence: mean top-class probability; class_entropy_nats: entropy of the histogram of
    predicted classes (ln 10 = 2.30 when balanced); confident_share: samples at or above the threshold.
    """
    top = probabilities.max(axis=1)
    counts = np.bincount(probabilities.argmax(axis=1), minlength=N_CLASSES)
    shares = counts[counts > 0] / counts.sum()
    return {
        "mean_confidence": float(top.mean()),
        "class_entropy_nats": float(-(shares * np.log(shares)).sum()) + 0.0,  # + 0.0: no "-0.0"
        "confident_share": float((top >= confidence_threshold).mean()),
    }
