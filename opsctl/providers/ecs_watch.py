"""Reading a task: DescribeTasks → Status / RunInfo, and its awslogs stream → LogPage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from opsctl.model import LogLine, LogPage, RunInfo, RunRef, State, Status
from opsctl.providers.ecs_errors import error_code
from opsctl.providers.ecs_resolve import LogTarget

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import TaskTypeDef
    from mypy_boto3_logs import CloudWatchLogsClient

LOG_PAGE = 10_000  # GetLogEvents maximum
FULL_PAGE_BYTES = 768 * 1024  # a page this large was probably cut at the 1 MB limit: read again at once
STATES = {
    "PROVISIONING": State.PENDING,
    "PENDING": State.PENDING,
    "ACTIVATING": State.PENDING,
    "RUNNING": State.RUNNING,
    "DEACTIVATING": State.STOPPING,
    "STOPPING": State.STOPPING,
    "DEPROVISIONING": State.STOPPING,
    "STOPPED": State.STOPPED,
    "DELETED": State.STOPPED,
}


def launched_with(task: TaskTypeDef, name: str) -> str | None:
    """An OPSCTL_* value a task was launched with: from its `opsctl:*` tag, else its env override."""
    tag = "opsctl:" + name.removeprefix("OPSCTL_").lower().replace("_", "-")
    for item in task.get("tags") or []:
        if item.get("key") == tag:
            return item.get("value")
    for override in (task.get("overrides") or {}).get("containerOverrides") or []:
        for env in override.get("environment") or []:
            if env.get("name") == name:
                return env.get("value")
    return None


def status_of(task: TaskTypeDef, container_hint: str | None = None) -> Status:
    """Map a DescribeTasks task to a Status; when STOPPED, the overridden container's exit code and reasons."""
    last = task.get("lastStatus") or "PENDING"
    state = STATES.get(last, State.PENDING)
    if state in (State.PENDING, State.RUNNING) and task.get("desiredStatus") == "STOPPED":
        state = State.STOPPING  # a stop was requested: poll fast
    started = task.get("startedAt") or task.get("createdAt")
    if state is not State.STOPPED:
        return Status(state=state, raw=last, started_at=started)
    overrides = (task.get("overrides") or {}).get("containerOverrides") or []
    name = overrides[0].get("name") if overrides else container_hint
    containers = task.get("containers") or []
    container = next((c for c in containers if c.get("name") == name), containers[0] if containers else None)
    exit_code = container.get("exitCode") if container else None
    stop_code, stopped_reason = task.get("stopCode"), task.get("stoppedReason")
    container_reason = container.get("reason") if container else None
    details: list[tuple[str, str]] = [("Task definition", task.get("taskDefinitionArn", "?").rsplit("/", 1)[-1])]
    # A clean exit needs no explanation; anything else (including unknown future stop codes) shows all three.
    clean = exit_code == 0 and stop_code in (None, "EssentialContainerExited")
    reason = None
    if not clean:
        pairs = (("Stop code", stop_code), ("Stopped reason", stopped_reason), ("Container reason", container_reason))
        details += [(k, str(v)) for k, v in pairs if v]
        reason = stopped_reason or stop_code or None
        if exit_code is None and container_reason:
            reason = f"{reason}: {container_reason}" if reason else container_reason
    return Status(
        state=State.STOPPED,
        raw=last,
        exit_code=exit_code,
        reason=reason,
        details=tuple(details),
        started_at=started,
        stopped_at=task.get("stoppedAt"),
        # the essential container's exit: the awslogs driver has flushed by then
        output_ended_at=task.get("executionStoppedAt"),
    )


def info_of(task: TaskTypeDef, ref: RunRef) -> RunInfo:
    """Who launched a task for which env and task, when, and how it is doing."""
    status = status_of(task)
    return RunInfo(
        ref=ref,
        env=launched_with(task, "OPSCTL_ENV"),
        task=launched_with(task, "OPSCTL_TASK"),
        actor=launched_with(task, "OPSCTL_ACTOR"),
        started_at=task.get("startedAt") or task.get("createdAt"),
        stopped_at=task.get("stoppedAt"),
        state=status.state,
        exit_code=status.exit_code,
    )


def read_page(
    client: CloudWatchLogsClient,
    logs: LogTarget,
    task: str,
    cursor: str | None,
    api: Callable[[str, str, Callable[[], Any]], Any],
) -> LogPage:
    """GetLogEvents from the head by forward token; a stream that does not exist yet is an empty page."""
    kwargs: dict[str, Any] = {
        "logGroupName": logs.group,
        "logStreamName": logs.stream(task),
        "startFromHead": True,
        "limit": LOG_PAGE,
    }
    if cursor:
        kwargs["nextToken"] = cursor

    def call() -> Any:
        try:
            return client.get_log_events(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None  # the stream appears with the task's first line
            raise

    resp = api("logs", "GetLogEvents", call)
    if resp is None:
        return LogPage((), cursor)
    events = resp.get("events") or []
    lines = tuple(
        LogLine(
            message=str(e.get("message", "")).rstrip("\r\n"),
            timestamp=datetime.fromtimestamp(e["timestamp"] / 1000, UTC) if "timestamp" in e else None,
        )
        for e in events
    )
    size = sum(len(line.message.encode()) + 26 for line in lines)
    more = len(events) >= LOG_PAGE or size >= FULL_PAGE_BYTES
    return LogPage(lines, resp.get("nextForwardToken") or cursor, more=more)
