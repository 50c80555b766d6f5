"""Guards applied before a launch: protected environments, branch lock, concurrent-run lock."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Mapping

from opsctl.config import EnvConfig, TaskConfig
from opsctl.errors import Refused
from opsctl.providers import Provider
from opsctl.retry import Retrying


def check_branch(env: EnvConfig, environ: Mapping[str, str] | None = None) -> None:
    """Inside GitHub Actions, refuse a GITHUB_REF that the environment's allowed_refs don't list."""
    environ = os.environ if environ is None else environ
    if not env.allowed_refs or environ.get("GITHUB_ACTIONS") != "true":
        return
    ref = environ.get("GITHUB_REF", "")
    if not any(fnmatch.fnmatchcase(ref, pattern) for pattern in env.allowed_refs):
        raise Refused(
            f"environment {env.name!r} only runs from {', '.join(env.allowed_refs)}; this workflow runs on "
            f"{ref or 'an unknown ref'} (environments.{env.name}.allowed_refs)"
        )


def needs_confirmation(env: EnvConfig, task: TaskConfig) -> bool:
    """A protected environment, or a task that asks for confirmation everywhere."""
    return env.protected or task.confirm


def check_confirmation(
    env: EnvConfig,
    task: TaskConfig,
    *,
    yes: bool,
    confirm: str | None,
    interactive: bool,
    show_target: Callable[[], None],
    ask: Callable[[str], str],
) -> None:
    """Demand the environment's name typed back, or `--yes --confirm ENV` where nobody can type."""
    if not needs_confirmation(env, task):
        return
    why = "is protected" if env.protected else f"runs task {task.name!r}, which asks for confirmation"
    if confirm is not None and confirm != env.name:
        raise Refused(f"--confirm {confirm!r} does not name environment {env.name!r}; nothing was launched")
    if yes and confirm == env.name:
        return
    if not interactive:
        raise Refused(
            f"environment {env.name!r} {why}: confirm with --yes --confirm {env.name} (no terminal to ask on)"
        )
    show_target()
    typed = ask(f"Environment {env.name!r} {why}. Type its name to run {task.name!r} there: ")
    if typed.strip() != env.name:
        raise Refused(f"confirmation {typed.strip()!r} does not match {env.name!r}; nothing was launched")


def check_concurrency(provider: Provider, env: EnvConfig, task: TaskConfig, call: Retrying) -> None:
    """Refuse while another opsctl run of this task is active in this environment (the lookup is retried)."""
    active = call("look for a run already in progress", lambda: provider.active_runs(env.name, task.name))
    if active:
        run = active[0].id
        raise Refused(
            f"task {task.name!r} is already running in {env.name!r} (run {run}); wait for it with: "
            f"opsctl wait {env.name} {run} — or pass --allow-concurrent"
        )
