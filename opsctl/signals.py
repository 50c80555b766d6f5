"""Signals during a run: SIGINT, SIGTERM and SIGHUP become stop requests on the run's CancelToken."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from opsctl.runner import CancelToken


@contextmanager
def cancel_on_signals(cancel: CancelToken) -> Iterator[CancelToken]:
    """Route SIGINT/SIGTERM/SIGHUP to `cancel` inside the block; the previous handlers come back after."""

    def handler(signum: int, _frame: object) -> None:
        # SIGHUP (terminal closed) is treated like SIGTERM: stop the task rather than orphan it.
        cancel.request(signal.SIGTERM if signum == signal.SIGHUP else signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield cancel
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
