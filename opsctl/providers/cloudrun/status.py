"""A Cloud Run Execution (and its tasks) → opsctl's Status; a completed one is decided by small tables.

An execution of `--tasks N` (task_count N > 1) is one run of N copies: while it runs, its state comes from
the execution's counts alone (no call per task); once complete, each task's ending is decided by the same
tables as a single task's, and the run's exit code is their fold (model.fold_copies)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from google.cloud import run_v2

from opsctl.model import Copy, State, Status, fold_copies

Condition = run_v2.Condition
# Reasons that mean the image could not be pulled: the fix is building and pushing it.
IMAGE_REASONS = {
    Condition.CommonReason.CONTAINER_MISSING,
    Condition.CommonReason.CONTAINER_IMAGE_UNAUTHORIZED,
    Condition.CommonReason.CONTAINER_IMAGE_AUTHORIZATION_CHECK_FAILED,
}


def short(name: str) -> str:
    """The last segment of a resource name."""
    return name.rsplit("/", 1)[-1]


def is_complete(execution: Any) -> bool:
    """Done: completion_time set and every task accounted for (the robust test; conditions lag)."""
    ended = execution.succeeded_count + execution.failed_count + execution.cancelled_count
    return execution.completion_time is not None and execution.task_count > 0 and ended >= execution.task_count


def completed_condition(execution: Any) -> Any | None:
    """The terminal `Completed` condition, if the execution has one."""
    return next((c for c in execution.conditions if c.type_ == "Completed"), None)


def _at(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def tally(execution: Any) -> str:
    """How an execution's tasks stand, from its counts: `3 running, 5 succeeded, 1 failed of 10 tasks`."""
    counts = (
        ("running", execution.running_count),
        ("succeeded", execution.succeeded_count),
        ("failed", execution.failed_count),
        ("cancelled", execution.cancelled_count),
    )
    done = ", ".join(f"{n} {word}" for word, n in counts if n) or "none started"
    return f"{done} of {execution.task_count} tasks"


def running_status(execution: Any) -> Status:
    """The state of an execution that has not completed."""
    condition = completed_condition(execution)
    cancelling = execution.cancelled_count > 0 or (
        condition is not None and condition.execution_reason == Condition.ExecutionReason.CANCELLING
    )
    details: tuple[tuple[str, str], ...] = ()
    started = _at(execution.start_time)
    if execution.task_count > 1:
        return _running_copies(execution, cancelling, started)
    if cancelling:
        return Status(State.STOPPING, "cancelling", details=details, started_at=started)
    if execution.completion_time is not None:
        return Status(State.STOPPING, "completing", details=details, started_at=started)
    if execution.running_count > 0:
        raw = f"running (attempt {execution.retried_count + 1})" if execution.retried_count else "running"
        return Status(State.RUNNING, raw, details=details, started_at=started)
    if started is not None:
        # Started, nothing running: between two attempts of a failed task, or still provisioning it.
        raw = "retrying" if execution.retried_count else "starting"
        return Status(State.PENDING, raw, details=details, started_at=started)
    return Status(State.PENDING, "pending", details=details)


def _running_copies(execution: Any, cancelling: bool, started: datetime | None) -> Status:
    """An execution of N > 1 tasks that has not completed: its counts, no call per task."""
    tasks = tally(execution)
    if cancelling:
        return Status(State.STOPPING, f"cancelling ({tasks})", started_at=started)
    if execution.completion_time is not None:
        return Status(State.STOPPING, f"completing ({tasks})", started_at=started)
    ended = execution.succeeded_count + execution.failed_count
    if execution.running_count > 0 or ended > 0:
        # Some ran and none runs now: the next ones wait for a slot (parallelism) or a failed one's retry.
        return Status(State.RUNNING, f"running ({tasks})", started_at=started)
    if started is not None:
        return Status(State.PENDING, f"starting ({tasks})", started_at=started)
    return Status(State.PENDING, "pending")


class Ending(Enum):
    """How a completed execution's first task ended, as opsctl reads it."""

    CANCELLED = "cancelled"
    NEVER_RAN = "never ran"  # no attempt result: the container never started (image, quota, …)
    NO_EXIT_CODE = "no exit code"  # an attempt failed with neither an exit code nor a signal
    KILLED = "killed"
    FAILED = "failed"
    SUCCEEDED = "succeeded"


@dataclass(frozen=True, slots=True)
class Facts:
    """What Cloud Run reported about a completed execution, as the tables below read it."""

    execution: Any
    tasks: Sequence[Any]
    env_name: str
    result: Any  # the first task's last attempt result (None: no attempt ran)
    message: str | None  # the Completed condition's message, or the failed attempt's own
    cancelled: bool  # cancelled_count > 0, or the Completed condition says CANCELLED


# First match wins (proto3 reports an absent exit code as 0, so "exited 0" needs a status code of OK too).
ENDINGS: tuple[tuple[Callable[[Facts], bool], Ending], ...] = (
    (lambda f: f.cancelled, Ending.CANCELLED),
    (lambda f: f.result is None, Ending.NEVER_RAN),
    (lambda f: bool(f.result.term_signal), Ending.KILLED),
    (lambda f: f.result.exit_code != 0, Ending.FAILED),
    (lambda f: f.result.status.code == 0, Ending.SUCCEEDED),
    (lambda f: True, Ending.NO_EXIT_CODE),
)
RAW = {
    Ending.CANCELLED: "cancelled",
    Ending.NEVER_RAN: "failed to start",
    Ending.NO_EXIT_CODE: "failed without exit code",
    Ending.KILLED: "failed",
    Ending.FAILED: "failed",
    Ending.SUCCEEDED: "succeeded",
}
EXIT_CODES: dict[Ending, Callable[[Facts], int | None]] = {
    Ending.CANCELLED: lambda f: None,
    Ending.NEVER_RAN: lambda f: None,
    Ending.NO_EXIT_CODE: lambda f: None,
    Ending.KILLED: lambda f: 128 + f.result.term_signal,  # as a shell reports a signalled child
    Ending.FAILED: lambda f: f.result.exit_code,
    Ending.SUCCEEDED: lambda f: 0,
}
REASONS: dict[Ending, Callable[[Facts], str | None]] = {
    Ending.CANCELLED: lambda f: f"cancelled: {f.message}" if f.message else "the execution was cancelled",
    Ending.NEVER_RAN: lambda f: _no_exit_reason(f.execution, f.tasks, f.message, f.env_name),
    Ending.NO_EXIT_CODE: lambda f: _no_exit_reason(f.execution, f.tasks, f.message, f.env_name),
    Ending.KILLED: lambda f: (
        f"killed by {_signal_name(f.result.term_signal)}" + (f": {f.message}" if f.message else "")
    ),
    Ending.FAILED: lambda f: f.message,
    Ending.SUCCEEDED: lambda f: None,
}


def ending(facts: Facts) -> Ending:
    """The first row of ENDINGS that matches."""
    return next(end for matches, end in ENDINGS if matches(facts))


def _cancelled(execution: Any, condition: Any | None) -> bool:
    reason = condition.execution_reason if condition is not None else None
    return execution.cancelled_count > 0 or reason == Condition.ExecutionReason.CANCELLED


def _message(condition: Any | None, result: Any | None) -> str | None:
    """The Completed condition's message; for an attempt that failed without exit code or signal, its own."""
    message = condition.message if condition is not None and condition.message else None
    if result is None or result.term_signal or result.exit_code or not result.status.code:
        return message
    return result.status.message or message


def _details(
    condition: Any | None, task: Any | None, result: Any | None, log_source: str | None
) -> list[tuple[str, str]]:
    details: list[tuple[str, str]] = []  # the execution itself is the summary's Run row
    if condition is not None:
        state = condition.state.name.removeprefix("CONDITION_").lower()
        why = f" ({condition.execution_reason.name})" if condition.execution_reason else ""
        details.append(("condition", f"Completed: {state}{why}"))
    if task is not None and result is not None:
        details.append(("attempts", f"{task.retried + 1} (a failed task is retried up to {task.max_retries} times)"))
    if result is not None and result.term_signal:
        details.append(("signal", _signal_name(result.term_signal)))
    if log_source:
        details.append(("log source", log_source))
    return details


def final_status(execution: Any, tasks: Sequence[Any], env_name: str, log_source: str | None = None) -> Status:
    """The status of a completed execution, with the exit code of its first task (decided by the tables above)."""
    condition = completed_condition(execution)
    task = min(tasks, key=lambda t: t.index) if tasks else None
    result = task.last_attempt_result if task is not None and "last_attempt_result" in task else None
    facts = Facts(execution, tasks, env_name, result, _message(condition, result), _cancelled(execution, condition))
    end = ending(facts)
    return Status(
        State.STOPPED,
        RAW[end],
        exit_code=EXIT_CODES[end](facts),
        reason=REASONS[end](facts),
        details=tuple(_details(condition, task, result, log_source)),
        started_at=_at(execution.start_time),
        stopped_at=_at(execution.completion_time),
    )


def final_copies(execution: Any, tasks: Sequence[Any], env_name: str, log_source: str | None = None) -> Status:
    """The status of a completed execution of N > 1 tasks: each task a Copy (by the tables above), folded."""
    condition = completed_condition(execution)
    cancelled = _cancelled(execution, condition)
    by_index = {t.index: t for t in tasks}
    copies = tuple(_copy(execution, by_index.get(i), i, env_name, cancelled) for i in range(execution.task_count))
    _, exit_code, reason = fold_copies(copies)
    raw = "cancelled" if cancelled else "succeeded" if exit_code == 0 else "failed"
    details = _details(condition, None, None, None)
    parallelism = execution.parallelism or "as many as possible"
    details.append(("tasks", f"{tally(execution)} (parallelism {parallelism})"))
    if execution.retried_count:
        retries = execution.template.max_retries
        details.append(("retries", f"{execution.retried_count} (a failed task is retried up to {retries} times)"))
    if log_source:
        details.append(("log source", log_source))
    return Status(
        State.STOPPED,
        raw,
        exit_code=exit_code,
        reason=reason,
        details=tuple(details),
        started_at=_at(execution.start_time),
        stopped_at=_at(execution.completion_time),
        copies=copies,
    )


def _copy(execution: Any, task: Any | None, index: int, env_name: str, cancelled: bool) -> Copy:
    """One task of a completed execution as a Copy: its last attempt's ending, exit code and reason."""
    if task is None:  # not listed: nothing can be said about it
        return Copy(index, "-", State.STOPPED, reason="Cloud Run listed no task with this index")
    result = task.last_attempt_result if "last_attempt_result" in task else None
    own = completed_condition(task)
    message = own.message if own is not None and own.message else None
    if result is not None and result.status.code and result.status.message:
        message = message or result.status.message
    # A task with no attempt result in a cancelled execution was cancelled (running, or still waiting for a slot).
    facts = Facts(execution, [task], env_name, result, message, cancelled and result is None)
    end = ending(facts)
    return Copy(index, short(task.name), State.STOPPED, EXIT_CODES[end](facts), REASONS[end](facts))


def _no_exit_reason(execution: Any, tasks: Sequence[Any], message: str | None, env_name: str) -> str:
    conditions = [*execution.conditions, *(c for t in tasks for c in t.conditions)]
    failed = [c for c in conditions if c.state == Condition.State.CONDITION_FAILED and c.message]
    text = next((c.message for c in failed if c.type_ != "Completed"), None) or message
    text = text or "the task stopped without an exit code"
    if any(c.reason in IMAGE_REASONS for c in conditions):
        text += f" — build and push the image: opsctl build {env_name}"
    return text


def _signal_name(number: int) -> str:
    try:
        return f"signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"signal {number}"
