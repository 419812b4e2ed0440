"""Seed spread, verdicts from it, bootstrap intervals and the VAE's importance-weighted bound."""

import numpy as np
import pytest

from mnist_ae.catalogue import BY_NAME
from mnist_ae.metrics import bootstrap_interval, per_image_bce, probe_accuracies, reconstruction_metrics
from mnist_ae.report import applicable_spread, uncertainty_table
from mnist_ae import StudyError
from tools.dev.seed_spread import aggregate, key_metrics_of, pool_stats, pooled, seed_spread
from tools.review.verdicts import SIGMA_MULTIPLE, UNMEASURED, WITHIN, MetricChange, compare, spread_note

PARAM_NAMES = ["base.seed", "noise.factor"]


RUN_BCE = {}  # rev -> the dense test BCE of that made-up run


def run_row(seed, bce, *, typ="branch_commit", factor=0.5, state="Success"):
    """A row as dvc.api.exp_show() returns it (seeds as floats, as DVC shows them)."""
    rev = "main" if typ == "baseline" else f"{seed}abc"
    RUN_BCE[rev] = bce
    return {"Experiment": None if typ == "baseline" else f"s{seed}", "rev": rev, "typ": typ,
            "State": None if typ == "baseline" else state, "base.seed": float(seed), "noise.factor": factor}


def run_metrics(rev):
    """A run's metrics files, as git holds them at its commit."""
    bce = RUN_BCE[rev]
    return {"metrics/dense.json": {"test": {"bce_nats": bce, "psnr_db": 20.0 + bce, "mse": 0.02}},
            "metrics/vae.json": {"elbo": {"neg_elbo_nats": 150.0 + 10 * bce}},
            "metrics/classifier.json": {"test_acc": 0.98 + bce}}


def test_aggregation_gives_the_known_mean_and_sample_sd():
    runs = [{"dense": {"bce_nats": v}} for v in (1.0, 2.0, 3.0, 4.0)]
    stats = aggregate(runs)["dense"]["bce_nats"]
    assert stats == {"mean": 2.5, "sd": pytest.approx(np.std([1, 2, 3, 4], ddof=1)), "min": 1.0, "max": 4.0, "n": 4}


def test_the_spread_keeps_runs_that_vary_the_seed_alone():
    rows = [run_row(42, 0.090, typ="workspace"), run_row(42, 0.090, typ="baseline"),
            run_row(43, 0.092), run_row(44, 0.094), run_row(45, 0.5, factor=0.3),  # another param too
            run_row(46, 0.7, state="Running"), run_row(47, 0.8, state="Failed")]
    rows[0]["typ"], rows[0]["rev"] = "baseline", "workspace"
    spread = seed_spread(rows, PARAM_NAMES, lambda rev: ("f" * 40, {"base.seed": 42, "noise.factor": 0.5}), run_metrics)
    assert spread["seeds"] == [42, 43, 44] and spread["commit"] == "f" * 40
    assert spread["params"] == {"noise.factor": 0.5}
    stats = spread["metrics"]["dense"]["bce_nats"]
    assert stats["n"] == 3 and stats["mean"] == pytest.approx(0.092) and stats["sd"] == pytest.approx(0.002)
    assert "mse" not in str(spread["metrics"])  # key metrics only
    assert spread["metrics"]["classifier"]["test_acc"]["n"] == 3
    assert key_metrics_of(run_metrics("43abc"))["vae"] == {"neg_elbo_nats": pytest.approx(150.92)}


def spread_of(runs: dict[str, list[float]], seeds=(42, 43, 44, 45), factor=0.5) -> dict:
    per_run = [{model: {"gain_db": values[i]} for model, values in runs.items()} for i in range(len(seeds))]
    return {"varied": "base.seed", "seeds": list(seeds), "commit": "a" * 40,
            "params": {"noise.factor": factor}, "metrics": aggregate(per_run)}


def test_pooled_statistics_are_those_of_all_the_runs_together():
    first, second = [1.0, 1.2, 1.1, 1.3], [0.5, 0.4, 0.6, 0.55]
    stats = pool_stats(aggregate([{"m": {"x": v}} for v in first])["m"]["x"],
                       aggregate([{"m": {"x": v}} for v in second])["m"]["x"])
    assert stats == {"mean": pytest.approx(np.mean(first + second)), "sd": pytest.approx(np.std(first + second, ddof=1)),
                     "min": 0.4, "max": 1.3, "n": 8}


def test_pooling_changes_the_named_models_alone_and_says_where_the_runs_came_from():
    base = spread_of({"deep": [1.0, 1.2, 1.1, 1.3], "dense": [2.0, 2.1, 2.2, 2.3]})
    other = spread_of({"deep": [0.5, 0.4, 0.6, 0.55], "dense": [9.0, 9.0, 9.0, 9.0]})
    result = pooled(base, other, ["deep"], "Some CPU")
    assert result["metrics"]["deep"]["gain_db"]["n"] == 8
    assert result["metrics"]["deep"]["gain_db"]["mean"] == pytest.approx(np.mean([1.0, 1.2, 1.1, 1.3, 0.5, 0.4, 0.6, 0.55]))
    assert result["metrics"]["dense"] == base["metrics"]["dense"]  # not named: untouched
    assert result["pooled"] == [{"models": ["deep"], "seeds": [42, 43, 44, 45], "commit": "a" * 40, "machine": "Some CPU"}]
    assert "pooled" not in base  # the input is not modified


def test_runs_at_other_params_or_without_the_model_are_not_pooled():
    base = spread_of({"deep": [1.0, 1.2, 1.1, 1.3]})
    with pytest.raises(StudyError, match="noise.factor"):
        pooled(base, spread_of({"deep": [0.5, 0.4, 0.6, 0.55]}, factor=0.3), ["deep"], "Some CPU")
    with pytest.raises(StudyError, match="no spread for conv"):
        pooled(base, spread_of({"deep": [0.5, 0.4, 0.6, 0.55]}), ["conv"], "Some CPU")


@pytest.mark.parametrize("delta_in_sd, verdict", [
    (SIGMA_MULTIPLE - 0.01, WITHIN), (SIGMA_MULTIPLE, WITHIN), (SIGMA_MULTIPLE + 0.01, "better"),
    (-(SIGMA_MULTIPLE + 0.01), "worse"), (0.5, WITHIN)])
def test_a_change_is_better_or_worse_only_beyond_two_seed_sds(delta_in_sd, verdict):
    sd = 0.25  # a power of two, so 2 sd is exact in floating point
    change = MetricChange("dense", BY_NAME["psnr_db"], 20.0, 20.0 + delta_in_sd * sd, sd=sd)
    assert change.verdict == verdict
    assert change.sigmas == pytest.approx(delta_in_sd)


def test_lower_is_better_metrics_flip_the_verdict():
    change = MetricChange("dense", BY_NAME["bce_nats"], 0.0917, 0.0900, sd=0.0002)
    assert change.verdict == "better"


def test_without_a_spread_the_verdict_says_so():
    assert MetricChange("dense", BY_NAME["bce_nats"], 0.0917, 0.0900).verdict == UNMEASURED
    spread = {"dense": {"bce_nats": {"sd": 0.0002}}}
    changes = compare({"vae": {"iwae_nll_nats": 140.0}}, {"vae": {"iwae_nll_nats": 139.0}}, spread=spread)
    assert changes[0].verdict == UNMEASURED


def test_a_spread_measured_at_other_params_is_not_used():
    spread = {"varied": "base.seed", "seeds": [42, 43], "commit": "a" * 40, "params": {"noise.factor": 0.5},
              "metrics": {"dense": {"bce_nats": {"sd": 0.0002}}}}
    used, note = spread_note(spread, {"base.seed": 42, "noise.factor": 0.5})
    assert used == spread["metrics"] and "2 runs at the base's params" in note
    used, note = spread_note(spread, {"base.seed": 42, "noise.factor": 0.3})
    assert used is None and "other params than the base (`noise.factor` differ)" in note
    assert spread_note(None, {})[0] is None
    spread["pooled"] = [{"models": ["deep"], "seeds": [42, 43], "commit": "b" * 40, "machine": "Some CPU"}]
    assert "For `deep` it also pools 2 runs on Some CPU" in spread_note(spread, {"noise.factor": 0.5})[1]


def test_bootstrap_interval_of_a_constant_is_that_constant():
    assert bootstrap_interval(np.full(500, 0.25), np.random.default_rng(0)) == (0.25, 0.25)


def test_bootstrap_interval_of_a_proportion_matches_the_normal_approximation():
    """10,000 digits, 90% right: the 95% interval is about 0.9 ± 1.96 sqrt(0.9 x 0.1 / 10,000) = ± 0.0059."""
    correct = np.zeros(10_000)
    correct[:9_000] = 1.0
    low, high = bootstrap_interval(correct, np.random.default_rng(1))
    assert low == pytest.approx(0.9 - 0.0059, abs=0.0012) and high == pytest.approx(0.9 + 0.0059, abs=0.0012)
    assert bootstrap_interval(correct, np.random.default_rng(1)) == (low, high)  # seeded


def test_intervals_sit_around_the_metrics_and_leave_them_unchanged():
    rng = np.random.default_rng(2)
    clean = rng.random((200, 28, 28), dtype=np.float32)
    output = np.clip(clean + rng.normal(0, 0.1, clean.shape).astype(np.float32), 0, 1)
    plain, with_ci = reconstruction_metrics(clean, output), reconstruction_metrics(clean, output, rng)
    assert {k: with_ci[k] for k in plain} == plain
    assert with_ci["bce_nats_ci_low"] < plain["bce_nats"] < with_ci["bce_nats_ci_high"]
    assert with_ci["psnr_db_ci_low"] < plain["psnr_db"] < with_ci["psnr_db_ci_high"]
    assert per_image_bce(clean, output).mean() == pytest.approx(plain["bce_nats"], rel=1e-5)
    codes, labels = rng.normal(size=(300, 4)), np.arange(300) % 3
    probes = probe_accuracies(codes[:200], labels[:200], codes[200:], labels[200:], 5, rng)
    assert probes["logreg_acc_ci_low"] <= probes["logreg_acc"] <= probes["logreg_acc_ci_high"]


def test_the_results_show_the_spread_only_at_its_own_params():
    spread = {"varied": "base.seed", "seeds": [42, 43, 44], "commit": "b" * 40,
              "params": {"noise.factor": 0.5},
              "metrics": {"dense": {"bce_nats": {"mean": 0.0918, "sd": 0.0004, "min": 0.0914, "max": 0.0922, "n": 3}}}}
    assert applicable_spread(spread, {"base.seed": 7, "noise.factor": 0.5}) is spread
    assert applicable_spread(spread, {"base.seed": 42, "noise.factor": 0.3}) is None
    metrics = {"dense": {"test": {"bce_nats": 0.0917, "bce_nats_ci_low": 0.0910, "bce_nats_ci_high": 0.0925}},
               "conv": {"test": {"bce_nats": 0.0947}}}
    table = uncertainty_table(metrics, spread)
    # 0.09 stands for [0.085, 0.095], which meets 0.0918 ± 2 x 0.0004
    assert "| `dense` | test BCE (nats/pixel) | 0.0917 | 0.0910 – 0.0925 | 0.0918 ± 0.00040 (3) | 0.09 | inside |" in table
    assert "| `conv` | test BCE (nats/pixel) | 0.0947 | – | – | 0.094 | no seed spread |" in table
    spread["metrics"]["dense"]["bce_nats"].update(mean=0.0990, sd=0.0001)  # 0.0988 to 0.0992: above 0.095
    assert "| 0.09 | outside |" in uncertainty_table(metrics, spread)


@pytest.fixture(scope="module")
def tiny_vae(raw_params, sample):
    import keras

    from mnist_ae.config import parse_params
    from mnist_ae.models import block_of, build

    keras.utils.set_random_seed(0)
    model = build("vae", block_of(parse_params(raw_params).train, "vae"), 0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = sample["x_train"][:1000].reshape(-1, 784).astype(np.float32) / 255.0
    model.fit(x, x, epochs=3, batch_size=100, verbose=0)
    return model, sample["x_test"][:200].astype(np.float32) / 255.0


@pytest.mark.e2e  # trains a VAE
def test_the_iwae_bound_is_at_least_the_elbo_and_tightens_with_k(tiny_vae):
    """Written for the log-likelihood: log p(x) >= IWAE_k >= ELBO, i.e. the -log bounds fall with k."""
    from mnist_ae.models.vae import elbo_metrics, iwae_nll

    model, x = tiny_vae
    nll = {k: iwae_nll(model, x, k, np.random.default_rng(3)).mean() for k in (1, 10, 100)}
    neg_elbo = elbo_metrics(model, x)["elbo"]["neg_elbo_nats"]
    assert nll[1] == pytest.approx(neg_elbo, rel=0.02)  # k = 1 estimates the ELBO itself
    assert nll[100] < nll[10] < nll[1]
    assert -nll[100] >= -neg_elbo  # log-likelihood bound >= ELBO
    section = elbo_metrics(model, x)["elbo"]
    assert section["iwae_samples"] == 100 and section["iwae_nll_nats"] < section["neg_elbo_nats"]
