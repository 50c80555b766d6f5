"""A task's awslogs stream in CloudWatch Logs → LogPage, one GetLogEvents page at a time."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from opsctl.errors import OpsctlError
from opsctl.model import LogLine, LogPage
from opsctl.providers.ecs.errors import error_code
from opsctl.providers.ecs.resolve import LogTarget

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

LOG_PAGE = 10_000  # GetLogEvents maximum
FULL_PAGE_BYTES = 768 * 1024  # a page this large was probably cut at the 1 MB limit: read again at once
# A copy's stream is complete once a read made this long after its container exited finds nothing new (the
# runner's drain window for a run of one task: the awslogs driver has flushed when the container exits).
QUIET_S = 1.0
# A fanned-out run reads each copy's stream with its own GetLogEvents: while copies run, at most this many reads a
# second for the whole run (each copy at most every N / 4 s), whatever the runner's pace; a stopped copy is read
# at the runner's pace until its stream is complete. GetLogEvents' quota: 10/s per account and Region
# (cloud-apis.md §5, the archived figure).
LOG_READS_PER_S = 4.0


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


def read_copies(
    client: CloudWatchLogsClient,
    logs: LogTarget,
    tasks: dict[int, str],
    cursor: str | None,
    api: Callable[[str, str, Callable[[], Any]], Any],
    ended: dict[int, datetime],
    waiting: frozenset[int] = frozenset(),
    paced: bool = False,
) -> LogPage:
    """One GetLogEvents page of each copy's stream (`tasks`: index → task id), each line marked with its copy.

    The cursor holds every copy's forward token, the copies whose stream is complete (stopped, per `ended`:
    when its output ended, and read empty QUIET_S later: not read again) and where the next read begins. Copies
    in `waiting` (last seen before RUNNING: no stream yet) are left for a later read, and so, when `paced` (the run
    is being polled), is a running copy read less than N / LOG_READS_PER_S seconds ago. A read that fails after
    some copies were read returns those lines with `more` (the next read begins with the copy that failed),
    so one failing stream neither loses nor repeats the others' lines. `final` once every stream is complete."""
    state: dict[str, Any] = json.loads(cursor) if cursor else {}
    tokens: dict[str, str] = dict(state.get("t") or {})
    done: set[int] = set(state.get("done") or ())
    last: dict[str, float] = dict(state.get("at") or {})
    now = datetime.now(UTC).timestamp()
    gap = len(tasks) / LOG_READS_PER_S if paced else 0.0
    resting = {i for i in tasks if i not in ended and now - last.get(str(i), float("-inf")) < gap}
    order = sorted(tasks)
    start = int(state.get("next") or 0)
    order = [i for i in order if i >= start] + [i for i in order if i < start]
    lines: list[LogLine] = []
    more, resume = False, 0
    for position, index in enumerate(i for i in order if i not in done | waiting | resting):
        began = datetime.now(UTC)
        last[str(index)] = began.timestamp()
        try:
            page = read_page(client, logs, tasks[index], tokens.get(str(index)), api)
        except OpsctlError:
            if position == 0:
                raise  # nothing read: the runner's retry policy takes it from here
            more, resume = True, index
            break
        lines += [replace(line, copy=index) for line in page.lines]
        if page.cursor:
            tokens[str(index)] = page.cursor
        more = more or page.more
        end = ended.get(index)
        if end is not None and not page.lines and (began - end).total_seconds() >= QUIET_S:
            done.add(index)
    cursor = json.dumps({"t": tokens, "done": sorted(done), "next": resume, "at": last}, separators=(",", ":"))
    return LogPage(tuple(lines), cursor, more=more, final=not more and all(i in done for i in tasks))
