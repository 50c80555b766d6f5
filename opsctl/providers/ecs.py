"""`provider = "ecs"`: one-off ECS Fargate tasks via RunTask, watched with DescribeTasks, logs from CloudWatch."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from botocore.exceptions import ClientError

from opsctl.config import EcsEnv, TaskConfig
from opsctl.errors import ConfigError, LaunchError, NotFound, OpsctlError, UsageError
from opsctl.model import Check, LogPage, RunInfo, RunRef, RunSpec, State, Status, Timing
from opsctl.providers import ecs_ops
from opsctl.providers.ecs_errors import Context, error_code, error_message, translate
from opsctl.providers.ecs_resolve import (
    Target,
    check_override_size,
    log_console_url,
    request,
    resolve,
    started_by,
    task_console_url,
    task_id,
)
from opsctl.providers.ecs_watch import info_of, launched_with, read_page, status_of
from opsctl.redact import Redactor

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import ServiceTypeDef
    from mypy_boto3_logs import CloudWatchLogsClient

T = TypeVar("T")

# Steady state: 60/4 DescribeTasks + 60/5 GetLogEvents = 27 calls/min per run (issue 3: ≤ 30), so a STOPPED
# that appears abruptly is seen 2 s later on median. Polls are 1 s while starting, while DEACTIVATING /
# STOPPING / DEPROVISIONING (Fargate spends seconds there, so a real stop is seen within about 1 s), after
# the result line and after a stop request. After STOPPED, logs are read until the token holds still
# across two reads 1 s apart (at most 15 s).
TIMING = Timing(
    fast_poll_s=1.0,
    slow_poll_s=4.0,
    fast_phase_s=20.0,
    log_fast_poll_s=1.0,
    log_poll_s=5.0,
    drain_settle_s=1.0,
    drain_quiet_reads=2,
    drain_max_s=15.0,
    stop_wait_s=60.0,
)
_ARN = re.compile(r"^arn:aws[\w-]*:ecs:([\w-]+):\d{12}:task/(?:([\w-]+)/)?([A-Za-z0-9-]+)$")
_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")


class EcsProvider:
    """ECS Fargate through ready boto3 clients (see `build`); a method makes one call plus paging, except
    that the first one needing the target also resolves it (DescribeServices + DescribeTaskDefinition)."""

    kind = "ecs"
    timing = TIMING

    def __init__(
        self,
        env: EcsEnv,
        ecs: ECSClient,
        logs: CloudWatchLogsClient,
        region: str,
        client_for: Callable[[str, str], Any] | None = None,
    ) -> None:
        self.env = env
        self.region = region
        self.ecs = ecs
        self._logs = {region: logs}
        self._client_for = client_for
        self._ctx = Context(env=env.name, source=env.source, region=region, cluster=env.cluster, profile=env.profile)
        self._target: Target | None = None
        self._notes: list[str] = []
        self._extra: list[Any] = []

    # -- plumbing (also used by ecs_ops) ---------------------------------------------------------------

    def call(self, service: str, operation: str, fn: Callable[[], T], redact: Redactor | None = None) -> T:
        """Run one SDK call, turning its errors into opsctl errors (secrets masked with `redact`)."""
        try:
            return fn()
        except Exception as exc:
            mapped = translate(exc, service, operation, self._ctx)
            if mapped is None:
                raise
            if redact:
                mapped = type(mapped)(redact(str(mapped)))
            raise mapped from exc

    def client_for(self, service: str, region: str) -> Any:
        """Another boto3 client from the same session (logs in another region, ECR)."""
        if self._client_for is None:
            raise OpsctlError(f"no {service} client for {region}: this provider was built with fixed clients")
        client = self._client_for(service, region)
        self._extra.append(client)
        return client

    def logs_client(self, region: str) -> CloudWatchLogsClient:
        """The CloudWatch Logs client for the awslogs region (usually the ECS region)."""
        if region not in self._logs:
            self._logs[region] = self.client_for("logs", region)
        return self._logs[region]

    def resolved(self) -> Target:
        """The resolved target, cached for this provider's life."""
        if self._target is None:
            service = self._describe_service if self.env.service else None
            self._target = resolve(self.env, self.region, service, self._describe_task_definition)
        return self._target

    def forget_target(self) -> None:
        """Resolve again on next use (after registering a revision)."""
        self._target = None

    def run_ref(self, task_arn: str) -> RunRef:
        """A RunRef with console links for a task."""
        logs = self._target.logs if self._target else None
        return RunRef(
            id=task_arn,
            console_url=task_console_url(self.region, self.env.cluster, task_arn),
            log_url=log_console_url(logs, task_arn) if logs else None,
        )

    def list_task_arns(self, desired: Literal["RUNNING", "STOPPED"], by: str | None = None) -> list[str]:
        """ListTasks in the cluster (first 100), optionally only those with startedBy == `by`."""
        kwargs: dict[str, Any] = {"cluster": self.env.cluster, "desiredStatus": desired, "maxResults": 100}
        if by:
            kwargs["startedBy"] = by
        page = self.call("ecs", "ListTasks", lambda: self.ecs.list_tasks(**kwargs))
        return list(page.get("taskArns", []))

    def _describe_service(self) -> ServiceTypeDef:
        name = self.env.service or ""
        resp = self.call(
            "ecs", "DescribeServices", lambda: self.ecs.describe_services(cluster=self.env.cluster, services=[name])
        )
        found = [s for s in resp.get("services", []) if s.get("status") != "INACTIVE"]
        if not found:
            raise NotFound(
                f"ECS service {name!r} not found in cluster {self.env.cluster!r} ({self.region}) — check "
                f"{self._ctx.key('service')} (aws ecs list-services --cluster {self.env.cluster})"
            )
        return found[0]

    def _describe_task_definition(self, name: str) -> dict[str, Any]:
        try:
            resp = self.ecs.describe_task_definition(taskDefinition=name)
        except ClientError as exc:
            if error_code(exc) != "ClientException":
                raise translate(exc, "ecs", "DescribeTaskDefinition", self._ctx) or exc from exc
            family = name.rsplit("/", 1)[-1].split(":")[0]
            raise NotFound(
                f"ECS task definition {name!r} not found in {self.region} — check {self._ctx.key('task_definition')} "
                f"or the service (aws ecs list-task-definitions --family-prefix {family})"
            ) from exc
        except Exception as exc:
            raise translate(exc, "ecs", "DescribeTaskDefinition", self._ctx) or exc from exc
        return dict(resp["taskDefinition"])

    def _launch_error(self, exc: Exception, redact: Redactor) -> Exception:
        mapped = translate(exc, "ecs", "RunTask", self._ctx)
        return type(mapped)(redact(str(mapped))) if mapped else exc

    # -- Provider ------------------------------------------------------------------------------------

    def warnings(self) -> tuple[str, ...]:
        """What the operator should know that is not an error: no awslogs, tags refused."""
        return (*(self._target.warnings if self._target else ()), *self._notes)

    def target(self) -> list[tuple[str, str]]:
        """Describe the configured target without calling AWS."""
        env = self.env
        via = f"from service {env.service}" if env.service else "-"
        if env.capacity_provider_strategy:
            launch = ", ".join(f"{i.capacity_provider}:{i.weight}" for i in env.capacity_provider_strategy)
        else:
            launch = env.launch_type or (via if env.service else "FARGATE")
        rows = [("Region", self.region), ("Cluster", env.cluster)]
        if env.service:
            rows.append(("Service", env.service))
        rows += [
            ("Task definition", env.task_definition or via),
            ("Container", env.container or "first essential container"),
            ("Network", ", ".join((*env.subnets, *env.security_groups)) or via),
            ("Launch", launch),
            ("Logs", env.log_group or "awslogs options of the task definition"),
        ]
        if env.profile:
            rows.append(("Profile", env.profile))
        return rows

    def plan(self, spec: RunSpec) -> dict[str, Any]:
        """The RunTask request `launch` would send (resolving reads the service and the task definition)."""
        req = request(self.resolved(), spec)
        check_override_size(req)
        return req

    def launch(self, spec: RunSpec) -> RunRef:
        """RunTask once; the clientToken comes from the run id, so a retry returns the same task."""
        target = self.resolved()
        req = request(target, spec)
        check_override_size(req)
        redact = Redactor(spec.secret_values)
        try:
            resp = self.ecs.run_task(**req)
        except ClientError as exc:
            if error_code(exc) != "InvalidParameterException":
                raise self._launch_error(exc, redact) from exc
            # Accounts without the long task-ARN format reject tags: launch untagged rather than not at all.
            # If tags were not the problem, the untagged call fails the same way and that error is raised.
            untagged = request(target, spec, with_tags=False)
            resp = self.call("ecs", "RunTask", lambda: self.ecs.run_task(**untagged), redact)
            self._notes.append(f"ECS refused the task's tags, so it was launched untagged ({error_message(exc)})")
        except Exception as exc:
            raise self._launch_error(exc, redact) from exc
        tasks, failures = resp.get("tasks") or [], resp.get("failures") or []
        if failures or not tasks:
            parts = (
                (f.get("reason", "?"), f.get("detail", ""), f"[{f['arn']}]" if f.get("arn") else "") for f in failures
            )
            reasons = "; ".join(" ".join(p for p in part if p) for part in parts)
            raise LaunchError(
                redact(
                    f"ECS did not start the task: {reasons or 'no task and no failure returned'} — check the "
                    f"cluster's capacity, the launch type and the task definition (opsctl doctor {spec.env})"
                )
            )
        return self.run_ref(tasks[0]["taskArn"])

    def find_run(self, spec: RunSpec) -> RunRef | None:
        """The task carrying OPSCTL_RUN_ID == spec.run_id (ListTasks by startedBy, then DescribeTasks)."""
        by = started_by(spec.env, spec.task)
        arns = [*self.list_task_arns("RUNNING", by), *self.list_task_arns("STOPPED", by)]
        if not arns:
            return None
        resp = self.call(
            "ecs",
            "DescribeTasks",
            lambda: self.ecs.describe_tasks(cluster=self.env.cluster, tasks=arns[:100], include=["TAGS"]),
        )
        for task in resp.get("tasks", []):
            if launched_with(task, "OPSCTL_RUN_ID") == spec.run_id:
                return self.run_ref(task["taskArn"])
        return None

    def ref(self, run: str) -> RunRef:
        """A task ARN or id typed by a user → RunRef (for `wait`, `logs`, `stop`)."""
        run = run.strip()
        match = _ARN.match(run)
        if match:
            region, cluster = match.group(1), match.group(2)
            if region != self.region or (cluster and cluster != self.env.cluster):
                raise UsageError(
                    f"{run} is a task of cluster {cluster or '?'} in {region}; environment "
                    f"{self.env.name!r} is cluster {self.env.cluster} in {self.region}"
                )
        elif not _ID.match(run):
            raise UsageError(f"{run!r} is not an ECS task ARN or id (arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID or ID)")
        with contextlib.suppress(OpsctlError):
            self.resolved()  # only for the log link: poll and stop work without it
        return self.run_ref(run)

    def poll(self, ref: RunRef) -> Status:
        """One DescribeTasks."""
        resp = self.call(
            "ecs", "DescribeTasks", lambda: self.ecs.describe_tasks(cluster=self.env.cluster, tasks=[ref.id])
        )
        tasks = resp.get("tasks") or []
        if not tasks:
            why = "; ".join(f.get("reason", "") for f in resp.get("failures") or [] if f.get("reason"))
            raise NotFound(
                f"ECS task {task_id(ref.id)} not found in cluster {self.env.cluster!r} ({self.region})"
                f"{' (' + why + ')' if why else ''} — check the id and the environment; ECS shows stopped tasks "
                "for about an hour only"
            )
        status = status_of(tasks[0], self._target.container if self._target else None)
        if status.state is State.STOPPED and self._target is not None and self._target.logs is None:
            status = replace(status, details=(*status.details, ("Logs", "not streamed (no awslogs log configuration)")))
        return status

    def read_logs(self, ref: RunRef, cursor: str | None) -> LogPage:
        """One GetLogEvents page of the task's awslogs stream, oldest first, from `cursor` (a forward token)."""
        logs = self.resolved().logs
        if logs is None:
            return LogPage((), cursor)
        return read_page(self.logs_client(logs.region), logs, task_id(ref.id), cursor, self.call)

    def stop(self, ref: RunRef, reason: str) -> None:
        """StopTask (a stopped task stays stopped: not an error)."""
        self.call(
            "ecs", "StopTask", lambda: self.ecs.stop_task(cluster=self.env.cluster, task=ref.id, reason=reason[:255])
        )

    def active_runs(self, env: str, task: str) -> list[RunRef]:
        """Tasks opsctl started for this env and task whose desired status is still RUNNING."""
        return [self.run_ref(arn) for arn in self.list_task_arns("RUNNING", started_by(env, task))]

    def info(self, ref: RunRef) -> RunInfo:
        """Who launched a task, for which env and task, and how it is doing (DescribeTasks with tags)."""
        resp = self.call(
            "ecs",
            "DescribeTasks",
            lambda: self.ecs.describe_tasks(cluster=self.env.cluster, tasks=[ref.id], include=["TAGS"]),
        )
        tasks = resp.get("tasks") or []
        if not tasks:
            raise NotFound(f"ECS task {task_id(ref.id)} not found in cluster {self.env.cluster!r} ({self.region})")
        # the full ARN, whether the user typed it or the bare id: one run, one name (history, summaries)
        return info_of(tasks[0], self.run_ref(tasks[0]["taskArn"]))

    def recent_runs(self, env: str, limit: int) -> list[RunInfo]:
        """opsctl tasks of this env that ECS still lists, newest first."""
        return ecs_ops.recent_runs(self, env, limit)

    def checks(self, tasks: list[TaskConfig]) -> list[Check]:
        """`opsctl doctor`: credentials and cluster, target, log group, task overrides."""
        return ecs_ops.checks(self, tasks)

    def registry_login(self, image: str) -> tuple[str, str]:
        """ECR credentials for `docker login`."""
        return ecs_ops.registry_login(self, image)

    def set_image(self, image: str) -> str:
        """Register a task-definition revision whose overridden container runs `image`."""
        return ecs_ops.set_image(self, image)

    def close(self) -> None:
        """Close the clients' connection pools."""
        for client in (self.ecs, *self._logs.values(), *self._extra):
            client.close()


def build(env: EcsEnv) -> EcsProvider:
    """Real boto3 clients for an environment: its profile and region, SDK retries off (the runner retries)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import InvalidRegionError, ProfileNotFound

    try:
        session = boto3.session.Session(profile_name=env.profile, region_name=env.region)
    except ProfileNotFound:
        raise ConfigError(
            f"{env.source}: environments.{env.name}.profile: AWS profile {env.profile!r} is not in "
            f"your AWS config — create it (aws configure sso --profile {env.profile})"
        ) from None
    region = session.region_name
    if not region:
        raise ConfigError(
            f"{env.source}: environments.{env.name}.region: no AWS region — set region here, "
            "AWS_REGION, or region in the profile"
        )
    # total_max_attempts, not max_attempts: botocore reads the latter as *re*tries (1 → two attempts).
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=10,
        read_timeout=30,
        user_agent_extra="opsctl",
    )

    def client_for(service: str, region_name: str) -> Any:
        # session.client honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> by itself. botocore's name for
        # CloudWatch Logs is AWS_ENDPOINT_URL_CLOUDWATCH_LOGS; opsctl also accepts the shorter
        # AWS_ENDPOINT_URL_LOGS (DESIGN.md §7) when botocore's own is not set.
        extra = {}
        if (
            service == "logs"
            and os.environ.get("AWS_ENDPOINT_URL_LOGS")
            and not os.environ.get("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS")
        ):
            extra["endpoint_url"] = os.environ["AWS_ENDPOINT_URL_LOGS"]
        return session.client(service, region_name=region_name, config=config, **extra)  # type: ignore[call-overload]

    try:
        ecs, logs = client_for("ecs", region), client_for("logs", region)
    except InvalidRegionError:
        raise ConfigError(
            f"{env.source}: environments.{env.name}.region: {region!r} is not an AWS region name (e.g. eu-west-2)"
        ) from None
    return EcsProvider(env, ecs, logs, region, client_for)
