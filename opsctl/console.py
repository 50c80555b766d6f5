"""Writing for a person: whether to colour, how long something took, a plain table, the one-line error."""

from __future__ import annotations

import os
import sys
from typing import IO


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
    # One line, always: a line break that came from user input is shown escaped.
    message = message.replace("\r", "\\r").replace("\n", "\\n")
    try:
        stream.write(f"opsctl: error: {message}\n")
        stream.flush()
    except BrokenPipeError:
        silence_gone()  # nobody reads stderr any more; the exit code still says what happened


def reopen_closed_streams() -> None:
    """Give a standard stream closed before start (`>&-`, `2>&-`) /dev/null, so writing to it loses nothing else.

    Without this, Python sets sys.stdout/sys.stderr to None, and the next file opsctl opens would take the
    free descriptor: a history line or a log could end up where fd 1 or 2 used to be.
    """
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        setattr(sys, name, open(fd, mode, encoding="utf-8", errors="replace", closefd=False))  # noqa: SIM115


def silence(fd: int) -> None:
    """Point `fd` at /dev/null: its reader has gone, and a flush at exit must not fail again."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def stream_gone(fd: int) -> bool:
    """Whether the reader of `fd` has gone (a pipe whose reader closed, a terminal hung up); never blocks."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    try:
        events = poller.poll(0)
    except OSError:
        return True
    return any(mask & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, mask in events)


def silence_gone() -> bool:
    """Silence stdout and stderr where their reader has gone; True when one had."""
    gone = [fd for fd in (1, 2) if stream_gone(fd)]
    for fd in gone:
        silence(fd)
    return bool(gone)
