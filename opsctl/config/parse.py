"""Reading one configuration file: TOML → the schema's frozen dataclasses (or one ConfigError)."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from opsctl.config.environments import parse_environment
from opsctl.config.fields import Fields
from opsctl.config.schema import Config, EnvConfig, LocalEnv
from opsctl.config.tasks import parse_tasks
from opsctl.errors import ConfigError


def parse_file(path: Path, table: str = "") -> Config:
    """Parse one config file (`table` = "tool.opsctl" for a pyproject.toml)."""
    shown = _shown(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise ConfigError(f"{shown}: nested too deeply (arrays or tables inside each other); flatten it") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{shown}: invalid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{shown}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{shown}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    prefix = ""
    if table:
        for part in table.split("."):
            data = data.get(part, {})
        prefix = table + "."
    return parse_document(Fields(shown, prefix), data, path)


def parse_document(f: Fields, data: dict[str, Any], path: Path) -> Config:
    """The whole document: tasks first (environments override them), then environments."""
    base = path.parent.resolve()
    f.keys(data, "", {"environments", "tasks"})
    tasks = parse_tasks(f, data)
    envs: dict[str, EnvConfig] = {}
    for name, raw in f.table(data.get("environments", {}), "environments").items():
        envs[name] = parse_environment(f, name, f.table(raw, f"environments.{name}"), tasks, base)
    if "local" not in envs:
        envs["local"] = LocalEnv(name="local", provider="local", source=f.shown, workdir=base, builtin=True)
    overridden = {t: tuple(e for e in envs if t in envs[e].task_overrides) for t in tasks}
    tasks = {name: replace(t, overridden_in=overridden[name]) for name, t in tasks.items()}
    return Config(path=path, environments=MappingProxyType(envs), tasks=MappingProxyType(tasks))


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
