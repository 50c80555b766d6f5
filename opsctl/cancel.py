"""Cancelling a run: the CancelToken the runner's sleeps wait on, and the signal handlers that set it."""

from __future__ import annotations

import errno
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, cast

from opsctl.console import silence, stream_gone

if TYPE_CHECKING:
    from opsctl.model import LogLine, RunRef, Status
    from opsctl.runner import Observer


class _SaysVerb(Protocol):
    def launched(self, ref: RunRef, verb: str = ...) -> None: ...


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


class HangupObserver:
    """Wraps an observer: when stdout or stderr goes away mid-run, that is a hangup (DESIGN.md §5, README).

    A write that fails with a broken pipe, or a stream whose reader has gone (checked on each status
    update), requests a stop with SIGTERM — the run is stopped, recorded in the history, and opsctl exits
    143 — and every later write to that stream goes to /dev/null, so nothing else fails on it.
    """

    def __init__(self, inner: Observer, cancel: CancelToken, fds: tuple[int, ...] = (1, 2)) -> None:
        self.inner = inner
        self.cancel = cancel
        self.fds = fds
        self.hung_up = False

    def _hangup(self) -> None:
        for fd in self.fds:
            if stream_gone(fd):
                silence(fd)
        if not self.hung_up:
            self.hung_up = True
            self.cancel.request(signal.SIGTERM)

    def _guard(self, call: Callable[[], Any]) -> None:
        if self.hung_up:
            return  # the operator is gone: nobody reads progress any more, and the writes would fail
        try:
            call()
        except (BrokenPipeError, ConnectionResetError):
            self._hangup()
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: the terminal went away
                raise
            self._hangup()

    def launched(self, ref: RunRef, verb: str = "launched") -> None:
        """Relay; another `verb` ("reattached to", for opsctl wait) goes to an observer that says it."""
        if verb == "launched":
            self._guard(lambda: self.inner.launched(ref))
        else:
            inner = cast("_SaysVerb", self.inner)
            self._guard(lambda: inner.launched(ref, verb))

    def status(self, status: Status, elapsed_s: float) -> None:
        """Relay, after checking that somebody still reads stdout and stderr."""
        if not self.hung_up and any(stream_gone(fd) for fd in self.fds):
            self._hangup()
        self._guard(lambda: self.inner.status(status, elapsed_s))

    def log(self, line: LogLine) -> None:
        """Relay."""
        self._guard(lambda: self.inner.log(line))

    def notice(self, message: str) -> None:
        """Relay."""
        self._guard(lambda: self.inner.notice(message))

    def close(self) -> None:
        """Close the inner observer (its last writes may fail too)."""
        close = getattr(self.inner, "close", None)
        if callable(close):
            self._guard(close)
