"""Reading the command line before click does: global options given anywhere, and `run ENV TASK --help`."""

from __future__ import annotations

_GLOBAL_FLAGS = ("--verbose", "--no-color", "--version")


def hoist_globals(argv: list[str]) -> list[str]:
    """Move the global options to the front, wherever they were given (as aws, gcloud and kubectl take them).

    Task parameters may not be named like a global option (the config refuses it), so the move is
    unambiguous; everything after `--` is left alone.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        if arg in _GLOBAL_FLAGS or arg.startswith("--config="):
            front.append(arg)
        elif arg == "--config" and i + 1 < len(argv):
            front += argv[i : i + 2]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def wants_run_help(argv: list[str]) -> bool:
    """`opsctl run ENV TASK --help`: click printed the command's help; the task's parameters follow it."""
    rest = argv[2:] if argv[:1] == ["--config"] else argv
    command = next((a for a in rest if not a.startswith("-")), None)
    return command == "run" and bool({"-h", "--help"} & set(argv)) and len(run_positionals(argv)) >= 2


def run_positionals(argv: list[str]) -> list[str]:
    """The arguments after `run` that are not options nor an option's value."""
    found: list[str] = []
    args = iter(argv[argv.index("run") + 1 :])
    for arg in args:
        if arg in ("-o", "--output", "--confirm", "--timeout", "--param"):
            next(args, None)
        elif not arg.startswith("-"):
            found.append(arg)
    return found
