"""An in-memory provider that plays a script against a fake clock: the runner's test partner.

It is a fake (a working provider with scripted behaviour), not a mock: the runner under test calls it
exactly as it calls the real ones.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opsctl.errors import TemporaryFailure
from opsctl.model import LogLine, LogPage, RunRef, RunSpec, State, Status, Timing


@dataclass
class FakeClock:
    """Monotonic time that only moves when someone sleeps."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.001)


SCRIPT_TIMING = Timing(
    fast_poll_s=0.5,
    slow_poll_s=5.0,
    fast_phase_s=10.0,
    log_fast_poll_s=0.5,
    log_poll_s=4.0,
    drain_settle_s=1.0,
    drain_quiet_reads=2,
    drain_max_s=10.0,
    stop_wait_s=20.0,
)


@dataclass
class ScriptedProvider:
    """Starts at t=launch, runs from +0.5 s, exits with `exit_code` at `finish_at` unless stopped first."""

    clock: FakeClock
    finish_at: float | None = 3.0  # None: runs until stopped
    exit_code: int | None = 0
    lines: list[tuple[float, str]] = field(default_factory=list)  # (visible at, message)
    stop_takes: float = 0.5
    page_size: int = 1000
    failures: dict[str, int] = field(default_factory=dict)  # method → TemporaryFailures to raise first
    ambiguous_launch: bool = False  # the first launch starts the run but "fails" in transit
    output_ended_ago_s: float | None = None  # report the task's exit this long ago (wall clock) once stopped
    kind: str = "scripted"
    timing: Timing = field(default_factory=lambda: SCRIPT_TIMING)
    calls: Counter[str] = field(default_factory=Counter)
    launches: list[RunSpec] = field(default_factory=list)
    stops: list[str] = field(default_factory=list)
    started_at: float | None = None
    stop_requested_at: float | None = None
    reads_at_stop: int | None = None  # read_logs calls made before the first STOPPED answer

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if self.failures.get(name, 0) > 0:
            self.failures[name] -= 1
            raise TemporaryFailure(f"{name}: throttled")

    def target(self) -> list[tuple[str, str]]:
        return [("script", "yes")]

    def plan(self, spec: RunSpec) -> dict[str, Any]:
        return {"command": spec.command, "env": spec.env_dict()}

    def launch(self, spec: RunSpec) -> RunRef:
        self._call("launch")
        self.launches.append(spec)
        self.started_at = self.clock()
        if self.ambiguous_launch:
            self.ambiguous_launch = False
            raise TemporaryFailure("launch: connection dropped after the request was sent")
        return RunRef(id="run-1")

    def find_run(self, spec: RunSpec) -> RunRef | None:
        self._call("find_run")
        return RunRef(id="run-1") if any(s.run_id == spec.run_id for s in self.launches) else None

    def duplicates(self, spec: RunSpec, ref: RunRef) -> list[RunRef]:
        self._call("duplicates")
        return []

    def ref(self, run: str) -> RunRef:
        return RunRef(id=run)

    def poll(self, ref: RunRef) -> Status:
        self._call("poll")
        t = self.clock() - (self.started_at or 0.0)
        if self.stop_requested_at is not None and self.clock() >= self.stop_requested_at + self.stop_takes:
            return Status(State.STOPPED, "STOPPED", exit_code=None, reason=self.stops[-1])
        if self.finish_at is not None and t >= self.finish_at:
            if self.reads_at_stop is None:
                self.reads_at_stop = self.calls["read_logs"]
            ended = None
            if self.output_ended_ago_s is not None:
                ended = datetime.now(UTC) - timedelta(seconds=self.output_ended_ago_s)
            return Status(
                State.STOPPED,
                "STOPPED",
                exit_code=self.exit_code,
                reason=None if self.exit_code is not None else "TaskFailedToStart",
                output_ended_at=ended,
            )
        if self.stop_requested_at is not None:
            return Status(State.STOPPING, "STOPPING")
        return Status(State.PENDING, "PENDING") if t < 0.5 else Status(State.RUNNING, "RUNNING")

    def read_logs(self, ref: RunRef, cursor: str | None) -> LogPage:
        self._call("read_logs")
        start = int(cursor or 0)
        t = self.clock() - (self.started_at or 0.0)
        visible = [m for at, m in self.lines if at <= t]
        page = visible[start : start + self.page_size]
        return LogPage(tuple(LogLine(m) for m in page), str(start + len(page)), more=len(page) == self.page_size)

    def stop(self, ref: RunRef, reason: str) -> None:
        self._call("stop")
        self.stops.append(reason)
        if self.stop_requested_at is None:
            self.stop_requested_at = self.clock()

    def active_runs(self, env: str, task: str) -> list[RunRef]:
        return []

    def warnings(self) -> tuple[str, ...]:
        return ()

    def close(self) -> None:
        pass
