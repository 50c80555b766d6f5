"""`opsctl.toml` → frozen dataclasses. Every mistake is one ConfigError naming the file and dotted key.

schema.py holds the dataclasses; find.py locates the file; parse.py reads it, with tasks.py and
environments.py for its two sections and fields.py for typed fields and their error messages.
"""

from __future__ import annotations

from pathlib import Path

from opsctl.config.fields import parse_duration
from opsctl.config.find import CONFIG_NAME, find_config
from opsctl.config.parse import parse_file
from opsctl.config.schema import (
    PARAM_TYPES,
    PROVIDER_KINDS,
    BuildSettings,
    CapacityProviderItem,
    CloudRunEnv,
    Config,
    EcsEnv,
    EnvConfig,
    LocalEnv,
    ParamSpec,
    TaskConfig,
    TaskOverride,
    Value,
)


def load(explicit: str | None = None, cwd: Path | None = None) -> Config:
    """Find and parse the configuration."""
    path, table = find_config(explicit, cwd)
    return parse_file(path, table)


__all__ = [
    "CONFIG_NAME",
    "PARAM_TYPES",
    "PROVIDER_KINDS",
    "BuildSettings",
    "CapacityProviderItem",
    "CloudRunEnv",
    "Config",
    "EcsEnv",
    "EnvConfig",
    "LocalEnv",
    "ParamSpec",
    "TaskConfig",
    "TaskOverride",
    "Value",
    "find_config",
    "load",
    "parse_duration",
    "parse_file",
]
