"""`opsctl stop ENV RUN`: ask a run to stop, naming who asked."""

from __future__ import annotations

import sys

from opsctl.commands.target import open_target
from opsctl.model import State
from opsctl.retry import on_stderr
from opsctl.spec import Audit


def stop_command(config_path: str | None, env_name: str, run: str) -> int:
    """Request the stop, say the run's state now and how to follow it; 0 once the request went out."""
    with open_target(config_path, env_name) as (_, env, provider):
        ref = provider.ref(run)
        call = on_stderr()
        before = call("poll", lambda: provider.poll(ref))
        if before.state is State.STOPPED:
            code = "no exit code" if before.exit_code is None else f"exit code {before.exit_code}"
            sys.stderr.write(
                f"opsctl: run {ref.id} had already stopped ({code}); nothing to stop. "
                f"See it with: opsctl wait {env.name} {ref.id}\n"
            )
            return 0
        actor = Audit.detect().actor
        call("stop", lambda: provider.stop(ref, f"stopped by {actor} (opsctl stop)"))
        status = call("poll", lambda: provider.poll(ref))
        sys.stderr.write(
            f"opsctl: stop requested for run {ref.id} (now {status.raw}); "
            f"follow it with: opsctl wait {env.name} {ref.id}\n"
        )
        return 0
