"""Writing for a person: whether to colour, how wide to write, how long something took, tables, the one-line error."""

from __future__ import annotations

import errno
import io
import os
import sys
import textwrap
from typing import IO, Any

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


def width_of(stream: IO[str]) -> int | None:
    """How wide output may be: $COLUMNS, else the terminal's width; None when piped (lines stay whole)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns if stream.isatty() else None
    except (OSError, ValueError):  # not a real file (a StringIO in a test), or no size to be had
        return None


_GAP = 2
_MIN_COLUMN = 8
_LONG_COLUMN = 20  # wider than this, a column is text that may wrap; narrower than this, it would not read


def table(header: list[str], rows: list[list[str]], out: IO[str] | None = None) -> None:
    """An aligned table that fits the terminal: cells wrap when the rows are too wide; a single item, or
    a terminal too narrow for every column, is shown vertically (one `NAME  value` line per column).
    Piped with no $COLUMNS, lines are never wrapped, so what a script reads does not depend on a terminal."""
    stream = out or sys.stdout
    width = width_of(stream)
    cells = [[str(c) for c in row] for row in [header, *rows]]
    natural = [max(len(r[i]) for r in cells) for i in range(len(header))]
    fits = width is None or sum(natural) + _GAP * (len(header) - 1) <= width
    widths = natural if fits else _fit(natural, width or 0)
    if width is not None and (len(rows) == 1 or widths is None):
        stream.write(_vertical(header, rows, width))
        return
    assert widths is not None  # only None with a known width, handled above
    for row in cells:
        stream.write(_row(row, widths))


def _fit(natural: list[int], width: int) -> list[int] | None:
    """Column widths within `width`: short columns keep theirs, long text columns share the rest and wrap.
    None when the long columns would be left too narrow to read."""
    room = width - _GAP * (len(natural) - 1)
    long = [i for i, n in enumerate(natural) if n > _LONG_COLUMN]
    spare = room - sum(n for i, n in enumerate(natural) if i not in long)
    if not long or spare < _LONG_COLUMN * len(long):
        return None
    widths = list(natural)
    for i in long:
        widths[i] = _LONG_COLUMN
    spare -= _LONG_COLUMN * len(long)
    while spare > 0 and (wanting := [i for i in long if widths[i] < natural[i]]):
        share = max(1, spare // len(wanting))
        for i in wanting:
            give = min(share, natural[i] - widths[i], spare)
            widths[i] += give
            spare -= give
    return widths


def wrap(text: str, width: int, cut_words: bool = True) -> list[str]:
    """`text` in lines of at most `width` characters; words longer than that (ids, URLs) are cut,
    unless `cut_words` is False (a last column: the word stays whole, to copy, and the terminal folds it)."""
    return textwrap.wrap(text, max(1, width), break_on_hyphens=False, break_long_words=cut_words) or [""]


def _row(row: list[str], widths: list[int]) -> str:
    columns = [wrap(cell, w) if len(cell) > w else [cell] for cell, w in zip(row, widths, strict=True)]
    lines = []
    for i in range(max(len(c) for c in columns)):
        parts = [(c[i] if i < len(c) else "").ljust(w) for c, w in zip(columns, widths, strict=True)]
        lines.append((" " * _GAP).join(parts).rstrip() + "\n")
    return "".join(lines)


def _vertical(header: list[str], rows: list[list[str]], width: int) -> str:
    blocks = [labelled([(h, str(c)) for h, c in zip(header, row, strict=True)], width) for row in rows]
    return "\n".join(blocks)


def labelled(pairs: list[tuple[str, str]], width: int | None) -> str:
    """`Label  value` lines, labels aligned; values wrap under themselves to fit `width` (None: never)."""
    label_width = max(len(k) for k, _ in pairs)
    room = None if width is None else max(_MIN_COLUMN, width - label_width - _GAP)
    lines = []
    for key, value in pairs:
        parts = [value] if room is None or len(value) <= room else wrap(value, room, cut_words=False)
        lines.append(f"{key.ljust(label_width)}{' ' * _GAP}{parts[0]}".rstrip() + "\n")
        lines += [f"{' ' * (label_width + _GAP)}{part}".rstrip() + "\n" for part in parts[1:]]
    return "".join(lines)


def print_error(message: str, err: IO[str] | None = None) -> None:
    """One line, on stderr, for every error a user sees."""
    stream = err or sys.stderr
    # One line, always, and nothing a terminal would interpret: user input and cloud messages are in it.
    message = visible(message)
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


class _WholeWrites(io.RawIOBase):
    """A standard stream's descriptor, every write made whole.

    CPython's buffered writer hands back a short count when a signal interrupts a big write part-way, and the
    text layer above it drops the rest: a SIGTERM while `-o json` waited on a slow reader cut the summary at
    64 KiB with exit 0. Here a short write goes on from where it stopped (a handler that raises still ends it).
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            try:
                done += os.write(self._fd, view[done:])
            except BlockingIOError:
                # The descriptor was handed over non-blocking (O_NONBLOCK is shared with whoever else holds the
                # pipe or terminal): wait until it takes more, as a blocking write would, rather than fail.
                _writable(self._fd)
        return done


def _writable(fd: int) -> None:
    """Wait until `fd` can take more (or has an error, which the next write reports)."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    poller.poll()


def whole_writes() -> None:
    """Make sys.stdout and sys.stderr write every byte they are given, signals or not (see `_WholeWrites`)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            fd = stream.fileno()
            stream.flush()
        except (AttributeError, OSError, ValueError):
            continue  # not a real descriptor (a test's StringIO): leave it
        raw: Any = _WholeWrites(fd)  # a raw writer where typeshed expects a buffered one: TextIOWrapper takes either
        wrapped = io.TextIOWrapper(
            raw,
            encoding=stream.encoding,
            errors=stream.errors,
            line_buffering=stream.line_buffering,
            write_through=getattr(stream, "write_through", False),
        )
        setattr(sys, name, wrapped)


def reader_gone(error: OSError) -> bool:
    """Whether a failed write means its reader has gone: a pipe closed (EPIPE, ECONNRESET) or the terminal
    closed (EIO). Not a disk error: those are not a hangup."""
    return isinstance(error, BrokenPipeError | ConnectionResetError) or error.errno == errno.EIO


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
