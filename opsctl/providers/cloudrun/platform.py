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


def labels(entry: Any) -> tuple[int, int]:
    """The (task index, attempt) an entry belongs to (0, 0 when unlabelled)."""
    values = entry.labels
    index = values.get("run.googleapis.com/task_index", "0")
    attempt = values.get("run.googleapis.com/task_attempt", "0")
    return (int(index) if index.isdigit() else 0, int(attempt) if attempt.isdigit() else 0)


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
            self._ended.add((task, attempt))
            if exited.group(1) == "0":
                return None  # a clean exit needs no notice
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
