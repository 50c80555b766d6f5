"""A local run's state, from its run directory: exit.json (and stop.json) once it ended, else the supervisor's pid.

Every file is read tolerantly: one that a crash tore or a person edited never makes a command fail, it is
reported as damaged (state.Damaged) or left out.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from opsctl.model import State, Status
from opsctl.state import Damaged, read_json


def started_at(run_dir: Path) -> datetime | None:
    """When the run started, from meta.json (None when it is damaged)."""
    try:
        meta = read_json(run_dir / "meta.json") or {}
        return datetime.fromisoformat(meta["started_at"])
    except (Damaged, KeyError, TypeError, ValueError):
        return None


def status_of(run_dir: Path) -> Status:
    """STOPPED once exit.json exists; RUNNING while the supervisor lives; else lost."""
    started = started_at(run_dir)
    exit_file = run_dir / "exit.json"
    if exit_file.exists():
        return _stopped(run_dir, started)
    if alive(run_dir):
        return Status(State.RUNNING, "running", started_at=started)
    if exit_file.exists():  # it finished between the two checks
        return _stopped(run_dir, started)
    return Status(
        State.STOPPED,
        "lost",
        reason="the supervisor process died without recording an exit code",
        started_at=started,
    )


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
    reason = done.get("reason")
    try:
        stop = read_json(run_dir / "stop.json")
    except Damaged:
        stop = None
    if stop and isinstance(stop.get("reason"), str):
        reason = stop["reason"]
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
