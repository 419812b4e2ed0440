"""The pull-request review's verdicts and the sweep summary, on made-up numbers.

The end-to-end runs of both commands, on a real tiny pipeline, are in test_pipeline.py.
"""

import copy

import pytest
import yaml

from mnist_ae import StudyError
from mnist_ae.tools.review import MetricChange, Revisions, compare, metrics_table, summary_at, tally
from mnist_ae.tools.sweep import sweep_figure, sweep_table

from conftest import ROOT


@pytest.mark.parametrize("name, base, head, verdict", [
    ("dense.bce", 0.0920, 0.0900, "better"),          # lower BCE is better
    ("dense.bce", 0.0900, 0.0920, "worse"),
    ("dense.psnr_db", 20.0, 21.0, "better"),          # higher PSNR is better
    ("dense.psnr_db", 21.0, 20.0, "worse"),
    ("vae.neg_elbo", 153.0, 150.0, "better"),
    ("classifier.test_acc", 0.980, 0.970, "worse"),
    ("dense.psnr_db", 20.0, 20.03, "same (within noise)"),
    ("dense.bce", 0.0920, 0.0921, "same (within noise)"),
    ("dense.bce", 0.0920, 0.0920, "same"),
    ("dense.bce", None, 0.0920, "new"),
    ("dense.bce", 0.0920, None, "removed"),
])
def test_verdict_knows_each_metrics_direction_and_noise_level(name, base, head, verdict):
    assert MetricChange(name, base, head).verdict == verdict


def test_a_new_noise_factor_marks_metrics_of_noisy_input():
    changes = compare({"denoise": {"bce": 0.076, "gain_db": 10.3}}, {"denoise": {"bce": 0.065, "gain_db": 4.6}},
                      noise_changed=True)
    table = metrics_table(changes)
    assert "| `denoise.gain_db` | 10.3 | 4.6 | -5.7 | -55.34% | **worse**, at a new noise factor |" in table
    assert "| `denoise.bce` | 0.076 | 0.065 | -0.011 | -14.47% | **better** |" in table
    assert tally(changes) == "1 better, 1 worse; 1 of them measured at a new noise factor"


def test_percent_change_is_relative_to_the_base():
    change = MetricChange("dense.psnr_db", 20.0, 25.0)
    assert change.delta == 5.0 and change.percent == pytest.approx(25.0)


def test_compare_covers_metrics_of_either_side():
    base = {"dense": {"bce": 0.09}, "sparse": {"bce": 0.10}}
    head = {"dense": {"bce": 0.08}, "conv": {"bce": 0.095}}
    changes = compare(base, head)
    assert [(c.name, c.verdict) for c in changes] == [
        ("dense.bce", "better"), ("conv.bce", "new"), ("sparse.bce", "removed")]
    assert tally(changes) == "1 better, 1 new, 1 removed"


def test_table_lists_changed_metrics_first():
    table = metrics_table(compare({"a": {"bce": 0.1}, "b": {"bce": 0.2}}, {"a": {"bce": 0.1}, "b": {"bce": 0.1}}))
    lines = table.splitlines()
    assert lines[2] == "| `b.bce` | 0.2 | 0.1 | -0.1 | -50.00% | **better** |"
    assert lines[3] == "| `a.bce` | 0.1 | 0.1 | 0 | 0 | same |"


def test_summary_follows_that_sides_train_models(raw_params):
    """A model dropped from train.models is not reviewed, even if its old metrics file is there."""
    params = copy.deepcopy(raw_params)
    del params["train"]["models"]["sparse"]
    files = {"params.yaml": yaml.safe_dump(params).encode()}
    for name in ["dense", "sparse", "pca", "classifier"]:
        files[f"metrics/{name}.json"] = (ROOT / "metrics" / f"{name}.json").read_bytes()
    summary = summary_at(lambda path: files.get(path.as_posix()))
    assert set(summary) == {"dense", "pca", "classifier"}


def exp_entry(name, factor, gain, *, other=32, state=None):
    """One revision as `dvc exp show --json` (DVC 3) lists it."""
    data = {"params": {"params.yaml": {"data": {"noise": {"factor": factor},
                                                "train": {"models": {"dense": {"code_size": other}}}}}},
            "metrics": {"metrics/denoise.json": {"data": {"test": {"bce_nats": 0.08},
                                                          "noisy_test": {"gain_db": gain, "bce_nats": 0.1}}}}}
    executor = {"state": state} if state else None
    return {"revs": [{"rev": f"{name:0<40}", "name": name, "data": data}], "executor": executor, "name": name}


def exp_show(*experiments):
    baseline = exp_entry("main", 0.5, 10.0)["revs"][0]
    return [{"rev": "workspace", "name": None, "data": baseline["data"], "experiments": None},
            {**baseline, "experiments": list(experiments)}]


def test_sweep_keeps_finished_runs_that_vary_the_param_alone():
    shown = exp_show(exp_entry("low", 0.1, 4.0), exp_entry("high", 0.7, 12.0),
                     exp_entry("running", 0.3, 10.0, state="running"),
                     exp_entry("other", 0.2, 9.0, other=64))
    table = sweep_table(shown, "noise.factor", "denoise")
    assert table["noise.factor"].tolist() == [0.1, 0.5, 0.7]
    assert table["experiment"].tolist() == ["low", "main", "high"]
    assert table["gain_db"].tolist() == [4.0, 10.0, 12.0]
    assert table["baseline"].tolist() == [False, True, False]
    assert sweep_figure(table, "noise.factor", "denoise").axes[0].get_xlabel() == "noise.factor"


def test_sweep_without_experiments_says_how_to_make_them():
    with pytest.raises(StudyError, match=r"no finished experiment varies train.epochs alone"):
        sweep_table(exp_show(), "train.epochs", "denoise")


def test_an_unknown_base_revision_is_one_clear_error():
    with pytest.raises(StudyError, match=r"base revision 'no-such-branch' not found"):
        Revisions(ROOT, "no-such-branch")
