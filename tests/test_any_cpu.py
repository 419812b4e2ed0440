"""README command 2 after command 1 on another CPU: the rerun moved the last digits of the working
tree's results, and the tests that check the committed tree's consistency still pass, because they
read it through git (the `committed` fixture), not from the working tree.
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, git

CONSISTENCY_TESTS = ["tests/test_docs.py", "tests/test_report.py",
                     "tests/test_workflow.py::test_the_committed_results_are_current"]


def move_last_digits(repo):
    """What a rerun on another CPU does to the results: every model's numbers move a little."""
    for path in sorted((repo / "metrics").glob("*.json")):
        metrics = json.loads(path.read_text())
        if "test" in metrics and "bce_nats" in metrics["test"]:
            metrics["test"]["bce_nats"] += 1e-4
            path.write_text(json.dumps(metrics, indent=4))
    summary = repo / "reports" / "summary.json"
    summary.write_text(summary.read_text().replace("0.0", "0.1", 1))
    results = repo / "reports" / "results.md"
    results.write_text(results.read_text().replace("0.0", "0.1", 1))


@pytest.mark.e2e
def test_the_consistency_tests_pass_after_a_rerun_moved_the_results(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "clone", "--quiet", str(ROOT), str(repo))
    move_last_digits(repo)
    assert git(repo, "status", "--porcelain").strip(), "the stand-in rerun changed nothing"
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CONSISTENCY_TESTS],
                            cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
