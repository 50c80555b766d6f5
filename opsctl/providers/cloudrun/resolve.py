"""From a `cloudrun` environment to the job it runs: resource names, console links, the container to override."""

from __future__ import annotations

import re
from urllib.parse import quote

from opsctl.config import CloudRunEnv
from opsctl.errors import LaunchError, UsageError
from opsctl.model import RunRef
from opsctl.providers.cloudrun.clients import RPC_TIMEOUT_S, GcpClients
from opsctl.providers.cloudrun.errors import TERRAFORM_MODULE, mapped
from opsctl.providers.cloudrun.logs import rfc3339
from opsctl.providers.cloudrun.status import IMAGE_REASONS

_EXECUTION = re.compile(r"^projects/([^/]{1,128})/locations/([^/]{1,64})/jobs/([^/]{1,128})/executions/([^/]{1,128})$")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,126}$")


class Job:
    """The environment's Cloud Run job as seen through its clients; the container is resolved once (GetJob)."""

    def __init__(self, env: CloudRunEnv, clients: GcpClients) -> None:
        self.env = env
        self.clients = clients
        self.name = f"projects/{env.project}/locations/{env.region}/jobs/{env.job}"
        self._container: str | None = None
        self.parallelism = 0  # the job's template.parallelism, read with the container (0: as many as possible)

    def missing(self) -> str:
        """The message for a job that does not exist, with how to create it."""
        return (
            f"Cloud Run job {self.env.job!r} not found in {self.env.project}/{self.env.region} — create it: "
            f"terraform apply in {TERRAFORM_MODULE}"
        )

    def execution(self, ref: RunRef) -> str:
        """The full resource name of an execution of this job."""
        return f"{self.name}/executions/{ref.id}"

    def gone(self, ref: RunRef) -> str:
        """The message for an execution that does not exist (any more)."""
        return (
            f"Cloud Run execution {ref.id!r} not found in job {self.env.job!r} ({self.env.project}/"
            f"{self.env.region}); executions are kept for 7 days (see: opsctl history {self.env.name})"
        )

    def _base_filter(self, execution: str) -> str:
        return (
            f'resource.type="cloud_run_job" AND resource.labels.job_name="{self.env.job}" AND '
            f'resource.labels.location="{self.env.region}" AND '
            f'labels."run.googleapis.com/execution_name"="{execution}"'
        )

    def log_filter(self, execution: str, since_ns: int) -> str:
        """The Cloud Logging filter for one execution's lines from `since_ns` on (always an explicit timestamp:
        the client library otherwise adds a silent 24-hour window)."""
        return f'{self._base_filter(execution)} AND timestamp>="{rfc3339(since_ns)}"'

    def ref(self, run: str) -> RunRef:
        """An execution's short name (as gcloud shows it) or full resource name → RunRef."""
        env = self.env
        run = run.strip()
        match = _EXECUTION.match(run)
        if match:
            project, region, job, run = match.groups()
            if (project, region, job) != (env.project, env.region, env.job):
                raise UsageError(
                    f"execution {run!r} belongs to {project}/{region}/{job}, not to environment "
                    f"{env.name!r} ({env.project}/{env.region}/{env.job})"
                )
        if not _ID.match(run):
            raise UsageError(f"{run!r} is not a Cloud Run execution name (like {env.job}-x7k2p)")
        console = (
            f"https://console.cloud.google.com/run/jobs/executions/details/{env.region}/{run}/tasks"
            f"?project={env.project}"
        )
        logs = (
            f"https://console.cloud.google.com/logs/query;query={quote(self._base_filter(run), safe='')}"
            f"?project={env.project}"
        )
        return RunRef(id=run, console_url=console, log_url=logs)

    def container(self) -> str:
        """The container to override: `container`, else the job's first; one GetJob per Job."""
        if self._container is not None:
            return self._container
        env = self.env
        with mapped(env, "get_job", f"job {env.job!r}", not_found=self.missing()):
            job = self.clients.jobs.get_job(name=self.name, retry=None, timeout=RPC_TIMEOUT_S)
        names = [c.name for c in job.template.template.containers]
        if not names:
            raise LaunchError(f"Cloud Run job {env.job!r} has no container")
        condition = job.terminal_condition
        if condition is not None and condition.reason in IMAGE_REASONS:
            raise LaunchError(
                f"the image of Cloud Run job {env.job!r} is missing or unreadable "
                f"({condition.message}) — build and push it: opsctl build {env.name}"
            )
        wanted = env.container
        if wanted is not None and wanted not in names:
            shown = ", ".join(repr(n) if n else "(unnamed)" for n in names)
            raise LaunchError(
                f"container {wanted!r} is not in Cloud Run job {env.job!r} (its containers: "
                f"{shown}); fix environments.{env.name}.container in {env.source}"
            )
        self._container = wanted if wanted is not None else names[0]
        self.parallelism = job.template.parallelism
        return self._container

    def check_parallelism(self, tasks: int, parallelism: int | None) -> None:
        """--parallelism K must be what the job runs N tasks at: a RunJob can override task_count, never parallelism
        (GetJob first). That is the job's own, capped at N (0: as many as possible, so N)."""
        self.container()
        own = self.parallelism
        if parallelism is None or parallelism == min(own or tasks, tasks):
            return
        runs = "as many tasks at once as Cloud Run can" if own == 0 else f"{own} task{'s' * (own != 1)} at a time"
        raise UsageError(
            f"--parallelism {parallelism}: Cloud Run job {self.env.job!r} runs {runs} (its parallelism: {own}) and "
            f"an execution cannot change that — leave --parallelism out, or set parallelism = {parallelism} on the "
            f"job (variable `parallelism` of {TERRAFORM_MODULE})"
        )
