"""From an `ecs` environment to a concrete RunTask target (service + task definition), and its console links."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from opsctl.config import CapacityProviderItem, EcsEnv
from opsctl.errors import ConfigError, LaunchError, NotFound
from opsctl.model import RunRef
from opsctl.providers.ecs.clients import EcsClients
from opsctl.providers.ecs.errors import error_code, translate

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import ContainerDefinitionOutputTypeDef, ServiceTypeDef


@dataclass(frozen=True, slots=True)
class LogTarget:
    """Where the awslogs driver writes the overridden container's output."""

    group: str
    prefix: str
    container: str
    region: str
    mode: str | None = None  # the awslogs `mode` option; unset means non-blocking (ECS's default since June 2025)

    def stream(self, task_id: str) -> str:
        """The awslogs stream of one task: `prefix/container/task-id`."""
        return f"{self.prefix}/{self.container}/{task_id}"


@dataclass(frozen=True, slots=True)
class Target:
    """Everything RunTask needs that does not depend on the run."""

    cluster: str
    region: str
    task_definition: str  # full ARN, revision included: a retried launch sends identical parameters
    container: str
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: str | None = None  # ENABLED / DISABLED
    launch_type: str | None = None
    capacity_provider_strategy: tuple[CapacityProviderItem, ...] = ()
    platform_version: str | None = None
    logs: LogTarget | None = None
    secrets: tuple[str, ...] = ()  # env names the container gets from `secrets`: RunTask cannot override them
    warnings: tuple[str, ...] = ()

    @property
    def revision(self) -> str:
        """`family:revision` of the task definition."""
        return self.task_definition.rsplit("/", 1)[-1]


def resolve(
    env: EcsEnv,
    region: str,
    describe_service: Callable[[], ServiceTypeDef] | None,
    describe_task_definition: Callable[[str], dict[str, Any]],
) -> Target:
    """Combine the config with the service (if any) and the task definition into a Target."""
    service = describe_service() if describe_service is not None else None
    task_definition = env.task_definition or (service or {}).get("taskDefinition")
    if not task_definition:
        raise ConfigError(
            f"{env.source}: environments.{env.name}.task_definition: required "
            f"(service {env.service!r} has no task definition)"
        )
    td = describe_task_definition(task_definition)
    arn, status = str(td.get("taskDefinitionArn", task_definition)), str(td.get("status", "ACTIVE"))
    shown = arn.rsplit("/", 1)[-1]
    if status != "ACTIVE":
        raise NotFound(
            f"task definition {shown} is {status} (deregistered) and cannot run new tasks — point "
            f"{env.source}: environments.{env.name}.task_definition (or the service) at an active revision"
        )
    definitions = td.get("containerDefinitions") or []
    names = tuple(str(c.get("name", "")) for c in definitions)
    container = _container(env, shown, definitions, names)
    definition = next(c for c in definitions if c.get("name") == container)
    network = _network(env, service, td)
    launch_type, strategy, platform = _placement(env, service)
    logs, warning = _logs(env, region, shown, container, definition)
    return Target(
        cluster=env.cluster,
        region=region,
        task_definition=arn,
        container=container,
        subnets=network[0],
        security_groups=network[1],
        assign_public_ip=network[2],
        launch_type=launch_type,
        capacity_provider_strategy=strategy,
        platform_version=platform,
        logs=logs,
        secrets=tuple(str(item.get("name")) for item in definition.get("secrets") or ()),
        warnings=(warning,) if warning else (),
    )


def named_target(env: EcsEnv, region: str) -> Target | None:
    """The Target as the config alone names it (task definition, container, subnets, security groups, no
    service), for a dry run with no credentials or network; None when AWS must fill something in."""
    if env.service or not (env.task_definition and env.container and env.subnets and env.security_groups):
        return None
    launch_type, strategy, platform = _placement(env, None)
    public = None if env.assign_public_ip is None else ("ENABLED" if env.assign_public_ip else "DISABLED")
    return Target(
        cluster=env.cluster,
        region=region,
        task_definition=env.task_definition,
        container=env.container,
        subnets=env.subnets,
        security_groups=env.security_groups,
        assign_public_ip=public,
        launch_type=launch_type,
        capacity_provider_strategy=strategy,
        platform_version=platform,
    )


def _container(env: EcsEnv, shown: str, definitions: list[Any], names: tuple[str, ...]) -> str:
    if env.container:
        if env.container not in names:
            raise ConfigError(
                f"{env.source}: environments.{env.name}.container: no container {env.container!r} "
                f"in task definition {shown} (its containers: {', '.join(names) or 'none'})"
            )
        return env.container
    essential = [str(c.get("name")) for c in definitions if c.get("essential", True)]
    if not (essential or names):
        raise LaunchError(f"task definition {shown} has no containers")
    return essential[0] if essential else names[0]


def _network(
    env: EcsEnv, service: ServiceTypeDef | None, td: dict[str, Any]
) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    public = None if env.assign_public_ip is None else ("ENABLED" if env.assign_public_ip else "DISABLED")
    if env.subnets:
        return env.subnets, env.security_groups, public
    empty: dict[str, Any] = {}
    copied = ((service or empty).get("networkConfiguration") or empty).get("awsvpcConfiguration") or empty
    subnets: tuple[str, ...] = tuple(copied.get("subnets") or ())
    if not subnets and td.get("networkMode") == "awsvpc":
        where = f"service {env.service!r} has no awsvpc network configuration to copy" if env.service else "no service"
        raise ConfigError(
            f"{env.source}: environments.{env.name}.subnets: required ({where}; Fargate tasks need "
            "subnets and security groups)"
        )
    groups = env.security_groups or tuple(copied.get("securityGroups") or ())
    return subnets, groups, public or copied.get("assignPublicIp")


def _placement(
    env: EcsEnv, service: ServiceTypeDef | None
) -> tuple[str | None, tuple[CapacityProviderItem, ...], str | None]:
    if env.launch_type or env.capacity_provider_strategy:
        return env.launch_type, env.capacity_provider_strategy, env.platform_version
    svc = service or {}
    platform = env.platform_version or svc.get("platformVersion")
    strategy = tuple(
        CapacityProviderItem(capacity_provider=i["capacityProvider"], weight=i.get("weight", 1), base=i.get("base", 0))
        for i in svc.get("capacityProviderStrategy") or ()
    )
    if strategy:
        return None, strategy, platform
    # The provider is for Fargate: without a launch type anywhere, say so rather than rely on the
    # cluster's default strategy (which may be EC2).
    return svc.get("launchType") or "FARGATE", (), platform


def _logs(
    env: EcsEnv, region: str, shown: str, container: str, definition: ContainerDefinitionOutputTypeDef
) -> tuple[LogTarget | None, str | None]:
    config: dict[str, Any] = dict(definition.get("logConfiguration") or {})
    driver = config.get("logDriver")
    options = (config.get("options") or {}) if driver == "awslogs" else {}
    group = env.log_group or options.get("awslogs-group")
    prefix = env.log_stream_prefix or options.get("awslogs-stream-prefix")
    if group and prefix:
        region = options.get("awslogs-region") or region
        return LogTarget(group=group, prefix=prefix, container=container, region=region, mode=options.get("mode")), None
    if driver and driver != "awslogs" and not group:
        why = f"logs with the {driver!r} driver, not awslogs"
    elif group:
        why = f"has no awslogs-stream-prefix (set log_stream_prefix in environments.{env.name})"
    else:
        why = "has no awslogs log configuration"
    return None, (
        f"container {container!r} in task definition {shown} {why}: its output will not be "
        "streamed; the exit code and stop reason are still reported"
    )


def task_id(task_arn: str) -> str:
    """The last segment of a task ARN (also the id ECS shows)."""
    return task_arn.rsplit("/", 1)[-1]


def task_console_url(region: str, cluster: str, task_arn: str) -> str:
    """The ECS console page of a task."""
    return (
        f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{quote(cluster, safe='')}/tasks/"
        f"{task_id(task_arn)}/configuration?region={region}"
    )


def tasks_console_url(region: str, cluster: str) -> str:
    """The ECS console page of a cluster's tasks (a fanned-out run is several of them)."""
    return f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{quote(cluster, safe='')}/tasks?region={region}"


def _cw(text: str) -> str:
    # The CloudWatch console double-encodes path parts and writes % as $.
    return quote(quote(text, safe=""), safe="").replace("%", "$")


def log_group_console_url(logs: LogTarget) -> str:
    """The CloudWatch console page of the log group (every copy's stream is in it)."""
    return (
        f"https://{logs.region}.console.aws.amazon.com/cloudwatch/home?region={logs.region}#logsV2:log-groups/"
        f"log-group/{_cw(logs.group)}"
    )


def log_console_url(logs: LogTarget, task_arn: str) -> str:
    """The CloudWatch console page of a task's log stream."""
    return (
        f"https://{logs.region}.console.aws.amazon.com/cloudwatch/home?region={logs.region}#logsV2:log-groups/"
        f"log-group/{_cw(logs.group)}/log-events/{_cw(logs.stream(task_id(task_arn)))}"
    )


class Resolver:
    """The environment's Target, resolved once (DescribeServices + DescribeTaskDefinition) and cached."""

    def __init__(self, clients: EcsClients) -> None:
        self.clients = clients
        self.cached: Target | None = None

    def target(self) -> Target:
        """The resolved target, cached until `forget`."""
        if self.cached is None:
            env = self.clients.env
            service = self._describe_service if env.service else None
            self.cached = resolve(env, self.clients.region, service, self._describe_task_definition)
        return self.cached

    def forget(self) -> None:
        """Resolve again on next use (after registering a revision)."""
        self.cached = None

    def run_ref(self, task_arn: str) -> RunRef:
        """A RunRef with console links for a task (the log link only once the target is known)."""
        logs = self.cached.logs if self.cached else None
        return RunRef(
            id=task_arn,
            console_url=task_console_url(self.clients.region, self.clients.env.cluster, task_arn),
            log_url=log_console_url(logs, task_arn) if logs else None,
        )

    def copies_ref(self, run_id: str) -> RunRef:
        """The RunRef of a fanned-out run: its run id, which `wait`, `logs` and `stop` accept."""
        logs = self.cached.logs if self.cached else None
        return RunRef(
            id=run_id,
            console_url=tasks_console_url(self.clients.region, self.clients.env.cluster),
            log_url=log_group_console_url(logs) if logs else None,
        )

    def _describe_service(self) -> ServiceTypeDef:
        clients, env = self.clients, self.clients.env
        name = env.service or ""
        resp = clients.call(
            "ecs", "DescribeServices", lambda: clients.ecs.describe_services(cluster=env.cluster, services=[name])
        )
        found = [s for s in resp.get("services", []) if s.get("status") != "INACTIVE"]
        if not found:
            raise NotFound(
                f"ECS service {name!r} not found in cluster {env.cluster!r} ({clients.region}) — check "
                f"{clients.ctx.key('service')} (aws ecs list-services --cluster {env.cluster})"
            )
        return found[0]

    def _describe_task_definition(self, name: str) -> dict[str, Any]:
        clients = self.clients
        try:
            resp = clients.ecs.describe_task_definition(taskDefinition=name)
        except ClientError as exc:
            if error_code(exc) != "ClientException":
                raise translate(exc, "ecs", "DescribeTaskDefinition", clients.ctx) or exc from exc
            family = name.rsplit("/", 1)[-1].split(":")[0]
            raise NotFound(
                f"ECS task definition {name!r} not found in {clients.region} — check "
                f"{clients.ctx.key('task_definition')} or the service (aws ecs list-task-definitions "
                f"--family-prefix {family})"
            ) from exc
        except Exception as exc:
            raise translate(exc, "ecs", "DescribeTaskDefinition", clients.ctx) or exc from exc
        return dict(resp["taskDefinition"])
