"""`opsctl logs ENV RUN`: print a run's log lines on stdout; `--follow` until it stops (never stops it)."""

from __future__ import annotations

import signal
import sys
from datetime import UTC, datetime, timedelta

from opsctl import actions
from opsctl.cancel import CancelToken, cancel_on_signals
from opsctl.commands.target import open_target
from opsctl.config import parse_duration
from opsctl.errors import EXIT_SIGINT, EXIT_SIGTERM, UsageError
from opsctl.model import LogLine, RunInfo, RunRef, Status
from opsctl.progress import TextObserver
from opsctl.runner import Runner
from opsctl.spec import existing_run_spec


def logs_command(config_path: str | None, env_name: str, run: str, follow: bool, since: str | None) -> int:
    """Relay RUN's lines (only those of the last `since`, when given); 130 when interrupted."""
    with open_target(config_path, env_name) as (_, env, provider):
        start = None
        if since is not None:
            try:
                start = datetime.now(UTC) - timedelta(seconds=parse_duration(since))
            except ValueError as e:
                raise UsageError(f"--since: {e}") from None
        ref = provider.ref(run)
        observer = _Split(flush=follow)
        cancel = CancelToken()
        runner = Runner(provider, existing_run_spec(env.name, RunInfo(ref=ref)), observer, cancel=cancel)
        with cancel_on_signals(cancel):
            runner.follow(ref, follow=follow, since=start)
        sys.stdout.flush()
        if not cancel.requested:
            return 0
        return EXIT_SIGTERM if cancel.first == signal.SIGTERM else EXIT_SIGINT  # SIGHUP counts as SIGTERM


class _Split:
    """The log lines are this command's output (stdout); notices (retries, the cloud's own lines) go to stderr."""

    def __init__(self, flush: bool = False) -> None:
        # Outside any stop-commands block: under GitHub Actions, no line may read as a workflow command.
        self._out = TextObserver(sys.stdout, False, defuse=actions.active())
        self._err = TextObserver(sys.stderr, False)
        # --follow: each line as it comes (`opsctl logs RUN -f | grep`), not 8 KiB later when piped.
        self._flush = flush

    def launched(self, ref: RunRef) -> None:
        """Not shown: the run was launched before."""

    def status(self, status: Status, elapsed_s: float) -> None:
        """Not shown: only the lines are this command's output."""

    def log(self, line: LogLine) -> None:
        """One line, on stdout."""
        self._out.log(line)
        if self._flush:
            sys.stdout.flush()

    def notice(self, message: str) -> None:
        """A notice, on stderr."""
        self._err.notice(message)
