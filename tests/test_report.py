import json
import math

import pytest
import yaml

from mnist_ae.models import MODELS
from mnist_ae.catalogue import KEY_METRICS, key_metrics
from mnist_ae.report import results_table
from tools.docs.facts import block_in

from conftest import ROOT


def test_table_has_a_row_per_model_with_its_numbers():
    metrics = {"dense": {"params": 50992, "compression": 24.5,
                         "test": {"bce_nats": 0.0921, "psnr_db": 20.1, "ssim": 0.88},
                         "noisy_test": {"gain_db": 3.5}, "probe": {"logreg_acc": 0.9, "knn_acc": 0.95}},
               "mean_image": {"test": {"bce_nats": 0.26, "psnr_db": 12.0, "ssim": 0.1}}}
    table = results_table(metrics, floor_bce=0.0581)
    assert table.startswith("| model | test BCE (nats/pixel) | PSNR (dB) | SSIM | denoising gain (dB) |")
    assert "| `dense` | 0.0921 | 20.10 | 0.880 | 3.50 | 0.900 | 0.950 | 50,992 | 24.5× | ≈ 0.09 BCE |" in table
    assert "| `mean_image` | 0.2600 | 12.00 | 0.100 | – | – | – | – | – |  |" in table


def test_with_a_seed_spread_each_value_carries_its_sd():
    metrics = {"dense": {"test": {"bce_nats": 0.0921, "psnr_db": 20.1, "ssim": 0.88}, "noisy_test": {"gain_db": 3.5},
                         "probe": {"logreg_acc": 0.9, "knn_acc": 0.95}}}
    spread = {"seeds": [1, 2, 3], "metrics": {"dense": {"bce_nats": {"sd": 0.00015}, "psnr_db": {"sd": 0.027}}}}
    table = results_table(metrics, floor_bce=0.0581, spread=spread)
    assert "| `dense` | 0.0921 ± 0.00015 | 20.10 ± 0.027 | 0.880 | 3.50 | 0.900 | 0.950 |" in table
    assert "± is the standard deviation over 3 seeds; intervals" in table
    spread["pooled"] = [{"models": ["dense"], "seeds": [1, 2], "commit": "a" * 40, "machine": "Some CPU"}]
    table = results_table(metrics, floor_bce=0.0581, spread=spread)
    assert "over 3 seeds, and for `dense` 2 more on Some CPU; intervals" in table
    spread["added"] = [{"metrics": ["vae.iwae_nll_nats"], "seeds": [1, 2, 3, 4], "commit": "b" * 40}]
    table = results_table(metrics, floor_bce=0.0581, spread=spread)
    assert "2 more on Some CPU, `vae.iwae_nll_nats` from 4 runs at commit `bbbbbbb`; intervals" in table


def test_docs_show_the_committed_uncertainty_table(committed):
    """docs/uncertainty.md carries reports/uncertainty.md, copied by `make docs`."""
    table = (committed / "reports" / "uncertainty.md").read_text()
    assert block_in((committed / "docs" / "uncertainty.md").read_text(), "uncertainty") == table, "run make docs"


def test_readme_shows_the_committed_results(committed):
    """README numbers must be the committed pipeline's, copied by `make docs`, never typed."""
    table = (committed / "reports" / "results.md").read_text()
    assert block_in((committed / "README.md").read_text(), "results") == table


def test_committed_metrics_cover_every_model(committed):
    """Every model's file holds its reconstruction, denoising and probe metrics as finite numbers; the
    baselines hold their test BCE, the classifier its accuracy."""
    floor, pca, mean_image = (json.loads((committed / "metrics" / f"{name}.json").read_text())["test"]["bce_nats"]
                              for name in ("floor", "pca", "mean_image"))
    for name in MODELS:
        metrics = json.loads((committed / "metrics" / f"{name}.json").read_text())
        values = {m.name: m.read(metrics) for m in KEY_METRICS if m.name in ("bce_nats", "psnr_db", "gain_db", "logreg_acc")}
        assert all(isinstance(v, float) and math.isfinite(v) for v in values.values()), (name, values)
        # What a trained autoencoder of MNIST gives: BCE above the floor (BCE of a digit with itself) and below
        # the mean image's; PSNR of 12-30 dB; a linear probe well above chance (0.1).
        assert floor < values["bce_nats"] < mean_image, (name, values)
        assert 12 < values["psnr_db"] < 30 and 0.5 < values["logreg_acc"] <= 1, (name, values)
    assert 0.05 < floor < pca < mean_image < 0.3, (floor, pca, mean_image)  # the published floor is 0.0581
    assert 0.9 < json.loads((committed / "metrics" / "classifier.json").read_text())["test_acc"] <= 1


@pytest.mark.parametrize("name", list(MODELS))
def test_committed_training_logs_have_one_row_per_epoch(committed, name):
    epochs = yaml.safe_load((committed / "params.yaml").read_text())["train"]["epochs"]
    log = committed / "plots" / "train" / name / "plots" / "metrics" / "eval" / "loss.tsv"
    rows = [line.split("\t") for line in log.read_text().splitlines()[1:]]
    assert [int(step) for step, _ in rows] == list(range(epochs))
    assert all(math.isfinite(float(value)) for _, value in rows)


def test_key_metrics_are_copied_from_the_full_files():
    metrics = {"vae": {"test": {"bce_nats": 0.18, "psnr_db": 14.3}, "noisy_test": {"gain_db": 1.7},
                       "probe": {"logreg_acc": 0.66, "knn_acc": 0.69}, "elbo": {"neg_elbo_nats": 153.4}},
               "pca": {"test": {"bce_nats": 0.1175, "psnr_db": 18.6}},
               "classifier": {"test_acc": 0.987}}
    summary = key_metrics(metrics)
    assert summary == {"vae": {"bce_nats": 0.18, "psnr_db": 14.3, "gain_db": 1.7, "logreg_acc": 0.66,
                               "neg_elbo_nats": 153.4},
                       "pca": {"bce_nats": 0.1175, "psnr_db": 18.6},
                       "classifier": {"test_acc": 0.987}}


def test_committed_summary_matches_the_metrics_files(committed):
    summary = json.loads((committed / "reports" / "summary.json").read_text())
    for name in MODELS:
        full = json.loads((committed / "metrics" / f"{name}.json").read_text())
        assert summary[name]["bce_nats"] == full["test"]["bce_nats"], name


# A further run at the same params is one more draw: it falls, with 95% probability, within
# mean ± t(0.975, n − 1) · sd · √(1 + 1/n) of n earlier runs (the prediction interval). That is the
# band a committed run must meet. It is wider than 2 sd for few runs: 2.5 sd for 8, 3.6 sd for 4.
PREDICTION_LEVEL = 0.95


def prediction_half_width(sd: float, n: int) -> float:
    """Half-width of the band that one more run falls in with probability PREDICTION_LEVEL."""
    from scipy.stats import t  # scikit-learn's own dependency

    if n < 2:
        raise ValueError(f"a prediction band needs at least 2 runs, got {n}")
    return float(t.ppf(0.5 + PREDICTION_LEVEL / 2, n - 1)) * sd * (1 + 1 / n) ** 0.5


def test_committed_key_metrics_lie_within_the_seed_spread(committed):
    """Each committed key metric is a plausible further run of the committed seed spread: inside its 95%
    prediction band (prediction_half_width), or the test names it and how far out it is."""
    spread = json.loads((committed / "records" / "seed_spread.json").read_text())["metrics"]
    outside = []
    for model, stats in spread.items():
        metrics = json.loads((committed / "metrics" / f"{model}.json").read_text())
        for metric in KEY_METRICS:
            if metric.name in stats and (value := metric.read(metrics)) is not None and stats[metric.name]["sd"] > 0:
                seeds = stats[metric.name]
                sigmas = (value - seeds["mean"]) / seeds["sd"]
                band = prediction_half_width(seeds["sd"], seeds["n"]) / seeds["sd"]
                if abs(sigmas) > band:
                    outside.append(f"{model}.{metric.name} is {sigmas:+.1f} sd from the mean of {seeds['n']} "
                                   f"runs; the band is ± {band:.1f} sd")
    assert not outside, outside


@pytest.mark.parametrize(("n", "sigmas"), [(4, 3.56), (8, 2.51), (30, 2.07)])
def test_the_prediction_band_narrows_towards_two_sd_with_more_runs(n, sigmas):
    assert prediction_half_width(1.0, n) == pytest.approx(sigmas, abs=0.01)
    assert prediction_half_width(0.5, n) == pytest.approx(sigmas / 2, abs=0.01)


def test_the_uncertainty_page_states_the_band_the_test_uses():
    page = (ROOT / "docs" / "uncertainty.md").read_text()
    stated = f"± {prediction_half_width(1.0, 4):.1f} sd for 4 runs and\n± {prediction_half_width(1.0, 8):.1f} sd for 8"
    assert stated in page
