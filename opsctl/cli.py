"""The typer app: options and wiring only. Exceptions become exit codes in `main()` alone."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from opsctl import __version__, interrupted_at_start
from opsctl.argv import hoist_globals, run_positionals, wants_run_help
from opsctl.console import reopen_closed_streams, silence_gone, whole_writes
from opsctl.errors import EXIT_INTERNAL, EXIT_SIGINT, OpsctlError, UsageError

if TYPE_CHECKING:
    from typer._click.core import Context as ClickContext
    from typer._click.shell_completion import CompletionItem

# From here a Ctrl-C is a KeyboardInterrupt again, which `_main` turns into one line and exit 130.
if signal.getsignal(signal.SIGINT) is interrupted_at_start:
    signal.signal(signal.SIGINT, signal.default_int_handler)

HELP = """Run one admin task against a live serverless environment — an ECS Fargate task, a Cloud Run job
execution, or a local process — stream its logs, print a summary and exit with the task's exit code.

Examples:

  opsctl run local seed-admin --email ada@example.com

  opsctl run staging cs --username ada --email ada@example.com      (prompts for the password)

  opsctl run prod seed-admin --email ada@example.com --yes --confirm prod --timeout 15m

Configuration lives in opsctl.toml (see README). Exit codes: 0 ok, 1–255 the task's own,
2 usage, 69 could not launch / no exit code, 75 temporary failure, 77 refused, 78 configuration,
124 timeout, 130 interrupted (or left running by a second Ctrl-C), 143 terminated; doctor: 1 when a
check fails. --config, --verbose, --no-color and --version go before or after the command.
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class Globals:
    """Options that apply to every command."""

    config: str | None = None
    verbose: bool = False
    no_color: bool = False


def _version(value: bool) -> None:
    if value:
        print(f"opsctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config", metavar="PATH", help="Config file (default: $OPSCTL_CONFIG, else the nearest opsctl.toml)."
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show retries in detail and tracebacks of internal errors.")
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colour or live status line (NO_COLOR works too).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    ctx.obj = Globals(config=config, verbose=verbose, no_color=no_color)


def _globals(ctx: typer.Context) -> Globals:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Globals) else Globals()


class _RunCommand(typer.core.TyperCommand):
    """`run` completes its task's parameter flags and their choices, which are not click options."""

    def shell_complete(self, ctx: ClickContext, incomplete: str) -> list[CompletionItem]:
        # typer carries its own copy of click: its classes are the ones to use here.
        from typer._click.shell_completion import CompletionItem

        from opsctl.commands import assist

        env, task, config = ctx.params.get("env"), ctx.params.get("task"), _root_config(ctx)
        if not (env and task):
            return super().shell_complete(ctx, incomplete)
        if incomplete.startswith("-"):
            flags = [CompletionItem(f, help=h) for f, h in assist.param_flags(config, env, task)]
            return [f for f in flags if f.value.startswith(incomplete)] + super().shell_complete(ctx, incomplete)
        values = assist.param_values(config, env, task, ctx.args[-1]) if ctx.args else None
        return [CompletionItem(v) for v in values or () if v.casefold().startswith(incomplete.casefold())]


def _root_config(ctx: ClickContext) -> str | None:
    value = ctx.find_root().params.get("config")
    return value if isinstance(value, str) else None


def _complete_runs(ctx: typer.Context, incomplete: str) -> list[str]:
    from opsctl.commands.assist import recent_runs

    return [r for r in recent_runs(ctx.params.get("env")) if r.startswith(incomplete)]


@app.command(
    cls=_RunCommand,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog="Task parameters are passed as --NAME VALUE (see: opsctl tasks). Secrets may come from "
    "OPSCTL_PARAM_<NAME> or standard input (--NAME -); missing ones are prompted for on a terminal.",
)
def run(
    ctx: typer.Context,
    env: Annotated[
        str,
        typer.Argument(
            metavar="ENV",
            help="Environment from opsctl.toml (see: opsctl envs).",
            autocompletion=lambda: _complete("envs"),
        ),
    ],
    task: Annotated[
        str,
        typer.Argument(
            metavar="TASK", help="Task name or alias (see: opsctl tasks).", autocompletion=lambda: _complete("tasks")
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", metavar="NAME=VALUE", help="A task parameter; same as --NAME VALUE. Repeatable."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Never prompt; fail on anything missing.")] = False,
    confirm: Annotated[
        str | None,
        typer.Option("--confirm", metavar="ENV", help="With --yes: confirm a protected environment by name."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the launch request (secrets masked) and exit 0.")
    ] = False,
    detach: Annotated[
        bool, typer.Option("--detach", help="Launch, print the run and how to reattach, exit 0.")
    ] = False,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout", metavar="DURATION", help="Stop the task after this long (90s, 15m, 1h) and exit 124."
        ),
    ] = None,
    allow_concurrent: Annotated[
        bool, typer.Option("--allow-concurrent", help="Run even if this task is already running in ENV.")
    ] = False,
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", metavar="text|json", help="text: summary table; json: one JSON document on stdout."
        ),
    ] = "text",
    no_logs: Annotated[bool, typer.Option("--no-logs", help="Don't relay the task's log lines.")] = False,
    tasks: Annotated[
        str | None,
        typer.Option(
            "--tasks",
            metavar="N",
            help="Run N copies of the task as one run (each knows OPSCTL_TASK_INDEX, or CLOUD_RUN_TASK_INDEX on "
            "Cloud Run); exit 0 if all exit 0, else the lowest-index failed copy's code. Up to 100 local, "
            "20 ECS, 10000 Cloud Run.",
        ),
    ] = None,
    parallelism: Annotated[
        str | None,
        typer.Option(
            "--parallelism",
            metavar="K",
            help="With --tasks: at most K copies at a time (local; on Cloud Run it must match the job's own "
            "parallelism, capped at N, which an execution can't override; ECS has none).",
        ),
    ] = None,
) -> None:
    """Run TASK in ENV: launch, stream logs, print a summary, exit with the task's exit code."""
    from opsctl.commands.run import RunOptions, run_command

    g = _globals(ctx)
    code = run_command(
        RunOptions(
            config=g.config,
            env=env,
            task=task,
            args=tuple(ctx.args),
            params=tuple(param or ()),
            yes=yes,
            confirm=confirm,
            dry_run=dry_run,
            detach=detach,
            timeout=timeout,
            allow_concurrent=allow_concurrent,
            output=_output(output),
            no_logs=no_logs,
            no_color=g.no_color,
            tasks=tasks,
            parallelism=parallelism,
        )
    )
    raise typer.Exit(code)


def _output(value: str) -> str:
    if value not in ("text", "json"):
        raise UsageError(f"--output: {value!r} is not one of text, json")
    return value


@app.command()
def envs(
    ctx: typer.Context,
    output: Annotated[str, typer.Option("--output", "-o", metavar="text|json", help="text or json.")] = "text",
) -> None:
    """List environments: name, provider, resolved target, protected, allowed refs."""
    from opsctl.commands.listing import envs_command

    g = _globals(ctx)
    raise typer.Exit(envs_command(g.config, _output(output)))


@app.command()
def tasks(
    ctx: typer.Context,
    env: Annotated[
        str | None, typer.Argument(metavar="ENV", help="Show the tasks as this environment resolves them.")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", metavar="text|json", help="text or json.")] = "text",
) -> None:
    """List tasks with their parameters, aliases and per-environment overrides."""
    from opsctl.commands.listing import tasks_command

    g = _globals(ctx)
    raise typer.Exit(tasks_command(g.config, env, _output(output)))


EnvArg = Annotated[
    str,
    typer.Argument(
        metavar="ENV", help="Environment from opsctl.toml (see: opsctl envs).", autocompletion=lambda: _complete("envs")
    ),
]
RunArg = Annotated[
    str,
    typer.Argument(
        metavar="RUN",
        help="The run as `opsctl run` printed it: an ECS task ARN or id, a Cloud Run execution name, a local run id.",
        autocompletion=_complete_runs,
    ),
]
OutputOpt = Annotated[str, typer.Option("--output", "-o", metavar="text|json", help="text or json.")]


@app.command(epilog="Example: opsctl wait staging arn:aws:ecs:eu-west-2:123456789012:task/clinloop-staging/0f3c…")
def wait(ctx: typer.Context, env: EnvArg, run: RunArg, output: OutputOpt = "text") -> None:
    """Reattach to a run (running or already stopped): its logs, the summary, its exit code."""
    from opsctl.commands.wait import wait_command
    from opsctl.params import interactive

    g = _globals(ctx)
    raise typer.Exit(wait_command(g.config, env, run, _output(output), g.no_color, interactive(False)))


@app.command(epilog="Example: opsctl logs prod quill-admin-prod-x7k2p --since 10m")
def logs(
    ctx: typer.Context,
    env: EnvArg,
    run: RunArg,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the run stops.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", metavar="DURATION", help="Only lines from the last DURATION (10m, 1h).")
    ] = None,
) -> None:
    """Print a run's log lines on stdout (following while it runs with --follow). Never stops the run."""
    from opsctl.commands.logs import logs_command

    raise typer.Exit(logs_command(_globals(ctx).config, env, run, follow, since))


@app.command(epilog="Example: opsctl stop staging 0f3c5e0e8d1b4c7a9e2f")
def stop(ctx: typer.Context, env: EnvArg, run: RunArg) -> None:
    """Stop a run; the stop reason names you."""
    from opsctl.commands.stop import stop_command

    raise typer.Exit(stop_command(_globals(ctx).config, env, run))


@app.command(epilog="Example: opsctl history staging --limit 5")
def history(
    ctx: typer.Context,
    env: EnvArg,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="How many runs.")] = 20,
    output: OutputOpt = "text",
) -> None:
    """Recent opsctl runs in ENV: what the cloud still lists, merged with this machine's history."""
    from opsctl.commands.history import history_command

    raise typer.Exit(history_command(_globals(ctx).config, env, limit, _output(output)))


@app.command(epilog="Example: opsctl doctor staging")
def doctor(ctx: typer.Context, env: EnvArg) -> None:
    """Preflight ENV: credentials, target, task definition / job, network, logs, permissions; each ✗ with its fix."""
    from opsctl.commands.doctor import doctor_command

    g = _globals(ctx)
    raise typer.Exit(doctor_command(g.config, env, g.no_color))


@app.command(epilog="Example: opsctl build staging --dry-run")
def build(
    ctx: typer.Context,
    env: EnvArg,
    tag: Annotated[str | None, typer.Option("--tag", help="Image tag (default: the git commit).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print each step; build, push and change nothing.")
    ] = False,
) -> None:
    """Build the admin image (docker build --target admin), push it, point the job / task definition at it."""
    from opsctl.commands.build import build_command

    raise typer.Exit(build_command(_globals(ctx).config, env, tag, dry_run))


@app.command(
    # \b keeps click from re-wrapping the examples.
    epilog="\b\nExamples:\n"
    "  opsctl init staging --ecs-service clinloop-staging/clinloop-staging-api --region eu-west-2\n"
    "  opsctl init prod --cloudrun-job projects/quill-prod-123456/locations/europe-west2/jobs/quill-admin-prod\n"
    "  opsctl init        (on a terminal: asks for the environment, the provider and the names)\n\n"
    "Then check the environment with: opsctl doctor ENV. Exit codes: 2 bad input, or ENV is already there "
    "(nothing changed); 69 service or job not found; 77 no credentials; 78 the config file cannot be read "
    "or written."
)
def init(
    ctx: typer.Context,
    env: Annotated[
        str | None, typer.Argument(metavar="ENV", help="Name of the new environment, e.g. staging (asked if missing).")
    ] = None,
    ecs_service: Annotated[
        str | None,
        typer.Option(
            "--ecs-service",
            metavar="CLUSTER/SERVICE",
            help="Read this ECS service: task definition, container, network and awslogs settings.",
        ),
    ] = None,
    cloudrun_job: Annotated[
        str | None,
        typer.Option("--cloudrun-job", metavar="projects/P/locations/R/jobs/J", help="Read this Cloud Run job."),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", metavar="R", help="AWS region of the service (default: AWS_REGION or the profile's)."),
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", metavar="P", help="AWS profile to read with; written to the environment.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Re-point an existing ENV at this target (its other settings are kept)."),
    ] = False,
) -> None:
    """Add environment ENV to opsctl.toml from a live ECS service or Cloud Run job.

    Writes [environments.ENV] into the config (--config PATH, else the nearest opsctl.toml, else a new
    ./opsctl.toml with a starter task), keeping every other byte and comment of the file.
    """
    from opsctl.commands.init import InitOptions, init_command

    options = InitOptions(_globals(ctx).config, env, ecs_service, cloudrun_job, region, profile, force)
    raise typer.Exit(init_command(options))


def _complete(what: str, env: str | None = None) -> list[str]:
    """Names from the config for shell completion; nothing (rather than an error) if it cannot be read."""
    from opsctl import config as config_mod

    try:
        cfg = config_mod.load(None)
    except Exception:
        return []
    if what == "envs":
        return list(cfg.environments)
    return [*cfg.tasks, *(a for t in cfg.tasks.values() for a in t.aliases)]


class _Pipe:
    """Whether a read-only command's output pipe closed under it (`opsctl tasks | head -1`)."""

    closed = False


def _flush_stdout() -> None:
    """Write what stdout still holds (block-buffered into a pipe) here, where a reader that left is seen: at the
    interpreter's exit it would be "Exception ignored … BrokenPipeError" and exit 120."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _Pipe.closed = True


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every failure into one line and a documented exit code."""
    try:
        reopen_closed_streams()
        whole_writes()
        code = _main(sys.argv[1:] if argv is None else argv)
        _flush_stdout()
    except KeyboardInterrupt:  # between the handlers above and `_main`'s own
        code = EXIT_SIGINT
    if _Pipe.closed:
        # The usual end of a writer whose reader left: killed by SIGPIPE, quietly (as `cat | head` ends).
        silence_gone()
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    # From here on a Ctrl-C ends the process as it would any program's: no KeyboardInterrupt traceback out of
    # the interpreter's teardown (atexit handlers), whose outcome is decided already.
    with contextlib.suppress(ValueError):  # ValueError: not the main thread
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(code)


def _main(argv: list[str]) -> int:
    from opsctl.console import print_error

    argv = hoist_globals(argv)
    verbose = "--verbose" in argv
    command = typer.main.get_command(app)
    try:
        result: Any = command.main(args=argv, prog_name="opsctl", standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except OpsctlError as e:
        print_error(str(e))
        if os.environ.get("GITHUB_ACTIONS") == "true":
            from opsctl.actions import error_command
            from opsctl.untrusted import visible

            sys.stderr.write(error_command("opsctl", visible(str(e))) + "\n")
        return e.exit_code
    except typer.TyperException as e:
        print_error(e.format_message() + _usage_hint(argv))
        return e.exit_code
    except (KeyboardInterrupt, typer.Abort):
        print_error("interrupted; nothing was launched")
        return EXIT_SIGINT
    except (BrokenPipeError, SystemExit) as e:
        # click turns a broken pipe into SystemExit(1). Only commands that print as they go get here:
        # `run` and `wait` treat a reader that left as a hangup instead (see cancel.HangupObserver).
        if isinstance(e, SystemExit) and not silence_gone():
            raise
        silence_gone()
        _Pipe.closed = True
        return EXIT_INTERNAL
    except Exception as e:
        if _interrupted(e):
            print_error("interrupted; nothing was launched")
            return EXIT_SIGINT
        if verbose:
            traceback.print_exc()
        print_error(
            f"internal error: {type(e).__name__}: {e} (a bug in opsctl; rerun with --verbose for the traceback)"
        )
        return EXIT_INTERNAL
    if wants_run_help(argv):
        from opsctl.commands.assist import task_help

        config = argv[argv.index("--config") + 1] if "--config" in argv else None
        config = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), config)
        env, task = run_positionals(argv)[:2]
        sys.stdout.write(task_help(config, env, task))
    return result if isinstance(result, int) else 0


def _interrupted(error: BaseException) -> bool:
    """Whether a Ctrl-C caused this error: Python wraps a KeyboardInterrupt raised inside some hooks (a class
    body's `__set_name__`, while a lazily imported module defines its dataclasses) in a RuntimeError."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _usage_hint(argv: list[str]) -> str:
    commands = [a for a in argv if not a.startswith("-")][:1]
    return f" (see: opsctl {commands[0]} --help)" if commands else " (see: opsctl --help)"
