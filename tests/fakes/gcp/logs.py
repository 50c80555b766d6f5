"""The Cloud Logging half of the fake: ListLogEntries with filter, order and page tokens; TailLogEntries."""

from __future__ import annotations

import bisect
import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
from google.cloud.logging_v2.types import ListLogEntriesResponse, TailLogEntriesResponse

from tests.fakes.gcp.clock import Clock, ManualClock
from tests.fakes.gcp.world import NS, Execution, World

_TERM = re.compile(r'^(resource\.type|resource\.labels\.[a-z_]+|labels\."[^"]+"|timestamp)\s*(>=|=)\s*"([^"]*)"$')
_EXEC_LABEL = 'labels."run.googleapis.com/execution_name"'


def parse_rfc3339(text: str) -> int:
    """`2024-05-01T12:00:00.123456789Z` → nanoseconds since the epoch."""
    main, _, frac = text.rstrip("Z").partition(".")
    seconds = int(datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp())
    return seconds * NS + int((frac or "0").ljust(9, "0")[:9])


def parse_filter(text: str) -> dict[str, str]:
    """The subset of the Logging filter language opsctl uses: `key="v"` and `timestamp>="…"` joined by AND."""
    terms: dict[str, str] = {}
    for term in text.split(" AND "):
        match = _TERM.match(term.strip())
        if match is None:
            raise ValueError(f"unsupported filter term {term!r}")
        key, op, value = match.groups()
        if (key == "timestamp") != (op == ">="):
            raise ValueError(f"unsupported comparison in {term!r}")
        terms[key] = value
    return terms


class LoggingFake:
    """ListLogEntries and TailLogEntries over the world's executions (mixed into FakeGcp)."""

    world: World
    clock: Clock
    calls: Counter[str]
    call_times: list[tuple[float, str]]
    faults: dict[str, list[Any]]
    list_filters: list[str]
    tail_filters: list[str]
    tail_break_after: int | None
    tail_suppress: int
    _stopping: threading.Event

    def _query(self, request: Any, context: grpc.ServicerContext) -> tuple[Execution | None, int]:
        if list(request.resource_names) != [f"projects/{self.world.project}"]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad resource_names {list(request.resource_names)}")
        try:
            terms = parse_filter(request.filter)
        except ValueError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        since = parse_rfc3339(terms["timestamp"]) if "timestamp" in terms else 0
        # Without an execution label the fake finds nothing (it serves one execution's lines at a time).
        match = [e for e in self.world.executions.values() if e.short == terms.get(_EXEC_LABEL)]
        execution = match[0] if match else None
        wanted = {
            "resource.type": "cloud_run_job",
            "resource.labels.location": self.world.region,
            "resource.labels.job_name": execution.job.name.rsplit("/", 1)[-1] if execution else "",
        }
        if execution is None or any(terms.get(k, v) != v for k, v in wanted.items()):
            return None, since
        return execution, since

    def _list_entries(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.page_size > 1000:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_size must be at most 1000")
        if request.order_by not in ("", "timestamp asc"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the fake lists in ascending order only")
        self.list_filters.append(request.filter)
        execution, since = self._query(request, context)
        response = ListLogEntriesResponse.pb()()
        if execution is None:
            return response
        after = None
        if request.page_token:
            key, _, position = request.page_token.partition("|")
            if key != str(hash(request.filter)):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page token does not match the filter")
            ts, _, insert_id = position.partition(":")
            after = (int(ts), insert_id)
        entries, more = self.world.visible_entries(execution, since, after, request.page_size or 50, self.clock())
        response.entries.extend(entries)
        if more:
            last = entries[-1]
            ns = last.timestamp.seconds * NS + last.timestamp.nanos
            response.next_page_token = f"{hash(request.filter)}|{ns}:{last.insert_id}"
        return response

    def _tail(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        request = next(requests)
        with self.world.lock:
            self.calls["TailLogEntries"] += 1
            self.call_times.append((self.clock(), "TailLogEntries"))
            queue = self.faults.get("TailLogEntries")
            fault = queue.pop(0) if queue else None
            self.tail_filters.append(request.filter)
        if fault is not None:
            context.abort(fault.code, fault.message)
        with self.world.lock:
            execution, since = self._query(request, context)
            start = self.clock()
        if execution is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the fake tails one execution at a time")
        assert execution is not None
        # Only what Cloud Logging ingests after the session starts: a tail never replays the past.
        pointer = bisect.bisect_right(execution.visible_keys, start)
        try:
            yield from self._stream(execution, since, pointer, context)
        finally:
            if isinstance(self.clock, ManualClock):
                self.clock.sent(id(context), None)

    def _stream(self, execution: Execution, since: int, pointer: int, context: grpc.ServicerContext) -> Iterator[Any]:
        sent, suppress, break_after = 0, self.tail_suppress, self.tail_break_after
        while context.is_active() and not self._stopping.is_set():
            with self.world.lock:
                now = self.clock()
                end = bisect.bisect_right(execution.visible_keys, now)
                batch = [
                    i
                    for i in execution.by_visible[pointer:end]
                    if execution.emitted(i) and execution.line_ns(i) >= since
                ]
                pointer = end
                batch.sort(key=lambda i: (execution.line_ns(i), i))  # the buffer window orders them
                entries = [execution.entry(i, self.world.project) for i in batch]
            response = TailLogEntriesResponse.pb()()
            if suppress and entries:
                dropped, entries = entries[:suppress], entries[suppress:]
                suppress -= len(dropped)
                response.suppression_info.add(reason=1, suppressed_count=len(dropped))  # RATE_LIMIT
            if break_after is not None and sent + len(entries) > break_after:
                response.entries.extend(entries[: break_after - sent])
                yield response
                context.abort(grpc.StatusCode.UNAVAILABLE, "injected: tail session broken")
            for chunk in range(0, max(len(entries), 1), 1000):
                part = entries[chunk : chunk + 1000]
                if part or response.suppression_info:
                    response.entries.extend(part)
                    yield response
                    response = TailLogEntriesResponse.pb()()
            sent += len(entries)
            if isinstance(self.clock, ManualClock):
                self.clock.sent(id(context), now)
            self._wait()

    def _wait(self) -> None:
        if isinstance(self.clock, ManualClock):
            with self.clock.changed:
                self.clock.changed.wait(0.05)
        else:
            self._stopping.wait(0.02)
