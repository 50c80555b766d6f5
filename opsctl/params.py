"""Task parameters: parsing `--NAME VALUE`, validation, prompting, secret handling.

Which values a type accepts is the parameter's own rule (`ParamSpec.convert`), shared with the
config file's defaults; here it is applied to what the user gave, naming the flag.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from opsctl.config import ParamSpec, TaskConfig, Value
from opsctl.errors import UsageError


def interactive(yes: bool) -> bool:
    """Whether someone can answer prompts: a terminal on stdin and stderr, and no --yes."""
    return not yes and sys.stdin.isatty() and sys.stderr.isatty()


def validate(param: ParamSpec, raw: str) -> Value:
    """Check one raw value against its parameter's type; UsageError names the flag (never a secret)."""
    if "\0" in raw:
        raise UsageError(f"{param.flag}: the value contains a NUL byte, which no command line or environment can carry")
    try:
        return param.convert(raw)
    except ValueError as e:
        raise UsageError(f"{param.flag}: {e}") from None


def split_args(task: TaskConfig, args: Sequence[str], params: Sequence[str]) -> dict[str, str]:
    """Turn `--NAME VALUE` / `--NAME=VALUE` extras and `--param NAME=VALUE` into {name: raw}."""
    given: dict[str, str] = {}

    def put(name: str, value: str) -> None:
        spec = task.param(name)
        if spec is None:
            known = ", ".join(p.flag for p in task.params) or "none"
            raise UsageError(f"task {task.name!r} has no parameter {name!r} (its parameters: {known})")
        if spec.name in given:
            raise UsageError(f"{spec.flag} given twice")
        given[spec.name] = value

    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--param takes NAME=VALUE, not {item!r}")
        put(name, value)
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise UsageError(f"unexpected argument {arg!r} (parameters are given as --NAME VALUE)")
        name, sep, value = arg[2:].partition("=")
        spec = task.param(name)
        if not sep:
            nxt = args[i + 1] if i + 1 < len(args) else None
            if spec is not None and spec.type == "bool" and (nxt is None or nxt.startswith("--")):
                value = "true"  # a bare boolean flag means true
            elif nxt is None:
                raise UsageError(f"--{name} needs a value")
            else:
                value = nxt
                i += 1
        put(name, value)
        i += 1
    return given


def _ask(prompt: str) -> str:
    # Prompts go to stderr so stdout stays the summary / JSON alone.
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise UsageError("standard input closed while prompting")
    return line.rstrip("\r\n")


def _ask_hidden(prompt: str) -> str:
    return getpass.getpass(prompt, stream=sys.stderr)


@dataclass(frozen=True, slots=True)
class Prompter:
    """How missing values are asked for; tests pass their own functions."""

    interactive: bool
    ask: Callable[[str], str] = _ask
    ask_hidden: Callable[[str], str] = _ask_hidden


def env_name(param: ParamSpec) -> str:
    """`OPSCTL_PARAM_<NAME>`: where a value (typically a secret in CI) may come from."""
    return "OPSCTL_PARAM_" + re.sub(r"[^A-Z0-9]", "_", param.name.upper())


def collect(
    task: TaskConfig,
    given: Mapping[str, str],
    prompter: Prompter,
    environ: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
) -> dict[str, Value]:
    """Every parameter's validated value: flags, then OPSCTL_PARAM_*, then a prompt, then the default."""
    environ = os.environ if environ is None else environ
    values: dict[str, Value] = {}
    stdin_used = False
    for spec in task.params:
        raw = given.get(spec.name)
        if raw == "-":
            if stdin_used:
                raise UsageError(f"{spec.flag} -: standard input was already read for another parameter")
            raw = (stdin or sys.stdin).readline().rstrip("\r\n")
            stdin_used = True
        if raw is None:
            raw = environ.get(env_name(spec))
        if raw is None and spec.required:
            if not prompter.interactive:
                hint = f" or set {env_name(spec)}" if spec.secret else ""
                raise UsageError(f"missing {spec.flag} (no terminal to prompt on: pass {spec.flag} VALUE{hint})")
            raw = _prompt(spec, prompter)
        if raw is None:
            if spec.default is not None:
                values[spec.name] = spec.default
            elif spec.type == "bool":
                values[spec.name] = False
            continue
        values[spec.name] = validate(spec, raw)
    return values


def _prompt(spec: ParamSpec, prompter: Prompter) -> str:
    label = spec.prompt or spec.help or spec.name.replace("_", " ").replace("-", " ").capitalize()
    if spec.type == "choice":
        label += f" ({'/'.join(spec.choices)})"
    for _ in range(3):
        if spec.secret:
            raw = prompter.ask_hidden(f"{label}: ")
            if spec.confirm and raw and prompter.ask_hidden(f"{label} (again): ") != raw:
                print("The two entries differ; try again.", file=sys.stderr)
                continue
        else:
            raw = prompter.ask(f"{label}: ")
        try:
            validate(spec, raw)
        except UsageError as e:
            print(str(e), file=sys.stderr)
            continue
        return raw
    raise UsageError(f"{spec.flag}: no valid value after 3 tries")
