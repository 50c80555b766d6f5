"""A task's awslogs stream in CloudWatch Logs → LogPage, one GetLogEvents page at a time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from opsctl.model import LogLine, LogPage
from opsctl.providers.ecs.errors import error_code
from opsctl.providers.ecs.resolve import LogTarget

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

LOG_PAGE = 10_000  # GetLogEvents maximum
FULL_PAGE_BYTES = 768 * 1024  # a page this large was probably cut at the 1 MB limit: read again at once


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
