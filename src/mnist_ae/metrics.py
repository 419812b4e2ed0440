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


def as_images(x: np.ndarray) -> tf.Tensor:
    """Any (n, ...) batch of 784-pixel digits as (n, 28, 28, 1) float32, for tf.image."""
    return tf.convert_to_tensor(np.asarray(x, dtype=np.float32).reshape(-1, 28, 28, 1))


def reconstruction_metrics(clean: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """Mean per-pixel BCE (nats) and MSE; per-image PSNR (dB) and SSIM, averaged over images."""
    flat_clean = np.asarray(clean, dtype=np.float32).reshape(len(clean), -1)
    flat_output = np.asarray(output, dtype=np.float32).reshape(len(output), -1)
    images_clean, images_output = as_images(clean), as_images(output)
    return {
        "bce_nats": float(keras.losses.BinaryCrossentropy()(flat_clean, flat_output)),
        "mse": float(keras.losses.MeanSquaredError()(flat_clean, flat_output)),
        "psnr_db": float(tf.reduce_mean(tf.image.psnr(images_clean, images_output, max_val=1.0))),
        "ssim": float(tf.reduce_mean(tf.image.ssim(images_clean, images_output, max_val=1.0))),
    }


def denoising_metrics(clean: np.ndarray, noisy: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """Reconstruction metrics of the output fed noisy digits, plus the noisy input's own scores."""
    scores = reconstruction_metrics(clean, output)
    images_clean, images_noisy = as_images(clean), as_images(noisy)
    scores["input_psnr_db"] = float(tf.reduce_mean(tf.image.psnr(images_clean, images_noisy, max_val=1.0)))
    scores["input_ssim"] = float(tf.reduce_mean(tf.image.ssim(images_clean, images_noisy, max_val=1.0)))
    scores["gain_db"] = scores["psnr_db"] - scores["input_psnr_db"]
    return scores


def probe_accuracies(train_codes, train_labels, test_codes, test_labels, knn_neighbors: int) -> dict[str, float]:
    """How linearly (logistic regression) and locally (kNN) the codes separate the digits."""
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    knn = KNeighborsClassifier(n_neighbors=knn_neighbors)
    return {
        "logreg_acc": float(logreg.fit(train_codes, train_labels).score(test_codes, test_labels)),
        "knn_acc": float(knn.fit(train_codes, train_labels).score(test_codes, test_labels)),
    }


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
