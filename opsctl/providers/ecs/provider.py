"""`provider = "ecs"`: one-off ECS Fargate tasks via RunTask, watched with DescribeTasks, logs from CloudWatch."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opsctl.config import EcsEnv, TaskConfig
from opsctl.errors import ConfigError, NotFound, OpsctlError, UsageError
from opsctl.model import Check, Discovery, LogPage, RunInfo, RunRef, RunSpec, State, Status, Timing
from opsctl.providers.ecs import admin
from opsctl.providers.ecs.clients import EcsClients
from opsctl.providers.ecs.copies import Copies, is_run_id
from opsctl.providers.ecs.launch import check_override_size, request, run_task, started_by, stop_task
from opsctl.providers.ecs.logs import read_page
from opsctl.providers.ecs.resolve import Resolver, named_target, task_id
from opsctl.providers.ecs.status import copy_of, info_of, launched_with, status_of

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_logs import CloudWatchLogsClient

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
_ARN = re.compile(r"^arn:aws[\w-]{0,16}:ecs:([\w-]{1,32}):\d{12}:task/(?:([\w-]{1,255})/)?([A-Za-z0-9-]{1,64})$")
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
        where: Callable[[str], str] | None = None,
        *,
        dry_run: bool = False,
    ) -> None:
        self.env = env
        self.region = region
        self.dry_run = dry_run  # only plans: a config that names everything needs no AWS call
        self.clients = EcsClients(env, ecs, logs, region, client_for, where)
        self.resolver = Resolver(self.clients)
        self._notes: list[str] = []
        self.copies = Copies(self.clients, self.resolver, self._notes)  # --tasks N > 1; N = 1 never uses it

    def warnings(self) -> tuple[str, ...]:
        """What the operator should know that is not an error: no awslogs, tags refused."""
        target = self.resolver.cached
        return (*(target.warnings if target else ()), *self._notes)

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
        offline = named_target(self.env, self.region) if self.dry_run else None
        target = offline or self.resolver.target()
        if spec.tasks > 1:  # one RunTask per copy (see launch.request)
            reqs = [request(target, spec, copy=index) for index in range(spec.tasks)]
            for req in reqs:
                check_override_size(req)
            return {"runTask": reqs}
        req = request(target, spec)
        check_override_size(req)
        return req

    def launch(self, spec: RunSpec) -> RunRef:
        """RunTask once (N copies: once per copy); the clientToken comes from the run id (and the copy's index),
        so a retry returns the same task."""
        if spec.tasks > 1:
            return self.copies.launch(spec)
        return self.resolver.run_ref(run_task(self.clients, self.resolver.target(), spec, self._notes))

    def _launched(self, spec: RunSpec) -> list[Any]:
        """Tasks carrying OPSCTL_RUN_ID == spec.run_id, oldest first (ListTasks by startedBy, every page, then
        DescribeTasks)."""
        arns = self.clients.task_arns(started_by=started_by(spec.env, spec.task))
        tasks = [t for t in self.clients.describe(arns) if launched_with(t, "OPSCTL_RUN_ID") == spec.run_id]
        return sorted(tasks, key=lambda t: str(t.get("createdAt") or ""))

    def find_run(self, spec: RunSpec) -> RunRef | None:
        """The task carrying OPSCTL_RUN_ID == spec.run_id (N copies: those found, the set completed)."""
        tasks = self._launched(spec)
        if spec.tasks > 1:
            return self.copies.find(spec, tasks)
        return self.resolver.run_ref(tasks[0]["taskArn"]) if tasks else None

    def duplicates(self, spec: RunSpec, ref: RunRef) -> list[RunRef]:
        """Other tasks carrying this run id (none in practice: RunTask is idempotent by clientToken)."""
        if spec.tasks > 1:
            return [self.resolver.run_ref(arn) for arn in self.copies.duplicates(spec, self._launched(spec))]
        return [self.resolver.run_ref(t["taskArn"]) for t in self._launched(spec) if t["taskArn"] != ref.id]

    def ref(self, run: str) -> RunRef:
        """A task ARN or id, or a run id (a fanned-out run), typed by a user → RunRef (for `wait`, `logs`, `stop`)."""
        run = run.strip()
        match = _ARN.match(run)
        if is_run_id(run):
            with contextlib.suppress(OpsctlError):
                self.resolver.target()  # only for the log link
            return self.resolver.copies_ref(run)  # its copies are looked up when first needed, under retries
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
            self.resolver.target()  # only for the log link: poll and stop work without it
        return self.resolver.run_ref(run)

    def _single(self, ref: RunRef) -> RunRef | None:
        """A run id that names a run of one task → that task's ref; None for a fanned-out run."""
        arn = self.copies.single(ref.id)
        return self.resolver.run_ref(arn) if arn else None

    def poll(self, ref: RunRef) -> Status:
        """One DescribeTasks (of every copy, for a fanned-out run)."""
        if is_run_id(ref.id):
            single = self._single(ref)
            return self.poll(single) if single else self.copies.poll(ref.id)
        resp = self.clients.call(
            "ecs", "DescribeTasks", lambda: self.clients.ecs.describe_tasks(cluster=self.env.cluster, tasks=[ref.id])
        )
        tasks = resp.get("tasks") or []
        if not tasks:
            why = "; ".join(f.get("reason", "") for f in resp.get("failures") or [] if f.get("reason"))
            raise NotFound(
                f"ECS task {task_id(ref.id)} not found in cluster {self.env.cluster!r} ({self.region})"
                f"{' (' + why + ')' if why else ''} — check the id and the environment; ECS shows stopped tasks "
                "for about an hour only"
            )
        target = self.resolver.cached
        status = status_of(tasks[0], target.container if target else None, self.env.name)
        if status.state is State.STOPPED and target is not None and target.logs is None:
            status = replace(status, details=(*status.details, ("Logs", "not streamed (no awslogs log configuration)")))
        return status

    def read_logs(self, ref: RunRef, cursor: str | None) -> LogPage:
        """One GetLogEvents page of the task's awslogs stream, oldest first, from `cursor` (a forward token);
        for a fanned-out run, one page of each copy's stream that is not complete yet."""
        if is_run_id(ref.id):
            single = self._single(ref)
            return self.read_logs(single, cursor) if single else self.copies.read_logs(ref.id, cursor)
        logs = self.resolver.target().logs
        if logs is None:
            return LogPage((), cursor)
        return read_page(self.clients.logs_client(logs.region), logs, task_id(ref.id), cursor, self.clients.call)

    def stop(self, ref: RunRef, reason: str) -> None:
        """StopTask (a stopped task stays stopped: not an error); each copy of a fanned-out run."""
        if is_run_id(ref.id):
            single = self._single(ref)
            if single is None:
                self.copies.stop(ref.id, reason)
                return
            ref = single
        stop_task(self.clients, ref.id, reason)

    def active_runs(self, env: str, task: str) -> list[RunRef]:
        """Tasks opsctl started for this env and task that have not stopped (a listing by startedBy can show
        recently stopped ones too); the copies of a fanned-out run are one run."""
        arns = self.clients.task_arns(started_by=started_by(env, task))
        running = [
            t for t in self.clients.describe(arns) if "STOPPED" not in (t.get("desiredStatus"), t.get("lastStatus"))
        ]
        refs: dict[str, RunRef] = {}
        for t in running:
            run_id = launched_with(t, "OPSCTL_RUN_ID") if copy_of(t) else None
            if run_id is None:
                refs[t["taskArn"]] = self.resolver.run_ref(t["taskArn"])
            elif run_id not in refs:
                refs[run_id] = self.resolver.copies_ref(run_id)
        return list(refs.values())

    def info(self, ref: RunRef) -> RunInfo:
        """Who launched a task, for which env and task, and how it is doing (DescribeTasks with tags)."""
        if is_run_id(ref.id):
            single = self._single(ref)
            return self.info(single) if single else self.copies.info(ref.id)
        resp = self.clients.call(
            "ecs",
            "DescribeTasks",
            lambda: self.clients.ecs.describe_tasks(cluster=self.env.cluster, tasks=[ref.id], include=["TAGS"]),
        )
        tasks = resp.get("tasks") or []
        if not tasks:
            raise NotFound(f"ECS task {task_id(ref.id)} not found in cluster {self.env.cluster!r} ({self.region})")
        # the full ARN, whether the user typed it or the bare id: one run, one name (history, summaries)
        return info_of(tasks[0], self.resolver.run_ref(tasks[0]["taskArn"]))

    def recent_runs(self, env: str, limit: int) -> list[RunInfo]:
        """opsctl tasks of this env that ECS still lists, newest first."""
        return admin.recent_runs(self.clients, self.resolver, env, limit)

    def checks(self, tasks: list[TaskConfig]) -> list[Check]:
        """`opsctl doctor`: credentials and cluster, target, log group, task overrides."""
        return admin.checks(self.clients, self.resolver, tasks)

    def registry_login(self, image: str) -> tuple[str, str]:
        """ECR credentials for `docker login`."""
        return admin.registry_login(self.clients, image)

    def set_image(self, image: str) -> str:
        """Register a task-definition revision whose overridden container runs `image`."""
        return admin.set_image(self.clients, self.resolver, image)

    def discover(self) -> Discovery:
        """`opsctl init`: read the service (task definition, container, network, awslogs) as a run would."""
        return admin.discover(self.clients, self.resolver)

    def close(self) -> None:
        """Close the clients' connection pools."""
        self.clients.close()


def build(env: EcsEnv, where: Callable[[str], str] | None = None, dry_run: bool = False) -> EcsProvider:
    """Real boto3 clients for an environment: its profile and region, SDK retries off (the runner retries).

    `where(key)` names a setting in messages (default: its dotted key in the config; `opsctl init`, which
    has no config yet, names its flags)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import InvalidRegionError, ProfileNotFound

    key = where or (lambda name: f"{env.source}: environments.{env.name}.{name}")
    try:
        session = boto3.session.Session(profile_name=env.profile, region_name=env.region)
    except ProfileNotFound:
        raise ConfigError(
            f"{key('profile')}: AWS profile {env.profile!r} is not in "
            f"your AWS config — create it (aws configure sso --profile {env.profile})"
        ) from None
    region = session.region_name
    if not region:
        raise ConfigError(
            f"{key('region')}: no AWS region — give one here, or set AWS_REGION, or region in the profile"
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
        raise ConfigError(f"{key('region')}: {region!r} is not an AWS region name (e.g. eu-west-2)") from None
    return EcsProvider(env, ecs, logs, region, client_for, where, dry_run=dry_run)
