"""Parsing `[tasks.*]`: each task, its typed parameters, its placeholders and aliases."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from opsctl.config.fields import Fields
from opsctl.config.schema import PARAM_TYPES, ParamSpec, TaskConfig
from opsctl.config.shell import quoted_placeholders, script_index

BUILTINS = ("env", "task", "run_id", "actor", "python")
# `opsctl run` options; a parameter may not shadow one of them (`--timeout` must stay unambiguous).
RUN_OPTIONS = frozenset(
    {
        "param",
        "yes",
        "confirm",
        "dry-run",
        "detach",
        "timeout",
        "allow-concurrent",
        "output",
        "no-logs",
        "tasks",
        "parallelism",
        "config",
        "verbose",
        "no-color",
        "help",
        "version",
    }
)
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_TASK_KEYS = {"help", "command", "env", "aliases", "timeout", "params", "confirm"}
_PARAM_KEYS = {"type", "help", "prompt", "default", "choices", "pattern", "confirm"}


def parse_tasks(f: Fields, data: dict[str, Any]) -> dict[str, TaskConfig]:
    """Every `[tasks.NAME]`, with aliases unique across tasks."""
    tasks = {
        name: parse_task(f, name, f.table(raw, f"tasks.{name}"))
        for name, raw in f.table(data.get("tasks", {}), "tasks").items()
    }
    _check_aliases(f, tasks)
    return tasks


def parse_task(f: Fields, name: str, data: dict[str, Any]) -> TaskConfig:
    """One `[tasks.NAME]`."""
    key = f"tasks.{name}"
    if not NAME_RE.match(name):
        raise f.fail(key, "task names use lowercase letters, digits, - and _")
    f.keys(data, key, _TASK_KEYS)
    params = tuple(
        _param(f, f"{key}.params.{p}", p, f.table(raw, f"{key}.params.{p}"))
        for p, raw in f.table(data.get("params", {}), f"{key}.params").items()
    )
    command = f.command(data, key)
    env = f.env_table(data, key)
    check_placeholders(f, key, command, env, placeholders(params), secret_names(params))
    return TaskConfig(
        name=name,
        help=f.str_(data, key, "help") or "",
        command=command,
        env=env,
        aliases=f.strs(data, key, "aliases"),
        timeout_s=f.duration(data, key),
        params=params,
        confirm=bool(f.bool_(data, key, "confirm")),
    )


def placeholders(params: tuple[ParamSpec, ...] = ()) -> set[str]:
    """The `{name}`s a task's command and env may use: its parameters and the built-ins."""
    return {p.name for p in params} | set(BUILTINS)


def secret_names(params: tuple[ParamSpec, ...]) -> frozenset[str]:
    """The names of a task's secret parameters."""
    return frozenset(p.name for p in params if p.secret)


def _param(f: Fields, key: str, name: str, data: dict[str, Any]) -> ParamSpec:
    if not NAME_RE.match(name):
        raise f.fail(key, "parameter names use lowercase letters, digits, - and _")
    if name.replace("_", "-") in RUN_OPTIONS or name in BUILTINS:
        raise f.fail(key, f"{name!r} is reserved (an opsctl option or built-in placeholder); rename it")
    f.keys(data, key, _PARAM_KEYS)
    kind = data.get("type", "string")
    if kind not in PARAM_TYPES:
        raise f.fail(f"{key}.type", f"must be one of {', '.join(PARAM_TYPES)}, not {kind!r}")
    choices = f.strs(data, key, "choices")
    if kind == "choice" and not choices:
        raise f.fail(f"{key}.choices", 'required when type = "choice"')
    if choices and kind != "choice":
        raise f.fail(f"{key}.choices", 'only allowed with type = "choice"')
    pattern = _pattern(f, data, key)
    confirm = bool(f.bool_(data, key, "confirm"))
    if confirm and kind != "secret":
        raise f.fail(f"{key}.confirm", 'only allowed with type = "secret" (asks twice when prompting)')
    spec = ParamSpec(
        name=name,
        type=kind,
        help=f.str_(data, key, "help") or "",
        prompt=f.str_(data, key, "prompt"),
        choices=choices,
        pattern=pattern,
        confirm=confirm,
    )
    return _with_default(f, key, spec, data.get("default"))


def _pattern(f: Fields, data: dict[str, Any], key: str) -> str | None:
    pattern = f.str_(data, key, "pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as e:
            raise f.fail(f"{key}.pattern", f"invalid regular expression: {e}") from None
    return pattern


def _with_default(f: Fields, key: str, spec: ParamSpec, default: Any) -> ParamSpec:
    """`spec` with its default, converted to its type by the same rule as a command-line value."""
    if default is None:
        return spec
    if spec.secret:
        raise f.fail(f"{key}.default", "a secret cannot have a default (it would live in the config)")
    try:
        value = spec.convert(str(default).lower() if isinstance(default, bool) else str(default))
    except ValueError as e:
        raise f.fail(f"{key}.default", str(e)) from None
    return replace(spec, default=value)


def check_placeholders(
    f: Fields,
    key: str,
    command: tuple[str, ...] | None,
    env: Mapping[str, str],
    allowed: set[str],
    secrets: frozenset[str] = frozenset(),
) -> None:
    """Every `{name}` in `command` and `env` values must be one of `allowed`; a secret only in `env`."""
    items = [(f"{key}.command[{i}]", v) for i, v in enumerate(command or ())]
    items += [(f"{key}.env.{k}", v) for k, v in env.items()]
    for where, text in items:
        if "\0" in text:
            raise f.fail(where, "contains a NUL byte, which no command line or environment can carry")
        try:
            parsed = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
        except ValueError as e:
            raise f.fail(where, f"bad placeholder in {text!r}: {e} (write {{{{ for a literal brace)") from None
        for name, spec, conv in parsed:
            if spec or conv:
                extra = (f"!{conv}" if conv else "") + (f":{spec}" if spec else "")
                shown = extra if len(extra) <= 40 else extra[:40] + "…"
                raise f.fail(where, f"placeholder {{{name}{shown}}} must be a plain name like {{{name}}}")
        for name, _, _ in parsed:
            if name not in allowed:
                raise f.fail(
                    where,
                    f"unknown placeholder {{{name}}}; use a parameter of this task or a built-in "
                    f"({', '.join('{' + b + '}' for b in BUILTINS)})",
                )
            if name in secrets and ".command[" in where:
                raise f.fail(
                    where,
                    f"the secret parameter {{{name}}} cannot be part of the command: a command line is visible in "
                    "ps, in ECS DescribeTasks and in the Cloud Run console; pass it through env instead",
                )
    script = script_index(command) if command else None
    if command and script is not None:
        inside = quoted_placeholders(command[script])
        if inside:
            raise f.fail(
                f"{key}.command[{script}]",
                f"{{{inside[0]}}} is inside quotes in a shell script; opsctl shell-quotes every value it "
                "substitutes there, so write it bare (echo {" + inside[0] + "}, not echo '{" + inside[0] + "}')",
            )


def _check_aliases(f: Fields, tasks: dict[str, TaskConfig]) -> None:
    seen: dict[str, str] = {}
    for task in tasks.values():
        for alias in task.aliases:
            if alias in tasks or alias in seen:
                other = alias if alias in tasks else seen[alias]
                raise f.fail(f"tasks.{task.name}.aliases", f"{alias!r} is already used by task {other!r}")
            seen[alias] = task.name
