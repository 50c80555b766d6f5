"""`opsctl envs` and `opsctl tasks`: what is configured, without any cloud call or heavy import."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from opsctl import config as config_mod
from opsctl.console import table


def envs_command(config_path: str | None, output: str) -> int:
    """`opsctl envs`: a table of environments, no cloud call."""
    cfg = config_mod.load(config_path)
    rows: list[dict[str, Any]] = []
    for env in cfg.environments.values():
        target = ", ".join(f"{k}={v}" for k, v in _target(env))
        rows.append(
            {
                "name": env.name,
                "provider": env.provider,
                "target": target,
                "protected": env.protected,
                "allowed_refs": list(env.allowed_refs),
                "builtin": env.builtin,
            }
        )
    if output == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    table(
        ["ENV", "PROVIDER", "TARGET", "PROTECTED", "ALLOWED REFS"],
        [
            [
                r["name"] + (" (built in)" if r["builtin"] else ""),
                r["provider"],
                r["target"],
                "yes" if r["protected"] else "no",
                ", ".join(r["allowed_refs"]) or "-",
            ]
            for r in rows
        ],
    )
    return 0


def _target(env: config_mod.EnvConfig) -> list[tuple[str, str]]:
    if isinstance(env, config_mod.LocalEnv):
        return [("workdir", os.path.relpath(env.workdir))]
    if isinstance(env, config_mod.EcsEnv):
        items = [("region", env.region or "(profile default)"), ("cluster", env.cluster)]
        if env.service:
            items.append(("service", env.service))
        if env.task_definition:
            items.append(("task_definition", env.task_definition))
        return items
    assert isinstance(env, config_mod.CloudRunEnv)
    return [("job", f"projects/{env.project}/locations/{env.region}/jobs/{env.job}")]


def tasks_command(config_path: str | None, env_name: str | None, output: str) -> int:
    """`opsctl tasks [ENV]`: tasks, their parameters, aliases and overrides, no cloud call."""
    cfg = config_mod.load(config_path)
    env = cfg.environment(env_name) if env_name else None
    data: list[dict[str, Any]] = []
    for name in cfg.tasks:
        task = cfg.task(env, name) if env else cfg.tasks[name]
        data.append(
            {
                "name": task.name,
                "help": task.help,
                "aliases": list(task.aliases),
                "command": list(task.command) if task.command else None,
                "timeout_s": task.timeout_s,
                "confirm": task.confirm,
                "overridden_in": list(task.overridden_in),
                "params": [
                    {
                        "name": p.name,
                        "flag": p.flag,
                        "type": p.type,
                        "required": p.required,
                        "default": p.default,
                        "choices": list(p.choices),
                        "help": p.help,
                    }
                    for p in task.params
                ],
            }
        )
    if output == "json":
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return 0
    table(
        ["TASK", "ALIASES", "OVERRIDDEN IN", "HELP"],
        [[t["name"], ", ".join(t["aliases"]) or "-", ", ".join(t["overridden_in"]) or "-", t["help"]] for t in data],
    )
    params = [[t["name"], *_param_cells(p)] for t in data for p in t["params"]]
    if params:
        sys.stdout.write("\n")
        table(["TASK", "PARAMETER", "TYPE", "DEFAULT", "HELP"], params)
    return 0


def _param_cells(p: dict[str, Any]) -> list[str]:
    """PARAMETER, TYPE, DEFAULT and HELP of one parameter, as `tasks` shows them."""
    kind = f"{p['type']}: {' | '.join(p['choices'])}" if p["choices"] else p["type"]
    if p["required"]:
        default = "(required)"
    elif p["default"] is None:
        default = "-"
    else:
        default = str(p["default"]).lower() if isinstance(p["default"], bool) else str(p["default"])
    return [p["flag"], kind, default, p["help"] or "-"]
