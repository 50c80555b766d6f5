"""The local history sink: one JSON line per finished run, never a secret; `opsctl history` reads it back.

Only facts opsctl itself knows are stored — env, task, provider, run id, actor, origin, times, status,
exit code, and the copies of a fanned-out run (`tasks`, only when N > 1). Parameter values, env vars,
log lines, the stop reason and the task's result line are not: they are task-controlled text that may
hold a secret opsctl does not know is one (a generated password in the result, say), and the history
outlives the run.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opsctl.model import RunResult
from opsctl.state import private_dir, state_dir

FILE = "history.jsonl"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One recorded run; times are ISO 8601 in UTC."""

    env: str
    task: str
    provider: str
    run: str
    actor: str
    origin: str | None
    started_at: str
    stopped_at: str | None
    status: str
    exit_code: int | None  # the task's own exit code, when it had one
    tasks: int = 1  # its copies (--tasks N)


def history_path() -> Path:
    """Where the history lives: $XDG_STATE_HOME/opsctl/history.jsonl."""
    return state_dir() / FILE


def _utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def record(result: RunResult, origin: str | None = None) -> HistoryEntry:
    """Append one run to the history (raises OSError when the state dir is not writable)."""
    entry = HistoryEntry(
        env=result.env,
        task=result.task,
        provider=result.provider,
        run=result.run.id,
        actor=result.actor,
        origin=origin,
        started_at=_utc(result.started_at) or "",
        stopped_at=_utc(result.stopped_at),
        status=result.outcome.value,
        exit_code=result.exit_code,
        tasks=len(result.tasks) or 1,
    )
    fields = asdict(entry)
    if entry.tasks == 1:
        del fields["tasks"]  # a run without fan-out is recorded as it always was
    line = json.dumps(fields, separators=(",", ":")).encode() + b"\n"
    path = history_path()
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        # Writers take turns, so the last byte read below is not one of another writer's half-written line.
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        # A line torn by a crash would swallow this one: start on a fresh line.
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        # One write with O_APPEND: even a writer that ignores the lock cannot interleave within a line.
        while line:
            line = line[os.write(fd, line) :]
    finally:
        os.close(fd)
    return entry


def _entry(obj: Any) -> HistoryEntry | None:
    """A parsed line as an entry, or None when it is not one (corrupt, edited, another version)."""
    if not isinstance(obj, dict):
        return None
    text = ("env", "task", "provider", "run", "actor", "started_at", "status")
    if not all(isinstance(obj.get(k), str) for k in text):
        return None
    for key in ("origin", "stopped_at"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            return None
    code, tasks = obj.get("exit_code"), obj.get("tasks", 1)
    if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
        return None
    if not isinstance(tasks, int) or isinstance(tasks, bool) or tasks < 1:
        return None
    try:
        datetime.fromisoformat(obj["started_at"])
    except ValueError:
        return None
    return HistoryEntry(
        env=obj["env"],
        task=obj["task"],
        provider=obj["provider"],
        run=obj["run"],
        actor=obj["actor"],
        origin=obj.get("origin"),
        started_at=obj["started_at"],
        stopped_at=obj.get("stopped_at"),
        status=obj["status"],
        exit_code=code,
        tasks=tasks,
    )


def _sort_key(item: tuple[int, HistoryEntry]) -> tuple[datetime, int]:
    moment = datetime.fromisoformat(item[1].started_at)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), item[0]


def recent(env: str, limit: int = 20) -> list[HistoryEntry]:
    """The latest record of each run in `env`, newest start first; unreadable lines are skipped."""
    try:
        raw = history_path().read_bytes()
    except FileNotFoundError:
        return []
    latest: dict[str, tuple[int, HistoryEntry]] = {}
    for index, line in enumerate(raw.splitlines()):
        try:
            entry = _entry(json.loads(line))
        except ValueError:  # JSON and UTF-8 errors alike
            continue
        if entry is not None and entry.env == env:
            # A run recorded twice (detached, then reattached with `opsctl wait`): the last record wins.
            latest[entry.run] = (index, entry)
    ordered = sorted(latest.values(), key=_sort_key, reverse=True)
    return [entry for _, entry in ordered[: max(limit, 0)]]
