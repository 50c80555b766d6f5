"""A local run's log.jsonl (written by the supervisor) → LogPage, by byte offset."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from opsctl.model import LogLine, LogPage

PAGE_BYTES = 4 * 1024 * 1024
DAMAGED = "[opsctl: skipped a damaged line of the run's log]"


def read_page(path: Path, cursor: str | None) -> LogPage:
    """Whole lines after byte offset `cursor` (None: from the start); a damaged line becomes a marker line."""
    offset = int(cursor or 0)
    if not path.exists():
        return LogPage((), cursor)
    with path.open("rb") as f:
        f.seek(offset)
        chunk = f.read(PAGE_BYTES)
    end = chunk.rfind(b"\n") + 1  # only whole lines: the supervisor may be mid-write
    lines = []
    for raw in chunk[:end].splitlines():
        if raw.strip():
            lines.append(_line(raw))
    return LogPage(tuple(lines), str(offset + end) if end else cursor, more=len(chunk) == PAGE_BYTES)


def _line(raw: bytes) -> LogLine:
    """One record; one torn by a full disk or a crash is reported, never fatal."""
    try:
        record = json.loads(raw)
        return LogLine(str(record["m"]), datetime.fromisoformat(record["t"]), str(record["s"]))
    except (ValueError, KeyError, TypeError):
        return LogLine(DAMAGED, None, "stderr")
