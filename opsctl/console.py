"""Writing for a person: whether to colour, how long something took, a plain table, the one-line error."""

from __future__ import annotations

import os
import sys
from typing import IO

from opsctl.untrusted import visible


def use_color(stream: IO[str], no_color_flag: bool = False) -> bool:
    """Colour only on a TTY, never with --no-color, NO_COLOR or TERM=dumb; FORCE_COLOR forces it."""
    if no_color_flag or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def duration_text(seconds: float | None) -> str:
    """12.3s / 4m05s."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def table(header: list[str], rows: list[list[str]]) -> None:
    """A plain aligned table on stdout."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=True)] + [str(row[-1])]
        sys.stdout.write("  ".join(cells).rstrip() + "\n")


def print_error(message: str, err: IO[str] | None = None) -> None:
    """One line, on stderr, for every error a user sees."""
    stream = err or sys.stderr
    # One line, always, and nothing a terminal would interpret: user input and cloud messages are in it.
    message = visible(message)
    stream.write(f"opsctl: error: {message}\n")
    stream.flush()
