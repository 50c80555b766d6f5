"""What real ECS and the awslogs driver do that moto does not, added to moto's ECS in this process.

Each behaviour names its source (shared/notes/cloud-apis.md §1, §2, §11):

- RunTask answers HTTP 200 with `tasks: []` and `failures[]` when nothing could start: on Fargate,
  "Capacity is unavailable at this time. Please try again later or in a different availability zone";
  `RESOURCE:ENI` and friends on EC2 — developerguide/api_failures_messages.html; airflow PR #22002.
- RunTask's clientToken: the same token with the same parameters returns the original result (a failure
  too: hence a fresh token to retry one), with different parameters `ConflictException` naming the tasks;
  scope the cluster — botocore `ecs/2014-11-13/service-2.json` RunTask; AWS ECS_Idempotency doc. moto
  ignores the token.
- ListTasks: "When you specify startedBy as the filter, it must be the only filter that you use"; with no
  desiredStatus it lists RUNNING tasks ("recently stopped tasks might appear": stopped tasks are visible
  for at least an hour); at most 100 ARNs a page, then `nextToken` — botocore service-2.json ListTasks.
- Fargate tasks that never start stop with `TaskFailedToStart` and no exit code: `ResourceInitializationError`
  (the execution role cannot read a secret, or Secrets Manager / ECR is unreachable without a VPC endpoint
  or NAT), `CannotPullContainerError` (a bad image or tag), or an ENI that never came up — copilot #3104,
  #1893; airflow PR #22002.
- Every task has `createdAt` ("the time when the task entered the PENDING state"), in RunTask's and
  DescribeTasks' answers, to the millisecond; moto's Task has none, which left the launch-order guard
  (guards.reconcile) to tie-break on run ids alone — botocore service-2.json Task.createdAt.
- awslogs: since 25 June 2025 ECS defaults the driver to `mode: non-blocking` (max-buffer-size 1m), which
  drops lines when the buffer is full and splits lines at 16 KB; in blocking mode the driver splits events
  above 262,144 − 26 bytes — ECS developer guide "Using the awslogs log driver"; moby
  daemon/logger/awslogs/cloudwatchlogs.go (`maximumBytesPerEvent`); docs.docker.com logging delivery modes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.models import Task
from moto.ecs.responses import EC2ContainerServiceResponse

CAPACITY = "Capacity is unavailable at this time. Please try again later or in a different availability zone"
RESOURCE_INIT = (
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
    "failed: unable to retrieve secret from asm: service call has been retried 5 time(s): failed to fetch "
    "secret arn:aws:secretsmanager:us-east-1:123456789012:secret:clinloop/db from secrets manager: "
    "RequestCanceled: request context canceled caused by: context deadline exceeded. Please check your task "
    "network configuration."
)
CANNOT_PULL = (
    "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref "
    "docker.io/clinloop/api:nope: docker.io/clinloop/api:nope: not found"
)
ENI_TIMEOUT = "Timeout waiting for network interface provisioning to complete."
STARTED_BY_ALONE = "When you specify startedBy as the filter, it must be the only filter that you use."
NON_BLOCKING_SPLIT = 16 * 1024
BLOCKING_SPLIT = 262_144 - 26
MAX_BUFFER = 1024 * 1024  # `max-buffer-size` default in non-blocking mode
STOPPED_VISIBLE = timedelta(hours=1)
_OTHER_FILTERS = ("family", "containerInstance", "serviceName", "desiredStatus", "launchType")


class ConflictException(ECSException):
    code = "ConflictException"

    def __init__(self, message: str, resource_ids: list[str]) -> None:
        super().__init__(message)
        self.resourceIds = resource_ids


class _State:
    """The stand-in's memory, per moto server process (reset with the ECS backend)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.refusals: dict[str, list[dict[str, str]]] = {}  # cluster → failures for the next RunTasks
        self.tokens: dict[tuple[str, str], tuple[str, list[str], list[dict[str, str]]]] = {}
        self.started_by_alone = True  # ListTasks refuses startedBy with another filter, as ECS does

    def reset(self) -> None:
        with self.lock:
            self.refusals.clear()
            self.tokens.clear()


STATE = _State()


def refuse(cluster: str, *failures: dict[str, str]) -> None:
    """The next len(failures) RunTask calls in `cluster` start nothing and answer 200 with one failure each."""
    with STATE.lock:
        STATE.refusals.setdefault(cluster, []).extend(failures)


def capacity_failure() -> dict[str, str]:
    """Fargate has no capacity in the subnets' zones (RunTask's failures[] entry)."""
    return {"reason": CAPACITY}


def eni_failure(instance_arn: str = "") -> dict[str, str]:
    """No elastic network interface could be attached (EC2 launch type: the container instance's ARN)."""
    failure = {"reason": "RESOURCE:ENI"}
    if instance_arn:
        failure["arn"] = instance_arn
    return failure


def _name(cluster: str) -> str:
    return cluster.rsplit("/", 1)[-1]


def _run_task(self: EC2ContainerServiceResponse) -> ActionResult:
    body = json.loads(self.body or "{}")
    cluster = _name(str(body.get("cluster") or "default"))
    token = body.pop("clientToken", None)
    fingerprint = json.dumps(body, sort_keys=True)
    with STATE.lock:
        earlier = STATE.tokens.get((cluster, token)) if token else None
        if earlier is not None:
            if earlier[0] != fingerprint:
                raise ConflictException(
                    "The specified client token has already been used in another request with different parameters.",
                    earlier[1],
                )
            tasks = self.ecs_backend.tasks.get(cluster, {})
            return ActionResult({"tasks": [tasks[a] for a in earlier[1] if a in tasks], "failures": earlier[2]})
        queue = STATE.refusals.get(cluster)
        failure = queue.pop(0) if queue else None
    if failure is not None:
        failures = [failure]
        arns: list[str] = []
        result = ActionResult({"tasks": [], "failures": failures})
    else:
        before = set(self.ecs_backend.tasks.get(cluster, {}))
        result = _ORIGINAL["run_task"](self)
        failures = []
        arns = [a for a in self.ecs_backend.tasks.get(cluster, {}) if a not in before]
    if token:
        with STATE.lock:
            STATE.tokens[(cluster, token)] = (fingerprint, arns, failures)
    return result


def _list_tasks(self: EC2ContainerServiceResponse) -> ActionResult:
    body = json.loads(self.body or "{}")
    if STATE.started_by_alone and body.get("startedBy") and any(body.get(k) for k in _OTHER_FILTERS):
        raise InvalidParameterException(STARTED_BY_ALONE)
    cluster = _name(str(body.get("cluster") or "default"))
    tasks = list(self.ecs_backend.tasks.get(cluster, {}).values())
    self.ecs_backend._get_cluster(cluster)  # ClusterNotFoundException as usual
    if body.get("family"):
        family = str(body["family"])
        tasks = [t for t in tasks if t.task_definition_arn.rsplit("/", 1)[-1].split(":")[0] == family]
    if body.get("startedBy"):
        tasks = [t for t in tasks if t.started_by == body["startedBy"]]
    wanted = body.get("desiredStatus")
    if wanted:
        tasks = [t for t in tasks if t.desired_status == wanted]
    elif STATE.started_by_alone:  # the default filter is RUNNING; recently stopped tasks may appear
        now = datetime.now(UTC)
        tasks = [t for t in tasks if t.desired_status != "STOPPED" or now - _stopped_at(t) < STOPPED_VISIBLE]
    size = int(body.get("maxResults") or 100)
    if not 1 <= size <= 100:
        raise InvalidParameterException("maxResults must be between 1 and 100.")
    start = int(body.get("nextToken") or 0)
    page: dict[str, Any] = {"taskArns": [t.task_arn for t in tasks[start : start + size]]}
    if start + size < len(tasks):
        page["nextToken"] = str(start + size)
    return ActionResult(page)


def _task_init(self: Any, *args: Any, **kwargs: Any) -> None:  # a moto Task
    _ORIGINAL["task_init"](self, *args, **kwargs)
    # Stamped as the task is made, before moto adds it to the cluster: a task any listing shows has its time.
    self.created_at = datetime.now(UTC)  # serialized as createdAt (moto picks snake_case attributes)


def _stopped_at(task: Any) -> datetime:
    stopped = getattr(task, "stopped_at", None)
    return stopped if isinstance(stopped, datetime) else datetime.now(UTC)


_ORIGINAL: dict[str, Any] = {}


def install() -> None:
    """Put the behaviours above into moto's ECS responses (once per process)."""
    if _ORIGINAL:
        return
    _ORIGINAL["run_task"] = EC2ContainerServiceResponse.run_task
    _ORIGINAL["list_tasks"] = EC2ContainerServiceResponse.list_tasks
    _ORIGINAL["task_init"] = Task.__init__
    EC2ContainerServiceResponse.run_task = _run_task  # type: ignore[method-assign]
    EC2ContainerServiceResponse.list_tasks = _list_tasks  # type: ignore[method-assign]
    Task.__init__ = _task_init  # type: ignore[method-assign]


# -- the awslogs driver ----------------------------------------------------------------------------


def log_mode(options: dict[str, str] | None) -> str:
    """The awslogs delivery mode a container runs with: its `mode` option, else ECS's default since June 2025."""
    return (options or {}).get("mode") or "non-blocking"


def split_event(message: str, mode: str) -> list[str]:
    """One printed line → the CloudWatch events the driver makes of it (split, never truncated)."""
    size = NON_BLOCKING_SPLIT if mode == "non-blocking" else BLOCKING_SPLIT
    data = message.encode()
    if len(data) <= size:
        return [message]
    parts, start = [], 0
    while start < len(data):
        end = min(start + size, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # never cut a UTF-8 character in two
            end -= 1
        parts.append(data[start:end].decode())
        start = end
    return parts


def deliver(messages: Sequence[str], options: dict[str, str] | None, *, burst: bool = False) -> list[str]:
    """The events that reach CloudWatch when a container prints `messages`.

    `burst`: printed faster than the driver ships them. In non-blocking mode the buffer (max-buffer-size)
    fills and the lines that do not fit are dropped; in blocking mode the container waits instead."""
    mode = log_mode(options)
    limit = int((options or {}).get("max-buffer-size", "0").rstrip("m") or 0) * 1024 * 1024 or MAX_BUFFER
    out: list[str] = []
    used = 0
    for message in messages:
        size = len(message.encode()) + 1
        if burst and mode == "non-blocking" and used + size > limit:
            continue
        used += size
        out.extend(split_event(message, mode))
    return out
