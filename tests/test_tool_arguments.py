"""Each developer tool's bad arguments: one `error:` line that names the cause and a non-zero exit, run as
`python -m tools.<tool>` the way make runs it, with nothing written."""

import subprocess
import sys

import pytest

from conftest import ROOT


def tool(cwd, *args):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}", "HOME": str(cwd)})


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "g.grid").write_text("noise.factor=0.1\nnoise.factor=0.3\n")
    return tmp_path


CASES = [
    (["tools.sweeps.grid_job", "--count"], 1, "error: --count takes one grid file"),
    (["tools.sweeps.grid_job", "--array", "missing.grid"], 1,
     "error: missing.grid: cannot read the grid file (No such file"),
    (["tools.sweeps.grid_job", "--repo", "r", "--commit", "c", "--dvc-remote", "d", "--grid", "g.grid"], 1,
     "error: --grid needs --index (or $SLURM_ARRAY_TASK_ID)"),
    (["tools.sweeps.grid_job", "--repo", "r", "--commit", "c", "--dvc-remote", "d", "--grid", "g.grid",
      "--index", "2"], 1,
     "error: g.grid: index 2 is outside its 2 points (0 to 1)"),
    (["tools.sweeps.grid_job", "--repo", "r", "--commit", "c", "--dvc-remote", "d", "--set", "noise.factor"], 1,
     "error: --set 'noise.factor' is not a KEY=VALUE override"),
    (["tools.sweeps.grid_job", "--repo", "r", "--commit", "c", "--grid", "g.grid", "--index", "0"], 2,
     "error: the following arguments are required: --dvc-remote"),
    (["tools.sharing.remote", "pull"], 1, "is not in a DVC repository: run this in a clone of the project"),
    (["tools.sharing.remote", "upload"], 2, "error: argument command: invalid choice: 'upload'"),
    (["tools.dev.seed_spread", "--pool-into", "records/seed_spread.json"], 2,
     "error: --pool-into needs --models: the runs' other metrics files may be their baseline's copies"),
    (["tools.dev.seed_spread", "--add-into", "none.json", "--models", "vae"], 1,
     "error: none.json: no such spread file to add to"),
    (["tools.dev.seed_spread", "--add-into", "a.json", "--pool-into", "b.json", "--models", "vae"], 2,
     "error: --pool-into and --add-into exclude each other"),
    (["tools.sweeps.sweep", "--input", "missing.json"], 1,
     "error: missing.json: not readable saved dvc.api.exp_show output"),
    (["tools.sweeps.sweep", "--bins", "3"], 2, "error: unrecognized arguments: --bins 3"),
    (["tools.sweeps.exp_table", "--grid", "g.grid"], 1,
     "error: --grid, --status and --sweep go together: the grid file, its jobs' status folder and the sweep's id"),
    (["tools.sweeps.grid_job", "--repo", "r", "--commit", "c", "--dvc-remote", "d", "--grid", "g.grid", "--index", "0"],
     1, "error: --sweep: name the sweep this point belongs to"),
    (["tools.sweeps.grid_job", "--commit", "c", "--dvc-remote", "d", "--grid", "g.grid", "--index", "0"], 1,
     "error: no Git remote: pass --repo, or set $MNIST_AE_REPO"),
]


@pytest.mark.parametrize("args, code, line", CASES, ids=[" ".join(args) for args, _, _ in CASES])
def test_a_bad_argument_is_one_error_line_and_a_non_zero_exit(folder, args, code, line):
    before = sorted(folder.iterdir())
    result = tool(folder, *args)
    assert result.returncode == code, result.stderr[-2000:]
    errors = [text for text in result.stderr.splitlines() if text.startswith("error: ") or ": error: " in text]
    assert len(errors) == 1 and line in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert sorted(folder.iterdir()) == before  # nothing written
