"""`opsctl logs ENV RUN`: print a run's log lines on stdout; `--follow` until it stops (never stops it)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from opsctl.cancel import CancelToken, cancel_on_signals
from opsctl.commands.target import open_target
from opsctl.config import parse_duration
from opsctl.errors import EXIT_SIGINT, UsageError
from opsctl.model import RunInfo
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
        observer = TextObserver(sys.stdout, False)  # the log lines are this command's output: stdout
        cancel = CancelToken()
        runner = Runner(provider, existing_run_spec(env.name, RunInfo(ref=ref)), observer, cancel=cancel)
        with cancel_on_signals(cancel):
            runner.follow(ref, follow=follow, since=start)
        sys.stdout.flush()
        return EXIT_SIGINT if cancel.requested else 0
