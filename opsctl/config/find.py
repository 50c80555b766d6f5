"""Finding the configuration: --config, $OPSCTL_CONFIG, the nearest opsctl.toml, the nearest [tool.opsctl]."""

from __future__ import annotations

import os
import stat
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
    folders = walk(start)
    for folder in folders:
        if (folder / CONFIG_NAME).is_file():
            return trusted(folder / CONFIG_NAME), ""
    for folder in folders:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.opsctl" in pyproject.read_text(encoding="utf-8", errors="replace"):
            return trusted(pyproject), "tool.opsctl"
    where = "or any parent" if folders[-1] == Path(start.anchor) else f"up to the repository root {folders[-1]}"
    raise ConfigError(
        f"no {CONFIG_NAME} in {start} {where} (nor [tool.opsctl] in a pyproject.toml); "
        "create one from a live ECS service or Cloud Run job with opsctl init, or pass --config PATH"
    )


def walk(start: Path) -> list[Path]:
    """The folders to look in: `start` and its parents, up to the repository root (the folder holding .git)."""
    folders = []
    for folder in (start, *start.parents):
        folders.append(folder)
        if (folder / ".git").exists():
            break  # a project's own config wins over anything above its checkout
    return folders


def trusted(path: Path) -> Path:
    """A config found by walking up must be yours (or root's) and writable by nobody else: its commands run
    with your credentials. git refuses such repositories for the same reason (safe.directory)."""
    info = path.stat()
    if info.st_uid not in (os.getuid(), 0):
        raise ConfigError(
            f"{path}: owned by another user (uid {info.st_uid}), so opsctl will not run its commands; "
            f"if you trust it, name it: --config {path} (or OPSCTL_CONFIG)"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"{path}: writable by group or others, so anyone could change the commands it runs: "
            f"chmod go-w {path} — or, if you trust it, name it: --config {path}"
        )
    return path
