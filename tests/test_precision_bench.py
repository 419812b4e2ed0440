"""benchmarks/precision.py's summary of two recorded pipeline runs: seconds per epoch, whole-run time, shifts in σ."""

import json
import shutil

import pytest

from benchmarks import precision

from conftest import ROOT

MODELS = ("dense", "conv")
PROVENANCE = {"commit": "0" * 40, "date": "2026-11-30T00:00:00+00:00", "cpu": "Test CPU", "cpu_family_model": "6/207",
              "cpu_flags": ["amx_bf16", "avx512_bf16"], "threads": 2, "cpus": 2, "code_changes": []}


def stage_lines(stage: str, seconds: float, fit: float | None = None) -> str:
    fit_line = f"INFO mnist_ae.training: fit: 50 epochs in {fit} s\n" if fit is not None else ""
    return f"Running stage '{stage}':\n{fit_line}INFO stage: done in {seconds} s, peak RSS 900 MiB\n"


@pytest.fixture
def recorded(tmp_path):
    """A DIR as --run leaves it: float32 ran every stage, bfloat16 only the train@ and evaluate@ ones;
    bfloat16 moved conv's PSNR by exactly 3 seed σ and left every other metric as committed."""
    (tmp_path / "provenance.json").write_text(json.dumps(PROVENANCE))
    logs = {"float32": stage_lines("fetch", 10.0) + stage_lines("figures", 20.0),
            "mixed_bfloat16": ""}
    fits = {"float32": {"dense": 100.0, "conv": 1000.0}, "mixed_bfloat16": {"dense": 125.0, "conv": 500.0}}
    for precision_name, log in logs.items():
        for model in MODELS:
            fit = fits[precision_name][model]
            log += stage_lines(f"train@{model}", fit + 10.0, fit) + stage_lines(f"evaluate@{model}", 30.0)
        wall = 2000.0 if precision_name == "float32" else 800.0
        (tmp_path / f"{precision_name}.log").write_text(log + f"wall={wall}\n")
        shutil.copytree(ROOT / "metrics", tmp_path / precision_name / "metrics")
    conv = tmp_path / "mixed_bfloat16" / "metrics" / "conv.json"
    metrics = json.loads(conv.read_text())
    sd = json.loads((ROOT / "records" / "seed_spread.json").read_text())["metrics"]["conv"]["psnr_db"]["sd"]
    metrics["test"]["psnr_db"] += 3 * sd
    conv.write_text(json.dumps(metrics))
    return tmp_path


def test_summary_times_each_model_and_the_whole_run(recorded):
    record = precision.summarise(recorded)
    assert record["models"]["dense"]["seconds_per_epoch"] == {"float32": 2.0, "mixed_bfloat16": 2.5}
    assert record["models"]["conv"]["speed_up"] == 2.0
    # The float32 wall, with the four rerun stages' 1,180 s swapped for bfloat16's 705 s.
    assert record["whole_run_seconds"] == {"float32": 2000.0, "mixed_bfloat16": 2000.0 - 1180.0 + 705.0}
    assert record["rerun_stages"] == ["evaluate@conv", "evaluate@dense", "train@conv", "train@dense"]


def test_summary_measures_shifts_in_seed_sigmas_against_the_committed_run(recorded):
    record = precision.summarise(recorded)
    conv, dense = record["models"]["conv"]["metrics"], record["models"]["dense"]["metrics"]
    assert conv["psnr_db"]["mixed_bfloat16_sigmas"] == pytest.approx(3.0)
    assert conv["psnr_db"]["float32_sigmas"] == 0.0
    assert all(m["mixed_bfloat16_sigmas"] == 0.0 for m in dense.values())
    assert not precision.within(record["models"]["conv"], "mixed_bfloat16")
    assert precision.within(record["models"]["dense"], "mixed_bfloat16")
    table = precision.markdown(record)
    assert "(**+3.0**)" in table and "Beyond 2 σ at bfloat16 (bold): conv." in table


def test_an_unfinished_run_is_one_clear_error(recorded):
    log = recorded / "mixed_bfloat16.log"
    log.write_text(log.read_text().replace("wall=", "interrupted "))
    with pytest.raises(SystemExit, match="mixed_bfloat16.log: no wall=SECONDS line; the run did not finish"):
        precision.summarise(recorded)
