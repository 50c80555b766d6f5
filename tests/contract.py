"""The provider contract driver: takes any provider through launch → logs → stop → result.

Like pre-commit's `run_language`: each provider's test module calls these with its own stand-in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from opsctl.cancel import CancelToken
from opsctl.model import LogLine, Outcome, RunRef, RunResult, RunSpec, State, Status, Timing
from opsctl.providers import Provider
from opsctl.runner import RetryPolicy, Runner

FAST_RETRY = RetryPolicy(base_s=0.01, max_wait_s=0.05, max_s=10.0, attempts=20)


@dataclass
class RecordingObserver:
    """Keeps everything the runner says, for assertions."""

    refs: list[RunRef] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    lines: list[LogLine] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    on_status: Callable[[Status], None] | None = None

    def launched(self, ref: RunRef) -> None:
        self.refs.append(ref)

    def status(self, status: Status, elapsed_s: float) -> None:
        self.statuses.append(status)
        if self.on_status is not None:
            self.on_status(status)

    def log(self, line: LogLine) -> None:
        self.lines.append(line)

    def notice(self, message: str) -> None:
        self.notices.append(message)

    @property
    def messages(self) -> list[str]:
        return [line.message for line in self.lines]


def make_spec(
    command: tuple[str, ...] | None,
    env: dict[str, str] | None = None,
    *,
    env_name: str = "test",
    task: str = "job",
    run_id: str = "20260101T000000Z-00000000",
    secrets: frozenset[str] = frozenset(),
) -> RunSpec:
    """A RunSpec carrying the audit vars, as build_spec would make it."""
    env_vars = {
        **(env or {}),
        "OPSCTL_RUN_ID": run_id,
        "OPSCTL_ACTOR": "tester",
        "OPSCTL_ORIGIN": "host:test",
        "OPSCTL_ENV": env_name,
        "OPSCTL_TASK": task,
    }
    return RunSpec(
        env=env_name,
        task=task,
        run_id=run_id,
        command=command,
        env_vars=tuple(env_vars.items()),
        secret_values=secrets,
        actor="tester",
        origin="host:test",
    )


def run_contract(
    provider: Provider,
    spec: RunSpec,
    *,
    timeout_s: float | None = None,
    timing: Timing | None = None,
    cancel: CancelToken | None = None,
    signal_when: Callable[[Status], int | None] | None = None,
) -> tuple[RunResult, RecordingObserver]:
    """Run `spec` on `provider` through the real Runner; optionally deliver a signal on a status."""
    cancel = cancel or CancelToken()
    observer = RecordingObserver()
    if signal_when is not None:
        sent = threading.Event()

        def maybe_signal(status: Status) -> None:
            signum = signal_when(status)
            if signum is not None and not sent.is_set():
                sent.set()
                cancel.request(signum)

        observer.on_status = maybe_signal
    runner = Runner(
        provider, spec, observer, timeout_s=timeout_s, cancel=cancel, retry=FAST_RETRY, timing=timing or provider.timing
    )
    return runner.run(), observer


def when_running(signum: int) -> Callable[[Status], int | None]:
    """signal_when= helper: deliver `signum` at the first RUNNING status."""
    return lambda status: signum if status.state is State.RUNNING else None


def assert_succeeded(result: RunResult) -> None:
    """The run ended by itself with exit code 0."""
    assert result.outcome is Outcome.SUCCEEDED, (result.outcome, result.reason)
    assert result.exit_code == 0
    assert result.exit_status == 0
