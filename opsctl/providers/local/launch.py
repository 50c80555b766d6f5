"""Launching a local run: its run directory (meta.json) and the supervisor process, started as a plain script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from opsctl.config import LocalEnv
from opsctl.errors import LaunchError
from opsctl.model import RunSpec
from opsctl.redact import Redactor
from opsctl.state import private_dir, write_private

PARAM_ENV_PREFIX = "OPSCTL_PARAM_"
SUPERVISOR = Path(__file__).with_name("supervisor.py")


def argv(spec: RunSpec) -> tuple[str, ...]:
    """The task's command; a local run has no image to fall back on."""
    if not spec.command:
        raise LaunchError(
            f"task {spec.task!r} has no command, and a local run has no image to fall back on: set "
            f"tasks.{spec.task}.command or environments.{spec.env}.tasks.{spec.task}.command"
        )
    return spec.command


def start(env: LocalEnv, root: Path, spec: RunSpec) -> subprocess.Popen[bytes]:
    """Write the run's meta.json and start the supervisor, detached so the run survives opsctl."""
    command = argv(spec)
    if not env.workdir.is_dir():
        raise LaunchError(f"environments.{spec.env}.workdir {str(env.workdir)!r} is not a directory")
    exe = command[0] if os.sep in command[0] else shutil.which(command[0])
    if exe is None or not Path(env.workdir, exe).exists():
        raise LaunchError(f"command {command[0]!r} not found (PATH, or relative to {env.workdir})")
    run_dir = private_dir(root) / spec.run_id
    run_dir.mkdir(mode=0o700)
    meta = {
        "env": spec.env,
        "task": spec.task,
        "actor": spec.actor,
        "origin": spec.origin,
        "started_at": datetime.now().astimezone().isoformat(),
    }
    write_private(run_dir / "meta.json", json.dumps(meta))
    # The task's env (secrets among it) and the forms to mask travel through a pipe, not argv or env:
    # the supervisor's /proc/PID/cmdline and environ never hold a secret.
    # Python tasks block-buffer a piped stdout; unbuffered, their lines stream as they are printed.
    given = {"env": {"PYTHONUNBUFFERED": "1", **spec.env_dict()}, "mask": Redactor(spec.secret_values).forms}
    # Nor does opsctl's own environment pass on a parameter value it was given (OPSCTL_PARAM_PASSWORD …).
    environ = {k: v for k, v in os.environ.items() if not k.startswith(PARAM_ENV_PREFIX)}
    channel, sender = os.pipe()
    try:
        proc = subprocess.Popen(
            # -I: the supervisor is stdlib-only, so skip site-packages and start ~3x faster.
            [sys.executable, "-I", str(SUPERVISOR), str(run_dir), str(channel), "--", *command],
            cwd=env.workdir,
            env=environ,
            pass_fds=(channel,),
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except BaseException:
        os.close(sender)
        raise
    finally:
        os.close(channel)
    try:
        with os.fdopen(sender, "w", encoding="utf-8") as f:
            f.write(json.dumps(given))
    except BrokenPipeError:
        raise LaunchError(f"the local supervisor of run {spec.run_id} exited before it started the task") from None
    write_private(run_dir / "pid", str(proc.pid))
    return proc
