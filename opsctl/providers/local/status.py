"""A local run's state, from its run directory: exit.json (and stop.json) once it ended, else the supervisor's pid.

Every file is read tolerantly: one that a crash tore or a person edited never makes a command fail, it is
reported as damaged (state.Damaged) or left out.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from opsctl.model import Copy, State, Status, fold_copies
from opsctl.state import Damaged, read_json

LOST = "the supervisor process died without recording an exit code"


def _meta(run_dir: Path) -> dict[str, Any]:
    try:
        return read_json(run_dir / "meta.json") or {}
    except Damaged:
        return {}


def started_at(run_dir: Path) -> datetime | None:
    """When the run started, from meta.json (None when it is damaged)."""
    try:
        return datetime.fromisoformat(_meta(run_dir)["started_at"])
    except (KeyError, TypeError, ValueError):
        return None


def copy_count(run_dir: Path) -> int:
    """How many copies the run has (`--tasks N`; 1 when meta.json does not say, or is damaged)."""
    count = _meta(run_dir).get("tasks")
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 1 else 1


def status_of(run_dir: Path) -> Status:
    """STOPPED once exit.json exists; RUNNING while the supervisor lives; else lost."""
    count = copy_count(run_dir)
    if count > 1:
        return fanned_status(run_dir, count)
    started = started_at(run_dir)
    exit_file = run_dir / "exit.json"
    if exit_file.exists():
        return _stopped(run_dir, started)
    if alive(run_dir):
        return Status(State.RUNNING, "running", started_at=started)
    if exit_file.exists():  # it finished between the two checks
        return _stopped(run_dir, started)
    return Status(State.STOPPED, "lost", reason=LOST, started_at=started)


def _stopped(run_dir: Path, started: datetime | None) -> Status:
    try:
        done: dict[str, Any] = read_json(run_dir / "exit.json") or {}
        code = done.get("exit_code")
        stopped = datetime.fromisoformat(done["stopped_at"])
        if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
            raise Damaged("exit_code")
    except (Damaged, KeyError, TypeError, ValueError):
        return Status(
            State.STOPPED, "exited", reason="its exit.json is damaged: the exit code is lost", started_at=started
        )
    reason = _stop_reason(run_dir) or done.get("reason")
    details: tuple[tuple[str, str], ...] = (("signal", str(done["signal"])),) if done.get("signal") else ()
    if done.get("dropped_lines"):
        details += (("log lines dropped", f"{done['dropped_lines']} (the disk was full)"),)
    return Status(
        State.STOPPED,
        "exited",
        exit_code=code,
        reason=str(reason) if reason is not None else None,
        details=details,
        started_at=started,
        stopped_at=stopped,
    )


def fanned_status(run_dir: Path, count: int) -> Status:
    """A run of `count` copies: each copy from exit.json once it exists, else from copies.json (what the
    supervisor said so far), and the run's state, exit code and reason folded from them."""
    started = started_at(run_dir)
    exit_file = run_dir / "exit.json"
    if not exit_file.exists():
        if alive(run_dir):
            return Status(State.RUNNING, "running", started_at=started, copies=_copies(run_dir / "copies.json", count))
        if not exit_file.exists():  # and it did not finish between the two checks: lost
            copies = tuple(
                c if c.state is State.STOPPED else replace(c, state=State.STOPPED, reason=LOST)
                for c in _copies(run_dir / "copies.json", count)
            )
            _, code, reason = fold_copies(copies)
            return Status(State.STOPPED, "lost", exit_code=code, reason=reason, started_at=started, copies=copies)
    try:
        done: dict[str, Any] = read_json(exit_file) or {}
        stopped = datetime.fromisoformat(done["stopped_at"])
    except (Damaged, KeyError, TypeError, ValueError):
        return Status(
            State.STOPPED, "exited", reason="its exit.json is damaged: the exit codes are lost", started_at=started
        )
    copies = _copies(exit_file, count)
    _, code, reason = fold_copies(copies)
    details: tuple[tuple[str, str], ...] = ()
    if done.get("dropped_lines"):
        details += (("log lines dropped", f"{done['dropped_lines']} (the disk was full)"),)
    return Status(
        State.STOPPED,
        "exited",
        exit_code=code,
        reason=_stop_reason(run_dir) or reason,
        details=details,
        started_at=started,
        stopped_at=stopped,
        copies=copies,
    )


def _copies(path: Path, count: int) -> tuple[Copy, ...]:
    """Every copy as the supervisor's file says (one it does not mention, or mentions damaged: not started)."""
    try:
        records = (read_json(path) or {}).get("copies")
    except Damaged:
        records = None
    if not isinstance(records, list):
        records = []
    by_index = {r["index"]: r for r in records if isinstance(r, dict) and isinstance(r.get("index"), int)}
    return tuple(_copy(i, by_index.get(i, {})) for i in range(count))


def _copy(index: int, record: dict[str, Any]) -> Copy:
    """One copy's record: {index, pid, started_at} once started; exit_code, signal, stopped_at, reason once ended."""
    pid = record.get("pid")
    run = str(pid) if isinstance(pid, int) and not isinstance(pid, bool) else ""
    if record.get("stopped_at") is None:
        return Copy(index, run, State.RUNNING if run else State.PENDING)
    code, reason = record.get("exit_code"), record.get("reason")
    if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
        return Copy(index, run, State.STOPPED, None, "its record is damaged: the exit code is lost")
    return Copy(index, run, State.STOPPED, code, reason if isinstance(reason, str) else None)


def _stop_reason(run_dir: Path) -> str | None:
    """Why the run was stopped, when `opsctl stop` (or a runner) said so in stop.json."""
    try:
        stop = read_json(run_dir / "stop.json")
    except Damaged:
        return None
    return stop["reason"] if stop and isinstance(stop.get("reason"), str) else None


def alive(run_dir: Path) -> bool:
    """Whether the run's supervisor process is still running (a zombie is not)."""
    pid = supervisor_pid(run_dir)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent opsctl) is not alive.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def supervisor_pid(run_dir: Path) -> int | None:
    """The supervisor's pid from the run's pid file; None when missing or damaged."""
    try:
        pid = int((run_dir / "pid").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None
