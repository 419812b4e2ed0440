"""Score any encoder/decoder pair on the test set: the shared metrics, PCA and the reference rows.

Nothing here knows a Keras autoencoder (``evaluation.py`` wraps one as a :class:`Codec`), so the
baselines stage runs this code without the model registry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from mnist_ae.files import Split
from mnist_ae.metrics import denoising_metrics, probe_accuracies, reconstruction_metrics
from mnist_ae.noise import add_gaussian_noise, rng_for

log = logging.getLogger(__name__)

PIXELS = 784
ROBUSTNESS_STREAM = 7  # rng stream for the sweep: every model sees the same noisy digits
PROBE_STREAM = 8
SAMPLES_STREAM = 9
BOOTSTRAP_STREAM = 10  # resampling of the test digits for the 95% intervals


@dataclass(frozen=True)
class Codec:
    """Images (n, 28, 28) <-> flat codes (n, code_size)."""

    encode: Callable[[np.ndarray], np.ndarray]
    decode: Callable[[np.ndarray], np.ndarray]
    code_size: int
    param_count: int
    # Images to reconstructions in one pass, where the codec has one (a Keras autoencoder does).
    encode_decode: Callable[[np.ndarray], np.ndarray] | None = None

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        return self.encode_decode(images) if self.encode_decode else self.decode(self.encode(images))


def fit_pca(train_images: np.ndarray, components: int, seed: int) -> PCA:
    return PCA(n_components=components, random_state=seed).fit(train_images.reshape(len(train_images), -1))


def pca_codec(pca: PCA) -> Codec:
    def decode(codes):
        return np.clip(pca.inverse_transform(codes), 0.0, 1.0).reshape(-1, 28, 28).astype(np.float32)

    param_count = pca.components_.size + pca.mean_.size
    return Codec(lambda x: pca.transform(x.reshape(len(x), -1)), decode, pca.n_components_, param_count)


def sample_codes(prior: str, shape: tuple[int, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    """Random codes: uniform in [0, 1) as notebook §1.6 does, or the VAE's N(0, I) prior."""
    if prior == "uniform":
        return rng.random((n, *shape), dtype=np.float32)
    if prior == "normal":
        return rng.standard_normal((n, *shape), dtype=np.float32)
    raise ValueError(f"unknown code prior {prior!r}")


def robustness_curve(reconstruct: Callable[[np.ndarray], np.ndarray], clean: np.ndarray,
                     factors: list[float], seed: int) -> pd.DataFrame:
    """PSNR and SSIM of ``reconstruct(noisy)`` against the clean digits, per noise factor."""
    rows = []
    for i, factor in enumerate(factors):
        log.info("robustness sweep %d/%d: noise factor %.2f", i + 1, len(factors), factor)
        noisy = add_gaussian_noise(clean, factor, rng_for(seed, ROBUSTNESS_STREAM, i))
        scores = reconstruction_metrics(clean, reconstruct(noisy))
        rows.append({"noise_factor": factor, "psnr_db": scores["psnr_db"], "ssim": scores["ssim"]})
    return pd.DataFrame(rows)


def identity(images: np.ndarray) -> np.ndarray:
    return images


def evaluate_codec(codec: Codec, train: Split, test: Split, noisy_test: np.ndarray,
                   probe_train_size: int, knn_neighbors: int, seed: int) -> dict:
    """The metrics every codec gets: size, test reconstruction, noisy-input reconstruction, probes."""
    probe_rows = rng_for(seed, PROBE_STREAM).permutation(len(train.x))[:probe_train_size]
    probe_train = Split(train.x[probe_rows], train.y[probe_rows])
    log.info("reconstructing %d clean and %d noisy test digits", len(test.x), len(noisy_test))
    test_codes = codec.encode(test.x)  # once: decoded here, probed below
    bootstrap = rng_for(seed, BOOTSTRAP_STREAM)
    test_scores = reconstruction_metrics(test.x, codec.decode(test_codes), bootstrap)
    noisy_scores = denoising_metrics(test.x, noisy_test, codec.reconstruct(noisy_test))
    log.info("fitting latent probes on %d training codes", len(probe_rows))
    probe_scores = probe_accuracies(codec.encode(probe_train.x), probe_train.y, test_codes, test.y, knn_neighbors,
                                    bootstrap)
    return {
        "params": codec.param_count,
        "code_size": codec.code_size,
        "compression": PIXELS / codec.code_size,
        "test": test_scores,
        "noisy_test": noisy_scores,
        "probe": probe_scores,
    }


def floor_metrics(test: Split) -> dict:
    """BCE(x, x): the lowest BCE any model can reach, above zero because pixels are not binary."""
    flat = test.x.reshape(len(test.x), -1)
    return {"test": {"bce_nats": float(keras.losses.BinaryCrossentropy()(flat, flat))}}


def mean_image_metrics(train: Split, test: Split) -> dict:
    """The trivial baseline: every test digit 'reconstructed' as the mean training image."""
    mean_image = train.x.mean(axis=0, keepdims=True)
    return {"test": reconstruction_metrics(test.x, np.repeat(mean_image, len(test.x), axis=0))}
