"""The configuration as frozen dataclasses: environments, tasks, their parameters. Data only — no I/O."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from opsctl.errors import UsageError

PROVIDER_KINDS = ("local", "ecs", "cloudrun")
SECRET_MIN_LENGTH = 6  # a shorter (or blank) secret is refused: masking it would mangle ordinary output
PARAM_TYPES = ("string", "email", "secret", "choice", "int", "bool")
# The same rule as the reference admin task's EMAIL_RE, so opsctl refuses exactly what the task would.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}

Value = str | int | bool


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One typed task parameter."""

    name: str
    type: str = "string"
    help: str = ""
    prompt: str | None = None
    default: str | int | bool | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    confirm: bool = False

    @property
    def secret(self) -> bool:
        """Secret values are hidden when typed and never shown."""
        return self.type == "secret"

    @property
    def required(self) -> bool:
        """A parameter without a default must be given (bools default to false)."""
        return self.default is None and self.type != "bool"

    @property
    def flag(self) -> str:
        """The command-line flag, `--email`."""
        return f"--{self.name.replace('_', '-')}"

    def convert(self, raw: str) -> Value:
        """`raw` as this parameter's type; ValueError says why not (never showing a secret's value).

        The rule belongs to the type, so a default in the file and a value on the command line are checked
        alike; `params.validate` names the flag for a value from the command line.
        """
        shown = "the value" if self.secret else repr(raw)
        if self.type == "email":
            raw = raw.strip()
            if len(raw) > 254 or not EMAIL_RE.match(raw):
                raise ValueError(f"{shown} is not a valid email address")
        elif self.type == "int":
            try:
                return int(raw.strip())
            except ValueError:
                raise ValueError(f"{shown} is not a whole number") from None
        elif self.type == "bool":
            lowered = raw.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError(f"{shown} is not true or false")
            return lowered in _TRUE
        elif self.type == "choice":
            return self._choice(raw, shown)
        elif self.type == "secret" and not raw:
            raise ValueError("the value is empty")
        elif self.type == "secret" and (not raw.strip() or len(raw) < SECRET_MIN_LENGTH):
            raise ValueError(
                f"a secret must be at least {SECRET_MIN_LENGTH} characters and not blank: "
                "a shorter one would be masked inside opsctl's own words"
            )
        if self.pattern and not re.fullmatch(self.pattern, raw):
            # The help says what a person must type; the regex only says it to a machine.
            if self.help:
                raise ValueError(f"{shown} is not valid: {self.help.rstrip('.')}")
            raise ValueError(f"{shown} does not match the pattern {self.pattern}")
        return raw

    def _choice(self, raw: str, shown: str) -> str:
        """One of the choices, matched without regard to case; the error suggests the nearest one."""
        by_case = {c.casefold(): c for c in self.choices}
        found = by_case.get(raw.strip().casefold())
        if found is not None:
            return found
        message = f"{shown} is not one of: {', '.join(self.choices)}"
        near = difflib.get_close_matches(raw.strip().casefold(), list(by_case), n=1, cutoff=0.6)
        if near:
            message += f" (did you mean {by_case[near[0]]!r}?)"
        raise ValueError(message)


@dataclass(frozen=True, slots=True)
class TaskConfig:
    """A task as configured, with one environment's overrides already applied."""

    name: str
    help: str = ""
    command: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    aliases: tuple[str, ...] = ()
    timeout_s: float | None = None
    params: tuple[ParamSpec, ...] = ()
    confirm: bool = False
    overridden_in: tuple[str, ...] = ()  # environments that override a field of this task

    def param(self, name: str) -> ParamSpec | None:
        """The parameter called `name` (dashes and underscores are the same), if any."""
        wanted = name.replace("-", "_")
        return next((p for p in self.params if p.name.replace("-", "_") == wanted), None)


@dataclass(frozen=True, slots=True)
class TaskOverride:
    """Per-environment replacements for a task's fields (`[environments.X.tasks.T]`)."""

    command: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class EnvConfig:
    """Fields every environment has."""

    name: str
    provider: str
    source: str  # file the environment came from, for messages
    protected: bool = False
    allowed_refs: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    task_overrides: Mapping[str, TaskOverride] = field(default_factory=lambda: MappingProxyType({}))
    builtin: bool = False


@dataclass(frozen=True, slots=True)
class LocalEnv(EnvConfig):
    """`provider = "local"`: the task runs as a subprocess of this machine."""

    workdir: Path = Path()


@dataclass(frozen=True, slots=True)
class CapacityProviderItem:
    """One entry of an ECS capacity provider strategy."""

    capacity_provider: str
    weight: int = 1
    base: int = 0


@dataclass(frozen=True, slots=True)
class BuildSettings:
    """How `opsctl build` builds the admin image (`[environments.X.build]`)."""

    context: str = "."
    dockerfile: str | None = None  # default: Dockerfile in the context
    target: str = "admin"


@dataclass(frozen=True, slots=True)
class EcsEnv(EnvConfig):
    """`provider = "ecs"`: an ECS Fargate task."""

    region: str | None = None
    cluster: str = ""
    service: str | None = None
    task_definition: str | None = None
    container: str | None = None
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool | None = None
    launch_type: str | None = None
    capacity_provider_strategy: tuple[CapacityProviderItem, ...] = ()
    platform_version: str | None = None
    log_group: str | None = None
    log_stream_prefix: str | None = None
    profile: str | None = None
    image: str | None = None
    build: BuildSettings = BuildSettings()


@dataclass(frozen=True, slots=True)
class CloudRunEnv(EnvConfig):
    """`provider = "cloudrun"`: a Cloud Run job execution."""

    project: str = ""
    region: str = ""
    job: str = ""
    container: str | None = None
    endpoint: str | None = None
    image: str | None = None
    build: BuildSettings = BuildSettings()


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded configuration."""

    path: Path
    environments: Mapping[str, EnvConfig]
    tasks: Mapping[str, TaskConfig]

    def environment(self, name: str) -> EnvConfig:
        """The environment called `name`, or a UsageError listing the known ones."""
        if name in self.environments:
            return self.environments[name]
        raise UsageError(f"unknown environment {name!r}{suggest(name, self.environments)}")

    def task(self, env: EnvConfig, name: str) -> TaskConfig:
        """The task called `name` (or one of its aliases) with `env`'s overrides applied."""
        task = self.tasks.get(name) or next((t for t in self.tasks.values() if name in t.aliases), None)
        if task is None:
            names = [*self.tasks, *(a for t in self.tasks.values() for a in t.aliases)]
            raise UsageError(f"unknown task {name!r}{suggest(name, names)}")
        override = env.task_overrides.get(task.name)
        if override is None:
            return task
        return replace(
            task,
            command=override.command if override.command is not None else task.command,
            env=MappingProxyType({**task.env, **override.env}),
            timeout_s=override.timeout_s if override.timeout_s is not None else task.timeout_s,
        )


def suggest(name: str, known: Any) -> str:
    """` (known: a, b); did you mean 'a'?`: the tail of an unknown-name message."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f" (known: {', '.join(known) or 'none'}){hint}"
