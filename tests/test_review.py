"""The pull-request review's verdicts and the sweep summary, on made-up numbers.

The end-to-end runs of both commands, on a real tiny pipeline, are in test_pipeline.py.
"""

import pytest

from mnist_ae import StudyError
from mnist_ae.catalogue import BY_NAME
from tools.review.review import Revisions
from tools.sweeps.sweep import sweep_figure, sweep_table
from tools.review.verdicts import MetricChange, compare, key_metrics_from_diff, metrics_table, regressions, tally

from conftest import ROOT, table_rows


SPREAD = {"dense": {"bce_nats": {"sd": 0.0004}, "psnr_db": {"sd": 0.02}},
          "denoise": {"bce_nats": {"sd": 0.0004}, "gain_db": {"sd": 0.05}},
          "vae": {"neg_elbo_nats": {"sd": 0.4}}, "classifier": {"test_acc": {"sd": 0.001}},
          "a": {"bce_nats": {"sd": 0.001}}, "b": {"bce_nats": {"sd": 0.001}}, "c": {"bce_nats": {"sd": 0.001}}}


@pytest.mark.parametrize("model, metric, base, head, verdict", [
    ("dense", "bce_nats", 0.0920, 0.0900, "better"),          # lower BCE is better
    ("dense", "bce_nats", 0.0900, 0.0920, "worse"),
    ("dense", "psnr_db", 20.0, 21.0, "better"),               # higher PSNR is better
    ("dense", "psnr_db", 21.0, 20.0, "worse"),
    ("vae", "neg_elbo_nats", 153.0, 150.0, "better"),
    ("classifier", "test_acc", 0.980, 0.970, "worse"),
    ("dense", "psnr_db", 20.0, 20.03, "within seed noise"),  # 1.5 sd
    ("dense", "bce_nats", 0.0920, 0.0921, "within seed noise"),
    ("dense", "bce_nats", 0.0920, 0.0920, "same"),
    ("dense", "bce_nats", None, 0.0920, "new"),
    ("dense", "bce_nats", 0.0920, None, "removed"),
])
def test_verdict_knows_each_metrics_direction_and_seed_noise(model, metric, base, head, verdict):
    sd = SPREAD[model][metric]["sd"]
    assert MetricChange(model, BY_NAME[metric], base, head, sd=sd).verdict == verdict


def test_fail_on_worse_names_each_metric_worse_beyond_two_sigma_and_nothing_else():
    base = {"dense": {"bce_nats": 0.0900, "psnr_db": 21.0}, "denoise": {"gain_db": 8.0, "bce_nats": 0.0900}}
    head = {"dense": {"bce_nats": 0.0920, "psnr_db": 21.01}, "denoise": {"gain_db": 7.0, "bce_nats": 0.0880}}
    lines = regressions(compare(base, head, spread=SPREAD))
    assert lines == ["worse: dense.bce_nats 0.0900 -> 0.0920 (+5.0 σ, beyond 2 σ)",
                     "worse: denoise.gain_db 8.00 -> 7.00 (-20.0 σ, beyond 2 σ)"]
    # A new noise factor makes the gain a different test, not a regression; without a spread nothing is worse.
    assert regressions(compare(base, head, noise_changed=True, spread=SPREAD)) == [lines[0]]
    assert regressions(compare(base, head)) == []


def test_a_new_noise_factor_marks_metrics_of_noisy_input():
    changes = compare({"denoise": {"bce_nats": 0.076, "gain_db": 10.3}},
                      {"denoise": {"bce_nats": 0.065, "gain_db": 4.6}}, noise_changed=True, spread=SPREAD)
    table = metrics_table(changes)
    rows = table_rows(table)
    assert ("`denoise.gain_db`", "10.30", "4.60", "-5.700", "–", "0.050", "-114.0",
            "**worse**, at a new noise factor") in rows
    assert ("`denoise.bce_nats`", "0.0760", "0.0650", "-0.01100", "-14.47%", "0.00040", "-27.5", "**better**") in rows
    assert tally(changes) == "1 worse, 1 better; 1 of them measured at a new noise factor"


def test_percent_change_is_relative_to_the_base_and_absent_for_decibels():
    change = MetricChange("dense", BY_NAME["bce_nats"], 0.08, 0.1)
    assert change.delta == pytest.approx(0.02) and change.percent == pytest.approx(25.0)
    assert MetricChange("dense", BY_NAME["psnr_db"], 20.0, 25.0).percent is None


def test_compare_covers_metrics_of_either_side():
    base = {"dense": {"bce_nats": 0.09}, "sparse": {"bce_nats": 0.10}}
    head = {"dense": {"bce_nats": 0.08}, "conv": {"bce_nats": 0.095}}
    changes = compare(base, head, spread=SPREAD)
    assert [(c.name, c.verdict) for c in changes] == [
        ("dense.bce_nats", "better"), ("conv.bce_nats", "new"), ("sparse.bce_nats", "removed")]
    assert tally(changes) == "1 better, 1 new, 1 removed"


def test_table_lists_worse_rows_first_and_counts_the_unchanged():
    base = {"a": {"bce_nats": 0.1}, "b": {"bce_nats": 0.2}, "c": {"bce_nats": 0.1}}
    head = {"a": {"bce_nats": 0.1}, "b": {"bce_nats": 0.1}, "c": {"bce_nats": 0.2}}
    lines = metrics_table(compare(base, head, spread=SPREAD)).splitlines()
    assert [row for line in lines[2:4] for row in table_rows(line)] == [
        ("`c.bce_nats`", "0.1000", "0.2000", "+0.10000", "+100.00%", "0.00100", "+100.0", "**worse**"),
        ("`b.bce_nats`", "0.2000", "0.1000", "-0.10000", "-50.00%", "0.00100", "-100.0", "**better**")]
    assert lines[-1] == "The other 1 key metrics are identical."


def test_small_changes_are_fixed_point_not_exponents():
    change = MetricChange("dense", BY_NAME["bce_nats"], 0.09168, 0.09168 - 9.177e-05)
    assert "| -0.00009 |" in metrics_table([change])


def test_nothing_changed_is_one_line():
    same = {"a": {"bce_nats": 0.1, "psnr_db": 20.0}}
    assert metrics_table(compare(same, same)) == "All 2 key metrics are identical.\n"


def test_key_metrics_come_from_dvc_metrics_diff_json():
    diff = {"metrics/dense.json": {"test.bce_nats": {"old": 0.09, "new": 0.08, "diff": -0.01},
                                   "test.mse": {"old": 0.02, "new": 0.02, "diff": 0.0}},
            "metrics/sparse.json": {"test.bce_nats": {"old": 0.1}},  # dropped from train.models
            "metrics/vae.json": {"elbo.neg_elbo_nats": {"new": 150.0}},
            "metrics/floor.json": {"test.bce_nats": {"old": 0.058, "new": 0.058}},
            "reports/summary.json": {"dense.bce_nats": {"old": 0.09, "new": 0.08}}}
    base, head = key_metrics_from_diff(diff)
    assert base == {"dense": {"bce_nats": 0.09}, "sparse": {"bce_nats": 0.1}}
    assert head == {"dense": {"bce_nats": 0.08}, "vae": {"neg_elbo_nats": 150.0}}


PARAM_NAMES = ["noise.factor", "train.models.dense.code_size"]


def exp_row(name, factor, gain, *, typ="branch_commit", other=32, state=None):
    """One row as dvc.api.exp_show() (DVC 3) returns it; names shared by two files carry the file."""
    return {"Experiment": name if typ != "baseline" else None, "rev": name if typ == "baseline" else name[:7], "typ": typ,
            "State": state, "noise.factor": factor, "train.models.dense.code_size": other,
            "metrics/denoise.json:test.bce_nats": 0.08, "metrics/denoise.json:noisy_test.gain_db": gain,
            "metrics/denoise.json:noisy_test.bce_nats": 0.1, "metrics/pca.json:test.bce_nats": 0.12}


def exp_show(*experiments):
    return [exp_row("workspace", 0.5, 10.0, typ="baseline"), exp_row("main", 0.5, 10.0, typ="baseline"),
            *experiments]


def test_sweep_keeps_finished_runs_that_vary_the_param_alone():
    shown = exp_show(exp_row("low", 0.1, 4.0, state="Success"), exp_row("high", 0.7, 12.0),
                     exp_row("running", 0.3, 10.0, state="Running"),
                     exp_row("other", 0.2, 9.0, other=64))
    table = sweep_table(shown, "noise.factor", "denoise", PARAM_NAMES)
    assert table["noise.factor"].tolist() == [0.1, 0.5, 0.7]
    assert table["experiment"].tolist() == ["low", "main", "high"]
    assert table["gain_db"].tolist() == [4.0, 10.0, 12.0]
    assert table["baseline"].tolist() == [False, True, False]
    fig = sweep_figure(table, "noise.factor", "denoise")
    assert fig.axes[0].get_xlabel() == "noise.factor"
    assert [t.get_text() for t in fig.axes[0].texts] == ["noise.factor = 0.1", "noise.factor = 0.5",
                                                         "noise.factor = 0.7"]


def test_sweep_without_experiments_says_how_to_make_them():
    with pytest.raises(StudyError, match=r"no finished experiment varies train.epochs alone"):
        sweep_table(exp_show(), "train.epochs", "denoise", PARAM_NAMES)


def test_an_unknown_base_revision_is_one_clear_error():
    with pytest.raises(StudyError, match=r"base revision 'no-such-branch' not found"):
        Revisions(ROOT, "no-such-branch")


def test_charts_render_the_titled_vega_specs_to_png_and_skip_images(tmp_path):
    from tools.review.charts import charts_section, render_charts

    spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "mark": "line",
            "data": {"values": [{"x": 0, "y": 1, "rev": "a"}, {"x": 1, "y": 2, "rev": "a"}]},
            "encoding": {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"},
                         "strokeDash": {"field": "rev", "type": "nominal"}}}
    plots = {"data": {"Val. BCE, per epoch": [{"type": "vega", "content": spec}],
                      "plots/robustness/pca.csv": [{"type": "vega", "content": spec}],  # a per-file chart
                      "plots/figures/a.png": [{"type": "image", "url": "a.png"}]}}
    charts = render_charts(plots, tmp_path, {"Val. BCE, per epoch", "plots/figures/a.png"})
    assert [(title, path.name) for title, path in charts] == [("Val. BCE, per epoch", "val_bce_per_epoch.png")]
    assert charts[0][1].read_bytes()[:4] == b"\x89PNG"
    section = charts_section([("Val. BCE, per epoch", "files/charts/val_bce_per_epoch.png")], "`a` and `b`")
    assert "![Val. BCE, per epoch](files/charts/val_bce_per_epoch.png)" in section


def test_the_review_draws_the_overlays_of_dvc_yaml_not_the_per_file_charts():
    from tools.review.review import overlay_titles

    assert overlay_titles(ROOT) == {"Validation BCE per epoch", "Training BCE per epoch",
                                    "Noise robustness, PSNR against the input noise"}


def test_a_chart_vl_convert_cannot_render_is_one_clear_error(tmp_path):
    from tools.review.charts import render_charts

    bad = {"data": {"broken": [{"type": "vega", "content": {"mark": "nope", "data": {"values": []}}}]}}
    with pytest.raises(StudyError, match="chart 'broken': vl-convert could not render"):
        render_charts(bad, tmp_path, {"broken"})


def test_a_metric_without_a_direction_is_changed_not_better_or_worse():
    change = MetricChange("vae", BY_NAME["kl_nats"], 6.1, 7.4, sd=0.1)
    assert change.verdict == "changed"


def test_without_a_committed_spread_nothing_is_called_better_or_worse():
    from tools.review.verdicts import UNMEASURED, spread_note

    spread, basis = spread_note(None, {"noise.factor": 0.5})
    changes = compare({"dense": {"bce_nats": 0.09}}, {"dense": {"bce_nats": 0.05}}, spread=spread)
    assert spread is None and "No seed spread is committed" in basis
    assert [c.verdict for c in changes] == [UNMEASURED]


def test_a_figure_on_one_side_only_shows_none_on_the_other(tmp_path):
    from conftest import git
    from tools.review.review import changed_figures

    figures = tmp_path / "plots" / "figures"
    figures.mkdir(parents=True)
    (figures / "old.png").write_bytes(b"old")
    (figures / "same.png").write_bytes(b"same")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    (figures / "old.png").unlink()
    (figures / "new.png").write_bytes(b"new")
    section = changed_figures(Revisions(tmp_path, "HEAD"), tmp_path / "assets", "assets")
    assert ("`new.png`", "(none)", "![head new.png](assets/head/new.png)") in table_rows(section)
    assert ("`old.png`", "![base old.png](assets/base/old.png)", "(none)") in table_rows(section)
    assert "same.png" not in section.split("\n", 2)[2] and section.startswith("2 changed, 1 unchanged.")
    assert (tmp_path / "assets" / "base" / "old.png").read_bytes() == b"old"


@pytest.mark.parametrize("worse", [["worse: dense.bce_nats 0.0900 -> 0.0920 (+5.0 σ, beyond 2 σ)"], []],
                         ids=["regression", "within-noise"])
def test_fail_on_worse_exits_on_a_regression_and_passes_otherwise(monkeypatch, capsys, tmp_path, worse):
    """The command's own behaviour, on a review whose verdicts are made up: exit 1 naming each worse metric,
    or a plain pass; without the flag, never a failure."""
    from tools.review import review

    monkeypatch.setattr(review, "write_review", lambda *args: (tmp_path / "report.md", "key metrics: …", worse))
    review.main(["--base", "main"])  # without the flag, never a failure
    if worse:
        with pytest.raises(StudyError, match=r"^1 key metric\(s\) worse than main beyond the seed noise"):
            review.main(["--base", "main", "--fail-on-worse"])
        assert capsys.readouterr().err.splitlines() == worse
    else:
        review.main(["--base", "main", "--fail-on-worse"])


def test_the_gate_fails_closed_on_what_it_cannot_judge_and_on_a_dropped_metric():
    from tools.review.verdicts import gate_failures, unusable_spread

    base = {"dense": {"bce_nats": 0.0900, "psnr_db": 21.0}, "vae": {"neg_elbo_nats": 150.0, "iwae_nll_nats": 148.0}}
    head = {"dense": {"bce_nats": 0.0920, "psnr_db": 21.0}, "vae": {"neg_elbo_nats": 150.1, "iwae_nll_nats": 148.5},
            "conv": {"bce_nats": 0.08}}
    del head["dense"]["psnr_db"]  # the pull request drops a key metric
    lines = gate_failures(compare(base, head, spread=SPREAD), None)
    assert lines == ["removed: dense.psnr_db is a key metric at the base (21.00) and missing in the head",
                     "cannot judge vae.iwae_nll_nats: the base's seed spread has no σ for it (`make seed-spread`)",
                     "worse: dense.bce_nats 0.0900 -> 0.0920 (+5.0 σ, beyond 2 σ)"]  # conv is new: no line
    params = {"noise.factor": 0.5}
    spread = {"varied": "base.seed", "params": {"noise.factor": 0.3}, "metrics": SPREAD}
    why = unusable_spread(spread, params)
    assert why.startswith("the base's seed spread was measured at other params than the base's own (noise.factor")
    assert unusable_spread(None, params).startswith("the base commits no seed spread")
    assert unusable_spread({**spread, "params": params}, params) is None
    unjudged = gate_failures(compare(base, head, spread=None), why)
    assert unjudged[0] == f"cannot judge: {why}" and unjudged[1].startswith("removed: dense.psnr_db")
    assert len(unjudged) == 2  # without a spread nothing is "worse": the first line says why
    same = {"dense": {"bce_nats": 0.09}}
    assert gate_failures(compare(same, same), why) == []  # nothing moved: nothing to judge


def test_a_metric_whose_seeds_never_moved_is_judged_without_a_crash():
    """A spread with sd 0 (every seed gave the same number): any change is beyond it, and the line says so."""
    change = MetricChange("dense", BY_NAME["bce_nats"], 0.0900, 0.0920, sd=0.0)
    assert change.verdict == "worse" and change.sigmas == float("inf")
    assert regressions([change]) == ["worse: dense.bce_nats 0.0900 -> 0.0920 (+inf σ, beyond 2 σ)"]
    assert ("+inf", "**worse**") in {row[-2:] for row in table_rows(metrics_table([change]))}
    assert MetricChange("dense", BY_NAME["bce_nats"], 0.09, 0.09, sd=0.0).verdict == "same"


def test_a_new_noise_factor_is_no_pass_for_the_gate():
    """gain_db at another noise factor is another test: the gate cannot judge it, and says so."""
    from tools.review.verdicts import gate_failures

    base, head = {"denoise": {"gain_db": 10.3, "bce_nats": 0.076}}, {"denoise": {"gain_db": 4.6, "bce_nats": 0.076}}
    lines = gate_failures(compare(base, head, noise_changed=True, spread=SPREAD), None)
    assert lines == ["cannot judge denoise.gain_db: measured at a new noise factor, on other noisy digits than the "
                     "base's"]


def test_without_a_team_remote_the_gate_says_its_numbers_are_unverified(monkeypatch, capsys, tmp_path):
    """The gate's own code on this checkout as the base (no worktree needed), its review stubbed: with no
    DVC_REMOTE_URL the review's note and the gate's output say, in one line, that nothing was recomputed."""
    from tools.review import gate, review

    notes = []

    def written(root, base, out, note=""):
        notes.append(note)
        return tmp_path / "report.md", "key metrics against HEAD: 30 same", []

    monkeypatch.setattr(review, "write_review", written)
    monkeypatch.delenv("DVC_REMOTE_URL", raising=False)
    gate.main(["--base", "HEAD", "--head", str(ROOT), "--from-base"])
    assert notes == [f"> {gate.UNVERIFIED}.\n"]
    assert gate.UNVERIFIED.startswith("numbers unverified: no team remote ($DVC_REMOTE_URL)")
    assert gate.UNVERIFIED in capsys.readouterr().out


@pytest.mark.parametrize("committed, recomputed, lines", [
    ({"test": {"bce_nats": 0.0917}}, {"test": {"bce_nats": 0.0917000001}}, []),  # round-off
    ({"test": {"bce_nats": 0.0917}}, {"test": {"bce_nats": 0.0950}},
     ["recomputed: metrics/dense.json test.bce_nats is committed as 0.0917, its models give 0.095"]),
    ({"probe": {"knn_acc": 0.94}}, {},
     ["recomputed: metrics/dense.json probe.knn_acc is committed as 0.94 but the recompute has no such metric"]),
])
def test_the_recompute_names_each_number_its_models_do_not_give_back(committed, recomputed, lines):
    from tools.review.gate import differences

    assert differences(committed, recomputed, "metrics/dense.json") == lines


def test_the_job_summary_names_the_artifacts_files_instead_of_linking_them():
    from tools.review.review import ARTIFACT, job_summary

    text = ("| `a.png` | ![base a.png](report_files/base/a.png) | ![head a.png](report_files/head/a.png) |\n"
            "rendered into [`report_files/plots/index.html`](report_files/plots/index.html)\n"
            "![elsewhere](https://example.org/x.png)\n")
    summary = job_summary(text, "report_files")
    assert "](report_files" not in summary and "`report_files/base/a.png`" in summary
    assert "`report_files/plots/index.html`" in summary and f"`{ARTIFACT}` artifact" in summary.splitlines()[0]
    assert "![elsewhere](https://example.org/x.png)" in summary  # a link outside the artifact stays
