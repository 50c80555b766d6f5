"""Reading one typed field of the TOML document; each mistake becomes a ConfigError naming file and dotted key."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from opsctl.errors import ConfigError

_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")
_ENV_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_duration(text: str) -> float:
    """`90s`, `15m`, `1h30m` or plain seconds → seconds; ValueError when it is none of those."""
    text = text.strip().lower()
    match = _DURATION_RE.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration (examples: 90s, 15m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return total


@dataclass(frozen=True, slots=True)
class Fields:
    """Typed readers over one file's tables: `shown` is the file as messages name it, `prefix` the table
    the configuration lives under (`tool.opsctl.` in a pyproject.toml)."""

    shown: str
    prefix: str = ""

    def fail(self, key: str, message: str) -> ConfigError:
        """The error for `key`: `opsctl.toml: environments.staging.cluster: …`."""
        return ConfigError(f"{self.shown}: {self.prefix}{key}: {message}")

    def table(self, value: Any, key: str) -> dict[str, Any]:
        """`value`, which must be a table."""
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, not {_type(value)}")
        return value

    def keys(self, data: dict[str, Any], key: str, allowed: set[str], why: str = "") -> None:
        """Refuse any key of `data` outside `allowed`, suggesting the closest one."""
        for name in data:
            if name not in allowed:
                close = difflib.get_close_matches(name, sorted(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(allowed))}"
                raise self.fail(f"{key}.{name}" if key else name, f"unknown key{why}{hint}")

    def str_(self, data: dict[str, Any], key: str, name: str, required: str = "") -> str | None:
        """A non-empty string, or None when absent (an error saying `required` when that is set)."""
        value = data.get(name)
        if value is None:
            if required:
                raise self.fail(f"{key}.{name}", required)
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key}.{name}", f"must be a non-empty string, not {_type(value)}")
        return value

    def bool_(self, data: dict[str, Any], key: str, name: str) -> bool | None:
        """true, false, or None when absent."""
        value = data.get(name)
        if value is not None and not isinstance(value, bool):
            raise self.fail(f"{key}.{name}", f"must be true or false, not {_type(value)}")
        return value

    def strs(self, data: dict[str, Any], key: str, name: str) -> tuple[str, ...]:
        """A list of non-empty strings (empty when absent)."""
        value = data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{key}.{name}", "must be a list of non-empty strings")
        return tuple(value)

    def env_table(self, data: dict[str, Any], key: str) -> Mapping[str, str]:
        """The `env` table: environment variable names to string values."""
        value = self.table(data.get("env", {}), f"{key}.env")
        for name, item in value.items():
            if not _ENV_VAR_RE.fullmatch(name):
                raise self.fail(f"{key}.env.{name}", "is not a valid environment variable name")
            if not isinstance(item, str):
                raise self.fail(f"{key}.env.{name}", f"must be a string, not {_type(item)} (quote it)")
        return MappingProxyType(dict(value))

    def duration(self, data: dict[str, Any], key: str) -> float | None:
        """The `timeout` field in seconds, or None when absent."""
        value = data.get("timeout")
        if value is None:
            return None
        try:
            return parse_duration(str(value)) if isinstance(value, (str, int, float)) else parse_duration("")
        except ValueError as e:
            raise self.fail(f"{key}.timeout", str(e)) from None

    def command(self, data: dict[str, Any], key: str) -> tuple[str, ...] | None:
        """The `command` argv, or None when absent (the image's own command)."""
        if "command" not in data:
            return None
        value = data["command"]
        if isinstance(value, str):
            raise self.fail(f"{key}.command", 'must be a list of strings (argv), e.g. ["python", "-m", "admin_task"]')
        if not value:
            raise self.fail(f"{key}.command", "must not be empty (leave it out to use the image's command)")
        return self.strs(data, key, "command")


def _type(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)
