"""Parsing `[environments.*]`: the fields every environment has, then each provider's own."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

from opsctl.config.fields import Fields
from opsctl.config.schema import (
    PROVIDER_KINDS,
    BuildSettings,
    CapacityProviderItem,
    CloudRunEnv,
    EcsEnv,
    EnvConfig,
    LocalEnv,
    TaskConfig,
    TaskOverride,
    suggest,
)
from opsctl.config.tasks import NAME_RE, check_placeholders, placeholders, secret_names

_ENV_COMMON = {"provider", "protected", "allowed_refs", "env", "tasks"}
_BUILD = {"image", "build"}
_ENV_KEYS = {
    "local": _ENV_COMMON | {"workdir"},
    "ecs": _ENV_COMMON
    | _BUILD
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
    },
    "cloudrun": _ENV_COMMON | _BUILD | {"project", "region", "job", "container", "endpoint"},
}
_OVERRIDE_KEYS = {"command", "env", "timeout"}
# What says where an environment runs (every provider's own keys, and `provider`): the keys `init --force`
# replaces. The others (protected, allowed_refs, env, task overrides, image, build) are the operator's choices.
TARGET_KEYS = frozenset({"provider"}.union(*(keys - _ENV_COMMON - _BUILD for keys in _ENV_KEYS.values())))
_CLOUDRUN_REQUIRED = 'required when provider = "cloudrun"'


def parse_environment(
    f: Fields, name: str, data: dict[str, Any], tasks: dict[str, TaskConfig], base: Path
) -> EnvConfig:
    """One `[environments.NAME]`; relative paths are taken from `base`, the config file's folder."""
    key = f"environments.{name}"
    if not NAME_RE.match(name):
        raise f.fail(key, "environment names use lowercase letters, digits, - and _")
    kind = data.get("provider")
    if kind is None:
        raise f.fail(f"{key}.provider", f"required: one of {', '.join(PROVIDER_KINDS)}")
    if kind not in PROVIDER_KINDS:
        raise f.fail(f"{key}.provider", f"must be one of {', '.join(PROVIDER_KINDS)}, not {kind!r}")
    f.keys(data, key, _ENV_KEYS[kind], why=f' for provider = "{kind}"')
    overrides = _task_overrides(f, key, data, tasks)
    env_vars = f.env_table(data, key)
    check_placeholders(f, key, None, env_vars, placeholders())
    common: dict[str, Any] = {
        "name": name,
        "provider": kind,
        "source": f.shown,
        "protected": bool(f.bool_(data, key, "protected")),
        "allowed_refs": f.strs(data, key, "allowed_refs"),
        "env": env_vars,
        "task_overrides": MappingProxyType(overrides),
    }
    if kind == "local":
        workdir = Path(f.str_(data, key, "workdir") or ".")
        return LocalEnv(**common, workdir=workdir if workdir.is_absolute() else base / workdir)
    if kind == "ecs":
        return _ecs(f, key, data, common)
    return _cloudrun(f, key, data, common)


def _task_overrides(f: Fields, key: str, data: dict[str, Any], tasks: dict[str, TaskConfig]) -> dict[str, TaskOverride]:
    """`[environments.X.tasks.T]`: replacements for task T's command, env and timeout in X."""
    overrides: dict[str, TaskOverride] = {}
    for task_name, raw in f.table(data.get("tasks", {}), f"{key}.tasks").items():
        okey = f"{key}.tasks.{task_name}"
        if task_name not in tasks:
            raise f.fail(okey, f"overrides an unknown task{suggest(task_name, tasks)}")
        raw = f.table(raw, okey)
        f.keys(raw, okey, _OVERRIDE_KEYS)
        override = TaskOverride(
            command=f.command(raw, okey), env=f.env_table(raw, okey), timeout_s=f.duration(raw, okey)
        )
        params = tasks[task_name].params
        check_placeholders(f, okey, override.command, override.env, placeholders(params), secret_names(params))
        overrides[task_name] = override
    return overrides


def _cloudrun(f: Fields, key: str, data: dict[str, Any], common: dict[str, Any]) -> CloudRunEnv:
    return CloudRunEnv(
        **common,
        project=f.str_(data, key, "project", required=_CLOUDRUN_REQUIRED) or "",
        region=f.str_(data, key, "region", required=_CLOUDRUN_REQUIRED) or "",
        job=f.str_(data, key, "job", required=_CLOUDRUN_REQUIRED) or "",
        container=f.str_(data, key, "container"),
        endpoint=f.str_(data, key, "endpoint"),
        image=f.str_(data, key, "image"),
        build=_build(f, data, key),
    )


def _build(f: Fields, data: dict[str, Any], key: str) -> BuildSettings:
    raw = f.table(data.get("build", {}), f"{key}.build")
    f.keys(raw, f"{key}.build", {"context", "dockerfile", "target"})
    return BuildSettings(
        context=f.str_(raw, f"{key}.build", "context") or ".",
        dockerfile=f.str_(raw, f"{key}.build", "dockerfile"),
        target=f.str_(raw, f"{key}.build", "target") or "admin",
    )


def _ecs(f: Fields, key: str, data: dict[str, Any], common: dict[str, Any]) -> EcsEnv:
    service = f.str_(data, key, "service")
    task_definition = f.str_(data, key, "task_definition")
    if not service and not task_definition:
        raise f.fail(f"{key}.task_definition", "required when no service is set (or set service)")
    subnets = f.strs(data, key, "subnets")
    if not service and not subnets:
        raise f.fail(f"{key}.subnets", "required when no service is set (Fargate tasks need a network)")
    if "launch_type" in data and "capacity_provider_strategy" in data:
        raise f.fail(f"{key}.capacity_provider_strategy", "cannot be combined with launch_type; pick one")
    launch_type = f.str_(data, key, "launch_type")
    if launch_type is not None and launch_type not in ("FARGATE", "EC2", "EXTERNAL"):
        raise f.fail(f"{key}.launch_type", f"must be FARGATE, EC2 or EXTERNAL, not {launch_type!r}")
    strategy = _capacity_provider_strategy(f, key, data)
    if len(subnets) > 16:
        raise f.fail(f"{key}.subnets", "ECS accepts at most 16 subnets")
    security_groups = f.strs(data, key, "security_groups")
    if len(security_groups) > 5:
        raise f.fail(f"{key}.security_groups", "ECS accepts at most 5 security groups")
    return EcsEnv(
        **common,
        region=f.str_(data, key, "region"),
        cluster=f.str_(data, key, "cluster", required='required when provider = "ecs"') or "",
        service=service,
        task_definition=task_definition,
        container=f.str_(data, key, "container"),
        subnets=subnets,
        security_groups=security_groups,
        assign_public_ip=f.bool_(data, key, "assign_public_ip"),
        launch_type=launch_type,
        capacity_provider_strategy=strategy,
        platform_version=f.str_(data, key, "platform_version"),
        log_group=f.str_(data, key, "log_group"),
        log_stream_prefix=f.str_(data, key, "log_stream_prefix"),
        profile=f.str_(data, key, "profile"),
        image=f.str_(data, key, "image"),
        build=_build(f, data, key),
    )


def _capacity_provider_strategy(f: Fields, key: str, data: dict[str, Any]) -> tuple[CapacityProviderItem, ...]:
    raw_strategy = data.get("capacity_provider_strategy", [])
    if not isinstance(raw_strategy, list):
        raise f.fail(f"{key}.capacity_provider_strategy", "must be a list of tables")
    strategy = []
    for i, item in enumerate(raw_strategy):
        ikey = f"{key}.capacity_provider_strategy[{i}]"
        item = f.table(item, ikey)
        f.keys(item, ikey, {"capacity_provider", "weight", "base"})
        weight, base = item.get("weight", 1), item.get("base", 0)
        if not isinstance(weight, int) or not 0 <= weight <= 1000:
            raise f.fail(f"{ikey}.weight", "must be an integer from 0 to 1000")
        if not isinstance(base, int) or not 0 <= base <= 100000:
            raise f.fail(f"{ikey}.base", "must be an integer from 0 to 100000")
        provider = f.str_(item, ikey, "capacity_provider", required="required")
        strategy.append(CapacityProviderItem(capacity_provider=provider or "", weight=weight, base=base))
    return tuple(strategy)
