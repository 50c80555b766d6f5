"""The typer app: options and wiring only. Exceptions become exit codes in `main()` alone."""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from opsctl import __version__
from opsctl.errors import EXIT_INTERNAL, EXIT_SIGINT, OpsctlError, UsageError

HELP = """Run one admin task against a live serverless environment — an ECS Fargate task, a Cloud Run job
execution, or a local process — stream its logs, print a summary and exit with the task's exit code.

Examples:

  opsctl run local seed-admin --email ada@example.com

  opsctl run staging cs --username ada --email ada@example.com      (prompts for the password)

  opsctl run prod seed-admin --email ada@example.com --yes --confirm prod --timeout 15m

Configuration lives in opsctl.toml (see README). Exit codes: 0 ok, 1–255 the task's own,
2 usage, 69 could not launch / no exit code, 75 temporary failure, 77 refused, 78 configuration,
124 timeout, 130 interrupted, 143 terminated.
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


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog="Task parameters are passed as --NAME VALUE (see: opsctl tasks). Secrets may come from "
    "OPSCTL_PARAM_<NAME> or standard input (--NAME -); missing ones are prompted for on a terminal.",
)
def run(
    ctx: typer.Context,
    env: Annotated[str, typer.Argument(metavar="ENV", help="Environment from opsctl.toml (see: opsctl envs).")],
    task: Annotated[str, typer.Argument(metavar="TASK", help="Task name or alias (see: opsctl tasks).")],
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
) -> None:
    """Run TASK in ENV: launch, stream logs, print a summary, exit with the task's exit code."""
    from opsctl.commands import RunOptions, run_command

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
            verbose=g.verbose,
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
    from opsctl.commands import envs_command

    g = _globals(ctx)
    envs_command(g.config, _output(output), g.no_color)


@app.command()
def tasks(
    ctx: typer.Context,
    env: Annotated[
        str | None, typer.Argument(metavar="ENV", help="Show the tasks as this environment resolves them.")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", metavar="text|json", help="text or json.")] = "text",
) -> None:
    """List tasks with their parameters, aliases and per-environment overrides."""
    from opsctl.commands import tasks_command

    g = _globals(ctx)
    tasks_command(g.config, env, _output(output), g.no_color)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every failure into one line and a documented exit code."""
    sys.exit(_main(sys.argv[1:] if argv is None else argv))


def _main(argv: list[str]) -> int:
    from opsctl.report import print_error

    verbose = "--verbose" in argv
    command = typer.main.get_command(app)
    try:
        result: Any = command.main(args=argv, prog_name="opsctl", standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except OpsctlError as e:
        print_error(str(e))
        return e.exit_code
    except typer.TyperException as e:
        print_error(e.format_message() + _usage_hint(argv))
        return e.exit_code
    except (KeyboardInterrupt, typer.Abort):
        print_error("interrupted; nothing was launched")
        return EXIT_SIGINT
    except Exception as e:
        if verbose:
            traceback.print_exc()
        print_error(
            f"internal error: {type(e).__name__}: {e} (a bug in opsctl; rerun with --verbose for the traceback)"
        )
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0


def _usage_hint(argv: list[str]) -> str:
    commands = [a for a in argv if not a.startswith("-")][:1]
    return f" (see: opsctl {commands[0]} --help)" if commands else " (see: opsctl --help)"
