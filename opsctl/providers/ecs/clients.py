"""The boto3 clients of one `ecs` environment, and the one place their calls' errors become opsctl errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from opsctl.config import EcsEnv
from opsctl.errors import OpsctlError
from opsctl.providers.ecs.errors import Context, translate
from opsctl.redact import Redactor

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_logs import CloudWatchLogsClient

T = TypeVar("T")
Desired = Literal["RUNNING", "STOPPED"]


class EcsClients:
    """Ready boto3 clients (ECS, CloudWatch Logs per region, others on demand) for one environment."""

    def __init__(
        self,
        env: EcsEnv,
        ecs: ECSClient,
        logs: CloudWatchLogsClient,
        region: str,
        client_for: Callable[[str, str], Any] | None = None,
        where: Callable[[str], str] | None = None,
    ) -> None:
        self.env = env
        self.region = region
        self.ecs = ecs
        self._logs = {region: logs}
        self._client_for = client_for
        self._extra: list[Any] = []
        self.ctx = Context(
            env=env.name, source=env.source, region=region, cluster=env.cluster, profile=env.profile, where=where
        )

    def call(self, service: str, operation: str, fn: Callable[[], T], redact: Redactor | None = None) -> T:
        """Run one SDK call, turning its errors into opsctl errors (secrets masked with `redact`)."""
        try:
            return fn()
        except Exception as exc:
            mapped = translate(exc, service, operation, self.ctx)
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

    def task_arns(
        self, *, started_by: str | None = None, desired: Literal["RUNNING", "STOPPED"] | None = None
    ) -> list[str]:
        """Every ListTasks page of the cluster: by startedBy alone ("When you specify startedBy as the filter, it
        must be the only filter": it lists RUNNING tasks, recently stopped ones may appear), or by desiredStatus."""
        kwargs: dict[str, Any] = {"cluster": self.env.cluster, "maxResults": 100}
        if started_by:
            kwargs["startedBy"] = started_by
        elif desired:
            kwargs["desiredStatus"] = desired
        arns: list[str] = []
        while True:
            page = self.call("ecs", "ListTasks", lambda: self.ecs.list_tasks(**kwargs))
            arns += page.get("taskArns", [])
            if not page.get("nextToken"):
                return arns
            kwargs["nextToken"] = page["nextToken"]

    def describe(self, arns: list[str]) -> list[Any]:
        """DescribeTasks (with tags) of any number of tasks, 100 per call."""
        found: list[Any] = []
        for start in range(0, len(arns), 100):
            found += self._describe(arns[start : start + 100])
        return found

    def _describe(self, chunk: list[str]) -> list[Any]:
        cluster = self.env.cluster
        resp = self.call(
            "ecs", "DescribeTasks", lambda: self.ecs.describe_tasks(cluster=cluster, tasks=chunk, include=["TAGS"])
        )
        return list(resp.get("tasks", []))

    def close(self) -> None:
        """Close the clients' connection pools."""
        for client in (self.ecs, *self._logs.values(), *self._extra):
            client.close()
