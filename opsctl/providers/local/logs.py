"""A local run's log.jsonl (written by the supervisor) → LogPage, by byte offset."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from opsctl.model import LogLine, LogPage

PAGE_BYTES = 4 * 1024 * 1024  # the supervisor cuts lines at 64 KiB, so a record is far smaller than a page
DAMAGED = "[opsctl: skipped a damaged line of the run's log]"
OVERSIZED = "[opsctl: skipped a log record larger than 4 MiB]"


def read_page(path: Path, cursor: str | None) -> LogPage:
    """Whole lines after byte offset `cursor` (None: from the start); every call moves on or says nothing is new."""
    offset = int(cursor or 0)
    if not path.exists():
        return LogPage((), cursor)
    with path.open("rb") as f:
        f.seek(offset)
        chunk = f.read(PAGE_BYTES)
    end = chunk.rfind(b"\n") + 1  # only whole lines: the supervisor may be mid-write
    full = len(chunk) == PAGE_BYTES
    if not end and full:
        # A record larger than a page (not one this supervisor writes): skip it, say so, and move on.
        skipped = LogLine(OVERSIZED, None, "stderr")
        return LogPage((skipped,), str(offset + len(chunk)), more=True)
    lines = [_line(raw) for raw in chunk[:end].splitlines() if raw.strip()]
    return LogPage(tuple(lines), str(offset + end) if end else cursor, more=full)


def _line(raw: bytes) -> LogLine:
    """One record (`"i"`: the copy that printed it, in a fanned-out run); a damaged one (torn, or the rest of a
    skipped one) is reported, never fatal."""
    try:
        record = json.loads(raw)
        copy = record.get("i")
        return LogLine(
            str(record["m"]),
            datetime.fromisoformat(record["t"]),
            str(record["s"]),
            int(record.get("c", 0)),
            None if copy is None else int(copy),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return LogLine(DAMAGED, None, "stderr")
