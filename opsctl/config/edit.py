"""Writing the configuration for `opsctl init`: one environment added (or, forced, re-pointed) with every other
byte and comment of the file kept, written atomically with the file's mode.

tomlkit (a style-preserving TOML library) renders every value; it is imported here only, so only init pays for it.
"""

from __future__ import annotations

import os
import stat
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opsctl.config.environments import TARGET_KEYS
from opsctl.config.find import CONFIG_NAME, find_config
from opsctl.errors import ConfigError

HEADER = """\
# opsctl configuration: where tasks run ([environments.*]) and what runs ([tasks.*]).
# `opsctl envs` and `opsctl tasks` list them; `opsctl doctor ENV` checks an environment.

"""
# Every line a comment but the task itself, which is safe anywhere (it prints and exits).
STARTER = """
# A first task to edit. `command` replaces the container's command (on Cloud Run: its args, after the
# image's entrypoint); {name} is a parameter (--name VALUE) or a built-in: {env}, {task}, {run_id}, {actor}.
# Try it without launching anything:  opsctl run ENV hello --dry-run
[PREFIXtasks.hello]
help = "Say hello from the task's container (replace with your admin command)."
command = ["echo", "hello from {env}, run by {actor}"]
# env = { LOG_LEVEL = "info" }       # added to the container's own env vars
# timeout = "15m"                    # stop the task after this long (exit 124)
#
# [PREFIXtasks.hello.params.name]    # a typed parameter, given as --name VALUE (prompted for on a terminal)
# type = "string"                    # string | email | secret | choice | int | bool
# help = "Who to greet"
"""


def file_to_edit(explicit: str | None, cwd: Path | None = None) -> tuple[Path, str]:
    """The file `init` writes, and the table opsctl's settings live under ("tool.opsctl" in a pyproject.toml):
    --config PATH (created if absent), else $OPSCTL_CONFIG, else the file every other command would read,
    else a new ./opsctl.toml."""
    given = explicit or os.environ.get("OPSCTL_CONFIG")
    if given:
        path = Path(given)
        return path, "tool.opsctl" if path.name == "pyproject.toml" else ""
    try:
        return find_config(None, cwd)
    except ConfigError:
        return (cwd or Path.cwd()) / CONFIG_NAME, ""


def render(text: str | None, table: str, name: str, facts: Sequence[str], settings: Sequence[tuple[str, str]]) -> str:
    """The file with `[environments.NAME]` added at its end (every existing byte kept, as a prefix), or a new
    file with a starter task when `text` is None. An existing NAME is re-pointed in place (see TARGET_KEYS)."""
    import tomlkit
    from tomlkit.items import InlineTable

    prefix = f"{table}." if table else ""
    environment = tomlkit.table()
    for line in facts:
        environment.add(tomlkit.comment(line))
    for key, value in settings:
        environment.add(key, value)
    piece = tomlkit.document()
    parent: Any = piece
    for part in [*table.split("."), "environments"] if table else ["environments"]:
        child = tomlkit.table(is_super_table=True)
        parent.add(part, child)
        parent = child
    parent.add(name, environment)
    rendered = tomlkit.dumps(piece)
    if text is None:
        return HEADER + rendered + STARTER.replace("PREFIX", prefix).replace("run ENV hello", f"run {name} hello")
    if _environments(tomllib.loads(text), table).get(name) is not None:
        return _replace(text, table, name, environment, settings)
    newline = "\r\n" if "\r\n" in text else "\n"
    # One blank line between the file's last line and the new table.
    lead = "" if not text or text.endswith(newline * 2) else newline if text.endswith("\n") else newline * 2
    appended = text + lead + rendered.replace("\n", newline)
    try:
        if _environments(tomllib.loads(appended), table).get(name) is not None:
            return appended
    except tomllib.TOMLDecodeError:
        pass
    # `environments` is an inline table (or a dotted key): it cannot be extended below, only from inside.
    doc = tomlkit.parse(text)
    environments = _container(doc, table).setdefault("environments", tomlkit.table())
    environments[name] = _inline(settings) if isinstance(environments, InlineTable) else environment
    return tomlkit.dumps(doc)


def _inline(settings: Sequence[tuple[str, str]], kept: Any = None) -> Any:
    """The environment as an inline table (which holds no comments), for an inline `environments`."""
    import tomlkit

    inline = tomlkit.inline_table()
    inline.update(dict(settings))
    for key, value in (kept or {}).items():
        inline[key] = value
    return inline


def _environments(data: dict[str, Any], table: str) -> dict[str, Any]:
    for part in [*table.split("."), "environments"] if table else ["environments"]:
        data = data.get(part, {})
    return data


def _container(doc: Any, table: str) -> Any:
    for part in table.split(".") if table else []:
        doc = doc.setdefault(part, {})
    return doc


def _replace(text: str, table: str, name: str, environment: Any, settings: Sequence[tuple[str, str]]) -> str:
    """`--force`: the target keys replaced with what init read, the environment's other settings kept."""
    import tomlkit
    from tomlkit.items import InlineTable

    doc = tomlkit.parse(text)
    environments = _container(doc, table)["environments"]
    old = environments[name]
    if isinstance(environments, InlineTable) or isinstance(old, InlineTable):
        kept = {key: old[key] for key in old if key not in TARGET_KEYS}
        environments[name] = _inline(settings, kept)
        return tomlkit.dumps(doc)
    for key in list(old.keys()):
        if key not in TARGET_KEYS:
            environment.add(key, old[key])
    # tomlkit files the comments and blank lines above the next table under this one: they stay.
    body = old.value.body
    tail = len(body)
    while tail > 0 and body[tail - 1][0] is None:
        tail -= 1
    for _, item in body[tail:]:
        environment.add(item)
    size = len(environment.value.body)
    environments[name] = environment
    # Replacing a table, tomlkit adds a "cosmetic" blank line when the table does not end with one; the
    # comments kept above already lead into the next table as they did.
    if tail < len(body):
        del environment.value.body[size:]
    return tomlkit.dumps(doc)


def environment_names(text: str, table: str) -> set[str]:
    """The environments the file itself defines (not the built-in `local`)."""
    return set(_environments(tomllib.loads(text), table))


def kept_keys(text: str, table: str, name: str) -> list[str]:
    """The settings of an existing environment that `render` keeps when it re-points it."""
    old = _environments(tomllib.loads(text), table).get(name) or {}
    return [key for key in old if key not in TARGET_KEYS]


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, renamed over the old one: a reader (or a crash) sees the
    old file or the new one, never half of one. The file keeps its mode; a symlink keeps pointing at it."""
    real = path.resolve()
    if real.exists():
        mode = stat.S_IMODE(real.stat().st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).chmod(mode)
        Path(tmp).replace(real)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise ConfigError(f"cannot write {path}: {e.strerror}") from None
        raise
