"""`opsctl wait ENV RUN`: reattach to a run, relay its logs from the start, summarise, exit like `run`."""

from __future__ import annotations

from contextlib import closing

from opsctl.cancel import INTERRUPT_GRACE_S, CancelToken, HangupObserver, cancel_on_signals, finishing
from opsctl.commands.target import open_target
from opsctl.progress import observer_for
from opsctl.redact import Redactor
from opsctl.retry import on_stderr
from opsctl.runner import Runner
from opsctl.sinks import finish
from opsctl.spec import existing_run_spec


def wait_command(
    config_path: str | None, env_name: str, run: str, output: str, no_color: bool, interactive: bool
) -> int:
    """Watch RUN to its end as `opsctl run` would have (a local run's log was redacted before it was written)."""
    with open_target(config_path, env_name) as (_, env, provider):
        ref = provider.ref(run)
        info = on_stderr()("look up the run", lambda: provider.info(ref))
        ref = info.ref
        spec = existing_run_spec(env.name, info)
        cancel = CancelToken()
        observer = HangupObserver(observer_for(env.name, spec.task, no_color), cancel)
        observer.launched(ref, verb="reattached to")
        runner = Runner(
            provider,
            spec,
            observer,
            cancel=cancel,
            interrupt_grace_s=INTERRUPT_GRACE_S if interactive else 0.0,
        )
        with cancel_on_signals(cancel):
            with closing(observer):
                result = runner.watch(ref, info.started_at)
            with finishing(cancel):
                finish(result, Redactor(()), None, output, no_color)
        return result.exit_status
