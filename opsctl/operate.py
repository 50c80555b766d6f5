"""The commands that work on runs that already exist: wait, logs, stop, history; and doctor."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opsctl import config as config_mod
from opsctl import github, history, providers
from opsctl.errors import UsageError
from opsctl.github import GitHubObserver
from opsctl.model import Check, RunInfo, RunResult, RunSpec
from opsctl.providers import Provider
from opsctl.redact import Redactor
from opsctl.report import TextObserver, duration_text, print_summary, result_json, table, use_color
from opsctl.runner import CancelToken, Runner
from opsctl.spec import Audit


@contextmanager
def _provider(
    config_path: str | None, env_name: str
) -> Iterator[tuple[config_mod.Config, config_mod.EnvConfig, Provider]]:
    cfg = config_mod.load(config_path)
    env = cfg.environment(env_name)
    provider = providers.build(env)
    try:
        yield cfg, env, provider
    finally:
        provider.close()


def _spec_for(env: config_mod.EnvConfig, info: RunInfo) -> RunSpec:
    """A RunSpec describing a run started elsewhere (its secret values are unknown here)."""
    return RunSpec(
        env=env.name,
        task=info.task or "?",
        run_id=info.ref.id,
        command=None,
        env_vars=(),
        actor=info.actor or "unknown",
    )


def trap_signals(cancel: CancelToken) -> dict[int, Any]:
    """Route SIGINT/SIGTERM/SIGHUP to the cancel token; return the previous handlers."""

    def handler(signum: int, _frame: object) -> None:
        # SIGHUP (terminal closed) is treated like SIGTERM: stop the task rather than orphan it.
        cancel.request(signal.SIGTERM if signum == signal.SIGHUP else signum)

    return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}


def restore_signals(previous: dict[int, Any]) -> None:
    """Put back the handlers trap_signals replaced."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def wait_command(
    config_path: str | None, env_name: str, run: str, output: str, no_color: bool, interactive: bool
) -> int:
    """`opsctl wait ENV RUN`: reattach, relay the logs from the start, summarise, exit like `run`."""
    with _provider(config_path, env_name) as (_, env, provider):
        info = provider.info(provider.ref(run))
        ref = info.ref
        observer = observer_for(env.name, info.task or "?", no_color)
        observer.launched(ref)
        cancel = CancelToken()
        runner = Runner(
            provider, _spec_for(env, info), observer, cancel=cancel, interrupt_grace_s=2.0 if interactive else 0.0
        )
        previous = trap_signals(cancel)
        try:
            result = runner.watch(ref, info.started_at)
        finally:
            observer.close()
            restore_signals(previous)
        finish(result, Redactor(()), None, output, no_color)
        return result.exit_status


def observer_for(env: str, task: str, no_color: bool, no_logs: bool = False) -> TextObserver | GitHubObserver:
    """Plain or live progress on stderr; inside GitHub Actions, wrapped in a group behind stop-commands."""
    if not github.active():
        return TextObserver(sys.stderr, use_color(sys.stderr, no_color), show_logs=not no_logs)
    # No colour or spinner under Actions: an escape code written by the spinner's thread just before the
    # stop-commands end marker would keep workflow commands off for the rest of the step.
    text = TextObserver(sys.stderr, False, show_logs=not no_logs)
    outputs = os.environ.get("GITHUB_OUTPUT")
    return GitHubObserver(text, sys.stderr, env, task, outputs=Path(outputs) if outputs else None)


def finish(result: RunResult, redact: Redactor, origin: str | None, output: str, no_color: bool) -> None:
    """Record the run in the local history, publish it to GitHub Actions, print it on stdout."""
    try:
        history.record(result, origin=origin)
    except OSError as e:
        sys.stderr.write(f"opsctl: could not record the run in {history.history_path()}: {e.strerror}\n")
    if github.active():
        github.publish(result, sys.stderr, redact)
    emit_result(result, output, no_color)


def emit_result(result: RunResult, output: str, no_color: bool) -> None:
    """The summary table or the JSON document on stdout."""
    if output == "json":
        sys.stdout.write(json.dumps(result_json(result), indent=2, default=str) + "\n")
    else:
        print_summary(result, sys.stdout, use_color(sys.stdout, no_color))


def logs_command(config_path: str | None, env_name: str, run: str, follow: bool, since: str | None) -> int:
    """`opsctl logs ENV RUN`: print the run's log lines; `--follow` until it stops (never stops it)."""
    with _provider(config_path, env_name) as (_, env, provider):
        start = None
        if since is not None:
            try:
                start = datetime.now(UTC) - timedelta(seconds=config_mod.parse_duration(since))
            except ValueError as e:
                raise UsageError(f"--since: {e}") from None
        ref = provider.ref(run)
        observer = TextObserver(sys.stdout, False)  # the log lines are this command's output: stdout
        cancel = CancelToken()
        runner = Runner(provider, _spec_for(env, RunInfo(ref=ref)), observer, cancel=cancel)
        previous = trap_signals(cancel)
        try:
            runner.follow(ref, follow=follow, since=start)
        finally:
            restore_signals(previous)
        sys.stdout.flush()
        return 130 if cancel.requested else 0


def stop_command(config_path: str | None, env_name: str, run: str) -> int:
    """`opsctl stop ENV RUN`: ask the run to stop, naming who asked."""
    with _provider(config_path, env_name) as (_, env, provider):
        ref = provider.ref(run)
        actor = Audit.detect().actor
        provider.stop(ref, f"stopped by {actor} (opsctl stop)")
        status = provider.poll(ref)
        sys.stderr.write(
            f"opsctl: stop requested for run {ref.id} (now {status.raw}); "
            f"follow it with: opsctl wait {env.name} {ref.id}\n"
        )
        return 0


def history_command(config_path: str | None, env_name: str, limit: int, output: str) -> int:
    """`opsctl history ENV`: what the cloud still lists, merged with this machine's own record."""
    with _provider(config_path, env_name) as (_, env, provider):
        seen: dict[str, dict[str, Any]] = {}
        for entry in history.recent(env.name, limit):
            seen[entry.run] = {
                "run": entry.run,
                "task": entry.task,
                "actor": entry.actor,
                "started_at": entry.started_at,
                "status": entry.status,
                "exit_code": entry.exit_code,
                "source": "local history",
            }
        for info in provider.recent_runs(env.name, limit):
            row = seen.setdefault(info.ref.id, {"run": info.ref.id, "source": env.provider})
            row.update(
                {
                    k: v
                    for k, v in {
                        "task": info.task,
                        "actor": info.actor,
                        "started_at": info.started_at.isoformat() if info.started_at else None,
                        "status": info.state.value if info.state else None,
                        "exit_code": info.exit_code,
                    }.items()
                    if v is not None
                }
            )
            if row["source"] != env.provider:
                row["source"] = f"{env.provider} + local history"
        rows = sorted(seen.values(), key=lambda r: r.get("started_at") or "", reverse=True)[:limit]
        if output == "json":
            sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
            return 0
        if not rows:
            sys.stderr.write(f"opsctl: no opsctl runs found in {env.name!r}\n")
            return 0
        table(
            ["RUN", "TASK", "ACTOR", "STARTED", "STATUS", "EXIT"],
            [
                [
                    r["run"],
                    r.get("task") or "?",
                    r.get("actor") or "?",
                    (r.get("started_at") or "?")[:19],
                    r.get("status") or "?",
                    "-" if r.get("exit_code") is None else str(r["exit_code"]),
                ]
                for r in rows
            ],
        )
        return 0


def doctor_command(config_path: str | None, env_name: str, no_color: bool) -> int:
    """`opsctl doctor ENV`: a ✓/✗ checklist with the fix for each ✗; exit 0 only when all pass."""
    with _provider(config_path, env_name) as (cfg, env, provider):
        checks = [Check(f"config {cfg.path}", True, f"environment {env.name!r}, provider {env.provider}")]
        checks += provider.checks([cfg.task(env, name) for name in cfg.tasks])
        color = use_color(sys.stdout, no_color)
        for check in checks:
            mark = ("[green]✓[/]" if check.ok else "[red]✗[/]") if color else ("✓" if check.ok else "✗")
            line = f"{mark} {check.name}" + (f" — {check.detail}" if check.detail else "")
            if not check.ok and check.fix:
                line += f"\n    fix: {check.fix}"
            if color:
                from rich.console import Console

                Console(highlight=False).print(line)
            else:
                sys.stdout.write(line + "\n")
        failed = sum(not c.ok for c in checks)
        sys.stderr.write(f"opsctl: {len(checks) - failed} passed, {failed} failed\n")
        return 0 if failed == 0 else 1


__all__ = ["doctor_command", "duration_text", "history_command", "logs_command", "stop_command", "wait_command"]
