"""tools/dev/test_times.py: how it reads a timed pytest run, and what the README then says."""

import os

import pytest

from mnist_ae import StudyError
from tools.dev import test_times

RUN = {"commit": "a" * 40, "date": "2026-11-30T05:00:00+00:00", "cpu": "Test CPU", "cpu_family_model": "6/207",
       "cpus": 2}


def test_a_run_keeps_pytests_last_summary_line(tmp_path):
    script = ("echo '=== 1 passed in 0.5s ==='; echo; sleep 0.3; "
              "echo '====== 341 passed, 2 skipped in 130.1s (0:02:10) ======'")
    timed = test_times.timed(["sh", "-c", script], tmp_path, dict(os.environ), tmp_path / "run.log")
    assert timed["summary"] == "341 passed, 2 skipped in 130.1s (0:02:10)"
    assert 0.3 <= timed["seconds"] < 30  # the command's own wall time, not pytest's figure in its summary


@pytest.mark.parametrize("script", ["echo '=== 1 failed, 340 passed in 9s ==='; exit 1", "echo no pytest here"])
def test_a_failed_or_summaryless_run_is_an_error_naming_its_log(tmp_path, script):
    with pytest.raises(StudyError, match=r"failed \(exit \d\); its output: .*run\.log"):
        test_times.timed(["sh", "-c", script], tmp_path, dict(os.environ), tmp_path / "run.log")


def test_the_readme_lines_say_whether_each_goal_is_met():
    record = {"run": RUN, "ci": {"seconds": 1500.0, "summary": "495 passed, 3 skipped, 30 warnings in 1400.2s (0:23:20)"},
              "fast_loop": {"seconds": 90.0, "summary": "341 passed in 80.0s"}}
    text = test_times.markdown(record)
    assert "25.0 min (495 passed, 3 skipped; over the goal of 15 min)" in text
    assert "1.5 min (341 passed; within the goal of 2 min)" in text
    assert "commit `aaaaaaa` on 2026-11-30, Test CPU (family/model 6/207)" in text


def test_a_timeline_names_each_workers_modules_and_the_longest_phase(tmp_path):
    """A real pytest run with --timeline (this conftest's hook), then its summary."""
    import shutil
    import subprocess
    import sys

    from conftest import ROOT

    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", suite / "conftest.py")
    (suite / "test_slow.py").write_text("import time\n\ndef test_sleeps():\n    time.sleep(0.6)\n\n"
                                        "def test_quick():\n    pass\n")
    timeline = tmp_path / "timeline.jsonl"
    env = {name: value for name, value in os.environ.items()  # not this run's worker name nor its --timeline
           if name not in ("PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                             "--rootdir", str(suite), "--timeline", str(timeline), str(suite)],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    summary = test_times.timeline_summary(timeline).splitlines()
    assert summary[0].startswith("6 test phases over ")  # setup, call and teardown of two tests
    assert summary[1].startswith("main: busy ") and "test_slow " in summary[1]
    longest = summary[3].split()
    assert float(longest[0]) >= 0.6 and longest[3:] == ["call", "test_slow.py::test_sleeps"]


def test_a_missing_timeline_is_an_error_saying_how_to_make_one(tmp_path):
    with pytest.raises(StudyError, match=r"holds no test phases: run pytest with --timeline .*none\.jsonl"):
        test_times.timeline_summary(tmp_path / "none.jsonl")
