import math

import numpy as np
import pytest

from mnist_ae.metrics import denoising_metrics, generation_quality, probe_accuracies, reconstruction_metrics


def test_perfect_reconstruction_scores():
    x = np.random.default_rng(0).random((8, 28, 28), dtype=np.float32)
    scores = reconstruction_metrics(x, x)
    assert scores["mse"] == 0.0
    assert scores["ssim"] == pytest.approx(1.0)


def test_metrics_against_known_values():
    clean = np.full((4, 784), 0.5, dtype=np.float32)
    output = np.full((4, 784), 0.6, dtype=np.float32)
    scores = reconstruction_metrics(clean, output)
    assert scores["mse"] == pytest.approx(0.01, rel=1e-5)
    assert scores["psnr_db"] == pytest.approx(20.0, rel=1e-4)  # 10 log10(1 / 0.01)
    assert scores["bce_nats"] == pytest.approx(-(0.5 * math.log(0.6) + 0.5 * math.log(0.4)), rel=1e-5)


def test_denoising_gain_is_output_minus_input_psnr():
    clean = np.full((2, 28, 28), 0.5, dtype=np.float32)
    noisy, output = clean + 0.1, clean + 0.01
    scores = denoising_metrics(clean, noisy, output)
    assert scores["input_psnr_db"] == pytest.approx(20.0, rel=1e-3)
    assert scores["psnr_db"] == pytest.approx(40.0, rel=1e-3)
    assert scores["gain_db"] == pytest.approx(20.0, rel=1e-3)


def test_probes_separate_separable_codes():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 20)
    codes = np.eye(10)[labels] * 5 + rng.normal(0, 0.1, (200, 10))
    scores = probe_accuracies(codes, labels, codes, labels, knn_neighbors=3)
    assert scores == {"logreg_acc": 1.0, "knn_acc": 1.0}


def test_generation_quality_of_balanced_confident_samples():
    probabilities = np.eye(10)[np.arange(100) % 10] * 0.95 + 0.005
    quality = generation_quality(probabilities, confidence_threshold=0.9)
    assert quality["class_entropy_nats"] == pytest.approx(math.log(10))
    assert quality["mean_confidence"] == pytest.approx(0.955)
    assert quality["confident_share"] == 1.0


def test_generation_quality_of_one_class_is_zero_entropy():
    probabilities = np.tile([0.5] + [0.5 / 9] * 9, (20, 1))
    quality = generation_quality(probabilities, confidence_threshold=0.9)
    assert quality["class_entropy_nats"] == 0.0 and quality["confident_share"] == 0.0
