"""A Cloud Run Execution (and its task) → opsctl's Status."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from google.cloud import run_v2

from opsctl.model import State, Status

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


def running_status(execution: Any) -> Status:
    """The state of an execution that has not completed."""
    condition = completed_condition(execution)
    cancelling = execution.cancelled_count > 0 or (
        condition is not None and condition.execution_reason == Condition.ExecutionReason.CANCELLING
    )
    details: tuple[tuple[str, str], ...] = ()
    started = _at(execution.start_time)
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


def final_status(execution: Any, tasks: Sequence[Any], env_name: str, log_source: str | None = None) -> Status:
    """The status of a completed execution, with the exit code of its task."""
    condition = completed_condition(execution)
    message = condition.message if condition is not None and condition.message else None
    details: list[tuple[str, str]] = []  # the execution itself is the summary's Run row
    if condition is not None:
        state = condition.state.name.removeprefix("CONDITION_").lower()
        why = f" ({condition.execution_reason.name})" if condition.execution_reason else ""
        details.append(("condition", f"Completed: {state}{why}"))
    task = min(tasks, key=lambda t: t.index) if tasks else None
    exit_code: int | None = None
    reason = message
    result = task.last_attempt_result if task is not None and "last_attempt_result" in task else None
    if task is not None and result is not None:
        details.append(("attempts", f"{task.retried + 1} (a failed task is retried up to {task.max_retries} times)"))
    if result is not None and result.term_signal:
        exit_code = 128 + result.term_signal
        details.append(("signal", _signal_name(result.term_signal)))
        reason = f"killed by {_signal_name(result.term_signal)}" + (f": {message}" if message else "")
    elif result is not None and (result.exit_code or not result.status.code):
        exit_code = result.exit_code
    elif result is not None:
        # Failed with neither an exit code nor a signal: proto3's exit_code 0 would read as success.
        message = result.status.message or message
    if execution.cancelled_count > 0 or (
        condition is not None and condition.execution_reason == Condition.ExecutionReason.CANCELLED
    ):
        exit_code = None
        reason = f"cancelled: {message}" if message else "the execution was cancelled"
        raw = "cancelled"
    elif exit_code is None:
        reason = _no_exit_reason(execution, tasks, message, env_name)
        raw = "failed to start" if result is None else "failed without exit code"
    else:
        raw = "succeeded" if exit_code == 0 else "failed"
        if exit_code == 0:
            reason = None
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
    )


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
