"""`opsctl.toml` → frozen dataclasses. Every mistake is one ConfigError naming the file and dotted key."""

from __future__ import annotations

import difflib
import os
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from opsctl.errors import ConfigError, UsageError

CONFIG_NAME = "opsctl.toml"
PROVIDER_KINDS = ("local", "ecs", "cloudrun")
PARAM_TYPES = ("string", "email", "secret", "choice", "int", "bool")
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
        "config",
        "verbose",
        "no-color",
        "help",
        "version",
    }
)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(text: str) -> float:
    """`90s`, `15m`, `1h30m` or plain seconds → seconds; ValueError when it is none of those."""
    text = text.strip().lower()
    match = _DURATION_RE.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration (examples: 90s, 15m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return total


def format_duration(seconds: float) -> str:
    """Seconds → `45s`, `15m`, `1h30m`, `2m5s`."""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


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
        raise UsageError(f"unknown environment {name!r}{_suggest(name, self.environments)}")

    def task(self, env: EnvConfig, name: str) -> TaskConfig:
        """The task called `name` (or one of its aliases) with `env`'s overrides applied."""
        task = self.tasks.get(name) or next((t for t in self.tasks.values() if name in t.aliases), None)
        if task is None:
            names = [*self.tasks, *(a for t in self.tasks.values() for a in t.aliases)]
            raise UsageError(f"unknown task {name!r}{_suggest(name, names)}")
        override = env.task_overrides.get(task.name)
        if override is None:
            return task
        return replace(
            task,
            command=override.command if override.command is not None else task.command,
            env=MappingProxyType({**task.env, **override.env}),
            timeout_s=override.timeout_s if override.timeout_s is not None else task.timeout_s,
        )


def _suggest(name: str, known: Any) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f" (known: {', '.join(known) or 'none'}){hint}"


def find_config(explicit: str | None, cwd: Path | None = None) -> tuple[Path, str]:
    """Locate the config: --config, $OPSCTL_CONFIG, nearest opsctl.toml, nearest [tool.opsctl]."""
    for given in (explicit, os.environ.get("OPSCTL_CONFIG")):
        if given:
            path = Path(given)
            if not path.is_file():
                raise ConfigError(f"{given}: no such file")
            table = "tool.opsctl" if path.name == "pyproject.toml" else ""
            return path, table
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME, ""
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.opsctl" in pyproject.read_text(encoding="utf-8", errors="replace"):
            return pyproject, "tool.opsctl"
    raise ConfigError(
        f"no {CONFIG_NAME} in {start} or any parent (nor [tool.opsctl] in a pyproject.toml); "
        "create one (see README: Configuration) or pass --config PATH"
    )


def load(explicit: str | None = None, cwd: Path | None = None) -> Config:
    """Find and parse the configuration."""
    path, table = find_config(explicit, cwd)
    return parse_file(path, table)


def parse_file(path: Path, table: str = "") -> Config:
    """Parse one config file (`table` = "tool.opsctl" for a pyproject.toml)."""
    shown = _shown(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{shown}: invalid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{shown}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{shown}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    prefix = ""
    if table:
        for part in table.split("."):
            data = data.get(part, {})
        prefix = table + "."
    return _Parser(shown, path.parent.resolve(), prefix).config(data, path)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


_ENV_COMMON = {"provider", "protected", "allowed_refs", "env", "tasks"}
_ENV_KEYS = {
    "local": _ENV_COMMON | {"workdir"},
    "ecs": _ENV_COMMON
    | {
        "region",
        "cluster",
        "service",
        "task_definition",
        "container",
        "subnets",
        "security_groups",
        "assign_public_ip",
        "launch_type",
        "capacity_provider_strategy",
        "platform_version",
        "log_group",
        "log_stream_prefix",
        "profile",
        "image",
        "build",
    },
    "cloudrun": _ENV_COMMON | {"project", "region", "job", "container", "endpoint", "image", "build"},
}
_TASK_KEYS = {"help", "command", "env", "aliases", "timeout", "params", "confirm"}
_OVERRIDE_KEYS = {"command", "env", "timeout"}
_PARAM_KEYS = {"type", "help", "prompt", "default", "choices", "pattern", "confirm"}


class _Parser:
    def __init__(self, shown: str, base: Path, prefix: str) -> None:
        self.shown = shown
        self.base = base
        self.prefix = prefix

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.shown}: {self.prefix}{key}: {message}")

    def table(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, not {_type(value)}")
        return value

    def keys(self, data: dict[str, Any], key: str, allowed: set[str], why: str = "") -> None:
        for name in data:
            if name not in allowed:
                close = difflib.get_close_matches(name, sorted(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(allowed))}"
                raise self.fail(f"{key}.{name}" if key else name, f"unknown key{why}{hint}")

    def str_(self, data: dict[str, Any], key: str, name: str, required: str = "") -> str | None:
        value = data.get(name)
        if value is None:
            if required:
                raise self.fail(f"{key}.{name}", required)
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key}.{name}", f"must be a non-empty string, not {_type(value)}")
        return value

    def bool_(self, data: dict[str, Any], key: str, name: str) -> bool | None:
        value = data.get(name)
        if value is not None and not isinstance(value, bool):
            raise self.fail(f"{key}.{name}", f"must be true or false, not {_type(value)}")
        return value

    def strs(self, data: dict[str, Any], key: str, name: str) -> tuple[str, ...]:
        value = data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{key}.{name}", "must be a list of non-empty strings")
        return tuple(value)

    def env_table(self, data: dict[str, Any], key: str) -> Mapping[str, str]:
        value = self.table(data.get("env", {}), f"{key}.env")
        for name, item in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise self.fail(f"{key}.env.{name}", "is not a valid environment variable name")
            if not isinstance(item, str):
                raise self.fail(f"{key}.env.{name}", f"must be a string, not {_type(item)} (quote it)")
        return MappingProxyType(dict(value))

    def duration(self, data: dict[str, Any], key: str) -> float | None:
        value = data.get("timeout")
        if value is None:
            return None
        try:
            return parse_duration(str(value)) if isinstance(value, (str, int, float)) else parse_duration("")
        except ValueError as e:
            raise self.fail(f"{key}.timeout", str(e)) from None

    def config(self, data: dict[str, Any], path: Path) -> Config:
        self.keys(data, "", {"environments", "tasks"})
        tasks = {
            name: self.task(name, self.table(raw, f"tasks.{name}"))
            for name, raw in self.table(data.get("tasks", {}), "tasks").items()
        }
        self.check_aliases(tasks)
        envs: dict[str, EnvConfig] = {}
        for name, raw in self.table(data.get("environments", {}), "environments").items():
            envs[name] = self.environment(name, self.table(raw, f"environments.{name}"), tasks)
        if "local" not in envs:
            envs["local"] = LocalEnv(name="local", provider="local", source=self.shown, workdir=self.base, builtin=True)
        overridden = {t: tuple(e for e in envs if t in envs[e].task_overrides) for t in tasks}
        tasks = {name: replace(t, overridden_in=overridden[name]) for name, t in tasks.items()}
        return Config(path=path, environments=MappingProxyType(envs), tasks=MappingProxyType(tasks))

    def task(self, name: str, data: dict[str, Any]) -> TaskConfig:
        key = f"tasks.{name}"
        if not _NAME_RE.match(name):
            raise self.fail(key, "task names use lowercase letters, digits, - and _")
        self.keys(data, key, _TASK_KEYS)
        params = tuple(
            self.param(f"{key}.params.{p}", p, self.table(raw, f"{key}.params.{p}"))
            for p, raw in self.table(data.get("params", {}), f"{key}.params").items()
        )
        command = self.command(data, key)
        env = self.env_table(data, key)
        allowed = {p.name for p in params} | set(BUILTINS)
        self.check_placeholders(key, command, env, allowed)
        return TaskConfig(
            name=name,
            help=self.str_(data, key, "help") or "",
            command=command,
            env=env,
            aliases=self.strs(data, key, "aliases"),
            timeout_s=self.duration(data, key),
            params=params,
            confirm=bool(self.bool_(data, key, "confirm")),
        )

    def command(self, data: dict[str, Any], key: str) -> tuple[str, ...] | None:
        if "command" not in data:
            return None
        value = data["command"]
        if isinstance(value, str):
            raise self.fail(f"{key}.command", 'must be a list of strings (argv), e.g. ["python", "-m", "admin_task"]')
        if not value:
            raise self.fail(f"{key}.command", "must not be empty (leave it out to use the image's command)")
        return self.strs(data, key, "command")

    def param(self, key: str, name: str, data: dict[str, Any]) -> ParamSpec:
        if not _NAME_RE.match(name):
            raise self.fail(key, "parameter names use lowercase letters, digits, - and _")
        if name.replace("_", "-") in RUN_OPTIONS or name in BUILTINS:
            raise self.fail(key, f"{name!r} is reserved (an opsctl option or built-in placeholder); rename it")
        self.keys(data, key, _PARAM_KEYS)
        kind = data.get("type", "string")
        if kind not in PARAM_TYPES:
            raise self.fail(f"{key}.type", f"must be one of {', '.join(PARAM_TYPES)}, not {kind!r}")
        choices = self.strs(data, key, "choices")
        if kind == "choice" and not choices:
            raise self.fail(f"{key}.choices", 'required when type = "choice"')
        if choices and kind != "choice":
            raise self.fail(f"{key}.choices", 'only allowed with type = "choice"')
        pattern = self.str_(data, key, "pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as e:
                raise self.fail(f"{key}.pattern", f"invalid regular expression: {e}") from None
        confirm = bool(self.bool_(data, key, "confirm"))
        if confirm and kind != "secret":
            raise self.fail(f"{key}.confirm", 'only allowed with type = "secret" (asks twice when prompting)')
        spec = ParamSpec(
            name=name,
            type=kind,
            help=self.str_(data, key, "help") or "",
            prompt=self.str_(data, key, "prompt"),
            choices=choices,
            pattern=pattern,
            confirm=confirm,
        )
        default = data.get("default")
        if default is not None:
            if kind == "secret":
                raise self.fail(f"{key}.default", "a secret cannot have a default (it would live in the config)")
            from opsctl.params import validate  # params imports config: keep the cycle at call time

            try:
                default = validate(spec, str(default).lower() if isinstance(default, bool) else str(default))
            except UsageError as e:
                raise self.fail(f"{key}.default", str(e).split(": ", 1)[-1]) from None
            spec = replace(spec, default=default)
        return spec

    def check_placeholders(
        self, key: str, command: tuple[str, ...] | None, env: Mapping[str, str], allowed: set[str]
    ) -> None:
        items = [(f"{key}.command[{i}]", v) for i, v in enumerate(command or ())]
        items += [(f"{key}.env.{k}", v) for k, v in env.items()]
        for where, text in items:
            try:
                fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
            except ValueError as e:
                raise self.fail(where, f"bad placeholder in {text!r}: {e} (write {{{{ for a literal brace)") from None
            for name in fields:
                if name not in allowed:
                    raise self.fail(
                        where,
                        f"unknown placeholder {{{name}}}; use a parameter of this task or a built-in "
                        f"({', '.join('{' + b + '}' for b in BUILTINS)})",
                    )

    def check_aliases(self, tasks: dict[str, TaskConfig]) -> None:
        seen: dict[str, str] = {}
        for task in tasks.values():
            for alias in task.aliases:
                if alias in tasks or alias in seen:
                    other = alias if alias in tasks else seen[alias]
                    raise self.fail(f"tasks.{task.name}.aliases", f"{alias!r} is already used by task {other!r}")
                seen[alias] = task.name

    def environment(self, name: str, data: dict[str, Any], tasks: dict[str, TaskConfig]) -> EnvConfig:
        key = f"environments.{name}"
        if not _NAME_RE.match(name):
            raise self.fail(key, "environment names use lowercase letters, digits, - and _")
        kind = data.get("provider")
        if kind is None:
            raise self.fail(f"{key}.provider", f"required: one of {', '.join(PROVIDER_KINDS)}")
        if kind not in PROVIDER_KINDS:
            raise self.fail(f"{key}.provider", f"must be one of {', '.join(PROVIDER_KINDS)}, not {kind!r}")
        self.keys(data, key, _ENV_KEYS[kind], why=f' for provider = "{kind}"')
        overrides: dict[str, TaskOverride] = {}
        for task_name, raw in self.table(data.get("tasks", {}), f"{key}.tasks").items():
            okey = f"{key}.tasks.{task_name}"
            if task_name not in tasks:
                raise self.fail(okey, f"overrides an unknown task{_suggest(task_name, tasks)}")
            raw = self.table(raw, okey)
            self.keys(raw, okey, _OVERRIDE_KEYS)
            override = TaskOverride(
                command=self.command(raw, okey), env=self.env_table(raw, okey), timeout_s=self.duration(raw, okey)
            )
            allowed = {p.name for p in tasks[task_name].params} | set(BUILTINS)
            self.check_placeholders(okey, override.command, override.env, allowed)
            overrides[task_name] = override
        env_vars = self.env_table(data, key)
        self.check_placeholders(key, None, env_vars, set(BUILTINS))
        common: dict[str, Any] = {
            "name": name,
            "provider": kind,
            "source": self.shown,
            "protected": bool(self.bool_(data, key, "protected")),
            "allowed_refs": self.strs(data, key, "allowed_refs"),
            "env": env_vars,
            "task_overrides": MappingProxyType(overrides),
        }
        if kind == "local":
            workdir = Path(self.str_(data, key, "workdir") or ".")
            return LocalEnv(**common, workdir=workdir if workdir.is_absolute() else self.base / workdir)
        if kind == "ecs":
            return self.ecs(key, data, common)
        return CloudRunEnv(
            **common,
            project=self.str_(data, key, "project", required='required when provider = "cloudrun"') or "",
            region=self.str_(data, key, "region", required='required when provider = "cloudrun"') or "",
            job=self.str_(data, key, "job", required='required when provider = "cloudrun"') or "",
            container=self.str_(data, key, "container"),
            endpoint=self.str_(data, key, "endpoint"),
            image=self.str_(data, key, "image"),
            build=self.build(data, key),
        )

    def build(self, data: dict[str, Any], key: str) -> BuildSettings:
        raw = self.table(data.get("build", {}), f"{key}.build")
        self.keys(raw, f"{key}.build", {"context", "dockerfile", "target"})
        return BuildSettings(
            context=self.str_(raw, f"{key}.build", "context") or ".",
            dockerfile=self.str_(raw, f"{key}.build", "dockerfile"),
            target=self.str_(raw, f"{key}.build", "target") or "admin",
        )

    def ecs(self, key: str, data: dict[str, Any], common: dict[str, Any]) -> EcsEnv:
        service = self.str_(data, key, "service")
        task_definition = self.str_(data, key, "task_definition")
        if not service and not task_definition:
            raise self.fail(f"{key}.task_definition", "required when no service is set (or set service)")
        subnets = self.strs(data, key, "subnets")
        if not service and not subnets:
            raise self.fail(f"{key}.subnets", "required when no service is set (Fargate tasks need a network)")
        if "launch_type" in data and "capacity_provider_strategy" in data:
            raise self.fail(f"{key}.capacity_provider_strategy", "cannot be combined with launch_type; pick one")
        launch_type = self.str_(data, key, "launch_type")
        if launch_type is not None and launch_type not in ("FARGATE", "EC2", "EXTERNAL"):
            raise self.fail(f"{key}.launch_type", f"must be FARGATE, EC2 or EXTERNAL, not {launch_type!r}")
        strategy = []
        raw_strategy = data.get("capacity_provider_strategy", [])
        if not isinstance(raw_strategy, list):
            raise self.fail(f"{key}.capacity_provider_strategy", "must be a list of tables")
        for i, item in enumerate(raw_strategy):
            ikey = f"{key}.capacity_provider_strategy[{i}]"
            item = self.table(item, ikey)
            self.keys(item, ikey, {"capacity_provider", "weight", "base"})
            weight, base = item.get("weight", 1), item.get("base", 0)
            if not isinstance(weight, int) or not 0 <= weight <= 1000:
                raise self.fail(f"{ikey}.weight", "must be an integer from 0 to 1000")
            if not isinstance(base, int) or not 0 <= base <= 100000:
                raise self.fail(f"{ikey}.base", "must be an integer from 0 to 100000")
            provider = self.str_(item, ikey, "capacity_provider", required="required")
            strategy.append(CapacityProviderItem(capacity_provider=provider or "", weight=weight, base=base))
        if len(subnets) > 16:
            raise self.fail(f"{key}.subnets", "ECS accepts at most 16 subnets")
        security_groups = self.strs(data, key, "security_groups")
        if len(security_groups) > 5:
            raise self.fail(f"{key}.security_groups", "ECS accepts at most 5 security groups")
        return EcsEnv(
            **common,
            region=self.str_(data, key, "region"),
            cluster=self.str_(data, key, "cluster", required='required when provider = "ecs"') or "",
            service=service,
            task_definition=task_definition,
            container=self.str_(data, key, "container"),
            subnets=subnets,
            security_groups=security_groups,
            assign_public_ip=self.bool_(data, key, "assign_public_ip"),
            launch_type=launch_type,
            capacity_provider_strategy=tuple(strategy),
            platform_version=self.str_(data, key, "platform_version"),
            log_group=self.str_(data, key, "log_group"),
            log_stream_prefix=self.str_(data, key, "log_stream_prefix"),
            profile=self.str_(data, key, "profile"),
            image=self.str_(data, key, "image"),
            build=self.build(data, key),
        )


def _type(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)
