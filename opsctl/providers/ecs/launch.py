"""Launching on ECS: a RunSpec → the RunTask request (idempotent by clientToken), sent once."""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from opsctl.errors import LaunchError, NotStarted, OpsctlError, TemporaryFailure
from opsctl.fanout import copy_env
from opsctl.model import RunSpec
from opsctl.providers.ecs.clients import EcsClients
from opsctl.providers.ecs.errors import error_code, error_message, translate
from opsctl.providers.ecs.resolve import Target
from opsctl.redact import Redactor

OVERRIDE_LIMIT = 8192  # RunTask: all overrides, JSON formatting included
STARTED_BY_MAX = 128
CLIENT_TOKEN_MAX = 64
TAG_VALUE_MAX = 256
# RunTask failures after which nothing started and a new launch may succeed: no capacity (Fargate: "Capacity is
# unavailable at this time…"), no ENI/CPU/memory on the instances, or a disconnected agent (AWS developer guide,
# api_failures_messages). MISSING and ATTRIBUTE name a configuration problem: launching again would not help.
RETRYABLE_FAILURES = ("RESOURCE:", "AGENT", "Capacity is unavailable")


def started_by(env: str, task: str) -> str:
    """`opsctl/<env>/<task>` in ECS's startedBy alphabet; the only filter ListTasks needs."""
    return re.sub(r"[^A-Za-z0-9\-/_]", "-", f"opsctl/{env}/{task}")[:STARTED_BY_MAX]


def client_token(run_id: str, suffix: str = "") -> str:
    """The RunTask idempotency token for a run id (ASCII 33–126, ≤64 chars)."""
    token = "".join(ch for ch in f"opsctl-{run_id}" if 33 <= ord(ch) <= 126)
    return token[: CLIENT_TOKEN_MAX - len(suffix)] + suffix


def _round(spec: RunSpec) -> str:
    """The token suffix of a launch round: ECS answers a reused token with its first result, failure included."""
    return f"-r{spec.launch_round}" if spec.launch_round else ""


def _tag_value(value: str) -> str:
    return re.sub(r"[^\w .:/=+\-@]", "_", value)[:TAG_VALUE_MAX] or "-"


def tags(spec: RunSpec) -> list[dict[str, str]]:
    """The tags that let a task be found and audited from the console."""
    return [
        {"key": "opsctl:run-id", "value": _tag_value(spec.run_id)},
        {"key": "opsctl:actor", "value": _tag_value(spec.actor)},
        {"key": "opsctl:task", "value": _tag_value(spec.task)},
        {"key": "opsctl:env", "value": _tag_value(spec.env)},
    ]


def request(target: Target, spec: RunSpec, with_tags: bool = True, copy: int | None = None) -> dict[str, Any]:
    """The RunTask parameters for one run, or for copy `copy` of a fanned-out one (`--tasks N`).

    A copy is a RunTask of its own with count = 1: a call's overrides apply to every task it starts, so a call
    with count > 1 could not give each copy its own OPSCTL_TASK_INDEX. Its clientToken adds `-c<index>`."""
    override: dict[str, Any] = {"name": target.container}
    if spec.command is not None:
        override["command"] = list(spec.command)
    env = spec.env_dict()
    if copy is not None:
        env.update(copy_env(copy, spec.tasks))
    override["environment"] = [{"name": k, "value": v} for k, v in env.items()]
    suffix = ("" if copy is None else f"-c{copy}") + _round(spec) + ("" if with_tags else "-nt")
    req: dict[str, Any] = {
        "cluster": target.cluster,
        "taskDefinition": target.task_definition,
        "count": 1,
        "startedBy": started_by(spec.env, spec.task),
        "clientToken": client_token(spec.run_id, suffix),
        "overrides": {"containerOverrides": [override]},
    }
    if target.subnets:
        vpc: dict[str, Any] = {"subnets": list(target.subnets)}
        if target.security_groups:
            vpc["securityGroups"] = list(target.security_groups)
        if target.assign_public_ip:
            vpc["assignPublicIp"] = target.assign_public_ip
        req["networkConfiguration"] = {"awsvpcConfiguration": vpc}
    if target.capacity_provider_strategy:
        req["capacityProviderStrategy"] = [
            {"capacityProvider": i.capacity_provider, "weight": i.weight, "base": i.base}
            for i in target.capacity_provider_strategy
        ]
    elif target.launch_type:
        req["launchType"] = target.launch_type
    if target.platform_version:
        req["platformVersion"] = target.platform_version
    if with_tags:
        req["tags"] = tags(spec)
    return req


def check_override_size(req: dict[str, Any]) -> None:
    """Refuse, before any call, overrides over ECS's 8,192-character limit; name what is big."""
    overrides = req["overrides"]
    size = len(json.dumps(overrides, separators=(",", ":"), ensure_ascii=False))
    if size <= OVERRIDE_LIMIT:
        return
    override = overrides["containerOverrides"][0]
    parts = [
        (len(json.dumps(item, separators=(",", ":"), ensure_ascii=False)), f"env {item['name']}")
        for item in override.get("environment", [])
    ]
    if "command" in override:
        parts.append((len(json.dumps(override["command"], separators=(",", ":"), ensure_ascii=False)), "command"))
    largest = ", ".join(f"{name} ({n:,} chars)" for n, name in sorted(parts, reverse=True)[:3])
    raise LaunchError(
        f"the container overrides are {size:,} characters; ECS RunTask allows {OVERRIDE_LIMIT:,} (command and "
        f"environment as JSON). Largest: {largest}. Nothing was launched — pass large inputs another way "
        "(e.g. an S3 object or a secret the task definition reads)"
    )


def run_task(clients: EcsClients, target: Target, spec: RunSpec, notes: list[str], copy: int | None = None) -> str:
    """RunTask once and return the task ARN; a launch that had to go untagged adds a note for the operator."""
    req = request(target, spec, copy=copy)
    check_override_size(req)
    redact = Redactor(spec.secret_values)
    try:
        resp = clients.ecs.run_task(**req)
    except ClientError as exc:
        if error_code(exc) != "InvalidParameterException":
            raise _launch_error(clients, exc, redact) from exc
        # Accounts without the long task-ARN format reject tags: launch untagged rather than not at all.
        # If tags were not the problem, the untagged call fails the same way and that error is raised.
        untagged = request(target, spec, with_tags=False, copy=copy)
        resp = clients.call("ecs", "RunTask", lambda: clients.ecs.run_task(**untagged), redact)
        note = f"ECS refused the task's tags, so it was launched untagged ({error_message(exc)})"
        if note not in notes:  # said once for a fanned-out run's copies
            notes.append(note)
    except Exception as exc:
        raise _launch_error(clients, exc, redact) from exc
    tasks, failures = resp.get("tasks") or [], resp.get("failures") or []
    if failures or not tasks:
        parts = ((f.get("reason", "?"), f.get("detail", ""), f"[{f['arn']}]" if f.get("arn") else "") for f in failures)
        reasons = "; ".join(" ".join(p for p in part if p) for part in parts)
        if failures and all(str(f.get("reason", "")).startswith(RETRYABLE_FAILURES) for f in failures):
            raise NotStarted(redact(f"ECS started nothing: {reasons}"))
        raise LaunchError(
            redact(
                f"ECS did not start the task: {reasons or 'no task and no failure returned'} — check the "
                f"cluster's capacity, the launch type and the task definition (opsctl doctor {spec.env})"
            )
        )
    return str(tasks[0]["taskArn"])


def run_copies(
    clients: EcsClients, target: Target, spec: RunSpec, started: dict[int, str], notes: list[str]
) -> dict[int, str]:
    """RunTask (count = 1, its own token) for every copy of a fanned-out run not in `started` (index → task
    ARN, filled in as copies start), in index order. A copy already started is never sent again.

    A temporary failure leaves it unknown whether that copy started: it is raised, and the launch's retry
    finds the copies (find_run) and completes the set with the same tokens, which ECS answers with the task
    it already started. A definite refusal after some copies started stops those and fails: a run is all
    its copies or none."""
    for index in range(spec.tasks):
        if index in started:
            continue
        try:
            started[index] = run_task(clients, target, spec, notes, copy=index)
        except OpsctlError as exc:
            if (isinstance(exc, TemporaryFailure) and not isinstance(exc, NotStarted)) or not started:
                raise  # ambiguous, or nothing started yet (no capacity: a new round of tokens is safe)
            raise _partial(clients, spec, index, started, exc) from exc
    return started


def _partial(clients: EcsClients, spec: RunSpec, index: int, started: dict[int, str], exc: OpsctlError) -> LaunchError:
    """Stop the copies that started before copy `index` was refused; the error that says so."""
    reason = f"opsctl: copy {index} of run {spec.run_id} could not be started, so the run was called off"
    left = []
    for arn in started.values():
        try:
            stop_task(clients, arn, reason)
        except OpsctlError:
            left.append(arn.rsplit("/", 1)[-1])
    redact = Redactor(spec.secret_values)
    done = (
        f"the {len(started)} copies already started were stopped"
        if not left
        else f"could not stop {', '.join(left)}: stop them with opsctl stop {spec.env} {spec.run_id}"
    )
    return LaunchError(redact(f"ECS did not start copy {index} of {spec.tasks} ({exc}); {done}"))


def stop_task(clients: EcsClients, arn: str, reason: str) -> None:
    """StopTask (a stopped task stays stopped: not an error)."""
    cluster = clients.env.cluster
    clients.call("ecs", "StopTask", lambda: clients.ecs.stop_task(cluster=cluster, task=arn, reason=reason[:255]))


def _launch_error(clients: EcsClients, exc: Exception, redact: Redactor) -> Exception:
    mapped = translate(exc, "ecs", "RunTask", clients.ctx)
    return type(mapped)(redact(str(mapped))) if mapped else exc
