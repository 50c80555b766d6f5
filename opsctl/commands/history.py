"""`opsctl history ENV`: what the cloud still lists, merged with this machine's own record."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from opsctl.commands.target import open_target
from opsctl.config import EnvConfig
from opsctl.console import table
from opsctl.model import Outcome, RunInfo, State
from opsctl.providers import Provider
from opsctl.retry import on_stderr
from opsctl.sinks import history
from opsctl.untrusted import visible


def history_command(config_path: str | None, env_name: str, limit: int, output: str) -> int:
    """The `limit` most recent runs, newest first, as a table or JSON."""
    with open_target(config_path, env_name) as (_, env, provider):
        rows = _merged(env, provider, limit)
        for warning in provider.warnings():  # a damaged run record skipped, said once
            sys.stderr.write(f"opsctl: warning: {warning}\n")
        if output == "json":
            sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
            return 0
        if not rows:
            sys.stderr.write(f"opsctl: no opsctl runs found in {env.name!r}\n")
            return 0
        fanned = any(r["tasks"] > 1 for r in rows)  # a COPIES column only when a listed run had --tasks N
        table(
            ["RUN", "TASK", "ACTOR", "STARTED", "STATUS", "EXIT", *(["COPIES"] if fanned else [])],
            [
                [
                    r["run"],
                    r.get("task") or "?",
                    r.get("actor") or "?",
                    (r.get("started_at") or "?")[:19],
                    r.get("status") or "?",
                    "-" if r.get("exit_code") is None else str(r["exit_code"]),
                    *([str(r["tasks"])] if fanned else []),
                ]
                for r in rows
            ],
        )
        return 0


# A record written while the run was still going: what the cloud says now is the newer fact.
_STILL_GOING = {Outcome.DETACHED.value, Outcome.LEFT_RUNNING.value}


def _merged(env: EnvConfig, provider: Provider, limit: int) -> list[dict[str, Any]]:
    """Both lists merged, one row per run, newest first.

    This machine's record says how the run ended as opsctl saw it (succeeded, failed, timed out,
    interrupted, …), so it wins for status and exit code; the cloud fills in runs this machine did not
    record and the end of runs recorded as detached. Each list holds its own `limit` newest runs, so
    the `limit` newest of the merge are the same whatever `limit` is.
    """
    rows: dict[str, dict[str, Any]] = {}
    for info in on_stderr()("list recent runs", lambda: provider.recent_runs(env.name, limit)):
        rows[info.ref.id] = {
            "run": info.ref.id,
            # Tags a run carries are the cloud's text, not opsctl's: shown, never interpreted.
            "task": visible(info.task) if info.task else None,
            "actor": visible(info.actor) if info.actor else None,
            "started_at": _utc(info.started_at),
            "status": _cloud_status(info),
            "exit_code": info.exit_code,
            "tasks": info.tasks,
            "source": env.provider,
        }
    for entry in history.recent(env.name, limit):
        row = rows.get(entry.run)
        mine = {
            "run": entry.run,
            "task": entry.task,
            "actor": entry.actor,
            "started_at": _utc(datetime.fromisoformat(entry.started_at)),
            "status": entry.status,
            "exit_code": entry.exit_code,
            "tasks": entry.tasks,
        }
        if row is None:
            rows[entry.run] = {**mine, "source": "local history"}
            continue
        if entry.status in _STILL_GOING:
            mine.update({k: row[k] for k in ("status", "exit_code") if row[k] is not None})
        mine["tasks"] = max(entry.tasks, row["tasks"])  # a detached run's record may not have seen its copies
        row.update({k: v for k, v in mine.items() if v is not None})
        row["source"] = f"{env.provider} + local history"
    ordered = sorted(rows.values(), key=lambda r: r["started_at"] or "", reverse=True)
    return ordered[:limit]


def _cloud_status(info: RunInfo) -> str | None:
    """A cloud-listed run's status in the summary's words, as far as the listing tells."""
    if info.state is None:
        return None
    if info.state is not State.STOPPED:
        return info.state.value
    if info.exit_code is None:
        return "stopped"  # ended without a code, or the listing does not say which (Cloud Run failures)
    return Outcome.SUCCEEDED.value if info.exit_code == 0 else Outcome.FAILED.value


def _utc(moment: datetime | None) -> str | None:
    """One spelling for every source's times, so that sorting them as text sorts them in time."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
