"""Where opsctl keeps state on this machine: $XDG_STATE_HOME/opsctl (default ~/.local/state/opsctl).

Only opsctl's user may read it: directories 0700, files 0600, whatever the umask. No secret is written
here (a local run's log is redacted by its supervisor before it reaches the file).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any


def state_dir() -> Path:
    """opsctl's state directory (local runs, history)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "opsctl"


def private_dir(path: Path) -> Path:
    """Create `path` as 0700, and every directory between it and opsctl's state directory (when inside it)."""
    top = state_dir()
    start = top if path == top or top in path.parents else path
    start.parent.mkdir(parents=True, exist_ok=True)
    for directory in [*reversed(path.parents), path]:
        if directory == start or start in directory.parents:
            directory.mkdir(mode=0o700, exist_ok=True)
            if directory.stat().st_mode & 0o077:
                directory.chmod(0o700)  # made by an older opsctl, or by hand
    return path


class Damaged(ValueError):
    """A state file that exists but cannot be read as what it should be (torn by a crash, edited, truncated)."""


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` as 0600, whole or not at all: a temporary file beside it (created 0600, so never
    readable by others, not even for a moment), then a rename (readers never see half a file, and a failed
    write leaves the old one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            data = text.encode("utf-8")
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    """A state file's JSON object; None when it does not exist, Damaged when it is not a whole JSON object."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:  # a directory where the file should be, a permission, an I/O error
        raise Damaged(f"{path} cannot be read ({e.strerror})") from None
    try:
        data = json.loads(raw)
    except ValueError:  # JSON and UTF-8 errors alike
        raise Damaged(f"{path} is damaged (not a whole JSON object)") from None
    if not isinstance(data, dict):
        raise Damaged(f"{path} is damaged (not a JSON object)")
    return data


def check_usable(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be written in it; OSError (with its reason) when not."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # its OSError names the reason (Not a directory …)
    private_dir(folder)  # 0700 whatever the umask, and the directories up to the state directory too
    # A name of its own: two launches probing at once must not remove each other's probe.
    probe = folder / f".probe-{os.getpid()}-{threading.get_ident()}"
    write_private(probe, "ok")
    probe.unlink(missing_ok=True)
