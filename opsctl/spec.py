"""From a task, its parameter values and the audit context, to the RunSpec a provider launches."""

from __future__ import annotations

import getpass
import os
import secrets
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

from opsctl.config import EnvConfig, TaskConfig, Value
from opsctl.config.shell import script_index
from opsctl.model import RunInfo, RunSpec
from opsctl.untrusted import visible


@dataclass(frozen=True, slots=True)
class Audit:
    """Who runs what from where (DESIGN.md §4)."""

    actor: str
    origin: str
    run_id: str

    @classmethod
    def detect(cls, environ: Mapping[str, str] | None = None) -> Audit:
        """GitHub's actor and run URL inside Actions; else git user.email (or the login) and the host."""
        env = os.environ if environ is None else environ
        if env.get("GITHUB_ACTIONS") == "true":
            actor = env.get("GITHUB_ACTOR") or "github-actions"
            origin = (
                f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{env.get('GITHUB_REPOSITORY', '')}"
                f"/actions/runs/{env.get('GITHUB_RUN_ID', '')}"
            )
            if env.get("GITHUB_RUN_ATTEMPT", "1") not in ("", "1"):
                origin += f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
        else:
            actor = _git_email() or _login()
            origin = f"host:{socket.gethostname()}"
        return cls(actor=actor, origin=origin, run_id=new_run_id())


def new_run_id() -> str:
    """A unique, sortable run id that fits ECS clientToken/startedBy and Cloud Run env values."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(4)


def _git_email() -> str | None:
    try:
        out = subprocess.run(["git", "config", "user.email"], capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_spec(
    env: EnvConfig, task: TaskConfig, values: Mapping[str, Value], audit: Audit, secret_names: frozenset[str]
) -> RunSpec:
    """Substitute placeholders and merge env vars: environment, then task, then the audit vars."""
    fields = {name: _text(v) for name, v in values.items()}
    fields.update(env=env.name, task=task.name, run_id=audit.run_id, actor=audit.actor, python=sys.executable)
    command = None
    if task.command is not None:
        script = script_index(task.command)
        # In a shell's -c script a value is one quoted word, never shell syntax (config/shell.py).
        quoted = {k: shlex.quote(v) for k, v in fields.items()}
        command = tuple(item.format_map(quoted if i == script else fields) for i, item in enumerate(task.command))
    merged = {k: v.format_map(fields) for k, v in env.env.items()}
    merged.update({k: v.format_map(fields) for k, v in task.env.items()})
    merged.update(
        OPSCTL_RUN_ID=audit.run_id,
        OPSCTL_ACTOR=audit.actor,
        OPSCTL_ORIGIN=audit.origin,
        OPSCTL_ENV=env.name,
        OPSCTL_TASK=task.name,
    )
    return RunSpec(
        env=env.name,
        task=task.name,
        run_id=audit.run_id,
        command=command,
        env_vars=tuple(merged.items()),
        secret_values=frozenset(fields[name] for name in secret_names if fields.get(name)),
        timeout_s=task.timeout_s,
        actor=audit.actor,
        origin=audit.origin,
    )


def existing_run_spec(env_name: str, info: RunInfo) -> RunSpec:
    """A RunSpec describing a run started elsewhere (its secret values are unknown here; its tags are untrusted)."""
    return RunSpec(
        env=env_name,
        task=visible(info.task or "?"),
        run_id=info.ref.id,
        command=None,
        env_vars=(),
        actor=visible(info.actor or "unknown"),
    )
