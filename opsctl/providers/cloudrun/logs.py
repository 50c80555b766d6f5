"""Cloud Logging for one Cloud Run execution: a live tail while it runs, paged list reads otherwise.

Two sources feed one stream of lines, and every line must come out exactly once:

- `ListLogEntries` (60 calls a minute per project, shared by every operator) reads pages in
  timestamp order from the cursor: the last timestamp read plus the insert ids read at it.
- `TailLogEntries` (gRPC bidi streaming, a separate quota) pushes entries as Cloud Logging ingests
  them, but never replays the past. A reader thread buffers them; `read()` drains that buffer
  without any API call.

Switching sources is where lines get lost or doubled, so: after the tail starts, list reads go on
until a list page contains an entry the tail has also received — proof that the tail was live
when that entry was ingested, so everything ingested later is in the tail (Cloud Logging ingests a
container's lines about in order; the ids read within a margin absorb the rest). Until then, while
the run goes on and the tail has brought nothing since the last list read, a read makes no call and
says so (`buffered`): the runner reads again soon, and the first read after the tail's first entries
is that proof (once per tail; after it, list reads keep the runner's schedule). Otherwise the tail
would buffer every line of a busy run (N copies at once) for a whole list interval before the proof. If the tail fails
(error, stream end, or suppressed entries), list reads resume a margin before the last line read,
de-duplicated against the ids read within that margin (`Recent`).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import grpc

from opsctl.model import LogLine, LogPage
from opsctl.providers.cloudrun.platform import Ends, copy_of

PAGE_SIZE = 1000  # the API's maximum
MARGIN_NS = 10 * 1_000_000_000  # how far back list reads resume after the tail failed
TAIL_BUFFER_WINDOW_MS = 2000  # the server holds entries this long to send them in order
MAX_TAILS = 3  # tail sessions per execution before settling for list reads
RECENT_CAP = 20_000  # ids kept for de-duplication when the source changes (bounds memory at high rates)
NS = 1_000_000_000
# Tail errors after which a fresh tail is worth trying (None: the server ended the stream).
RESTARTABLE = {
    None,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.ABORTED,
}


def _code(error: BaseException | None) -> Any:
    code = getattr(error, "code", None)
    return code() if callable(code) else None


# An entry as read: timestamp (ns), insert id, and the raw LogEntry.
Item = tuple[int, str, Any]


def rfc3339(ns: int) -> str:
    """Nanoseconds since the epoch → `2024-05-01T12:00:00.123456789Z` (Cloud Logging filter syntax)."""
    seconds, nanos = divmod(ns, NS)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def entry_ns(entry: Any) -> int:
    """A LogEntry's timestamp in nanoseconds."""
    return int(entry.timestamp.seconds) * NS + int(entry.timestamp.nanos)


def to_line(entry: Any, tasks: int = 1) -> LogLine:
    """A raw `google.logging.v2.LogEntry` → LogLine (Cloud Run turns JSON stdout lines into jsonPayload); in an
    execution of `tasks` > 1 tasks, the line's copy is the task index Cloud Run labels the entry with."""
    kind = entry.WhichOneof("payload")
    if kind == "text_payload":
        message = entry.text_payload.rstrip("\n")
    elif kind == "json_payload":
        data = {k: _plain(v) for k, v in entry.json_payload.fields.items()}
        message = (
            data["message"]
            if list(data) == ["message"] and isinstance(data["message"], str)
            else (json.dumps(data, separators=(",", ":"), ensure_ascii=False, sort_keys=True))
        )
    else:
        message = ""
    log = entry.log_name
    stream = "stderr" if log.endswith("stderr") else "stdout" if log.endswith("stdout") else "system"
    seconds, nanos = entry.timestamp.seconds, entry.timestamp.nanos
    stamp = datetime.fromtimestamp(seconds, UTC).replace(microsecond=nanos // 1000)
    return LogLine(message=message, timestamp=stamp, stream=stream, copy=copy_of(entry, tasks))


def _plain(value: Any) -> Any:
    """A google.protobuf.Value → the JSON value it holds."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return {k: _plain(v) for k, v in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_plain(v) for v in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    return None if kind in (None, "null_value") else getattr(value, kind)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where list reads go on from: the last timestamp read and the insert ids read at it."""

    t: int
    ids: tuple[str, ...] = ()
    token: str | None = None  # the page token of an unfinished backlog …
    token_t: int | None = None  # … and the `timestamp>=` of the filter it belongs to

    def encode(self) -> str:
        """The opaque string the runner hands back."""
        data: dict[str, Any] = {"t": self.t, "i": list(self.ids)}
        if self.token:
            data.update(p=self.token, f=self.token_t)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse `encode`'s output."""
        data = json.loads(text)
        return cls(t=int(data["t"]), ids=tuple(data["i"]), token=data.get("p"), token_t=data.get("f"))


class Recent:
    """Insert ids read lately, with their timestamps: forgotten once older than a floor, or past a count."""

    def __init__(self, cap: int = RECENT_CAP) -> None:
        self._order: deque[tuple[int, str]] = deque()
        self._ids: set[str] = set()
        self._cap = cap
        self.lost_ns = 0  # the newest timestamp among ids forgotten because of the cap (re-reading from it repeats)

    def __contains__(self, insert_id: str) -> bool:
        return insert_id in self._ids

    def add(self, ns: int, insert_id: str) -> None:
        """Remember one id."""
        self._order.append((ns, insert_id))
        self._ids.add(insert_id)
        if len(self._order) > self._cap:
            ns, dropped = self._order.popleft()
            self._ids.discard(dropped)
            self.lost_ns = max(self.lost_ns, ns)

    def prune(self, floor: int) -> None:
        """Forget ids read before `floor` (roughly: ids are kept in read order, which is nearly time order)."""
        while self._order and self._order[0][0] < floor:
            self._ids.discard(self._order.popleft()[1])

    def oldest_ns(self) -> int:
        """The timestamp of the oldest id still remembered (0: none)."""
        return self._order[0][0] if self._order else 0


class TailSession:
    """One TailLogEntries stream, read by a daemon thread into a buffer that `take` drains."""

    def __init__(self, stub: Callable[..., Any], request: Any, timeout_s: float) -> None:
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._buffer: deque[Item] = deque()
        self._received: set[str] | None = set()  # ids, until the list reads have caught up
        self.min_ns: int | None = None
        self.error: BaseException | None = None
        self.suppressed = 0
        self.arrived = 0  # entries received so far
        self.ended = False
        # The raw stub returns at once (the GAPIC method blocks until a first response) and can be cancelled.
        self._call = stub(self._requests(request), timeout=timeout_s)
        self._thread = threading.Thread(target=self._pump, name="opsctl-log-tail", daemon=True)
        self._thread.start()

    def _requests(self, request: Any) -> Iterator[Any]:
        yield request
        self._closed.wait()  # ending the request stream would end the session

    def _pump(self) -> None:
        try:
            for response in self._call:
                raw = type(response).pb(response)
                with self._lock:
                    self.suppressed += sum(s.suppressed_count for s in raw.suppression_info)
                    self.arrived += len(raw.entries)
                    for entry in raw.entries:
                        ns = entry_ns(entry)
                        self._buffer.append((ns, entry.insert_id, entry))
                        if self._received is not None:
                            self._received.add(entry.insert_id)
                        if self.min_ns is None or ns < self.min_ns:
                            self.min_ns = ns
        except Exception as e:  # grpc.RpcError: Cancelled on close(), anything else is a failure
            if not self._closed.is_set():
                self.error = e
        finally:
            self.ended = True

    @property
    def failed(self) -> bool:
        """The stream broke, ended, or told us it dropped entries."""
        return self.error is not None or self.suppressed > 0 or (self.ended and not self._closed.is_set())

    def overlaps(self, ids: Iterable[str]) -> bool:
        """Whether one of these entries, just returned by a list read, also came through the tail."""
        with self._lock:
            return self._received is not None and any(i in self._received for i in ids)

    def caught_up(self) -> None:
        """The list reads are done with the backlog: stop tracking ids."""
        with self._lock:
            self._received = None

    def take(self, limit: int) -> tuple[list[Item], bool]:
        """Up to `limit` buffered entries in arrival order, and whether more are waiting."""
        with self._lock:
            out = [self._buffer.popleft() for _ in range(min(limit, len(self._buffer)))]
            if not self._buffer:
                self.min_ns = None
            return out, bool(self._buffer)

    def close(self) -> None:
        """End the stream and the thread."""
        self._closed.set()
        self._call.cancel()
        self._thread.join(timeout=5)


Lister = Callable[[str, str | None], tuple[Sequence[Any], str]]  # (filter, page token) → (entries, next token)


class LogStream:
    """The read state of one execution's logs in this process (the cursor carries the rest)."""

    def __init__(
        self,
        since_ns: int,
        filter_for: Callable[[int], str],
        lister: Lister,
        tailer: Callable[[str], TailSession] | None,
        *,
        tasks: int = 1,
    ) -> None:
        self.since_ns = since_ns
        self.tasks = tasks  # the execution's task count: with N > 1, every line names its copy
        self.filter_for = filter_for
        self.lister = lister
        self.tailer = tailer
        self.tail: TailSession | None = None
        self.tails_started = 0
        self.caught_up = False
        self.recent = Recent()
        self.tail_error: BaseException | None = None
        self.ends = Ends()
        self.waiting = False  # the last read made no call: the tail has brought nothing to prove it live with
        self._arrived_at_list = -1  # the tail's `arrived` when the last list read began
        self._proved = False  # a list read began after the tail had brought entries (the proof read was made)

    def read(self, cursor: str | None) -> LogPage:
        """The next page after `cursor`: from the tail's buffer (no API call) or one list call; `final` once every
        task's last line has been read."""
        page = self._read(cursor)
        buffered = self.tail is not None and (self.caught_up or self.waiting) and not self.tail.failed
        # Once the execution completed with every task exiting by itself, each task's exit entry will come: a
        # quiet spell only means Cloud Logging has not listed it yet (its ingestion delay has no documented bound).
        due = self.ends.last_attempts is not None and not self.ends.complete()
        return replace(page, final=self.ends.complete() and not page.more, buffered=buffered, awaiting_end=due)

    def _read(self, cursor: str | None) -> LogPage:
        cur = Cursor.decode(cursor) if cursor else Cursor(t=self.since_ns)
        if self.tail is not None and self.tail.failed:
            return self._leave_tail(cur, cursor)
        if self.tail is None and self.tailer is not None and self.tails_started < MAX_TAILS:
            self.tails_started += 1
            self.tail = self.tailer(self.filter_for(max(self.since_ns, cur.t - MARGIN_NS)))
            self.caught_up = False
            self._arrived_at_list = -1  # a list read first: what was ingested before this tail began
            self._proved = False
        if self.tail is not None and self.caught_up:
            items, more = self.tail.take(PAGE_SIZE)
            items.sort(key=lambda item: (item[0], item[1]))
            return self._page(cur, cursor, items, None, more, tail=True)
        # Waiting for the tail's first entries costs no call; the first list read after them is the proof. Once
        # that read was made, list reads keep the runner's own schedule (a list lagging the tail cannot spin).
        quiet = self.tail is not None and self.tailer is not None  # after the run, every drain read lists
        if quiet and not cur.token and self.tail is not None and self.tail.arrived == self._arrived_at_list:
            self.waiting = True
            return LogPage((), cursor)
        page = self._list(cur, cursor)
        self.waiting = quiet and not page.more and not self._proved and not self.caught_up
        return page

    def _list(self, cur: Cursor, cursor: str | None) -> LogPage:
        if self.tail is not None:
            self._proved = self._proved or self.tail.arrived > 0
            self._arrived_at_list = self.tail.arrived
        filter_t = cur.token_t if cur.token and cur.token_t is not None else self._list_from(cur.t)
        entries, token = self.lister(self.filter_for(filter_t), cur.token)
        items = [(entry_ns(e), e.insert_id, e) for e in entries]
        page = self._page(cur, cursor, items, (token or None, filter_t), bool(token), tail=False)
        if self.tail is not None and not self.caught_up and self.tail.overlaps(i for _, i, _ in items):
            # That entry was ingested after the tail started: from here on, the tail has every line.
            self.tail.caught_up()
            self.caught_up = True
        return page

    def _list_from(self, t: int) -> int:
        """Where a list read's filter starts. N > 1 tasks run on different instances and Cloud Logging may list
        one's lines after another's later ones ("late arriving log entries", TailLogEntriesRequest.buffer_window):
        reading from the last timestamp would skip them, so reads go back a margin (what was read there is
        remembered, never shown twice). That holds while a new tail is not yet proved live too: until then, lines
        ingested between a list read and the tail's start are the list reads' to find. One task's lines arrive
        about in order: from `t`."""
        if self.tasks <= 1:
            return t
        return min(t, max(self.since_ns, t - MARGIN_NS, self.recent.lost_ns))

    def _leave_tail(self, cur: Cursor, cursor: str | None) -> LogPage:
        """Deliver what the failed tail buffered, then resume list reads a margin back."""
        tail, self.tail = self.tail, None
        assert tail is not None
        tail.close()
        self.tail_error = tail.error
        if tail.suppressed or _code(tail.error) not in RESTARTABLE:
            self.tails_started = MAX_TAILS  # Cloud Logging dropped entries or said no: a new tail would too
        if not self.caught_up:
            return self._list(cur, cursor)  # the list reads were the source all along
        self.caught_up = False
        items, _ = tail.take(1 << 62)
        items.sort(key=lambda item: (item[0], item[1]))
        page = self._page(cur, cursor, items, None, True, tail=True)
        last = Cursor.decode(page.cursor) if page.cursor else cur
        # Not further back than the ids still remembered, or lines read before would come again.
        back = Cursor(t=max(self.since_ns, last.t - MARGIN_NS, self.recent.oldest_ns()))
        return LogPage(page.lines, back.encode(), more=True)

    def _page(
        self,
        cur: Cursor,
        cursor: str | None,
        items: Sequence[Item],
        token: tuple[str | None, int] | None,
        more: bool,
        *,
        tail: bool,
    ) -> LogPage:
        t, at_t = cur.t, set(cur.ids)
        lines = []
        for ns, insert_id, payload in items:
            seen = (ns == cur.t and insert_id in cur.ids) or insert_id in self.recent
            if not seen:
                line = self.ends.see(payload, to_line(payload, self.tasks))
                if line is not None:
                    lines.append(line)
                self.recent.add(ns, insert_id)
            # Seen entries move the cursor too, or re-reading a margin would never get past it.
            if ns > t:
                t, at_t = ns, {insert_id}
            elif ns == t:
                at_t.add(insert_id)
        floor = t - MARGIN_NS
        if self.tail is not None and not self.caught_up and self.tail.min_ns is not None:
            floor = min(floor, self.tail.min_ns)  # the tail's backlog may repeat what the list returned
        self.recent.prune(floor if (self.tail is not None or tail or self.tasks > 1) else t)
        new_token, token_t = token if token else (None, None)
        new = Cursor(t=t, ids=tuple(sorted(at_t)), token=new_token, token_t=token_t if new_token else None)
        if not lines and new.t == cur.t and new.token == cur.token and set(new.ids) == set(cur.ids):
            return LogPage((), cursor, more=more)  # nothing new: hand back the very same cursor
        return LogPage(tuple(lines), new.encode(), more=more)

    def close(self) -> None:
        """Stop the tail, if one runs."""
        if self.tail is not None:
            self.tail.close()
            self.tail = None
