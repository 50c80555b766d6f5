"""The fake's clocks: real time for CLI tests, a manual clock for in-process runner tests."""

from __future__ import annotations

import threading
import time


class RealClock:
    """Seconds since the fake started, in real time."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self._t0

    def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        time.sleep(max(0.0, seconds))


class ManualClock:
    """Time that moves only when a test (or the runner, as its `sleep`) advances it."""

    def __init__(self) -> None:
        self._now = 0.0
        self.changed = threading.Condition()
        self._streams: dict[int, float] = {}  # open tail streams → the fake time they have sent up to

    def __call__(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        """Advance, then let the open tail streams send what became visible (bounded, in real time)."""
        with self.changed:
            self._now += max(seconds, 0.001)
            self.changed.notify_all()
            deadline = time.monotonic() + 2.0
            while any(at < self._now for at in self._streams.values()) and time.monotonic() < deadline:
                self.changed.wait(0.01)
        time.sleep(0.002)  # and the client's reader thread a moment to take them in

    def sent(self, stream: int, at: float | None) -> None:
        """A tail stream has sent everything visible at `at` (None: it ended)."""
        with self.changed:
            if at is None:
                self._streams.pop(stream, None)
            else:
                self._streams[stream] = at
            self.changed.notify_all()


Clock = RealClock | ManualClock
