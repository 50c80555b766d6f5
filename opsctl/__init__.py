"""opsctl: run one admin task against a live serverless environment."""

from __future__ import annotations

import contextlib
import signal
import sys

__version__ = "0.1.0"


def interrupted_at_start(_signum: int, _frame: object) -> None:
    """Ctrl-C before opsctl.cli has finished importing: one line and exit 130, never a traceback."""
    import os

    try:
        os.write(2, b"opsctl: error: interrupted; nothing was launched\n")
    finally:
        os._exit(130)


# The first instruction of the entry point (the `opsctl` console script and `python -m opsctl` both import
# this package first): the imports that follow take ~100-300 ms, and Python's own handler would show a
# traceback from inside one of them. opsctl.cli puts the usual KeyboardInterrupt back once it has loaded.
# A library import (a test runner) keeps its own handler.
if sys.argv and (sys.argv[0] == "-m" or sys.argv[0].rsplit("/", 1)[-1] == "opsctl"):
    with contextlib.suppress(ValueError):  # ValueError: not the main thread
        signal.signal(signal.SIGINT, interrupted_at_start)
