"""ECS for `opsctl doctor`, `history`, `build` and `init`: preflight checks, recent runs, ECR login, new
revisions, reading a live service.

Each takes the environment's clients and its target resolver, never the provider: no import circle.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from opsctl.config import TaskConfig
from opsctl.errors import OpsctlError, TemporaryFailure, UsageError
from opsctl.model import Check, Discovery, RunInfo
from opsctl.permissions import ECS_ACTIONS_FOR
from opsctl.providers.ecs.clients import EcsClients
from opsctl.providers.ecs.launch import started_by
from opsctl.providers.ecs.resolve import Resolver, Target
from opsctl.providers.ecs.status import copies_info, copy_of, info_of, launched_with, members

_ECR = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")
# What RegisterTaskDefinition accepts back from DescribeTaskDefinition (the rest is read-only).
_REGISTER_FIELDS = (
    "family", "taskRoleArn", "executionRoleArn", "networkMode", "volumes", "placementConstraints",
    "requiresCompatibilities", "cpu", "memory", "pidMode", "ipcMode", "proxyConfiguration",
    "inferenceAccelerators", "ephemeralStorage", "runtimePlatform", "enableFaultInjection",
)  # fmt: skip


def checks(clients: EcsClients, resolver: Resolver, tasks: list[TaskConfig]) -> list[Check]:
    """Credentials and cluster, the resolved target, the log group, and what each task overrides."""
    env = clients.env
    credentials = _credentials_check(clients)
    if not credentials.ok:
        return [credentials]
    cluster = f"ECS cluster {env.cluster} ({clients.region})"
    try:
        resp = clients.call("ecs", "DescribeClusters", lambda: clients.ecs.describe_clusters(clusters=[env.cluster]))
    except TemporaryFailure:
        raise  # not a finding: `opsctl doctor` retries the checks
    except OpsctlError as e:  # credentials or permissions: nothing else can be checked
        return [credentials, Check(cluster, False, str(e))]
    active = [c for c in resp.get("clusters", []) if c.get("status") == "ACTIVE"]
    if not active:
        fix = f"check environments.{env.name}.cluster, the region and the profile (aws ecs list-clusters)"
        return [credentials, Check(cluster, False, "not found or not ACTIVE", fix)]
    results = [credentials, Check(cluster, True, f"ACTIVE, {active[0].get('runningTasksCount', 0)} running task(s)")]
    try:
        target = resolver.target()
    except TemporaryFailure:
        raise  # not a finding: `opsctl doctor` retries the checks
    except OpsctlError as e:
        detail, _, fix = str(e).partition(" — ")
        if not fix and env.container and "container" in detail:
            fix = f"set environments.{env.name}.container to one of the containers listed, or leave it out"
        return [*results, Check("task definition, container and network", False, detail, fix)]
    launch = target.launch_type or ", ".join(i.capacity_provider for i in target.capacity_provider_strategy)
    via = f" (from service {env.service})" if env.service and not env.task_definition else ""
    results.append(
        Check(
            "task definition, container and network",
            True,
            f"{target.revision}{via}, container {target.container}, {launch or 'cluster default'}, "
            f"{len(target.subnets)} subnet(s), {len(target.security_groups)} security group(s)",
        )
    )
    results.append(_logs_check(clients, target))
    for task in tasks:
        name = f"task {task.name}: overrides"
        clash = sorted(set(task.env) & set(target.secrets))
        if clash:
            detail = f"sets {', '.join(clash)}, which the container gets from secrets: ECS cannot override a secret"
            fix = "rename the variable, or register a task definition revision without that secret"
            results.append(Check(name, False, detail, fix))
        else:
            what = f"{'command and ' if task.command else ''}{len(task.env)} env var(s)"
            results.append(Check(name, True, f"{what} on container {target.container}"))
    actions = sorted({a for key, acts in ECS_ACTIONS_FOR.items() if key != "register_task_definition" for a in acts})
    results.append(Check("IAM permissions opsctl uses", True, ", ".join(actions)))
    return results


def _logs_check(clients: EcsClients, target: Target) -> Check:
    logs = target.logs
    if logs is None:
        fix = "add an awslogs logConfiguration to the container, or set log_group and log_stream_prefix"
        return Check("CloudWatch logs", False, "; ".join(target.warnings), fix)
    client = clients.logs_client(logs.region)
    try:
        resp = clients.call(
            "logs", "DescribeLogGroups", lambda: client.describe_log_groups(logGroupNamePrefix=logs.group, limit=50)
        )
    except TemporaryFailure:
        raise  # not a finding: `opsctl doctor` retries the checks
    except OpsctlError as e:
        return Check(f"CloudWatch log group {logs.group}", False, str(e))
    if not any(g.get("logGroupName") == logs.group for g in resp.get("logGroups", [])):
        fix = f"create it (aws logs create-log-group --log-group-name {logs.group}) or fix awslogs-group"
        return Check(f"CloudWatch log group {logs.group}", False, f"does not exist in {logs.region}", fix)
    detail = f"streams {logs.prefix}/{logs.container}/TASK-ID"
    if logs.mode == "blocking":
        return Check(f"CloudWatch log group {logs.group}", True, detail)
    # Since 25 June 2025 ECS defaults awslogs to non-blocking: lines are dropped when the buffer fills, and
    # lines over 16 KB are split (ECS developer guide, awslogs; cloud-apis.md §11).
    mode = f"mode {logs.mode!r}" if logs.mode else "no mode set (non-blocking, ECS's default since June 2025)"
    return Check(
        f"CloudWatch log group {logs.group}",
        True,
        f"{detail}; awslogs {mode}: under pressure the driver drops lines, and splits lines over 16 KB",
        'set "mode": "blocking" in the container\'s logConfiguration options (the ECS module in infra/terraform '
        "does) and register a new task definition revision",
        warn=True,
    )


def _credentials_check(clients: EcsClients) -> Check:
    """Who the credentials are (STS GetCallerIdentity, which needs no permission): the first row of doctor."""
    try:
        sts: Any = clients.client_for("sts", clients.region)
        who = clients.call("sts", "GetCallerIdentity", lambda: sts.get_caller_identity())
    except TemporaryFailure:
        raise  # not a finding: `opsctl doctor` retries the checks
    except OpsctlError as e:
        detail, _, fix = str(e).partition(" — ")
        return Check("AWS credentials", False, detail, fix)
    return Check("AWS credentials", True, f"{who['Arn']} (account {who['Account']})")


def recent_runs(clients: EcsClients, resolver: Resolver, env: str, limit: int) -> list[RunInfo]:
    """opsctl tasks of this env that ECS still lists (stopped ones for about an hour), newest first."""
    arns = [*clients.task_arns(desired="RUNNING"), *clients.task_arns(desired="STOPPED")]
    prefix = started_by(env, "")
    ours = [t for t in clients.describe(arns) if (t.get("startedBy") or "").startswith(prefix)]
    ours.sort(key=lambda t: str(t.get("startedAt") or t.get("createdAt") or ""), reverse=True)
    # The copies of a fanned-out run are one row, placed where its newest copy is.
    runs: dict[str, list[Any]] = {}
    for task in ours:
        copy = copy_of(task)
        key = (launched_with(task, "OPSCTL_RUN_ID") or task["taskArn"]) if copy else task["taskArn"]
        runs.setdefault(key, []).append(task)
    rows = []
    for key, tasks in list(runs.items())[:limit]:
        copy = copy_of(tasks[0])
        if copy is None:
            rows.append(info_of(tasks[0], resolver.run_ref(tasks[0]["taskArn"])))
        else:
            rows.append(copies_info(members(tasks), copy[1], resolver.copies_ref(key)))
    return rows


def registry_login(clients: EcsClients, image: str) -> tuple[str, str]:
    """Docker credentials for an ECR repository (GetAuthorizationToken in the repository's region)."""
    match = _ECR.match(image)
    if not match:
        raise UsageError(
            f"{image} is not an Amazon ECR repository (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME); opsctl logs in "
            "to ECR only — log in to that registry with docker login, or push to ECR"
        )
    account, region = match.groups()
    ecr: Any = clients.client_for("ecr", region)
    resp = clients.call("ecr", "GetAuthorizationToken", lambda: ecr.get_authorization_token(registryIds=[account]))
    token = base64.b64decode(resp["authorizationData"][0]["authorizationToken"]).decode()
    user, _, password = token.partition(":")
    return user, password


def set_image(clients: EcsClients, resolver: Resolver, image: str) -> str:
    """Register a revision of the task definition with the overridden container on `image`."""
    target = resolver.target()
    resp = clients.call(
        "ecs",
        "DescribeTaskDefinition",
        lambda: clients.ecs.describe_task_definition(taskDefinition=target.task_definition, include=["TAGS"]),
    )
    td: dict[str, Any] = dict(resp["taskDefinition"])
    request: dict[str, Any] = {k: td[k] for k in _REGISTER_FIELDS if td.get(k) is not None}
    request["containerDefinitions"] = [
        {**c, "image": image} if c.get("name") == target.container else c for c in td.get("containerDefinitions", [])
    ]
    if resp.get("tags"):
        request["tags"] = resp["tags"]
    new = clients.call("ecs", "RegisterTaskDefinition", lambda: clients.ecs.register_task_definition(**request))
    revision = str(new["taskDefinition"]["taskDefinitionArn"]).rsplit("/", 1)[-1]
    resolver.forget()
    env = clients.env
    message = f"registered task definition {revision}: container {target.container} now runs {image}"
    pinned = env.task_definition and ":" in env.task_definition.rsplit("/", 1)[-1]
    if not env.task_definition or pinned:
        uses = f"service {env.service}'s" if not env.task_definition else "the pinned"
        message += (
            f"; note: opsctl run {env.name} still uses {uses} revision {target.revision} — set "
            f'task_definition = "{td.get("family")}" in environments.{env.name} to run the newest revision'
        )
    return message


def discover(clients: EcsClients, resolver: Resolver) -> Discovery:
    """The environment `opsctl init` writes for the service: resolved as a run would resolve it (DescribeServices
    + DescribeTaskDefinition), so what init reports is what `opsctl run` will use."""
    env = clients.env
    target = resolver.target()
    settings = [("provider", "ecs"), ("region", clients.region), ("cluster", env.cluster)]
    settings += [("service", env.service or ""), ("container", target.container)]
    if env.profile:
        settings.append(("profile", env.profile))
    launch = target.launch_type or ", ".join(i.capacity_provider for i in target.capacity_provider_strategy)
    platform = f", platform {target.platform_version}" if target.platform_version else ""
    facts = [
        f"ECS service {env.cluster}/{env.service} in {clients.region}",
        f"task definition {target.revision} (each run uses the service's current revision)",
        f"container {target.container} (its command and env are what a task overrides)",
        f"launch {launch or 'cluster default'}{platform}",
    ]
    if target.subnets:
        public = {"ENABLED": "on", "DISABLED": "off"}.get(target.assign_public_ip or "", "default")
        facts.append(
            f"network {len(target.subnets)} subnet(s), {len(target.security_groups)} security group(s), "
            f"public IP {public} (copied from the service at each run)"
        )
    if target.logs is not None:
        logs = target.logs
        facts.append(f"logs CloudWatch {logs.group} ({logs.region}), streams {logs.prefix}/{logs.container}/TASK-ID")
    return Discovery(settings=tuple(settings), facts=tuple(facts), warnings=target.warnings)
