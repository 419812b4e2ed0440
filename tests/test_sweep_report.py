"""A sweep's jobs, their parts that need no cluster: the private job folder, credentials kept out of logs and
clones, each point's status file, and the one sweep report that reads them (tools/sweeps/grid_job.py,
tools/sweeps/exp_table.py). tests/test_grid.py runs the jobs for real, in a Slurm array and as local processes."""

import base64
import http.server
import json
import os
import threading
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_ae import StudyError
from tools.sweeps.exp_table import PointState, job_points, sweep_report, sweep_options
from tools.sweeps.grid_job import Job, private_dir, redact, without_credentials

from conftest import ROOT, as_another_user

TOKEN = "ghs_s3cr3tT0ken"


@pytest.mark.parametrize("text, shown", [
    (f"https://x-access-token:{TOKEN}@github.com/team/mnist-ae", "https://***@github.com/team/mnist-ae"),
    (f"clone https://{TOKEN}@host/r.git into s3://bucket/x", "clone https://***@host/r.git into s3://bucket/x"),
    ("ssh://alice@lab/srv/repo and /plain/path", "ssh://***@lab/srv/repo and /plain/path"),
])
def test_every_urls_credentials_are_masked_in_log_lines(text, shown):
    assert redact(text) == shown


@pytest.mark.parametrize("url, kept", [
    (f"https://x-access-token:{TOKEN}@github.com/team/mnist-ae", "https://github.com/team/mnist-ae"),
    ("https://github.com/team/mnist-ae", "https://github.com/team/mnist-ae"),
    ("/srv/git/mnist-ae.git", "/srv/git/mnist-ae.git"),
    ("ssh://git@lab/srv/mnist-ae.git", "ssh://git@lab/srv/mnist-ae.git"),  # a user name, no secret
])
def test_the_clone_keeps_the_url_without_its_credentials(url, kept):
    assert without_credentials(url) == kept


def test_a_step_logs_its_command_and_output_with_credentials_masked(tmp_path, capsys):
    job = Job("grid-0", ["a=1"], tmp_path / "status", 0)
    job.step("echoing", [sys.executable, "-c", f"print('fetching https://u:{TOKEN}@host/r')"], tmp_path)
    with pytest.raises(StudyError) as failure:
        job.step("failing", [sys.executable, "-c", f"import sys; sys.exit('https://u:{TOKEN}@host 3')"], tmp_path)
    printed = capsys.readouterr().out
    assert TOKEN not in printed + str(failure.value) + "\n".join(job.tail)
    assert "fetching https://***@host/r" in printed and printed.count("+ ") == 2
    assert str(failure.value).startswith("failing failed (`") and "exited with 1" in str(failure.value)


def test_the_job_folder_is_made_private_and_tightened(tmp_path):
    made = private_dir(tmp_path / "cache" / "jobs")
    assert made.stat().st_mode & 0o777 == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o777)
    assert private_dir(loose).stat().st_mode & 0o777 == 0o700


def test_a_job_folder_that_is_a_link_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "jobs").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StudyError, match="is a link or not a folder; refusing to run jobs in it"):
        private_dir(tmp_path / "jobs")


def test_a_job_folder_another_user_made_first_is_refused_with_one_line(tmp_path):
    planted = tmp_path / "jobs"
    planted.mkdir()
    as_another_user(planted)
    grid = tmp_path / "g.grid"
    grid.write_text("a=1\n")
    result = subprocess.run([sys.executable, "-m", "tools.sweeps.grid_job", "--repo", "/nowhere", "--commit", "0" * 40,
                             "--dvc-remote", "/nowhere", "--grid", str(grid), "--index", "0", "--sweep", "1",
                             "--workdir", str(planted), "--status", str(tmp_path / "status")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: grid point g-0 (a=1): job folder {planted} belongs to uid 65534, not "
                                     f"to you (uid {os.getuid()}); refusing to run jobs in it: pass --workdir (or "
                                     f"MNIST_AE_JOB_DIR) a folder of your own")
    assert json.loads((tmp_path / "status" / "g-0.json").read_text())["state"] == "failed"
    assert not any(planted.iterdir())


def test_the_default_job_folder_is_the_users_own_cache(monkeypatch, tmp_path):
    from tools.sweeps.grid_job import default_workdir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_workdir() == tmp_path / "mnist-ae" / "jobs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_workdir() == Path.home() / ".cache" / "mnist-ae" / "jobs"


def status_file(folder: Path, name: str, **status) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"name": name, **status}))


def test_the_report_lists_every_grid_point_finished_failed_started_or_never_reported(tmp_path):
    grid = tmp_path / "noise.grid"
    grid.write_text("# four points\nnoise.factor=0.1\nnoise.factor=0.3\nnoise.factor=-1\nnoise.factor=0.7\n")
    status = tmp_path / "status"
    status_file(status, "noise-0", state="finished", sweep="77")
    status_file(status, "noise-1", state="started", slurm_job="4242", sweep="77")
    status_file(status, "noise-2", state="failed", error="grid point noise-2 (noise.factor=-1): the experiment failed",
                log_tail=["error: noise.factor must be >= 0, got -1"], sweep="77")
    points = job_points(grid, status, "77")
    assert [(p.name, p.state) for p in points] == [("noise-0", "finished"), ("noise-1", "started, never ended"),
                                                  ("noise-2", "failed"), ("noise-3", "never reported")]
    report = sweep_report(f"sweep {grid.name}", points)
    assert report.splitlines()[0] == ("Sweep report (sweep noise.grid): 4 point(s): 1 failed, 1 never reported, "
                                      "1 started, never ended, 1 finished")
    lines = report.splitlines()[2:]
    assert lines[0] == "- failed: noise-2 (noise.factor=-1); grid point noise-2 (noise.factor=-1): the experiment failed"
    assert lines[1] == "    error: noise.factor must be >= 0, got -1"
    assert lines[2].startswith("- never reported: noise-3 (noise.factor=0.7); no ")
    assert "started on slurm job 4242: still running, or killed" in lines[3]
    assert lines[4] == "- finished: noise-0 (noise.factor=0.1)"


def test_a_status_file_an_earlier_sweep_left_counts_for_nothing(tmp_path):
    """Rerun a sweep and cancel one task: its point is "never reported", not the first sweep's "finished"."""
    grid = tmp_path / "noise.grid"
    grid.write_text("noise.factor=0.1\nnoise.factor=0.3\n")
    status = tmp_path / "status"
    status_file(status, "noise-0", state="finished", sweep="101", commit="a" * 40)
    status_file(status, "noise-1", state="finished", sweep="100", commit="b" * 40)  # the first sweep's
    points = job_points(grid, status, "101")
    assert [(p.name, p.state) for p in points] == [("noise-0", "finished"), ("noise-1", "never reported")]
    assert points[1].detail == (f"{status / 'noise-1.json'} is from sweep 100 at commit bbbbbbb, not sweep 101: "
                                f"this sweep's job never started")


def test_a_job_names_its_sweep_and_commit_in_its_status_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "5151")
    result = subprocess.run([sys.executable, "-m", "tools.sweeps.grid_job", "--repo", str(tmp_path / "none.git"),
                             "--commit", "c" * 40, "--dvc-remote", str(tmp_path), "--set", "a=1", "--workdir",
                             str(tmp_path / "jobs"), "--status", str(tmp_path / "status")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 1  # no such repository
    status = json.loads((tmp_path / "status" / "point-a-1.json").read_text())
    assert (status["sweep"], status["commit"], status["state"]) == ("5151", "c" * 40, "failed")
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID")
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    unnamed = subprocess.run([sys.executable, "-m", "tools.sweeps.grid_job", "--repo", "r", "--commit", "c",
                              "--dvc-remote", "d", "--set", "a=1"], cwd=ROOT, capture_output=True, text=True)
    assert unnamed.returncode == 1 and unnamed.stderr.startswith("error: --sweep: name the sweep"), unnamed.stderr


def test_the_markdown_report_fences_the_log_lines():
    report = sweep_report("local queue", [PointState("bad", "failed", detail="full log: x.log", tail=("a", "b"))],
                          markdown=True)
    assert report.startswith("### Sweep report (local queue): 1 point(s): 1 failed")
    assert "\n  ```\n  a\n  b\n  ```" in report


def test_the_grid_its_status_folder_and_the_sweep_go_together(tmp_path):
    for partial in (["--grid", "g.grid"], ["--grid", "g.grid", "--status", str(tmp_path)],
                    ["--status", str(tmp_path), "--sweep", "1"]):
        with pytest.raises(StudyError, match="--grid, --status and --sweep go together"):
            sweep_options([*partial, "--md"])
    with pytest.raises(StudyError, match="no such folder"):
        sweep_options(["--grid", "g.grid", "--status", str(tmp_path / "none"), "--sweep", "1"])
    assert sweep_options(["--md", "--rev", "abc"]) == (None, None, None, ["--md", "--rev", "abc"])


def test_slurms_array_range_and_the_ci_matrix_come_from_the_grid(tmp_path):
    grid = tmp_path / "g.grid"
    grid.write_text("a=1\n# comment\na=2\na=3\n")
    run = lambda flag: subprocess.run([sys.executable, "-m", "tools.sweeps.grid_job", flag, str(grid)],  # noqa
                                      cwd=ROOT, capture_output=True, text=True,
                                      env={"PATH": "/usr/bin:/bin", "PYTHONPATH": "src"})
    assert run("--array").stdout == "0-2\n" and json.loads(run("--count").stdout) == [0, 1, 2]


class AuthRecorder(http.server.BaseHTTPRequestHandler):
    """A Git host on loopback that demands HTTP basic auth, records what it was given, and serves nothing."""
    seen: list[str] = []

    def do_GET(self):  # noqa: N802
        auth = self.headers.get("Authorization")
        if auth:
            AuthRecorder.seen.append(auth)
            self.send_response(404)
        else:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_token_reaches_git_through_askpass_never_a_command_line_a_log_or_the_clone(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AuthRecorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://x-access-token:{TOKEN}@127.0.0.1:{server.server_address[1]}/team/mnist-ae.git"
    try:
        env = {**os.environ, "MNIST_AE_REPO": url}
        result = subprocess.run([sys.executable, "-m", "tools.sweeps.grid_job", "--commit", "c" * 40, "--dvc-remote",
                                 str(tmp_path), "--set", "a=1", "--sweep", "1", "--workdir", str(tmp_path / "jobs"),
                                 "--status", str(tmp_path / "status")], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60)
    finally:
        server.shutdown()
    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert AuthRecorder.seen and set(AuthRecorder.seen) == {expected}  # the server got the token, from askpass
    assert result.returncode == 1 and "cloning the repository failed" in result.stderr
    shown = [line for line in result.stdout.splitlines() if line.startswith("+ ")]
    assert shown and f"+ git -c user.name=mnist-ae -c user.email=mnist-ae@localhost clone --quiet --no-checkout " \
                     f"http://127.0.0.1:{server.server_address[1]}/team/mnist-ae.git" in shown[0]
    written = "".join(p.read_text() for p in (tmp_path / "status").glob("*.json"))
    assert TOKEN not in result.stdout + result.stderr + written
