"""The plumbing every stage shares: how a stop signal ends it."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from mnist_ae.machine import THREADS_ENV

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
    assert_ended_by(run_script(SWALLOWED_STOP.format(name=name, busy=busy), tmp_path), name)
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


# A stop that reaches a library's `except BaseException` while the stage runs it: the library either drops
# it (a bare except, or C code clearing the error raised in the Python it calls; in CI the figures stage then
# finished) or hands it on as another exception (a pybind11 extension being imported turns it into
# "ImportError: initialization failed": a traceback, exit 1).
STOP_IN_A_LIBRARY = textwrap.dedent("""
    import os, signal, time
    from mnist_ae.files import atomic_dir, atomic_path
    from mnist_ae.stage import run_stage

    def main(argv):
        try:
            {trigger}
            time.sleep(5)
        except BaseException:
            {library}
        {then}

    run_stage(main, log_usage=False)
""")
SIGNAL_ITSELF = "os.kill(os.getpid(), signal.{name})"
DROPPED = SIGNAL_ITSELF + "  # dropped; a second signal finds it ignored, as while a stop unwinds"
CONVERTED = 'raise ImportError("initialization failed")'
WRITES = {"file": 'with atomic_path("output.txt") as tmp: tmp.write_text("written after the stop")',
          "folder": 'with atomic_dir("output") as tmp: (tmp / "a.txt").write_text("written after the stop")',
          "nothing": "pass"}


def stop_in_a_library(name: str, library: str, then: str = "pass", trigger: str = SIGNAL_ITSELF) -> str:
    return STOP_IN_A_LIBRARY.format(trigger=trigger, library=library, then=then).replace("{name}", name)


def assert_ended_by(result: subprocess.CompletedProcess, name: str) -> None:
    assert result.returncode == 128 + signal.Signals[name].value, result.stderr
    assert result.stderr.strip().splitlines() == [f"error: interrupted by {name}; no output was written, "
                                                  "rerun with dvc repro"]


@pytest.mark.parametrize("write", WRITES, ids=list(WRITES))
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_stop_caught_by_a_library_still_ends_the_stage_before_it_writes(tmp_path, name, write):
    result = run_script(stop_in_a_library(name, DROPPED, WRITES[write]), tmp_path)
    assert_ended_by(result, name)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_stop_a_library_turned_into_another_error_still_ends_as_a_stop(tmp_path, name):
    assert_ended_by(run_script(stop_in_a_library(name, CONVERTED), tmp_path), name)


def test_an_error_without_a_stop_still_shows_its_traceback(tmp_path):
    result = run_script(stop_in_a_library("SIGINT", CONVERTED, trigger="raise ValueError('a bug')"), tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" in result.stderr and result.stderr.strip().endswith("ImportError: initialization failed")


# A stop that lands inside Keras' fit waits for the end of a batch: raised at an arbitrary line of
# TensorFlow's Python layer, it crashed the stage (SIGSEGV, "free(): invalid size") instead of exiting.
HELD_STOP = textwrap.dedent("""
    import os, signal, time
    from pathlib import Path
    from mnist_ae.stage import run_stage, stops_between_steps

    def main(argv):
        with stops_between_steps() as held_stop:
            os.kill(os.getpid(), signal.{name})
            time.sleep(0.2)  # the handler has run by now, and held the stop
            Path("reached.txt").write_text("the stop was held")
            if {batch_end}:
                held_stop.on_train_batch_end(0)
                Path("after-batch.txt").write_text("the stop was lost")
        Path("output.txt").write_text("written after the stop")

    run_stage(main, log_usage=False)
""")

HELD_DURING_FIT = textwrap.dedent("""
    import os, signal
    from pathlib import Path
    import numpy as np
    from mnist_ae.stage import run_stage, stops_between_steps

    def main(argv):
        import keras

        class SignalInFirstBatch(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                if batch == 0:
                    os.kill(os.getpid(), signal.{name})

            def on_train_batch_end(self, batch, logs=None):
                with open("batches.txt", "a") as done:
                    done.write(f"{{batch}}\\n")

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        x = np.zeros((64, 4), "float32")
        with stops_between_steps() as held_stop:
            model.fit(x, x[:, :1], batch_size=8, epochs=3, verbose=0, callbacks=[SignalInFirstBatch(), held_stop])
        Path("output.txt").write_text("trained")

    run_stage(main, log_usage=False)
""")


def assert_stopped_cleanly(result, name, tmp_path):
    assert result.returncode == 128 + signal.Signals[name].value, result.stderr
    assert f"error: interrupted by {name}; no output was written" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "output.txt").exists()


# The two below train a Keras model in a child process (TensorFlow's import alone is seconds): end to end,
# out of the fast loop.
@pytest.mark.e2e
@pytest.mark.parametrize("batch_end", [True, False], ids=["at-a-batch-end", "at-the-block-end"])
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_stop_inside_training_waits_for_a_safe_point(tmp_path, name, batch_end):
    result = run_script(HELD_STOP.format(name=name, batch_end=batch_end), tmp_path)
    assert_stopped_cleanly(result, name, tmp_path)
    assert (tmp_path / "reached.txt").exists()
    assert not (tmp_path / "after-batch.txt").exists()


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_keras_fit_stops_at_the_end_of_the_batch_the_signal_came_in(tmp_path, name):
    result = run_script(HELD_DURING_FIT.format(name=name), tmp_path)
    assert_stopped_cleanly(result, name, tmp_path)
    assert (tmp_path / "batches.txt").read_text() == "0\n"


@pytest.mark.parametrize("given, kept", [(None, "1"), ("0", "0"), ("1", "1")])
def test_onednn_is_on_unless_the_user_turned_it_off(given, kept):
    """Every x86 CPU gets oneDNN's kernels, not only those TensorFlow enables them for; a user's 0 stays."""
    from mnist_ae.machine import configure_tensorflow

    environ = {} if given is None else {"TF_ENABLE_ONEDNN_OPTS": given}
    configure_tensorflow(environ)
    assert environ["TF_ENABLE_ONEDNN_OPTS"] == kept


def test_a_stage_configures_tensorflow_itself_before_its_main_runs(tmp_path):
    """run_stage sets TensorFlow's start-up variables however the stage was started: here with none of them
    set, as a user's shell has them (the suite's own environment sets them for every test)."""
    code = textwrap.dedent("""
        import json, os
        from mnist_ae.stage import run_stage

        def main(argv):
            names = ("TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
            with open("seen.json", "w") as out:
                json.dump({name: os.environ.get(name) for name in names}, out)

        run_stage(main, log_usage=False)
    """)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("TF_", "OMP_")) and name != THREADS_ENV}
    env.update(PYTHONPATH=str(ROOT / "src"), **{THREADS_ENV: "1"})
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen == {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                    "OMP_NUM_THREADS": "1"}
