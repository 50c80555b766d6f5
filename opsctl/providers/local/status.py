"""A local run's state, from its run directory: exit.json (and stop.json) once it ended, else the supervisor's pid."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from opsctl.model import State, Status


def status_of(run_dir: Path) -> Status:
    """STOPPED once exit.json exists; RUNNING while the supervisor lives; else lost."""
    meta = json.loads((run_dir / "meta.json").read_text(encoding="utf-8"))
    started = datetime.fromisoformat(meta["started_at"])
    exit_file = run_dir / "exit.json"
    if exit_file.exists():
        done = json.loads(exit_file.read_text(encoding="utf-8"))
        stop = run_dir / "stop.json"
        reason = done.get("reason")
        if stop.exists():
            reason = json.loads(stop.read_text(encoding="utf-8"))["reason"]
        details = (("signal", str(done["signal"])),) if done.get("signal") else ()
        return Status(
            State.STOPPED,
            "exited",
            exit_code=done["exit_code"],
            reason=reason,
            details=details,
            started_at=started,
            stopped_at=datetime.fromisoformat(done["stopped_at"]),
        )
    if alive(run_dir):
        return Status(State.RUNNING, "running", started_at=started)
    if exit_file.exists():  # it finished between the two checks
        return status_of(run_dir)
    return Status(
        State.STOPPED,
        "lost",
        reason="the supervisor process died without recording an exit code",
        started_at=started,
    )


def alive(run_dir: Path) -> bool:
    """Whether the run's supervisor process is still running (a zombie is not)."""
    try:
        pid = int((run_dir / "pid").read_text(encoding="utf-8"))
    except (OSError, ValueError):
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
