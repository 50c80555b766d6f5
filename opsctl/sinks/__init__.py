"""Where a finished run goes: the local history, GitHub Actions (inside a step), stdout — in that order.

`finish` is the one fan-out, shared by `opsctl run` and `opsctl wait`: each sink receives the
RunResult once. history.py, github.py and stdout.py are the sinks themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from opsctl import actions
from opsctl.console import reader_gone, silence_gone
from opsctl.model import RunResult
from opsctl.redact import Redactor
from opsctl.sinks import github, history
from opsctl.sinks.stdout import emit_result

Sink = Callable[[RunResult], None]


def finish(result: RunResult, redact: Redactor, origin: str | None, output: str, no_color: bool) -> None:
    """Send a finished run to every sink, once."""
    for sink in sinks(redact, origin, output, no_color):
        try:
            sink(result)
        except OSError as e:
            # The reader went away after the run ended (as cancel.HangupObserver takes it during the run): the
            # outcome (and its exit code) still stands.
            if not reader_gone(e):
                raise
            silence_gone()


def sinks(redact: Redactor, origin: str | None, output: str, no_color: bool) -> list[Sink]:
    """The sinks for this process, in order: stdout last, so the summary or JSON ends the output."""

    def record(result: RunResult) -> None:
        try:
            history.record(result, origin=origin)
        except OSError as e:
            sys.stderr.write(f"opsctl: could not record the run in {history.history_path()}: {e.strerror}\n")

    def publish(result: RunResult) -> None:
        github.publish(result, sys.stderr, redact)

    def emit(result: RunResult) -> None:
        emit_result(result, output, no_color, sys.stdout)
        # Out now, while a first signal is only noted (`cancel.finishing`): left in the buffer (a summary under
        # 8 KiB), it would be written at the interpreter's exit, where a signal to a process waiting on a slow
        # reader ends it with the summary cut.
        sys.stdout.flush()

    return [record, *([publish] if actions.active() else []), emit]
