"""Finding the configuration: --config, $OPSCTL_CONFIG, the nearest opsctl.toml, the nearest [tool.opsctl]."""

from __future__ import annotations

import os
from pathlib import Path

from opsctl.errors import ConfigError

CONFIG_NAME = "opsctl.toml"


def find_config(explicit: str | None, cwd: Path | None = None) -> tuple[Path, str]:
    """Locate the config: --config, $OPSCTL_CONFIG, nearest opsctl.toml, nearest [tool.opsctl]."""
    for given in (explicit, os.environ.get("OPSCTL_CONFIG")):
        if given:
            path = Path(given)
            if not path.is_file():
                raise ConfigError(f"{given}: no such file")
            table = "tool.opsctl" if path.name == "pyproject.toml" else ""
            return path, table
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME, ""
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.opsctl" in pyproject.read_text(encoding="utf-8", errors="replace"):
            return pyproject, "tool.opsctl"
    raise ConfigError(
        f"no {CONFIG_NAME} in {start} or any parent (nor [tool.opsctl] in a pyproject.toml); "
        "create one from a live ECS service or Cloud Run job with opsctl init, or pass --config PATH"
    )
