"""Live progress on stderr while a run is watched: plain lines or a status line, and under GitHub
Actions the same inside a log group that no relayed line can break out of."""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from opsctl import actions
from opsctl.actions import escape_data, write_output
from opsctl.console import duration_text, use_color
from opsctl.model import LogLine, RunRef, State, Status

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status as Spinner


_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}")


def observer_for(env: str, task: str, no_color: bool, no_logs: bool = False) -> TextObserver | GitHubObserver:
    """Plain or live progress on stderr; inside GitHub Actions, wrapped in a group behind stop-commands."""
    if not actions.active():
        return TextObserver(sys.stderr, use_color(sys.stderr, no_color), show_logs=not no_logs)
    # No colour or spinner under Actions: an escape code written by the spinner's thread just before the
    # stop-commands end marker would keep workflow commands off for the rest of the step.
    text = TextObserver(sys.stderr, False, show_logs=not no_logs)
    outputs = os.environ.get("GITHUB_OUTPUT")
    return GitHubObserver(text, sys.stderr, env, task, outputs=Path(outputs) if outputs else None)


@dataclass
class TextObserver:
    """Live progress on stderr: a status line on a terminal, plain lines elsewhere."""

    err: IO[str]
    color: bool
    show_logs: bool = True
    defuse: bool = False  # outside a stop-commands block under GitHub Actions: no line may read as a command

    def __post_init__(self) -> None:
        self._console: Console | None = None
        self._spinner: Spinner | None = None
        self._last_raw: str | None = None
        if self.color:
            from rich.console import Console

            self._console = Console(file=self.err, force_terminal=True, highlight=False)

    def _say(self, text: str, style: str = "") -> None:
        if self._console is not None:
            from rich.markup import escape  # notices quote cloud text (errors, Cloud Run's own lines): never markup

            self._console.print(f"[{style}]{escape(text)}[/]" if style else text, markup=bool(style), highlight=False)
        else:
            self.err.write(text + "\n")
            self.err.flush()

    def launched(self, ref: RunRef, verb: str = "launched") -> None:
        """Say what was started (or, for `opsctl wait`, "reattached to") and where to look at it."""
        self._say(f"opsctl: {verb} run {ref.id}", "bold")
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
            self.err.write((actions.defuse(line.message) if self.defuse else line.message) + "\n")

    def notice(self, message: str) -> None:
        """Something the operator should know."""
        self._say(f"opsctl: {message}", "yellow")

    def close(self) -> None:
        """Remove the status line."""
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None
        self.err.flush()


class GitHubObserver:
    """Wraps the text observer: the task's lines go inside a log group that no line can break out of.

    `out` must be the stream the inner observer writes to. On launch it opens `::group::` and then
    `::stop-commands::TOKEN` (TOKEN random, never shown to the task), so the runner ignores every
    command in the relayed lines — `::add-mask::`, `::set-output`, `::error::`, `::endgroup::`,
    another `::stop-commands::` — until opsctl itself prints `::TOKEN::`, then `::endgroup::`.
    """

    def __init__(
        self,
        inner: TextObserver,
        out: IO[str],
        env: str,
        task: str,
        token: str | None = None,
        outputs: Path | None = None,
    ) -> None:
        if token is not None and not _TOKEN.fullmatch(token):
            raise ValueError("a stop-commands token is 16 or more characters of [A-Za-z0-9_-]")
        self.inner = inner
        self.out = out
        self.outputs = outputs
        self._title = f"{env}/{task} run logs"
        self._prefix = f"{env}/{task}"
        self._next_token = token
        self._token: str | None = None  # the open block's token, None when no block is open

    def _new_token(self) -> str:
        # A fresh token per block: the runner echoes the token into the job log when a block ends.
        token, self._next_token = self._next_token or secrets.token_hex(16), None
        return token

    def _emit(self, *lines: str) -> None:
        self.out.write("".join(line + "\n" for line in lines))
        self.out.flush()

    def _begin(self) -> None:
        if self._token is None:
            self._token = self._new_token()
            self._emit(f"::group::{escape_data(self._title)}", f"::stop-commands::{self._token}")

    def _end(self) -> None:
        if self._token is not None:
            self.out.flush()
            self._emit(f"::{self._token}::", "::endgroup::")
            self._token = None

    def _guarded(self, text: str, say: Callable[[], None]) -> None:
        """Outside the group, a line that could read as a command is printed inside its own stop block."""
        if self._token is not None or ("::" not in text and "##[" not in text):
            say()
            return
        token = self._new_token()
        self._emit(f"::stop-commands::{token}")
        say()
        self.out.flush()
        self._emit(f"::{token}::")

    def launched(self, ref: RunRef, verb: str = "launched") -> None:
        """Record the run as a step output at once (for an `if: cancelled()` step), then open the group."""
        if self.outputs is not None:
            write_output(self.outputs, "run", ref.id)
        self._guarded(f"{ref.id} {ref.console_url or ''}", lambda: self.inner.launched(ref, verb))
        self._title = f"{self._prefix} run {ref.id} logs"
        self._begin()

    def status(self, status: Status, elapsed_s: float) -> None:
        """Close the group when the run stopped (its late lines came before this), then relay."""
        if status.state is State.STOPPED:
            self._end()
        self._guarded(status.raw, lambda: self.inner.status(status, elapsed_s))

    def log(self, line: LogLine) -> None:
        """Relay one (already redacted) task line, always inside a stop-commands block."""
        self._begin()
        self.inner.log(line)

    def notice(self, message: str) -> None:
        """Relay a notice; plain text inside the block, guarded outside it."""
        self._guarded(message, lambda: self.inner.notice(message))

    def close(self) -> None:
        """Resume command processing and close the group, then close the inner observer."""
        self._end()
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()
