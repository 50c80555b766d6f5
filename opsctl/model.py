"""Frozen value types that travel between config, runner, providers and report."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


class State(enum.StrEnum):
    """Where a run is in its life, in the runner's words (providers map their own states here)."""

    PENDING = "pending"  # accepted, not running yet (provisioning, pulling the image, …)
    RUNNING = "running"
    STOPPING = "stopping"  # exiting / deprovisioning: the end is near, so the runner polls fast
    STOPPED = "stopped"


class Outcome(enum.StrEnum):
    """How a run ended, as shown in the summary's Status row."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # ran, exited non-zero
    NO_EXIT_CODE = "stopped without exit code"  # failed to start, cancelled elsewhere, …
    TIMED_OUT = "timed out"
    INTERRUPTED = "interrupted"
    TERMINATED = "terminated"
    DETACHED = "detached"  # --detach: left running on purpose
    LEFT_RUNNING = "left running"  # a second Ctrl-C: left running, but the caller was interrupted


@dataclass(frozen=True, slots=True)
class Timing:
    """How often the runner asks a provider, chosen per provider to fit its API quotas."""

    fast_poll_s: float = 1.0  # status checks while starting and near the end
    slow_poll_s: float = 5.0  # status checks in steady state
    fast_phase_s: float = 20.0  # how long a run counts as "starting"
    log_fast_poll_s: float = 1.0  # log reads while starting and near the end
    log_poll_s: float = 4.0  # log reads in steady state
    drain_settle_s: float = 1.0  # after STOPPED: wait this long between reads that find nothing
    drain_quiet_reads: int = 1  # … and stop after this many such empty reads in a row
    drain_max_s: float = 15.0  # never drain for longer than this
    stop_wait_s: float = 60.0  # after asking a run to stop, wait this long for it to stop
    buffered_read_s: float = 0.25  # how often to read while lines come from a live stream's buffer (no call)
    find_window_s: float = 0.0  # after an ambiguous launch, look for the run this long before launching again

    def scaled(self, factor: float) -> Timing:
        """Every interval multiplied by `factor` (OPSCTL_TIMING_SCALE, for emulators and tests)."""
        return replace(
            self,
            fast_poll_s=self.fast_poll_s * factor,
            slow_poll_s=self.slow_poll_s * factor,
            fast_phase_s=self.fast_phase_s * factor,
            log_fast_poll_s=self.log_fast_poll_s * factor,
            log_poll_s=self.log_poll_s * factor,
            drain_settle_s=self.drain_settle_s * factor,
            drain_max_s=self.drain_max_s * factor,
            stop_wait_s=self.stop_wait_s * factor,
            buffered_read_s=self.buffered_read_s * factor,
            find_window_s=self.find_window_s * factor,
        )


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything a provider needs to launch one run; env values may hold secrets (never repr'd)."""

    env: str
    task: str
    run_id: str
    command: tuple[str, ...] | None  # None: the image's / job's own command
    env_vars: tuple[tuple[str, str], ...] = field(repr=False)
    secret_values: frozenset[str] = field(default=frozenset(), repr=False)
    timeout_s: float | None = None
    actor: str = "unknown"
    origin: str = "unknown"
    # Launches of this run that certainly started nothing (no capacity): each needs a fresh idempotency token,
    # or the cloud would answer the next one with the same failure.
    launch_round: int = 0
    tasks: int = 1  # --tasks N: copies of the task, one run (DESIGN.md §4)
    parallelism: int | None = None  # --parallelism K: at most K copies at a time (None: all at once)

    def env_dict(self) -> dict[str, str]:
        """The env vars as a dict (later keys win)."""
        return dict(self.env_vars)


@dataclass(frozen=True, slots=True)
class RunRef:
    """A handle on a launched run: `id` is what a user passes to `opsctl wait ENV RUN`."""

    id: str
    console_url: str | None = None
    log_url: str | None = None


@dataclass(frozen=True, slots=True)
class Copy:
    """One copy of a fanned-out run (`--tasks N`), as last seen; `result` is its result line, when it printed one."""

    index: int  # 0-based: OPSCTL_TASK_INDEX / CLOUD_RUN_TASK_INDEX
    run: str  # the cloud's name for it: a task ARN, a Cloud Run task name, a local pid
    state: State
    exit_code: int | None = None
    reason: str | None = None
    result: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        """Stopped without exiting 0 (a non-zero code, or no code at all)."""
        return self.state is State.STOPPED and self.exit_code != 0


def fold_copies(copies: tuple[Copy, ...]) -> tuple[State, int | None, str | None]:
    """The run's state, exit code and reason from its copies (DESIGN.md §6): stopped when every copy stopped;
    exit 0 when every copy exited 0, else the code of the lowest-index copy that failed (None if it has none)."""
    if not copies:
        return State.PENDING, None, None
    if any(c.state is not State.STOPPED for c in copies):
        states = {c.state for c in copies}
        for state in (State.RUNNING, State.STOPPING, State.PENDING):
            if state in states:
                return state, None, None
    failed = sorted((c for c in copies if c.failed), key=lambda c: c.index)
    if not failed:
        return State.STOPPED, 0, None
    first = failed[0]
    rest = len(failed) - 1
    others = f" ({rest} other {'copy' if rest == 1 else 'copies'} failed too)" if rest else ""
    why = f": {first.reason}" if first.reason else ""
    return State.STOPPED, first.exit_code, f"copy {first.index} of {len(copies)} failed{why}{others}"


@dataclass(frozen=True, slots=True)
class Status:
    """One observation of a run."""

    state: State
    raw: str  # the provider's own word for the state, e.g. "DEPROVISIONING"
    exit_code: int | None = None
    reason: str | None = None  # why it stopped, when the provider says
    details: tuple[tuple[str, str], ...] = ()  # extra facts for the summary (stop code, attempts, …)
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    output_ended_at: datetime | None = None  # when the task's process exited: no line is written after it
    relaunch: bool = False  # it never started, for a reason that may pass (no capacity): nothing ran
    copies: tuple[Copy, ...] = ()  # --tasks N > 1: each copy as last seen (state/exit_code/reason: their fold)


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line the task printed."""

    message: str
    timestamp: datetime | None = None
    stream: str = "stdout"  # stdout | stderr | platform (the cloud's own line about the task: a notice)
    cut: int = 0  # bytes the provider already cut from the end of an over-long line
    copy: int | None = None  # the copy that printed it, in a fanned-out run (N > 1); None otherwise


@dataclass(frozen=True, slots=True)
class LogPage:
    """Lines read from a cursor; `cursor` is where to read from next (unchanged: nothing new)."""

    lines: tuple[LogLine, ...]
    cursor: str | None
    more: bool = False  # the provider knows more lines are ready right now (a full page)
    final: bool = False  # the run has ended and its last line has been read: nothing more will come
    buffered: bool = False  # served from a live stream's buffer: reading again costs no API call
    # The run has ended and its last line is known to be still on its way (Cloud Run: a task's exit entry, not
    # listed yet): the drain keeps reading until `final`, up to drain_max_s, however long nothing new comes.
    awaiting_end: bool = False


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a provider can tell about a run it did not necessarily start (for wait, history)."""

    ref: RunRef
    env: str | None = None
    task: str | None = None
    actor: str | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    state: State | None = None
    exit_code: int | None = None
    run_id: str | None = None  # the OPSCTL_RUN_ID it was launched with
    created_at: datetime | None = None  # when the cloud accepted the launch (orders simultaneous launches)
    tasks: int = 1  # its copies (--tasks N), when the provider can tell


@dataclass(frozen=True, slots=True)
class Check:
    """One line of `opsctl doctor`: what was checked, whether it passed, and the fix when it did not."""

    name: str
    ok: bool
    detail: str = ""
    fix: str = ""
    warn: bool = False  # passed, with a risk worth fixing (`fix` says how)


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a finished (or detached) run looked like: the summary, the JSON and the exit code."""

    env: str
    task: str
    provider: str
    run: RunRef
    outcome: Outcome
    exit_code: int | None  # the task's own exit code, when it has one
    reason: str | None
    started_at: datetime
    stopped_at: datetime | None
    actor: str
    result: dict[str, Any] | None  # the task's result line (DESIGN.md §4)
    details: tuple[tuple[str, str], ...] = ()
    last_lines: tuple[str, ...] = ()
    cut_lines: int = 0  # log lines longer than LINE_MAX_BYTES, relayed cut
    tasks: tuple[Copy, ...] = ()  # --tasks N > 1: every copy, with its exit code and result line

    @property
    def exit_status(self) -> int:
        """opsctl's own exit code for this result (DESIGN.md §5)."""
        if self.outcome is Outcome.FAILED and self.exit_code is not None:
            return self.exit_code & 0xFF or 1
        return _OUTCOME_EXIT[self.outcome]

    @property
    def duration_s(self) -> float | None:
        """Seconds from launch to stop."""
        if self.stopped_at is None:
            return None
        return round((self.stopped_at - self.started_at).total_seconds(), 3)


_OUTCOME_EXIT = {
    Outcome.SUCCEEDED: 0,
    Outcome.FAILED: 1,
    Outcome.NO_EXIT_CODE: 69,
    Outcome.TIMED_OUT: 124,
    Outcome.INTERRUPTED: 130,
    Outcome.TERMINATED: 143,
    Outcome.DETACHED: 0,
    Outcome.LEFT_RUNNING: 130,
}


@dataclass(frozen=True, slots=True)
class Discovery:
    """What `opsctl init` read from a live service or job: the environment's keys, and what it saw."""

    settings: tuple[tuple[str, str], ...]  # [environments.ENV] keys in the order they are written
    facts: tuple[str, ...]  # what was read, one line each (shown, and written as comments above the keys)
    warnings: tuple[str, ...] = ()  # what will not work as a run expects (e.g. no awslogs: no log streaming)
