"""What every stage script shares: logging, signals, and one clear error line instead of a traceback.

This module is plumbing: it decides how a stage reports and exits, never what it writes, so the
stages' code deps in dvc.yaml leave it out (tests/test_stage_deps.py lists the exemptions).
"""

from __future__ import annotations

import _thread
import contextlib
import gc
import json
import logging
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Callable

from mnist_ae import StudyError
from mnist_ae.machine import configure_tensorflow

DEBUG_ENV = "MNIST_AE_DEBUG"  # set to 1 for the full traceback of a StudyError
# Set to a directory: each stage that succeeds writes there the project files it imported and the
# params keys it read (tests/test_stage_deps.py checks them against dvc.yaml).
RECORD_ENV = "MNIST_AE_RECORD_DEPS"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_deferring = False  # inside stops_between_steps: a stop waits for the next step's end
_pending_stop: signal.Signals | None = None
_raised_stop: signal.Signals | None = None  # the stop raised as KeyboardInterrupt, kept in case it got lost


def _interrupt(signum, frame) -> None:
    """A stop signal unwinds like Ctrl-C, through every atomic write's cleanup; a second one, while
    that cleanup runs, is ignored rather than cutting it short."""
    global _pending_stop, _raised_stop
    if _deferring:
        _pending_stop = signal.Signals(signum)
        return
    for stop in STOP_SIGNALS:
        signal.signal(stop, signal.SIG_IGN)
    _raised_stop = signal.Signals(signum)
    raise KeyboardInterrupt(_raised_stop.name)


def raise_if_stopped() -> None:
    """Raise again a stop whose KeyboardInterrupt never reached run_stage; do nothing if none did.

    Python runs the handler wherever the main thread is, and code that catches BaseException, or C code
    that clears any error raised in the Python it calls, can swallow the exception; the signal is ignored
    from then on, so the stage would finish and write its outputs (seen once in CI, in the figures stage).
    Every atomic write calls this before it commits, and run_stage when main returns.
    """
    if _raised_stop is not None:
        raise KeyboardInterrupt(_raised_stop.name)


def _deliver_swallowed_stop(unraisable) -> None:
    """Raise a stop again that Python swallowed; report any other unraisable exception as usual.

    Python runs a signal handler wherever the main thread happens to be. Inside a weakref callback, a
    ``__del__`` or a garbage-collector callback (importlib's module locks use one), an exception can
    only be printed, so the stage went on and finished as if nobody had asked it to stop. Here the
    handler is put back and the signal simulated again, 20 ms later from another thread (from this
    one it would fire at once, inside the callback again); run_stage also checks for it when main ends.
    """
    stop = unraisable.exc_value
    if _raised_stop is None or not (isinstance(stop, KeyboardInterrupt) and stop.args[:1] == (_raised_stop.name,)):
        sys.__unraisablehook__(unraisable)
        return
    signal.signal(_raised_stop, _interrupt)
    _thread.start_new_thread(_simulate_later, (_raised_stop,))


def _simulate_later(signum: int) -> None:
    time.sleep(0.02)
    _thread.interrupt_main(signum)


def raise_pending_stop() -> None:
    """Raise a stop that arrived inside stops_between_steps; do nothing if none did."""
    global _deferring, _pending_stop
    if _pending_stop is not None:
        stop, _deferring, _pending_stop = _pending_stop, False, None
        _interrupt(stop, None)


@contextlib.contextmanager
def stops_between_steps():
    """Hold a stop signal that arrives inside Keras' fit until the end of a batch or an epoch.

    A KeyboardInterrupt raised at an arbitrary line of TensorFlow's Python layer (while it builds an
    iterator or runs a step) can leave its C++ state half made; unwinding then crashed the stage with
    SIGSEGV or glibc's "free(): invalid size" instead of exit 130 or 143. Yields a Keras callback, to
    be passed to fit last, that raises the held stop at each batch's end (training and validation) and
    after each epoch's callbacks, so a checkpoint being written is finished first.
    """
    import keras

    class RaiseHeldStop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise_pending_stop()

        on_test_batch_end = on_epoch_end = on_train_batch_end

    global _deferring
    _deferring = True
    try:
        yield RaiseHeldStop()
    finally:
        _deferring = False
    raise_pending_stop()  # one that came after the last step; _deferring is off, so it raises


def _exit_now(code: int) -> None:
    """Exit with ``code`` without finalising the interpreter.

    An interrupted ``fit`` leaves TensorFlow's threads running; finalising the interpreter under them
    crashed the process with SIGSEGV instead of the exit code while a Python generator fed the
    training (tensorflow/tensorflow#35100), and nothing is gained by the risk. Everything the stage
    writes is already cleaned up by then.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def handle_stop_signals() -> None:
    """SIGINT (Ctrl-C, ``dvc queue kill``) and SIGTERM (dvc's own stop, a scheduler) end the stage.

    Installed explicitly for both: a process started from a background shell (cron, nohup, a queue
    worker) inherits SIGINT as ignored, and Python keeps an inherited SIG_IGN.
    """
    for stop in STOP_SIGNALS:
        signal.signal(stop, _interrupt)
    sys.unraisablehook = _deliver_swallowed_stop


def imported_project_files(root: Path) -> list[str]:
    """The ``.py`` files under ``root`` that this process imported, relative and sorted."""
    root = root.resolve()
    files = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.endswith(".py"):
            resolved = Path(path).resolve()
            if resolved.is_relative_to(root):
                files.add(resolved.relative_to(root).as_posix())
    return sorted(files)


def record_dependencies(directory: Path) -> None:
    """Write ``<directory>/<script>[@<arg>].json``: the argv, imported project files and params read."""
    from mnist_ae.typed_params import read_keys

    name = Path(sys.argv[0]).stem + "".join(f"@{arg}" for arg in sys.argv[1:])
    record = {"argv": sys.argv, "files": imported_project_files(Path.cwd()), "params": sorted(read_keys())}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")


def model_argument(argv: list[str], description: str | None) -> str:
    """The one positional argument of a per-model stage (train@<model>, evaluate@<model>)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("model", help="a name from the model registry, e.g. dense")
    return parser.parse_args(argv).model


def _stop_behind(exc: BaseException) -> signal.Signals | None:
    """The stop signal that an exception escaping a stage's main stands for, if any.

    Once a stop was raised, whatever escapes is its doing: a library may hand the KeyboardInterrupt on
    as another exception (a pybind11 extension being imported raises "ImportError: initialization
    failed"), which would otherwise end the stop with a traceback and exit 1.
    """
    if _raised_stop is not None:
        return _raised_stop
    return signal.SIGINT if isinstance(exc, KeyboardInterrupt) else None


_compute: dict[str, float] = {"fit": 0.0, "evaluation": 0.0}  # the study's own work, for the done line


def add_compute(kind: str, seconds: float) -> None:
    """Count ``seconds`` of the stage's own work: ``fit`` (training a model) or ``evaluation`` (what the
    study computes besides: metrics, baselines, figures). The rest of its time is machinery (make bench)."""
    _compute[kind] += seconds


@contextlib.contextmanager
def computing(kind: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        add_compute(kind, time.perf_counter() - start)


def run_stage(main: Callable[[list[str]], None], log_usage: bool = True) -> None:
    """Run a stage's ``main(argv)``; a StudyError or OSError becomes ``error: ...`` on stderr, exit 1.

    SIGINT and SIGTERM end the stage with exit 130 or 143 and one ``error:`` line; outputs are
    written to temporary names and renamed only when complete, so none is left behind. Tools
    (review, check) share this and pass ``log_usage=False``: they print no time and memory line.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Keras' predict retraces once per new batch shape; TensorFlow's warning about it is noise here.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    handle_stop_signals()
    start = time.perf_counter()
    try:
        configure_tensorflow()
        main(sys.argv[1:])
        raise_if_stopped()  # swallowed, or too late to be simulated again in time
        if os.environ.get(RECORD_ENV):
            record_dependencies(Path(os.environ[RECORD_ENV]))
        if log_usage:
            # One parsable line per stage; make bench reads it for wall time and peak memory.
            # The stage or its largest child process (fetch runs pip); Linux reports KiB.
            peak_kib = max(resource.getrusage(who).ru_maxrss
                           for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
            logging.getLogger("stage").info("done in %.2f s, peak RSS %.0f MiB; fit %.2f s, evaluation %.2f s",
                                            time.perf_counter() - start, peak_kib / 1024, _compute["fit"],
                                            _compute["evaluation"])
    except BaseException as exc:
        stop = _stop_behind(exc)
        if stop is not None:
            print(f"error: interrupted by {stop.name}; no output was written, rerun with dvc repro", file=sys.stderr)
            _exit_now(128 + stop.value)
        if not isinstance(exc, (StudyError, OSError)) or os.environ.get(DEBUG_ENV):
            raise
        message = str(exc)
        if isinstance(exc, OSError):  # e.g. an output path that cannot be written; a rename names its target
            message = f"{exc.filename2 or exc.filename or 'a file'}: {exc.strerror or exc}"
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
    # Finalising the interpreter would have the garbage collector walk every TensorFlow object once
    # more, over a second per stage on 2 cores. Everything is written and closed by now.
    gc.freeze()
