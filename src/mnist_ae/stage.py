"""What every stage script shares: logging, and one clear error line instead of a traceback."""

from __future__ import annotations

import logging
import os
import resource
import signal
import sys
import time
from typing import Callable

from mnist_ae import StudyError

DEBUG_ENV = "MNIST_AE_DEBUG"  # set to 1 for the full traceback of a StudyError


def _interrupt(signum, frame) -> None:
    """SIGTERM (dvc's own stop, a scheduler) unwinds like Ctrl-C, through every atomic write's cleanup."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_stage(main: Callable[[list[str]], None]) -> None:
    """Run a stage's ``main(argv)``; a StudyError or OSError becomes ``error: ...`` on stderr, exit 1.

    SIGINT and SIGTERM end the stage with exit 130 or 143 and one ``error:`` line; outputs are
    written to temporary names and renamed only when complete, so none is left behind.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Keras' predict retraces once per new batch shape; TensorFlow's warning about it is noise here.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _interrupt)
    start = time.perf_counter()
    try:
        main(sys.argv[1:])
        # One parsable line per stage; make bench reads it for wall time and peak memory.
        # The stage or its largest child process (fetch runs pip); Linux reports KiB.
        peak_kib = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        peak_mib = peak_kib / 1024
        logging.getLogger("stage").info("done in %.2f s, peak RSS %.0f MiB", time.perf_counter() - start, peak_mib)
    except (StudyError, OSError) as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        message = str(exc)
        if isinstance(exc, OSError):  # e.g. an output path that cannot be written; a rename names its target
            message = f"{exc.filename2 or exc.filename or 'a file'}: {exc.strerror or exc}"
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        name = exc.args[0] if exc.args and exc.args[0] in signal.Signals.__members__ else "SIGINT"
        print(f"error: interrupted by {name}; no output was written, rerun with dvc repro", file=sys.stderr)
        sys.exit(128 + signal.Signals[name].value)
