"""moto's ECS + CloudWatch Logs as a stand-in for AWS: server, fixtures' world, scripted task outcomes.

moto runs its server in this process (ThreadedMotoServer), so a test can reach into the backends to
do what moto cannot: end a task with a chosen exit code / stop code / reasons, and write the task's
awslogs lines. The fixtures avoid moto's three known crashes (notes/test-harness.md §1): every
container has `memory`, every awsvpc configuration has security groups, and subnets come from the
default VPC (which has DNS hostnames on).
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from moto.ecs.models import ecs_backends
from moto.logs.models import logs_backends
from moto.moto_api import state_manager
from moto.server import ThreadedMotoServer

from tests.fakes import ecs_model

ACCOUNT = "123456789012"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class MotoServer:
    """moto's HTTP server on 127.0.0.1 (a free port), sharing its backends with this process."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        ecs_model.install()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def reset(self) -> None:
        """Forget every resource (state-manager transitions survive this: see hold/release_tasks)."""
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")).close()  # noqa: S310
        ecs_model.STATE.reset()

    def reset_ecs(self) -> None:
        """Forget every ECS and CloudWatch Logs resource but keep EC2 (the VPC is a fixture, and moto's EC2
        backend takes about a second to rebuild)."""
        ecs_backends[ACCOUNT][REGION].reset()
        logs_backends[ACCOUNT][REGION].reset()
        ecs_model.STATE.reset()

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()


def hold_tasks() -> None:
    """Keep tasks where they are: moto otherwise walks a task to STOPPED after four DescribeTasks."""
    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})


def release_tasks() -> None:
    """Undo hold_tasks (moto's reset does not)."""
    state_manager.unset_transition("ecs::task")


@functools.cache
def client(service: str, url: str, config: Any = None) -> Any:
    """A boto3 client for `url` (moto itself: the test's own hands; or the proxy in front of it)."""
    make: Any = boto3.client  # service is a plain str here, not one of the stubs' literals
    return make(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def awslogs(group: str, prefix: str, mode: str | None = None) -> dict[str, Any]:
    """An awslogs logConfiguration (`mode` None: unset, which ECS treats as non-blocking since June 2025)."""
    options = {"awslogs-group": group, "awslogs-region": REGION, "awslogs-stream-prefix": prefix}
    if mode is not None:
        options["mode"] = mode
    return {"logDriver": "awslogs", "options": options}


@dataclass
class EcsWorld:
    """A cluster with a Fargate service, its task definition and log group, as seed 000's staging has."""

    url: str
    subnets: list[str]
    security_group: str
    cluster: str = "clinloop-staging"
    service: str = "clinloop-staging-api"
    family: str = "clinloop-staging-api"
    container: str = "api"
    log_group: str = "/ecs/clinloop-staging-api"
    prefix: str = "ecs"
    task_definition_arn: str = ""
    written: dict[str, list[str]] = field(default_factory=dict)

    def register(self, family: str, containers: Sequence[dict[str, Any]]) -> str:
        """Register a Fargate task definition; returns its ARN."""
        defs = [{"image": "clinloop/api:latest", "memory": 256, "essential": True, **c} for c in containers]
        resp = client("ecs", self.url).register_task_definition(
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=defs,
        )
        return str(resp["taskDefinition"]["taskDefinitionArn"])

    def network(self) -> dict[str, Any]:
        """The awsvpc configuration the service uses."""
        return {
            "awsvpcConfiguration": {
                "subnets": self.subnets[:2],
                "securityGroups": [self.security_group],
                "assignPublicIp": "DISABLED",
            }
        }

    def stream(self, task_arn: str, container: str | None = None) -> str:
        """The awslogs stream of a task."""
        return f"{self.prefix}/{container or self.container}/{task_arn.rsplit('/', 1)[-1]}"

    def tasks(self) -> list[Any]:
        """Every task moto started in the cluster (moto objects)."""
        return list(ecs_backends[ACCOUNT][REGION].tasks.get(self.cluster, {}).values())

    def task(self, task_arn: str) -> Any:
        """moto's task object."""
        return ecs_backends[ACCOUNT][REGION].tasks[self.cluster][task_arn]

    def write_logs(self, task_arn: str, messages: Iterable[str], container: str | None = None) -> list[str]:
        """Append events to the task's awslogs stream as they are, creating it on first use."""
        return write_logs(self.log_group, self.stream(task_arn, container), messages, self.written)

    def print(
        self, task_arn: str, messages: Sequence[str], container: str | None = None, *, burst: bool = False
    ) -> list[str]:
        """The container prints `messages`: the awslogs driver of its task definition (its mode) ships them,
        splitting long lines and, in non-blocking mode under a `burst`, dropping what overflows its buffer."""
        events = ecs_model.deliver(messages, self.log_options(task_arn, container), burst=burst)
        return self.write_logs(task_arn, events, container)

    def log_options(self, task_arn: str, container: str | None = None) -> dict[str, str]:
        """The awslogs options of a task's container, as its task definition has them."""
        backend = ecs_backends[ACCOUNT][REGION]
        definition = backend.describe_task_definition(self.task(task_arn).task_definition_arn)
        name = container or self.container
        found: dict[str, Any] = next((c for c in definition.container_definitions if c.get("name") == name), {})
        return dict((found.get("logConfiguration") or {}).get("options") or {})


@functools.cache
def build_network(url: str) -> tuple[list[str], str]:
    """Default-VPC subnets and a security group (once per moto server: reset_ecs keeps EC2)."""
    ec2 = client("ec2", url)
    subnets = [
        s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    ]
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["opsctl-test"]}])
    if groups["SecurityGroups"]:
        return subnets, str(groups["SecurityGroups"][0]["GroupId"])
    return subnets, str(ec2.create_security_group(GroupName="opsctl-test", Description="opsctl tests")["GroupId"])


def build_world(url: str, *, with_service: bool = True, log_mode: str | None = "blocking") -> EcsWorld:
    """Create the cluster, task definition (api + sidecar), log group and service in moto; the api container
    logs in `log_mode` (as infra/terraform's ECS module sets it; None leaves it unset: non-blocking)."""
    subnets, sg = build_network(url)
    world = EcsWorld(url=url, subnets=list(subnets), security_group=sg)
    client("ecs", url).create_cluster(clusterName=world.cluster)
    world.task_definition_arn = world.register(
        world.family,
        [
            {
                "name": world.container,
                "logConfiguration": awslogs(world.log_group, world.prefix, log_mode),
                "command": ["node", "dist/server.js"],
            },
            {"name": "sidecar", "essential": False, "logConfiguration": awslogs(world.log_group, world.prefix)},
        ],
    )
    client("logs", url).create_log_group(logGroupName=world.log_group)
    if with_service:
        client("ecs", url).create_service(
            cluster=world.cluster,
            serviceName=world.service,
            taskDefinition=world.task_definition_arn,
            desiredCount=1,
            launchType="FARGATE",
            platformVersion="1.4.0",
            networkConfiguration=world.network(),
        )
    return world


_last_ms: dict[tuple[str, str], int] = {}


def write_logs(
    group: str, stream: str, messages: Iterable[str], written: dict[str, list[str]] | None = None
) -> list[str]:
    """Append events to a stream straight into moto's backend (fast enough for 100,000 lines)."""
    backend = logs_backends[ACCOUNT][REGION]
    backend.ensure_log_stream(group, stream)
    batch = list(messages)
    # Equal timestamps keep insertion order (moto sorts stably); never go back in time within a stream.
    now = max(int(time.time() * 1000), _last_ms.get((group, stream), 0))
    _last_ms[(group, stream)] = now
    for start in range(0, len(batch), 10_000):
        chunk = batch[start : start + 10_000]
        backend.put_log_events(group, stream, [{"timestamp": now, "message": m} for m in chunk])
    if written is not None:
        written.setdefault(stream, []).extend(batch)
    return batch


def script_state(task: Any, last_status: str) -> None:
    """Put a task in a lifecycle state (PENDING, DEACTIVATING, …) without stopping it."""
    task.last_status = last_status
    if last_status == "DEACTIVATING" and getattr(task, "execution_stopped_at", None) is None:
        # as in ECS: the essential container has exited when the task starts deactivating
        task.execution_stopped_at = datetime.now(UTC)


def script_stop(
    task: Any,
    *,
    exit_code: int | None,
    stop_code: str | None = "EssentialContainerExited",
    stopped_reason: str | None = "Essential container in task exited",
    container_reason: str | None = None,
    container: str | None = None,
) -> None:
    """End a task the way ECS reports it: lastStatus STOPPED, stop code, reasons, the container's exit code."""
    name = container or _overridden(task) or task.containers[0].name
    target = next((c for c in task.containers if c.name == name), None)
    if target is None:  # moto models only the first container definition
        target = copy.copy(task.containers[0])
        target.name = name
        task.containers.append(target)
    for c in task.containers:
        c.last_status = "STOPPED"
        c.exitCode = 0 if c is not target else exit_code
        if c is target and container_reason:
            c.reason = container_reason
    task.stop_code = stop_code
    task.stopped_reason = stopped_reason or ""
    task.stopped_at = datetime.now(UTC)
    if getattr(task, "execution_stopped_at", None) is None:
        task.execution_stopped_at = task.stopped_at
    task.desired_status = "STOPPED"
    task.last_status = "STOPPED"


def script_failed_to_start(task: Any, reason: str) -> None:
    """End a Fargate task that never ran: TaskFailedToStart, no exit code, the reason ECS gives (ecs_model:
    RESOURCE_INIT, CANNOT_PULL, ENI_TIMEOUT); a pull error is on the container too (copilot #1893)."""
    container_reason = reason if reason.startswith("CannotPullContainerError") else None
    script_stop(
        task, exit_code=None, stop_code="TaskFailedToStart", stopped_reason=reason, container_reason=container_reason
    )
    for c in task.containers:
        c.exitCode = None


def forget(world: EcsWorld, task_arn: str) -> None:
    """ECS no longer shows a stopped task: stopped tasks stay visible for at least an hour, then DescribeTasks
    answers MISSING for them and ListTasks leaves them out (ECS API reference, DescribeTasks / ListTasks)."""
    ecs_backends[ACCOUNT][REGION].tasks[world.cluster].pop(task_arn)


def missing(task_arn: str) -> Callable[[bytes, bytes], bytes | None]:
    """A DescribeTasks answer rewritten as if ECS did not know `task_arn` yet: the ECS API is eventually
    consistent, and a task just started can be answered with `failures: [{arn, reason: MISSING}]` (ECS API
    reference, "Request eventual consistency"; cloud-apis.md §1)."""

    def rewrite(request: bytes, response: bytes) -> bytes | None:
        doc = json.loads(response)
        tasks = doc.get("tasks") or []
        if not any(t.get("taskArn") == task_arn for t in tasks):
            return None
        doc["tasks"] = [t for t in tasks if t.get("taskArn") != task_arn]
        doc["failures"] = [*(doc.get("failures") or []), {"arn": task_arn, "reason": "MISSING"}]
        return json.dumps(doc).encode()

    return rewrite


def _overridden(task: Any) -> str | None:
    overrides = (task.overrides or {}).get("containerOverrides") or []
    return str(overrides[0]["name"]) if overrides and overrides[0].get("name") else None


def override_env(task: Any) -> dict[str, str]:
    """The env overrides a task was launched with."""
    overrides = (task.overrides or {}).get("containerOverrides") or [{}]
    return {e["name"]: e["value"] for e in overrides[0].get("environment") or []}


@dataclass
class FakeAgent:
    """Plays the part of the ECS agent + awslogs driver in real time, for runs driven by a subprocess.

    For every new task in the cluster: after `start_after_s` print `lines` through the awslogs driver (`lines_per_batch` at a time,
    `interval_s` apart), then end it with `exit_code` and write `late_lines` after it is STOPPED.
    """

    world: EcsWorld
    lines: Callable[[Any], Sequence[str]] | Sequence[str] = ()
    exit_code: Callable[[Any], int | None] | int | None = 0  # or per task (copies of one run may differ)
    start_after_s: float = 0.3
    interval_s: float = 0.05
    lines_per_batch: int = 50
    late_lines: Sequence[str] = ()
    fail_start: str | None = None  # the task never runs: TaskFailedToStart with this reason (ecs_model)
    seen: dict[str, Any] = field(default_factory=dict)
    stopped_at: dict[str, float] = field(default_factory=dict)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="fake-ecs-agent", daemon=True)

    def __enter__(self) -> FakeAgent:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for worker in list(self.seen.values()):
            worker.join(timeout=30)

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            for task in self.world.tasks():
                if task.task_arn not in self.seen:
                    worker = threading.Thread(target=self._play, args=(task,), daemon=True)
                    self.seen[task.task_arn] = worker
                    worker.start()

    def _play(self, task: Any) -> None:
        try:
            lines = list(self.lines(task) if callable(self.lines) else self.lines)
            self._stop.wait(self.start_after_s)
            if self.fail_start is not None and not self._stop.is_set():
                script_failed_to_start(task, self.fail_start)
                self.stopped_at[task.task_arn] = time.monotonic()
                return
            for start in range(0, len(lines), self.lines_per_batch):
                if task.last_status == "STOPPED" or self._stop.is_set():  # stopped from outside (StopTask)
                    return
                self.world.print(task.task_arn, lines[start : start + self.lines_per_batch])
                self._stop.wait(self.interval_s)
            if self._stop.is_set():
                return
            if task.last_status != "STOPPED":
                script_stop(task, exit_code=self.exit_code(task) if callable(self.exit_code) else self.exit_code)
                self.stopped_at[task.task_arn] = time.monotonic()
            if self.late_lines:
                self.world.print(task.task_arn, self.late_lines)
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)


def result_line(payload: dict[str, Any]) -> str:
    """A task's one-line JSON result (DESIGN.md §4)."""
    return json.dumps(payload, separators=(",", ":"))
