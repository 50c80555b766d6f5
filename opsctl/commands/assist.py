"""What `opsctl run ENV TASK --help` and shell completion offer about one task: its parameters, their
values, and recent runs. Read from the config and local history only; never an error, never a cloud call."""

from __future__ import annotations

import sys

from opsctl import config as config_mod
from opsctl.config import TaskConfig
from opsctl.console import labelled, width_of
from opsctl.errors import OpsctlError
from opsctl.sinks import history


def _task(config_path: str | None, env_name: str, task_name: str) -> TaskConfig | None:
    try:
        cfg = config_mod.load(config_path)
        return cfg.task(cfg.environment(env_name), task_name)
    except OpsctlError:
        return None


def task_help(config_path: str | None, env_name: str, task_name: str) -> str:
    """The help section listing TASK's parameters in ENV, or "" when ENV or TASK is unknown."""
    task = _task(config_path, env_name, task_name)
    if task is None:
        return ""
    lines = f"\nTask {task.name!r} in {env_name!r}" + (f": {task.help}" if task.help else "") + "\n"
    if not task.params:
        return lines + "  (no parameters)\n"
    pairs = []
    for p in task.params:
        kind = "|".join(p.choices) if p.choices else p.type.upper()
        if p.required:
            default = "required"
        elif p.default is None:
            default = "optional"
        else:
            default = f"default: {str(p.default).lower() if isinstance(p.default, bool) else p.default}"
        pairs.append((f"  {p.flag} {kind}", f"{p.help or p.name} ({default})"))
    return lines + labelled(pairs, width_of(sys.stdout))


def param_flags(config_path: str | None, env_name: str, task_name: str) -> list[tuple[str, str]]:
    """(flag, help) of each of TASK's parameters."""
    task = _task(config_path, env_name, task_name)
    return [(p.flag, p.help) for p in task.params] if task else []


def param_values(config_path: str | None, env_name: str, task_name: str, flag: str) -> list[str] | None:
    """The values a choice or bool parameter takes; None when `flag` is not one of TASK's parameters."""
    task = _task(config_path, env_name, task_name)
    param = task.param(flag[2:]) if task and flag.startswith("--") else None
    if param is None:
        return None
    if param.type == "bool":
        return ["true", "false"]
    return list(param.choices)


def recent_runs(env_name: str | None) -> list[str]:
    """This machine's most recent run ids in ENV, newest first."""
    if not env_name:
        return []
    return [entry.run for entry in history.recent(env_name, 20)]
