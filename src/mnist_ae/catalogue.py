"""The metric catalogue: each reported metric defined once.

The results table, ``reports/summary.json``, the metrics-comparison figure, the sweep tool and the
pull-request review all read their names, labels, units, directions and formats from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from mnist_ae import dotted


@dataclass(frozen=True)
class Metric:
    name: str  # unit-bearing key in reports/summary.json and the review, e.g. bce_nats
    path: str  # dotted key in metrics/<model>.json, e.g. test.bce_nats
    label: str  # column header or axis title, without the unit
    unit: str  # "" for a plain ratio
    higher_is_better: bool | None  # None: neither direction is better (the VAE's KL term)
    digits: int  # decimals shown in tables and on bars
    key: bool = False  # one of the few numbers per model in summary.json, dvc exp show and the review
    # Measured on test digits noised at noise.factor, so a new factor makes it a different test.
    noisy_input: bool = False

    @property
    def title(self) -> str:
        """The label with its unit, e.g. "test BCE (nats/pixel)"."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def format(self, value: float | None) -> str:
        if value is None or value != value:  # None or NaN
            return "–"
        return f"{value:.{self.digits}f}"

    def interval(self, metrics: dict) -> tuple[float, float] | None:
        """The 95% bootstrap interval over the test digits, where evaluate measured one."""
        low, high = (dotted.get(metrics, f"{self.path}_ci_{side}", None) for side in ("low", "high"))
        return None if low is None or high is None else (low, high)

    def read(self, metrics: dict) -> Any:
        """This metric's value in one metrics file's contents, or None when the file has none."""
        return dotted.get(metrics, self.path, None)


CATALOGUE: tuple[Metric, ...] = (
    Metric("bce_nats", "test.bce_nats", "test BCE", "nats/pixel", False, 4, key=True),
    Metric("psnr_db", "test.psnr_db", "PSNR", "dB", True, 2, key=True),
    Metric("ssim", "test.ssim", "SSIM", "", True, 3),
    Metric("noisy_bce_nats", "noisy_test.bce_nats", "BCE fed noisy digits", "nats/pixel", False, 4,
           noisy_input=True),
    Metric("noisy_psnr_db", "noisy_test.psnr_db", "PSNR fed noisy digits", "dB", True, 2, noisy_input=True),
    Metric("input_psnr_db", "noisy_test.input_psnr_db", "PSNR of the noisy digits", "dB", True, 2,
           noisy_input=True),
    Metric("gain_db", "noisy_test.gain_db", "denoising gain", "dB", True, 2, key=True,
           noisy_input=True),
    Metric("logreg_acc", "probe.logreg_acc", "logreg acc", "", True, 3, key=True),
    Metric("knn_acc", "probe.knn_acc", "kNN acc", "", True, 3),
    Metric("neg_elbo_nats", "elbo.neg_elbo_nats", "negative ELBO", "nats/image", False, 2, key=True),
    Metric("reconstruction_nats", "elbo.reconstruction_nats", "reconstruction term", "nats/image", False, 2),
    Metric("kl_nats", "elbo.kl_nats", "KL term", "nats/image", None, 2),
    # Importance-weighted bound on -log p(x) (k samples per digit): tighter than the negative ELBO.
    Metric("iwae_nll_nats", "elbo.iwae_nll_nats", "IWAE bound on −log p(x)", "nats/image", False, 2, key=True),
    # Decoders fed random codes, scored by the digit classifier.
    Metric("mean_confidence", "generation.mean_confidence", "mean confidence", "", True, 3),
    Metric("class_entropy_nats", "generation.class_entropy_nats", "class entropy", "nats, max 2.30", True, 3),
    Metric("confident_share", "generation.confident_share", "share ≥ threshold", "", True, 3),
    Metric("compression", "compression", "compression", "×", None, 1),  # 784 / code size
    # The digit classifier's, in metrics/classifier.json.
    Metric("test_acc", "test_acc", "classifier test acc", "", True, 4, key=True),
)
BY_NAME: dict[str, Metric] = {m.name: m for m in CATALOGUE}
KEY_METRICS: tuple[Metric, ...] = tuple(m for m in CATALOGUE if m.key)


def metric(name: str) -> Metric:
    return BY_NAME[name]


def metrics_named(names: Iterable[str]) -> list[Metric]:
    return [BY_NAME[name] for name in names]


def key_metrics(metrics: dict[str, dict]) -> dict[str, dict[str, float]]:
    """reports/summary.json: ``{model: {metric name: value}}`` for every key metric its file has.

    Flat, unit-bearing names keep ``dvc exp show`` and ``dvc metrics diff`` readable; every value
    is copied from the full per-model files.
    """
    return {model: {m.name: value for m in KEY_METRICS if (value := m.read(data)) is not None}
            for model, data in metrics.items()}
