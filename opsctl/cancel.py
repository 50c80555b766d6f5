"""Cancelling a run: the CancelToken the runner's sleeps wait on, and the signal handlers that set it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# On a terminal, after a first Ctrl-C, how long a second one may still leave the run running instead.
INTERRUPT_GRACE_S = 2.0


class CancelToken:
    """Set by signal handlers; wakes the runner's sleeps at once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signals: list[int] = []

    def request(self, signum: int) -> None:
        """Record a stop request (called from a signal handler)."""
        self.signals.append(signum)
        self._event.set()

    @property
    def requested(self) -> bool:
        """Whether any stop was requested."""
        return bool(self.signals)

    @property
    def first(self) -> int | None:
        """The signal of the first request."""
        return self.signals[0] if self.signals else None

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, returning early on a new stop request (each request wakes one sleep)."""
        if self._event.wait(max(0.0, seconds)):
            self._event.clear()


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
