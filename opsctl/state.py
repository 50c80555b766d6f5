"""Where opsctl keeps state on this machine: $XDG_STATE_HOME/opsctl (default ~/.local/state/opsctl).

Only opsctl's user may read it: directories 0700, files 0600, whatever the umask. No secret is written
here (a local run's log is redacted by its supervisor before it reaches the file).
"""

from __future__ import annotations

import os
from pathlib import Path


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


def write_private(path: Path, text: str) -> None:
    """Write a small file as 0600 (created so: never readable by others, not even for a moment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
