"""`opsctl doctor` for a local environment: the workdir, each task's program, the state directory."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from opsctl.config import LocalEnv, TaskConfig
from opsctl.model import Check


def checks(env: LocalEnv, root: Path, tasks: list[TaskConfig]) -> list[Check]:
    """The workdir exists, every task's program can be found, the state directory is writable."""
    workdir = env.workdir
    results = [Check("credentials", True, "none needed: tasks run as processes on this machine")]
    results += [Check(f"workdir {workdir}", workdir.is_dir(), fix=f"create it or fix environments.{env.name}.workdir")]
    for task in tasks:
        if not task.command:
            results.append(
                Check(
                    f"task {task.name}: command",
                    False,
                    "no command (a local run has no image)",
                    f"set environments.{env.name}.tasks.{task.name}.command",
                )
            )
            continue
        program = sys.executable if task.command[0] == "{python}" else task.command[0]
        found = shutil.which(program) if os.sep not in program else str(workdir / program)
        ok = found is not None and Path(found).exists()
        results.append(
            Check(
                f"task {task.name}: {task.command[0]}",
                ok,
                found or "not found",
                "" if ok else f"install {program!r} or fix the task's command",
            )
        )
    root.mkdir(parents=True, exist_ok=True)
    results.append(Check(f"state dir {root}", os.access(root, os.W_OK), fix="make it writable or set XDG_STATE_HOME"))
    return results
