"""Cloud Run's own log lines about a task, and knowing when every task's last line has been read.

After a task's container exits, Cloud Run writes `Container called exit(N).` to the execution's
`run.googleapis.com/varlog/system` log, labelled with the task's index and attempt (cloud-apis.md §11). Such
platform lines are not the task's output: they are never relayed as its lines nor taken as its result; the
useful ones become notices (a non-zero exit, running out of memory, a failed start). Seeing the exit entry of
every task's last attempt means the execution's output is complete. (A task's result line does not: a task may
print after it, and those lines would be left behind.)
"""

from __future__ import annotations

import re
from typing import Any

from opsctl.model import LogLine

SYSTEM_LOG = "run.googleapis.com%2Fvarlog%2Fsystem"
_EXIT = re.compile(r"^Container called exit\((-?\d+)\)\.$")


def _number(value: str | None) -> int | None:
    """A label's count: ASCII digits only, at most 9 of them (a task sets its own labels through structured
    logging, so a value can be anything: `²` is a digit to str.isdigit() and 5,000 digits are too many for int())."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 9:
        return None
    return int(value)


def labels(entry: Any) -> tuple[int | None, int]:
    """The (task index, attempt) an entry belongs to: index None when its label is missing or not a count."""
    values = entry.labels
    attempt = _number(values.get("run.googleapis.com/task_attempt"))
    return _number(values.get("run.googleapis.com/task_index")), attempt or 0


def copy_of(entry: Any, tasks: int) -> int | None:
    """The copy a line of an execution of `tasks` tasks belongs to (None for N = 1, or when its label names no
    task of this execution: shown without a copy rather than as another copy's)."""
    index = labels(entry)[0]
    return index if tasks > 1 and index is not None and index < tasks else None


def is_platform(entry: Any) -> bool:
    """Whether Cloud Run itself wrote this entry (not the task's stdout/stderr)."""
    return str(entry.log_name).endswith(SYSTEM_LOG)


class Ends:
    """Which tasks' output is known to have ended, from the entries read so far."""

    def __init__(self) -> None:
        self._ended: set[tuple[int, int]] = set()  # (task, attempt) whose exit entry was read
        self.last_attempts: dict[int, int] | None = None  # task → its last attempt, once the execution completed

    def see(self, entry: Any, line: LogLine) -> LogLine | None:
        """The line to hand on for an entry just read (None: nothing to show), remembering ends."""
        if not is_platform(entry):
            return line
        task, attempt = labels(entry)
        text = line.message.strip()
        exited = _EXIT.match(text)
        if exited:
            if task is not None:  # an exit that names no task ends none
                self._ended.add((task, attempt))
            if exited.group(1) == "0":
                return None  # a clean exit needs no notice
        if task is None:
            return LogLine(message=f"Cloud Run: {text}", timestamp=line.timestamp, stream="platform")
        where = f"task {task}" + (f", attempt {attempt + 1}" if attempt else "")
        return LogLine(
            message=f"Cloud Run ({where}): {text}", timestamp=line.timestamp, stream="platform", copy=line.copy
        )

    def complete(self) -> bool:
        """Every task's last attempt has ended and its end was read: no line of the execution is still to come."""
        return self.last_attempts is not None and all(
            (task, attempt) in self._ended for task, attempt in self.last_attempts.items()
        )


def last_attempts(execution: Any, tasks: list[Any]) -> dict[int, int] | None:
    """task → last attempt for a completed execution whose every task exited by itself (else None: a cancelled
    or never-started task writes no exit entry, so its end cannot be seen)."""
    if len(tasks) < execution.task_count:
        return None
    found = {}
    for task in tasks:
        result = task.last_attempt_result if "last_attempt_result" in task else None
        if result is None or result.term_signal:
            return None
        found[task.index] = task.retried
    return found
