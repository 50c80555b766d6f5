"""Launch → poll → stream → drain → result, for any provider. The runner owns all timing and retries."""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from opsctl.cancel import CancelToken
from opsctl.errors import LaunchError, OpsctlError
from opsctl.launch import Launch
from opsctl.model import Copy, LogLine, LogPage, Outcome, RunRef, RunResult, RunSpec, State, Status, Timing
from opsctl.providers import Provider
from opsctl.redact import Redactor
from opsctl.retry import Retrying
from opsctl.settings import RetryPolicy as RetryPolicy  # re-exported: the runner's callers configure it
from opsctl.settings import timing_scale
from opsctl.untrusted import parse_result_line, shown_line, shown_value, visible

LAST_LINES = 50
RELAUNCHES = 3  # a run that never started for lack of capacity is launched again at most this many times


class Observer(Protocol):
    """What the runner tells the outside world; progress.py renders it."""

    def launched(self, ref: RunRef) -> None:
        """The run exists remotely."""

    def status(self, status: Status, elapsed_s: float) -> None:
        """A fresh observation of the run."""

    def log(self, line: LogLine) -> None:
        """One log line, already redacted."""

    def notice(self, message: str) -> None:
        """Something the operator should know (retries, stop requests, warnings)."""


def timing_for(provider: Provider) -> Timing:
    """The provider's timing, scaled by OPSCTL_TIMING_SCALE (emulators and tests run faster)."""
    scale = timing_scale()
    return provider.timing if scale == 1 else provider.timing.scaled(scale)


@dataclass
class _Watch:
    """The watch loop's state: what was last seen, when each step is next due, whether a stop was asked."""

    start: float
    next_poll: float
    next_log: float
    status: Status | None = None
    stop_outcome: Outcome | None = None  # why opsctl stopped the run (or left it running), if it did
    stop_deadline: float = float("inf")
    handled_signals: int = 0

    @property
    def stopping(self) -> bool:
        """Whether opsctl already asked the run to stop."""
        return self.stop_outcome is not None


@dataclass
class Runner:
    """One run's life. `run()` launches and watches; `watch()` reattaches to an existing run."""

    provider: Provider
    spec: RunSpec
    observer: Observer
    timeout_s: float | None = None
    stream_logs: bool = True
    cancel: CancelToken = field(default_factory=CancelToken)
    interrupt_grace_s: float = 0.0  # >0: after a first Ctrl-C, wait this long for a second one (detach)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    retry: RetryPolicy = field(default_factory=RetryPolicy.from_env)
    timing: Timing | None = None

    def __post_init__(self) -> None:
        self._sleep = self.sleep or self.cancel.wait
        self._timing = self.timing or timing_for(self.provider)
        self._redact = Redactor(self.spec.secret_values)
        self._last: deque[str] = deque(maxlen=LAST_LINES)
        self._result: dict[str, Any] | None = None
        self._results: dict[int, dict[str, Any]] = {}  # each copy's result line, in a fanned-out run
        self._cursor: str | None = None
        self._near_end = False
        self._since: datetime | None = None
        self._seen = 0  # lines read so far (the deque of last lines is bounded)
        # Retry notices quote the cloud's error text: redacted, then made visible.
        self._call = Retrying(self.retry, self.observer.notice, self._sleep, lambda text: visible(self._redact(text)))
        self._page = LogPage((), None)  # the last page read
        self._platform = False  # a platform line (a container's exit, …) arrived since the last poll
        self._relaunches = 0
        self._saw_unstopped = False  # a poll found the run not yet stopped (it ended while this process watched)
        self._launched = False  # this runner launched the run (`run`), so it may launch it again
        self._cut_lines = 0  # lines longer than LINE_MAX_BYTES, relayed cut
        self._launch = Launch(
            self.provider, self.spec, self.observer, self._call, self._timing, self.clock, self._sleep, self.cancel
        )

    @property
    def call(self) -> Retrying:
        """The runner's retry policy, for calls made on its behalf (the concurrency reconcile after a launch)."""
        return self._call

    # -- the run -----------------------------------------------------------------------------------

    def run(self, detach: bool = False) -> RunResult:
        """Launch the run, then watch it to the end (or return at once with `detach`)."""
        started = self.now()
        if self.cancel.requested:
            raise LaunchError("interrupted before launch; nothing was started")
        # Resolve the target (task definition, network, job) first, with its own retries, so that a
        # flaky read-only call is not paid for with one of the launch's attempts.
        self._call("resolve the target", lambda: self.provider.plan(self.spec))
        ref = self._launch.once()
        self._launched = True
        self.observer.launched(ref)
        for message in self.provider.warnings():
            self.observer.notice(message)
        if detach:
            return self._result_of(ref, started, Outcome.DETACHED, None)
        if self.cancel.requested:
            self.observer.notice("stop requested while launching")
        return self.watch(ref, started)

    def watch(self, ref: RunRef, started: datetime | None = None) -> RunResult:
        """Poll and stream until the run stops, stopping it on timeout or signal; then drain the logs."""
        started = started or self.now()
        try:
            status, stop_outcome = self._loop(ref)
            while status is not None and status.relaunch and stop_outcome is None and self._may_relaunch():
                ref = self._relaunch(ref, status)
                status, stop_outcome = self._loop(ref)
        except OpsctlError:
            self.observer.notice(f"run {ref.id} may still be running: opsctl wait {self.spec.env} {ref.id}")
            raise
        if stop_outcome is Outcome.LEFT_RUNNING:
            return self._result_of(ref, started, Outcome.LEFT_RUNNING, status)
        self._drain(ref, status)
        if self._launch.recheck_at is not None:
            # The run ended inside the find window: a late duplicate could still appear, so wait it out.
            self._sleep(max(0.0, self._launch.recheck_at - self.clock()))
            self._launch.reconcile(ref, self._stop)
        if status is not None:
            elapsed = (status.stopped_at - started).total_seconds() if status.stopped_at else 0.0
            self.observer.status(status, max(0.0, elapsed))
        if status is None or status.state is not State.STOPPED:
            outcome = stop_outcome or Outcome.NO_EXIT_CODE
            self.observer.notice(
                f"run {ref.id} had not stopped yet; check it with: opsctl wait {self.spec.env} {ref.id}"
            )
            return self._result_of(ref, started, outcome, status)
        if stop_outcome is not None:
            outcome = stop_outcome
        elif status.exit_code is None:
            outcome = Outcome.NO_EXIT_CODE
        else:
            outcome = Outcome.SUCCEEDED if status.exit_code == 0 else Outcome.FAILED
        return self._result_of(ref, started, outcome, status)

    def _may_relaunch(self) -> bool:
        return self._launched and self._relaunches < RELAUNCHES and not self.cancel.requested

    def _relaunch(self, ref: RunRef, status: Status) -> RunRef:
        """Launch again (a new token) after the run never started for lack of capacity: nothing ran."""
        self._relaunches += 1
        wait = self._call.backoff(self._relaunches)
        self.observer.notice(
            f"run {ref.id} never started ({status.reason}); nothing ran — launching again in {wait:.1f}s "
            f"({self._relaunches} of {RELAUNCHES})"
        )
        self._sleep(wait)
        new = self._launch.again()
        self._cursor, self._page = None, LogPage((), None)
        self.observer.launched(new)
        return new

    def follow(self, ref: RunRef, *, follow: bool, since: datetime | None = None) -> Status | None:
        """Relay a run's logs from the start (or `since`); with `follow`, until it stops. Never stops it."""
        timing = self._timing
        self._since = since
        status = None
        while not self.cancel.requested:
            if self._read(ref):
                continue
            if not follow:
                return None
            status = self._poll(ref)
            if status.state is State.STOPPED:
                self._drain(ref, status)
                return status
            self._sleep(timing.log_poll_s if status.state is State.RUNNING else timing.fast_poll_s)
        return status

    def _loop(self, ref: RunRef) -> tuple[Status | None, Outcome | None]:
        """Poll and read logs on their own schedules until the run stops (or we stop waiting for it)."""
        start = self.clock()
        watch = _Watch(start=start, next_poll=start, next_log=start)
        while not self._turn(ref, watch):
            self._sleep(max(0.0, self._wake_at(watch) - self.clock()))
        return watch.status, watch.stop_outcome

    def _turn(self, ref: RunRef, watch: _Watch) -> bool:
        """One turn of the loop, each step when it is due; True when watching is over."""
        now = self.clock()
        if len(self.cancel.signals) > watch.handled_signals and self._on_signal(ref, watch, now):
            return True
        if not watch.stopping and self.timeout_s is not None and now - watch.start >= self.timeout_s:
            self.observer.notice(f"timeout of {self.timeout_s:g}s expired; stopping run {ref.id}")
            reason = f"opsctl --timeout {self.timeout_s:g}s expired (run by {self.spec.actor})"
            self._begin_stop(ref, watch, now, Outcome.TIMED_OUT, reason)
        if self._launch.recheck_at is not None and now >= self._launch.recheck_at:
            self._launch.reconcile(ref, self._stop)
        if now >= watch.next_poll and self._poll_due(ref, watch, now):
            return True
        if now >= watch.next_log:
            self._read_due(ref, watch, now)
        if now >= watch.stop_deadline:
            self.observer.notice(f"run {ref.id} did not stop within {self._timing.stop_wait_s:g}s of the stop request")
            return True
        return False

    def _on_signal(self, ref: RunRef, watch: _Watch, now: float) -> bool:
        """A new SIGINT/SIGTERM: stop the run (or leave it running); True when watching is over."""
        watch.handled_signals = len(self.cancel.signals)
        if watch.stopping:
            return True  # a second signal while stopping: stop waiting; the stop request already went out
        if self._wants_detach():
            self.observer.notice(f"left run {ref.id} running; reattach with: opsctl wait {self.spec.env} {ref.id}")
            watch.stop_outcome = Outcome.LEFT_RUNNING
            return True
        watch.handled_signals = len(self.cancel.signals)  # a SIGTERM in the grace asks for this same stop
        watch.status = self._poll(ref)
        if watch.status.state is State.STOPPED:
            return True  # it ended by itself before the stop: its own exit code stands
        outcome = Outcome.TERMINATED if self.cancel.first == signal.SIGTERM else Outcome.INTERRUPTED
        self._begin_stop(ref, watch, now, outcome, f"{outcome.value} by {self.spec.actor}")
        return False

    def _begin_stop(self, ref: RunRef, watch: _Watch, now: float, outcome: Outcome, reason: str) -> None:
        """Ask the run to stop, then poll at once and give it stop_wait_s to do so."""
        watch.stop_outcome = outcome
        self._stop(ref, reason)
        watch.stop_deadline = now + self._timing.stop_wait_s
        watch.next_poll = now

    def _poll_due(self, ref: RunRef, watch: _Watch, now: float) -> bool:
        """Poll the run; True when it stopped (reported after the drain, below the last log lines)."""
        timing = self._timing
        self._platform = False
        watch.status = self._poll(ref)
        if watch.status.state is State.STOPPED:
            return True
        self.observer.status(watch.status, now - watch.start)
        fast = self._in_fast_phase(watch, now) or watch.status.state is State.STOPPING
        watch.next_poll = now + (timing.fast_poll_s if fast else timing.slow_poll_s)
        return False

    def _read_due(self, ref: RunRef, watch: _Watch, now: float) -> None:
        """Read a page of logs; read again at once when more are ready."""
        timing = self._timing
        more = self._read(ref)
        interval = timing.log_fast_poll_s if self._in_fast_phase(watch, now) else timing.log_poll_s
        if self._page.buffered:  # read from a live stream's buffer: reading again costs no call
            interval = min(interval, timing.buffered_read_s)
        watch.next_log = now if more else now + interval
        if self._platform:  # the platform says a container exited: the run may have ended
            watch.next_poll = now

    def _in_fast_phase(self, watch: _Watch, now: float) -> bool:
        """Starting, stopping, or past the task's result line: things change quickly, so look often."""
        return now - watch.start < self._timing.fast_phase_s or watch.stopping or self._near_end

    def _wake_at(self, watch: _Watch) -> float:
        """When the next step is due: a poll, a log read, the stop deadline or the timeout."""
        wake = min(watch.next_poll, watch.next_log, watch.stop_deadline, self._launch.recheck_at or watch.stop_deadline)
        if self.timeout_s is not None and not watch.stopping:
            wake = min(wake, watch.start + self.timeout_s)
        return wake

    def _wants_detach(self) -> bool:
        """On a TTY, a first Ctrl-C gives a short window in which a second one leaves the run running."""
        if self.interrupt_grace_s <= 0 or self.cancel.first != signal.SIGINT:
            return False
        seen = len(self.cancel.signals)
        self.observer.notice(
            f"stopping the run in {self.interrupt_grace_s:g}s — press Ctrl-C again to leave it running instead"
        )
        deadline = self.clock() + self.interrupt_grace_s
        while self.clock() < deadline and len(self.cancel.signals) == seen:
            self._sleep(deadline - self.clock())
        # Only Ctrl-C again: a SIGTERM (a SIGHUP, the terminal closed; stderr gone) means stop, now.
        later = self.cancel.signals[seen:]
        return bool(later) and all(s == signal.SIGINT for s in later)

    def _poll(self, ref: RunRef) -> Status:
        """Poll the run; the cloud's words in the status (state, reason, details) enter here, made visible."""
        status = self._call("poll", lambda: self.provider.poll(ref))
        self._saw_unstopped = self._saw_unstopped or status.state is not State.STOPPED
        return replace(
            status,
            raw=visible(status.raw),
            reason=shown_line(self._redact(status.reason))[0] if status.reason else status.reason,
            details=tuple((visible(k), shown_line(self._redact(v))[0]) for k, v in status.details),
            copies=tuple(
                replace(c, run=visible(c.run), reason=shown_line(self._redact(c.reason))[0] if c.reason else None)
                for c in status.copies
            ),
        )

    def _stop(self, ref: RunRef, reason: str) -> None:
        self.observer.notice(f"stopping run {ref.id}")
        try:
            self._call("stop", lambda: self.provider.stop(ref, reason))
        except OpsctlError as e:
            why = visible(self._redact(str(e)))
            self.observer.notice(
                f"could not stop run {ref.id}: {why}; stop it with: opsctl stop {self.spec.env} {ref.id}"
            )

    def _read(self, ref: RunRef) -> bool:
        """Read one page of logs; True when more are ready right now."""
        page = self._call("read logs", lambda: self.provider.read_logs(ref, self._cursor))
        for line in page.lines:
            self._emit(line)
        self._cursor = page.cursor
        self._page = page
        return page.more

    def _emit(self, line: LogLine) -> None:
        """One line enters: redacted, then cut and made visible; a result line's fields likewise."""
        if self._since is not None and line.timestamp is not None and line.timestamp < self._since:
            return
        if line.stream == "platform":
            # The cloud's own words about the task (an exit, out of memory): a notice, never the task's output.
            self._platform = True
            self.observer.notice(shown_line(self._redact(line.message))[0])
            return
        redacted = self._redact(line.message)
        message, cut = shown_line(redacted, line.cut)
        if cut:
            self._cut_lines += 1
        if line.copy is not None:
            message = f"[{line.copy}] {message}"  # which copy said it (--tasks N > 1)
        clean = LogLine(message=message, timestamp=line.timestamp, stream=line.stream, copy=line.copy)
        self._last.append(message)
        self._seen += 1
        if self.stream_logs:
            self.observer.log(clean)
        if line.stream == "stdout" and not cut:
            try:
                parsed = parse_result_line(line.message)
            except ValueError as e:
                whose = "the task's" if line.copy is None else f"copy {line.copy}'s"  # which of N, when fanned out
                self.observer.notice(f"ignored {whose} result line: {e}")
                return
            if parsed is not None:
                shown = shown_value(self._redact.value(parsed))
                if line.copy is None:
                    self._result = shown
                    self._near_end = True  # the result line is a task's last word: poll fast from here on
                else:
                    self._results[line.copy] = shown

    def _drain(self, ref: RunRef, status: Status | None = None) -> None:
        """After the run stopped, read until the provider says the last line is in (Cloud Run: every task's
        exit entry was read) — while it says that line is still due, for as long as it takes (bounded) — else
        until no new line has arrived for a quiet window (bounded). Reads from a
        live stream's buffer cost nothing and come every buffered_read_s; others are spaced by the settle time.

        The window (settle × (quiet reads - 1)) gives lines still being ingested time to land. It starts
        when the task's output ended if the provider knows (ECS: the container's exit), else now; once it
        has passed, lines found are lines we were merely behind on, so reading goes on without waiting.
        """
        timing = self._timing
        deadline = self.clock() + timing.drain_max_s
        window = timing.drain_settle_s * max(0, timing.drain_quiet_reads - 1)
        ended = status.output_ended_at if status else None
        settled = ended is not None and (self.now() - ended).total_seconds() >= window
        # A run found already ended, longer ago than the drain's bound (`opsctl wait` or `logs -f` on an old run): a
        # last line not listed by now is not on its way (the logs' retention, an exclusion filter), so it is not
        # waited for. Not for a run seen running: a local clock ahead of the cloud's must not cut that wait short.
        stopped = status.stopped_at if status else None
        long_ended = (
            not self._saw_unstopped
            and stopped is not None
            and (self.now() - stopped).total_seconds() >= timing.drain_max_s
        )
        last_news = self.clock()
        signals = len(self.cancel.signals)
        while True:
            seen = self._seen
            try:
                # A full page: the next one is ready now; but a new signal or the deadline ends the drain.
                while self._read(ref) and self.clock() < deadline and len(self.cancel.signals) == signals:
                    pass
            except OpsctlError as e:
                self.observer.notice(f"could not read the last log lines: {visible(self._redact(str(e)))}")
                return
            if len(self.cancel.signals) != signals:
                self.observer.notice("stopped reading the last log lines: interrupted")
                return
            if self._page.final:
                return
            if self.clock() >= deadline:
                self.observer.notice(f"stopped reading logs {timing.drain_max_s:g}s after the run ended")
                return
            # Every read may cost quota (Cloud Logging: 60/min per project), so reads that were not full are spaced.
            spacing = timing.buffered_read_s if self._page.buffered else timing.drain_settle_s
            if self._seen != seen:
                if not settled:
                    last_news = self.clock()  # lines are still landing: the quiet window starts again
                    # A page that was not full held every line listed yet: reading again at once would cost a
                    # call for nothing, and a trickle of late lines (one per read) would make it two per spacing.
                    self._sleep(max(0.0, min(spacing, deadline - self.clock())))
                continue
            # The last line is known to be on its way: no quiet window ends this.
            awaiting = self._page.awaiting_end and not long_ended
            if not awaiting and (settled or self.clock() - last_news >= window):
                return
            quiet_left = deadline if awaiting else last_news + window
            self._sleep(max(0.0, min(spacing, quiet_left - self.clock(), deadline - self.clock())))

    def _result_of(self, ref: RunRef, started: datetime, outcome: Outcome, status: Status | None) -> RunResult:
        stopped = None
        if outcome not in (Outcome.DETACHED, Outcome.LEFT_RUNNING):
            stopped = status.stopped_at if status and status.stopped_at else self.now()
        copies = self._copies(status)
        return RunResult(
            env=self.spec.env,
            task=self.spec.task,
            provider=self.provider.kind,
            run=ref,
            outcome=outcome,
            exit_code=status.exit_code if status else None,
            reason=self._redact(status.reason) if status and status.reason else None,
            started_at=started,
            stopped_at=stopped,
            actor=self.spec.actor,
            result=self._result if not copies else _reported(copies),
            details=tuple((k, self._redact(v)) for k, v in status.details) if status else (),
            last_lines=tuple(self._last),
            cut_lines=self._cut_lines,
            tasks=copies,
        )

    def _copies(self, status: Status | None) -> tuple[Copy, ...]:
        """Each copy as last seen, with the result line it printed (its reason already redacted and made visible
        by _poll, which every status passes through)."""
        if status is None or not status.copies:
            return ()
        return tuple(replace(c, result=self._results.get(c.index)) for c in status.copies)


def _reported(copies: tuple[Copy, ...]) -> dict[str, Any] | None:
    """A fanned-out run's result: that of the copy whose exit code the run reports (the lowest-index failed
    copy), else None — one copy's fields (`checked: 1` of a sweep) would pass for the whole run's in the
    summary; every copy's own result is in RunResult.tasks."""
    failed = [c for c in copies if c.failed]
    return min(failed, key=lambda c: c.index).result if failed else None
