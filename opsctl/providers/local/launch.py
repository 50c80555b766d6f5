"""Launching a local run: its run directory (meta.json) and the supervisor process, started as a plain script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from opsctl.config import LocalEnv
from opsctl.errors import LaunchError, UsageError
from opsctl.model import RunSpec

SUPERVISOR = Path(__file__).with_name("supervisor.py")


def argv(spec: RunSpec) -> tuple[str, ...]:
    """The task's command; a local run has no image to fall back on."""
    if not spec.command:
        raise LaunchError(
            f"task {spec.task!r} has no command, and a local run has no image to fall back on: set "
            f"tasks.{spec.task}.command or environments.{spec.env}.tasks.{spec.task}.command"
        )
    return spec.command


# Linux: one argument or environment string holds at most 32 pages (MAX_ARG_STRLEN, with its NUL); all of
# them together, with their pointers, at most ARG_MAX. Past either, exec fails with E2BIG.
MAX_ARG_STRLEN = 32 * 4096


def check_size(args: Sequence[str], env: Mapping[str, str]) -> None:
    """UsageError, before anything is started, for a command line or environment exec would refuse (E2BIG)."""
    limit = MAX_ARG_STRLEN - 1
    named = [(f"argument {i} of the command", a) for i, a in enumerate(args)]
    named += [(f"environment variable {k}", f"{k}={v}") for k, v in env.items()]
    total = 0
    for name, text in named:
        size = len(text.encode("utf-8", "surrogateescape"))
        if size > limit:
            raise UsageError(
                f"{name} is {size:,} bytes; the OS takes at most {limit:,} per value — pass large input in a file"
            )
        total += size + 1 + 8  # the string, its NUL, its pointer
    arg_max = os.sysconf("SC_ARG_MAX")
    if total > arg_max:
        raise UsageError(
            f"the command line and environment are {total:,} bytes; the OS takes at most {arg_max:,} "
            "(ARG_MAX) — pass large input in a file"
        )


def child_env(spec: RunSpec) -> dict[str, str]:
    """The supervisor's (and so the task's) environment."""
    # Python tasks block-buffer a piped stdout; unbuffered, their lines stream as they are printed.
    return {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env_dict()}


def supervisor_argv(run_dir: Path, command: Sequence[str]) -> list[str]:
    """The supervisor's command line."""
    # -I: the supervisor is stdlib-only, so skip site-packages and start ~3x faster.
    return [sys.executable, "-I", str(SUPERVISOR), str(run_dir), "--", *command]


def start(env: LocalEnv, root: Path, spec: RunSpec) -> subprocess.Popen[bytes]:
    """Write the run's meta.json and start the supervisor, detached so the run survives opsctl."""
    command = argv(spec)
    check_size(supervisor_argv(root / spec.run_id, command), child_env(spec))
    if not env.workdir.is_dir():
        raise LaunchError(f"environments.{spec.env}.workdir {str(env.workdir)!r} is not a directory")
    exe = command[0] if os.sep in command[0] else shutil.which(command[0])
    if exe is None or not Path(env.workdir, exe).exists():
        raise LaunchError(f"command {command[0]!r} not found (PATH, or relative to {env.workdir})")
    run_dir = root / spec.run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    meta = {
        "env": spec.env,
        "task": spec.task,
        "actor": spec.actor,
        "origin": spec.origin,
        "started_at": datetime.now().astimezone().isoformat(),
    }
    (run_dir / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    proc = subprocess.Popen(
        supervisor_argv(run_dir, command),
        cwd=env.workdir,
        env=child_env(spec),
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (run_dir / "pid").write_text(str(proc.pid), encoding="utf-8")
    return proc
