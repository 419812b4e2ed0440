"""The plumbing every stage shares: how a stop signal ends it."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

# A stage whose stop signal lands inside a weakref callback, where Python can only print an exception;
# then it writes its output. Importlib's module locks hit this in CI: the stage finished with exit 0.
SWALLOWED_STOP = textwrap.dedent("""
    import gc, os, signal, sys, time, weakref
    from mnist_ae.stage import run_stage

    class Owner:
        pass

    def callback(ref):
        os.kill(os.getpid(), signal.{name})
        for _ in range(100_000):  # the handler runs here, inside the callback
            pass

    def main(argv):
        owner = Owner()
        ref = weakref.ref(owner, callback)
        del owner
        gc.collect()
        if {busy}:  # a stage with work left gets the stop again at once
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                pass
            open("output.txt", "w").write("written after the stop\\n")

    run_stage(main, log_usage=False)
""")


def run_script(code: str, cwd) -> subprocess.CompletedProcess:
    """``python -c code`` with the library importable, as a stage script runs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("busy", [True, False], ids=["work-left", "main-ends-at-once"])
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_stop_swallowed_inside_a_callback_still_ends_the_stage(tmp_path, name, busy):
    result = run_script(SWALLOWED_STOP.format(name=name, busy=busy), tmp_path)
    assert result.returncode == 128 + signal.Signals[name].value, result.stderr
    assert result.stderr.strip().splitlines() == [f"error: interrupted by {name}; no output was written, "
                                                  "rerun with dvc repro"]
    assert not (tmp_path / "output.txt").exists()


def test_other_unraisable_exceptions_are_still_reported(tmp_path):
    code = textwrap.dedent("""
        from mnist_ae.stage import run_stage

        class Broken:
            def __del__(self):
                raise ValueError("a bug in a finaliser")

        def main(argv):
            Broken()

        run_stage(main, log_usage=False)
    """)
    result = run_script(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Exception ignored in" in result.stderr and "a bug in a finaliser" in result.stderr
