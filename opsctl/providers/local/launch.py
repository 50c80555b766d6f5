"""Launching a local run: its run directory (meta.json) and the supervisor process, started as a plain script."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from opsctl.config import LocalEnv
from opsctl.errors import LaunchError, UsageError
from opsctl.fanout import copy_env
from opsctl.model import RunSpec
from opsctl.redact import Redactor
from opsctl.state import check_usable, private_dir, write_private

PARAM_ENV_PREFIX = "OPSCTL_PARAM_"
SUPERVISOR = Path(__file__).with_name("supervisor.py")
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}  # what a stop sends the supervisor, and what it handles


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
    """The task's environment: opsctl's own (less any parameter value it was given), then the run's; with
    --tasks N, the last copy's (its OPSCTL_TASK_INDEX is the longest)."""
    # Python tasks block-buffer a piped stdout; unbuffered, their lines stream as they are printed.
    last = copy_env(spec.tasks - 1, spec.tasks) if spec.tasks > 1 else {}
    return {**clean_environ(), **task_env(spec), **last}


def fanned(spec: RunSpec) -> dict[str, Any]:
    """What the supervisor needs to run --tasks N > 1 copies: each one's own env vars, and K (None: all at once).
    Nothing for N = 1, whose run is as it always was."""
    if spec.tasks == 1:
        return {}
    return {"copies": [copy_env(i, spec.tasks) for i in range(spec.tasks)], "parallelism": spec.parallelism}


def clean_environ() -> dict[str, str]:
    """opsctl's environment without a parameter value it was given (OPSCTL_PARAM_PASSWORD …): the supervisor's."""
    return {k: v for k, v in os.environ.items() if not k.startswith(PARAM_ENV_PREFIX)}


def task_env(spec: RunSpec) -> dict[str, str]:
    """What the supervisor adds to its own environment for the task (it travels through the pipe)."""
    return {"PYTHONUNBUFFERED": "1", **spec.env_dict()}


def supervisor_argv(run_dir: Path, command: Sequence[str], channel: int = 0) -> list[str]:
    """The supervisor's command line: FD `channel` is the pipe its env and mask values come through."""
    # -I: the supervisor is stdlib-only, so skip site-packages and start ~3x faster.
    return [sys.executable, "-I", str(SUPERVISOR), str(run_dir), str(channel), "--", *command]


def start(env: LocalEnv, root: Path, spec: RunSpec) -> subprocess.Popen[bytes]:
    """Write the run's meta.json and start the supervisor, detached so the run survives opsctl."""
    command = argv(spec)
    # E2BIG before anything exists: the task's whole environment, the supervisor's command line (the task's, and more).
    check_size(supervisor_argv(root / spec.run_id, command), child_env(spec))
    if not env.workdir.is_dir():
        raise LaunchError(f"environments.{spec.env}.workdir {str(env.workdir)!r} is not a directory")
    exe = command[0] if os.sep in command[0] else shutil.which(command[0])
    if exe is None or not Path(env.workdir, exe).exists():
        raise LaunchError(f"command {command[0]!r} not found (PATH, or relative to {env.workdir})")
    try:
        check_usable(root)
    except OSError as e:
        raise LaunchError(
            f"the state directory {root} is not usable ({e.strerror or e}): make it a writable directory with "
            "free space, or set XDG_STATE_HOME to one; nothing was launched"
        ) from None
    run_dir = root / spec.run_id
    meta = {
        "env": spec.env,
        "task": spec.task,
        "actor": spec.actor,
        "origin": spec.origin,
        "started_at": datetime.now().astimezone().isoformat(),
        **({"tasks": spec.tasks, "parallelism": spec.parallelism} if spec.tasks > 1 else {}),
    }
    run_dir.mkdir(exist_ok=False, mode=0o700)  # FileExistsError: this run id was launched already
    private_dir(run_dir)  # 0700 whatever the umask
    try:
        write_private(run_dir / "meta.json", json.dumps(meta))
    except OSError as e:
        _discard(run_dir)
        raise LaunchError(f"cannot record the run in {run_dir} ({e.strerror or e}); nothing was launched") from None
    # The task's env (secrets among it) and the forms to mask travel through a pipe, not argv or env:
    # the supervisor's /proc/PID/cmdline and environ never hold a secret.
    given = {"env": task_env(spec), "mask": Redactor(spec.secret_values).forms, **fanned(spec)}
    proc = _spawn(env, run_dir, command, given)
    try:
        write_private(run_dir / "pid", str(proc.pid))
    except OSError as e:
        # Without its pid file the run could be neither watched nor stopped: stop it before it does anything.
        proc.terminate()
        proc.wait()
        _discard(run_dir)
        raise LaunchError(f"cannot record the run in {run_dir} ({e.strerror or e}); it was stopped at once") from None
    return proc


def _discard(run_dir: Path) -> None:
    """Remove what a failed launch left, so that no ghost run shows in history."""
    shutil.rmtree(run_dir, ignore_errors=True)


def _spawn(env: LocalEnv, run_dir: Path, command: Sequence[str], given: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start the supervisor and hand it `given` through an inherited pipe; LaunchError (run dir removed) if not."""
    channel, sender = os.pipe()
    # The supervisor starts with the stop signals blocked (a signal mask survives exec) and unblocks them once its
    # handlers are in place: a stop sent while its interpreter is still starting then waits for those handlers,
    # instead of killing it before it could record anything (the run would show as lost).
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        proc = subprocess.Popen(
            supervisor_argv(run_dir, command, channel),
            cwd=env.workdir,
            env=clean_environ(),
            pass_fds=(channel,),
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as e:
        os.close(sender)
        _discard(run_dir)
        raise LaunchError(f"cannot start the supervisor: {e.strerror or e}; nothing was launched") from None
    except BaseException:
        os.close(sender)
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(channel)
    try:
        with os.fdopen(sender, "w", encoding="utf-8") as f:
            f.write(json.dumps(given))
    except BrokenPipeError:
        proc.wait()
        _discard(run_dir)
        raise LaunchError(f"the local supervisor of run {run_dir.name} exited before it started the task") from None
    return proc
