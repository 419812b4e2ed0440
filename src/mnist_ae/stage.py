"""What every stage script shares: logging, and one clear error line instead of a traceback."""

from __future__ import annotations

import logging
import sys
from typing import Callable

from mnist_ae import StudyError


def run_stage(main: Callable[[list[str]], None]) -> None:
    """Run a stage's ``main(argv)``; a StudyError becomes ``error: ...`` on stderr and exit 1."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Keras' predict retraces once per new batch shape; TensorFlow's warning about it is noise here.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        main(sys.argv[1:])
    except StudyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
