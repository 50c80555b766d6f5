"""Cancelling a run: the CancelToken the runner's sleeps wait on, and the signal handlers that set it."""

from __future__ import annotations

import os
import select
import signal
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Protocol, cast

from opsctl.console import reader_gone, silence, stream_gone

if TYPE_CHECKING:
    from opsctl.model import LogLine, RunRef, Status
    from opsctl.runner import Observer


class _SaysVerb(Protocol):
    def launched(self, ref: RunRef, verb: str = ...) -> None: ...


# On a terminal, after a first Ctrl-C, how long a second one may still leave the run running instead.
INTERRUPT_GRACE_S = 2.0


class CancelToken:
    """Set by signal handlers; wakes the runner's sleeps at once.

    A signal handler runs in the main thread between two bytecodes, possibly while that thread holds a lock, so
    a request takes none: it appends to a list and writes a byte to a pipe, and `wait` sleeps in poll() on that
    pipe. (A `threading.Event` deadlocked here: a signal landing while `Event.wait` held the Event's own lock
    made the handler's `set()` wait for it forever; opsctl hung with the run still going.) Inside
    `cancel_on_signals` the pipe is also the interpreter's wakeup fd, so a signal the kernel hands to another
    thread (gRPC's) still ends the sleep at once.
    """

    def __init__(self) -> None:
        self.signals: list[int] = []
        # The run is over and opsctl is writing its record and summary (`finishing`): a signal then stops nothing.
        self.over = False
        self.late: list[int] = []  # signals that came while finishing
        self._read_fd, self._write_fd = os.pipe()  # not inherited by child processes (PEP 446)
        for fd in (self._read_fd, self._write_fd):
            os.set_blocking(fd, False)
        weakref.finalize(self, _close, self._read_fd, self._write_fd)

    def request(self, signum: int) -> None:
        """Record a stop request (called from a signal handler, or from any thread)."""
        self.signals.append(signum)
        with suppress(OSError):  # a full pipe already holds a wake-up
            os.write(self._write_fd, b"\0")

    @property
    def requested(self) -> bool:
        """Whether any stop was requested."""
        return bool(self.signals)

    @property
    def first(self) -> int | None:
        """The signal of the first request."""
        return self.signals[0] if self.signals else None

    @property
    def wakeup_fd(self) -> int:
        """The pipe end a signal's wake-up byte goes to (`signal.set_wakeup_fd`)."""
        return self._write_fd

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, returning early on a new stop request (each request wakes one sleep)."""
        # poll() takes milliseconds and rounds up; after a handler ran it goes on with the time left (PEP 475).
        # Not select(): the fd number may be over FD_SETSIZE in a busy process. A poll object per sleep: one
        # shared by sleeps in several threads (a token shared by runners) raises "concurrent poll() invocation".
        poller = select.poll()
        poller.register(self._read_fd, select.POLLIN)
        if poller.poll(max(0.0, seconds) * 1000):
            with suppress(OSError):
                while os.read(self._read_fd, 4096):
                    pass


def _close(*fds: int) -> None:
    for fd in fds:
        with suppress(OSError):
            os.close(fd)


@contextmanager
def cancel_on_signals(cancel: CancelToken) -> Iterator[CancelToken]:
    """Route SIGINT/SIGTERM/SIGHUP to `cancel` inside the block; the previous handlers come back after. Once
    the block sets `cancel.over` (the run ended; see `finishing`), a first signal is only noted and a second one
    exits at once with 128 + its number."""

    def handler(signum: int, _frame: object) -> None:
        # SIGHUP (terminal closed) is treated like SIGTERM: stop the task rather than orphan it.
        signum = signal.SIGTERM if signum == signal.SIGHUP else signum
        if cancel.over:
            # The run has ended: its history record and summary are completed, not torn by a default handler
            # (killed mid-write, or a KeyboardInterrupt saying "nothing was launched"). A second signal means
            # the writing itself is stuck (a reader that stopped reading): leave at once.
            if cancel.late:
                os._exit(128 + signum)
            cancel.late.append(signum)
            return
        cancel.request(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    # The C-level handler writes a byte here from whichever thread got the signal: the sleep ends even when
    # the main thread, the only one that runs Python handlers, was not the one interrupted.
    previous_fd = signal.set_wakeup_fd(cancel.wakeup_fd, warn_on_full_buffer=False)
    try:
        yield cancel
    finally:
        signal.set_wakeup_fd(previous_fd)
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
        except OSError as e:
            if not reader_gone(e):
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


@contextmanager
def finishing(cancel: CancelToken) -> Iterator[None]:
    """Inside `cancel_on_signals`, around what follows a run's end (history, step summary, the summary or JSON):
    a stop signal now finds nothing to stop, so the writing goes on (a second one ends opsctl at once)."""
    cancel.over = True
    try:
        yield
    finally:
        cancel.over = False
