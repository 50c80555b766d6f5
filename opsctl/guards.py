"""Guards applied before a launch: protected environments, branch lock, concurrent-run lock."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime

from opsctl.config import EnvConfig, TaskConfig
from opsctl.errors import Refused
from opsctl.model import RunInfo, RunRef, RunSpec, State
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


def launch_lock(provider: Provider, env: EnvConfig, task: TaskConfig) -> AbstractContextManager[None]:
    """A lock held from the concurrency check until the run exists, where the provider has one (local: flock).

    ECS and Cloud Run have none without extra infrastructure: `reconcile` runs right after their launch.
    """
    lock: Callable[[str, str], AbstractContextManager[None]] | None = getattr(provider, "launch_lock", None)
    return lock(env.name, task.name) if lock is not None else nullcontext()


def reconcile(provider: Provider, spec: RunSpec, ours: RunRef, call: Retrying) -> None:
    """Right after a launch: if another active run of this env and task was launched before ours (same moment:
    the lower run id), stop ours at once and refuse. Both launchers decide alike, so exactly one run goes on.

    Every lookup goes through `call`, the runner's retry policy.
    """
    refs = call("look for runs launched at the same moment", lambda: provider.active_runs(spec.env, spec.task))
    others = [ref for ref in refs if ref.id != ours.id]
    if not others:
        return
    mine = call("describe this run", lambda: provider.info(ours))
    mine_key = _launch_key(mine, spec.run_id)
    earlier = []
    for ref in others:
        info = _describe(provider, ref, call)
        if info.run_id == spec.run_id:
            continue  # a duplicate of our own launch: the runner's launch settles those
        if info.state is not State.STOPPED and _before(_launch_key(info, info.run_id), mine_key):
            earlier.append(info)
    if not earlier:
        return
    first = min(earlier, key=lambda info: _launch_key(info, info.run_id))
    reason = f"opsctl: task {spec.task!r} was launched at the same moment as run {first.ref.id} (run by {spec.actor})"
    call("stop", lambda: provider.stop(ours, reason))
    raise Refused(
        f"task {spec.task!r} was launched in {spec.env!r} at the same moment as run {first.ref.id}, which came "
        f"first; ours ({ours.id}) was stopped before it could start. Wait for the other with: "
        f"opsctl wait {spec.env} {first.ref.id}"
    )


def _describe(provider: Provider, ref: RunRef, call: Retrying) -> RunInfo:
    return call("describe the other run", lambda: provider.info(ref))


def _launch_key(info: RunInfo, run_id: str | None) -> tuple[datetime | None, str]:
    return info.created_at, run_id or info.ref.id


def _before(other: tuple[datetime | None, str], mine: tuple[datetime | None, str]) -> bool:
    """Launched first: by the cloud's creation time when both have one, then by run id (ids sort by time).

    The creation time is what makes the two launchers agree when only one saw the other: a reconcile that listed
    before the other's launch reached the cloud has the earlier time. Run ids cannot stand in for it — made before
    the pre-check, to the second, random within it — so they only break ties."""
    if other[0] is not None and mine[0] is not None and other[0] != mine[0]:
        return other[0] < mine[0]
    return other[1] < mine[1]


def check_concurrency(provider: Provider, env: EnvConfig, task: TaskConfig, call: Retrying) -> None:
    """Refuse while another opsctl run of this task is active in this environment (the lookup is retried)."""
    active = call("look for a run already in progress", lambda: provider.active_runs(env.name, task.name))
    if active:
        run = active[0].id
        raise Refused(
            f"task {task.name!r} is already running in {env.name!r} (run {run}); wait for it with: "
            f"opsctl wait {env.name} {run} — or pass --allow-concurrent"
        )
