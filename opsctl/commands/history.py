"""`opsctl history ENV`: what the cloud still lists, merged with this machine's own record."""

from __future__ import annotations

import json
import sys
from typing import Any

from opsctl.commands.target import open_target
from opsctl.config import EnvConfig
from opsctl.console import table
from opsctl.providers import Provider
from opsctl.retry import on_stderr
from opsctl.sinks import history


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


def _merged(env: EnvConfig, provider: Provider, limit: int) -> list[dict[str, Any]]:
    """The local record first, then what the cloud knows on top of it; one row per run."""
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
    for info in on_stderr()("list recent runs", lambda: provider.recent_runs(env.name, limit)):
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
    return sorted(seen.values(), key=lambda r: r.get("started_at") or "", reverse=True)[:limit]
