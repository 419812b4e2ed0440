"""tools/test_times.py: how it reads a timed pytest run, and what the README then says."""

import os

import pytest

from mnist_ae import StudyError
from tools import test_times

RUN = {"commit": "a" * 40, "date": "2026-11-30T05:00:00+00:00", "cpu": "Test CPU", "cpu_family_model": "6/207",
       "cpus": 2}


def test_a_run_keeps_pytests_last_summary_line(tmp_path):
    script = "echo '=== 1 passed in 0.5s ==='; echo; echo '====== 341 passed, 2 skipped in 130.1s (0:02:10) ======'"
    timed = test_times.timed(["sh", "-c", script], tmp_path, dict(os.environ), tmp_path / "run.log")
    assert timed["summary"] == "341 passed, 2 skipped in 130.1s (0:02:10)" and timed["seconds"] >= 0


@pytest.mark.parametrize("script", ["echo '=== 1 failed, 340 passed in 9s ==='; exit 1", "echo no pytest here"])
def test_a_failed_or_summaryless_run_is_an_error_naming_its_log(tmp_path, script):
    with pytest.raises(StudyError, match=r"failed \(exit \d\); its output: .*run\.log"):
        test_times.timed(["sh", "-c", script], tmp_path, dict(os.environ), tmp_path / "run.log")


def test_the_readme_lines_say_whether_each_goal_is_met():
    record = {"run": RUN, "ci": {"seconds": 1500.0, "summary": "495 passed, 3 skipped, 30 warnings in 1400.2s (0:23:20)"},
              "fast_loop": {"seconds": 150.0, "summary": "341 passed in 140.0s"}}
    text = test_times.markdown(record)
    assert "25.0 min (495 passed, 3 skipped; over the goal of 10 min)" in text
    assert "2.5 min (341 passed; within the goal of 3 min)" in text
    assert "commit `aaaaaaa` on 2026-11-30, Test CPU (family/model 6/207)" in text
