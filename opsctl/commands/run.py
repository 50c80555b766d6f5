"""`opsctl run ENV TASK`: everything from the configuration to the task's exit code."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack, closing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from opsctl import actions, fanout, guards, params, providers
from opsctl import config as config_mod
from opsctl.errors import UsageError
from opsctl.redact import Redactor
from opsctl.retry import on_stderr
from opsctl.spec import Audit, build_spec

if TYPE_CHECKING:
    from opsctl.model import RunResult, RunSpec
    from opsctl.providers import Provider
    from opsctl.runner import Runner


@dataclass(frozen=True, slots=True)
class RunOptions:
    """`opsctl run`'s options, as parsed."""

    config: str | None
    env: str
    task: str
    args: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    yes: bool = False
    confirm: str | None = None
    dry_run: bool = False
    detach: bool = False
    timeout: str | None = None
    allow_concurrent: bool = False
    output: str = "text"
    no_logs: bool = False
    no_color: bool = False
    tasks: str | None = None
    parallelism: str | None = None


def run_command(opts: RunOptions) -> int:
    """`opsctl run`: everything from config to exit code."""
    cfg = config_mod.load(opts.config)
    env = cfg.environment(opts.env)
    task = cfg.task(env, opts.task)
    timeout_s = task.timeout_s
    if opts.timeout is not None:
        try:
            timeout_s = config_mod.parse_duration(opts.timeout)
        except ValueError as e:
            raise UsageError(f"--timeout: {e}") from None
    copies = fanout.parse(env.provider, opts.tasks, opts.parallelism)
    # Settings that only the runner uses are checked now, before anything can reach a cloud.
    from opsctl.settings import RetryPolicy, timing_scale

    RetryPolicy.from_env()
    timing_scale()
    can_prompt = params.interactive(opts.yes)
    given = params.split_args(task, opts.args, opts.params)
    values = params.collect(task, given, params.Prompter(interactive=can_prompt))
    secret_names = frozenset(p.name for p in task.params if p.secret)
    spec = replace(
        build_spec(env, task, values, Audit.detect(), secret_names),
        tasks=copies.tasks,
        parallelism=copies.parallelism,
    )
    redact = Redactor(spec.secret_values)
    if actions.active():
        actions.mask_secrets(spec.secret_values, sys.stderr)  # before anything else reaches the log

    if opts.dry_run:
        return _dry_run(env, task, spec, redact, timeout_s)

    guards.check_branch(env)
    guards.check_confirmation(
        env,
        task,
        yes=opts.yes,
        confirm=opts.confirm,
        interactive=can_prompt,
        show_target=lambda: _show_target(env, task, spec, redact),
        ask=params.Prompter(True).ask,
    )
    with closing(providers.build(env)) as provider:
        return _launch_and_watch(opts, env, task, spec, redact, provider, timeout_s, can_prompt)


def _dry_run(
    env: config_mod.EnvConfig, task: config_mod.TaskConfig, spec: RunSpec, redact: Redactor, timeout_s: float | None
) -> int:
    """Print the launch request, secrets masked; no mutating call (and none at all when the config names
    the whole target)."""
    with closing(providers.build(env, dry_run=True)) as provider:
        plan = {
            "env": env.name,
            "task": task.name,
            "provider": env.provider,
            "run_id": spec.run_id,
            "timeout_s": timeout_s,
            **({"tasks": spec.tasks, "parallelism": spec.parallelism} if spec.tasks > 1 else {}),
            "target": dict(provider.target()),
            "request": on_stderr()("resolve the target", lambda: provider.plan(spec)),
        }
    sys.stdout.write(json.dumps(redact.value(plan), indent=2, default=str) + "\n")
    return 0


def _launch_and_watch(
    opts: RunOptions,
    env: config_mod.EnvConfig,
    task: config_mod.TaskConfig,
    spec: RunSpec,
    redact: Redactor,
    provider: Provider,
    timeout_s: float | None,
    can_prompt: bool,
) -> int:
    # Imported here so that --dry-run and every refusal above stay quick to start.
    from opsctl.cancel import INTERRUPT_GRACE_S, CancelToken, HangupObserver, cancel_on_signals, finishing
    from opsctl.progress import observer_for
    from opsctl.runner import Runner
    from opsctl.sinks import finish

    cancel = CancelToken()
    observer = HangupObserver(observer_for(env.name, task.name, opts.no_color, opts.no_logs), cancel)
    runner = Runner(
        provider,
        spec,
        observer,
        timeout_s=timeout_s,
        stream_logs=not opts.no_logs,
        cancel=cancel,
        interrupt_grace_s=INTERRUPT_GRACE_S if can_prompt else 0.0,
    )
    with ExitStack() as lock:
        if not opts.allow_concurrent:
            # Local: check and launch under one lock, so two launches at once take turns.
            lock.enter_context(guards.launch_lock(provider, env, task))
            guards.check_concurrency(provider, env, task, on_stderr())
        with cancel_on_signals(cancel):
            with closing(observer):
                launched = runner.run(detach=True)
                lock.close()  # the run exists: the next launcher will see it
                if not opts.allow_concurrent:
                    # ECS and Cloud Run have no lock: a run launched at the same moment is found right after.
                    guards.reconcile(provider, spec, launched.run, runner.call)
                result = launched if opts.detach else _watch(runner, launched)
            with finishing(cancel):
                finish(result, redact, spec.origin, opts.output, opts.no_color)
    return result.exit_status


def _watch(runner: Runner, launched: RunResult) -> RunResult:
    if runner.cancel.requested:
        runner.observer.notice("stop requested while launching")
    return runner.watch(launched.run, launched.started_at)


def _show_target(env: config_mod.EnvConfig, task: config_mod.TaskConfig, spec: RunSpec, redact: Redactor) -> None:
    with closing(providers.build(env)) as provider:
        target = provider.target()
    lines = [f"About to run {task.name!r} in environment {env.name!r} ({env.provider}):"]
    lines += [f"  {k}: {v}" for k, v in target]
    if spec.command:
        lines.append(f"  command: {' '.join(spec.command)}")
    lines += [f"  env {k}={v}" for k, v in spec.env_vars]
    sys.stderr.write(redact("\n".join(lines)) + "\n")
