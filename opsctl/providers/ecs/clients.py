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


class EcsClients:
    """Ready boto3 clients (ECS, CloudWatch Logs per region, others on demand) for one environment."""

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
        self._extra: list[Any] = []
        self.ctx = Context(env=env.name, source=env.source, region=region, cluster=env.cluster, profile=env.profile)

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

    def list_task_arns(self, desired: Literal["RUNNING", "STOPPED"], by: str | None = None) -> list[str]:
        """ListTasks in the cluster (first 100), optionally only those with startedBy == `by`."""
        kwargs: dict[str, Any] = {"cluster": self.env.cluster, "desiredStatus": desired, "maxResults": 100}
        if by:
            kwargs["startedBy"] = by
        page = self.call("ecs", "ListTasks", lambda: self.ecs.list_tasks(**kwargs))
        return list(page.get("taskArns", []))

    def close(self) -> None:
        """Close the clients' connection pools."""
        for client in (self.ecs, *self._logs.values(), *self._extra):
            client.close()
