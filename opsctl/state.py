"""Where opsctl keeps state on this machine: $XDG_STATE_HOME/opsctl (default ~/.local/state/opsctl)."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """opsctl's state directory (local runs, history); secrets are never written here."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "opsctl"
