"""Everything opsctl shows: live progress on stderr, the summary or JSON on stdout."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from opsctl.errors import RESERVED_EXIT_CODES
from opsctl.model import LogLine, Outcome, RunRef, RunResult, State, Status

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status as Spinner


def use_color(stream: IO[str], no_color_flag: bool = False) -> bool:
    """Colour only on a TTY, never with --no-color, NO_COLOR or TERM=dumb; FORCE_COLOR forces it."""
    if no_color_flag or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """{"user": {"email": …}} → [("user.email", …)]."""
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = []
        for key, item in value.items():
            items += flatten(item, f"{prefix}{key}.")
        return items
    return [(prefix[:-1], value)]


def result_rows(result: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The task's result fields as summary rows: `user.email` is shown as `Email` unless that is ambiguous."""
    if not result:
        return []
    flat = [(k, v) for k, v in flatten(result) if k != "ok"]
    leaves = [k.rsplit(".", 1)[-1] for k, _ in flat]
    rows = []
    for (key, value), leaf in zip(flat, leaves, strict=True):
        label = leaf if leaves.count(leaf) == 1 else key
        label = label[:1].upper() + label[1:]
        rows.append((label, _text(value)))
    return rows


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "-"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    return str(value)


def exit_code_text(result: RunResult) -> str:
    """The Exit code row; says when the task's own code equals one opsctl uses for itself."""
    if result.exit_code is None:
        return "-"
    meaning = RESERVED_EXIT_CODES.get(result.exit_code)
    if meaning:
        return f"{result.exit_code} (the task's own exit code, not opsctl's {meaning!r})"
    return str(result.exit_code)


def duration_text(seconds: float | None) -> str:
    """12.3s / 4m05s."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def summary_rows(result: RunResult) -> list[tuple[str, str]]:
    """The summary table's rows, in order (also used for the GitHub step summary)."""
    rows = [
        ("Environment", result.env),
        ("Task", result.task),
        ("Actor", result.actor),
        ("Run", result.run.id),
        ("Status", result.outcome.value),
        ("Exit code", exit_code_text(result)),
        ("Duration", duration_text(result.duration_s)),
    ]
    if result.reason:
        rows.append(("Reason", result.reason))
    rows += [(k[:1].upper() + k[1:], v) for k, v in result.details]
    rows += result_rows(result.result)
    if result.run.console_url:
        rows.append(("Console", result.run.console_url))
    if result.run.log_url:
        rows.append(("Logs", result.run.log_url))
    if result.outcome is Outcome.DETACHED:
        rows.append(("Reattach", f"opsctl wait {result.env} {result.run.id}"))
    return rows


def result_json(result: RunResult) -> dict[str, Any]:
    """The `--output json` document (DESIGN.md §6)."""
    return {
        "env": result.env,
        "task": result.task,
        "provider": result.provider,
        "run": result.run.id,
        "status": result.outcome.value,
        "exit_code": result.exit_code,
        "opsctl_exit_code": result.exit_status,
        "reason": result.reason,
        "details": dict(result.details),
        "started_at": result.started_at.isoformat(),
        "stopped_at": result.stopped_at.isoformat() if result.stopped_at else None,
        "duration_s": result.duration_s,
        "actor": result.actor,
        "result": result.result,
        "console_url": result.run.console_url,
        "log_url": result.run.log_url,
    }


def print_summary(result: RunResult, out: IO[str], color: bool) -> None:
    """The summary table: rich on a colour terminal, aligned plain text elsewhere."""
    rows = summary_rows(result)
    if not color:
        width = max(len(k) for k, _ in rows)
        out.write("".join(f"{k.ljust(width)}  {v}\n" for k, v in rows))
        return
    from rich.console import Console
    from rich.table import Table

    style = {Outcome.SUCCEEDED: "green", Outcome.DETACHED: "cyan"}.get(result.outcome, "red")
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, f"[{style}]{value}[/]" if key in ("Status", "Exit code") else value)
    Console(file=out, force_terminal=True, highlight=False).print(table)


@dataclass
class TextObserver:
    """Live progress on stderr: a status line on a terminal, plain lines elsewhere."""

    err: IO[str]
    color: bool
    show_logs: bool = True

    def __post_init__(self) -> None:
        self._console: Console | None = None
        self._spinner: Spinner | None = None
        self._last_raw: str | None = None
        self._ref: RunRef | None = None
        if self.color:
            from rich.console import Console

            self._console = Console(file=self.err, force_terminal=True, highlight=False)

    def _say(self, text: str, style: str = "") -> None:
        if self._console is not None:
            self._console.print(f"[{style}]{text}[/]" if style else text, markup=bool(style), highlight=False)
        else:
            self.err.write(text + "\n")
            self.err.flush()

    def launched(self, ref: RunRef) -> None:
        """Say what was started and where to look at it."""
        self._ref = ref
        self._say(f"opsctl: launched run {ref.id}", "bold")
        if ref.console_url:
            self._say(f"opsctl: console {ref.console_url}", "dim")
        if self._console is not None:
            self._spinner = self._console.status(f"{ref.id}: starting")
            self._spinner.start()

    def status(self, status: Status, elapsed_s: float) -> None:
        """Update the status line (terminal) or print state changes (elsewhere)."""
        if self._spinner is not None:
            self._spinner.update(f"{status.raw} · {duration_text(elapsed_s)}")
        elif status.raw != self._last_raw:
            self._say(f"opsctl: {status.raw} ({duration_text(elapsed_s)})")
        self._last_raw = status.raw
        if status.state is State.STOPPED:
            self.close()

    def log(self, line: LogLine) -> None:
        """Relay one task line as-is."""
        if self._console is not None:
            # As the task wrote it: no colour (most tasks log to stderr), and wrapped by the terminal, not
            # broken into several lines, so it can still be copied whole.
            self._console.print(line.message, markup=False, highlight=False, soft_wrap=True)
        else:
            self.err.write(line.message + "\n")

    def notice(self, message: str) -> None:
        """Something the operator should know."""
        self._say(f"opsctl: {message}", "yellow")

    def close(self) -> None:
        """Remove the status line."""
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None
        self.err.flush()


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
    stream.write(f"opsctl: error: {message}\n")
    stream.flush()
