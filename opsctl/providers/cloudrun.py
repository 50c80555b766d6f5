"""`provider = "cloudrun"`: a Cloud Run job execution with overrides, its Cloud Logging lines, cancel.

Cloud Run can override a job container's `args` and merge `env`, never its entrypoint: a task's
`command` becomes the container's args. `RunJob` is not idempotent, so every execution carries
`OPSCTL_RUN_ID` in its env and `find_run` looks for it before a retried launch.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from google.api_core import exceptions as gexc
from google.cloud import run_v2
from google.cloud.logging_v2.types import ListLogEntriesRequest, ListLogEntriesResponse, TailLogEntriesRequest

from opsctl.config import CloudRunEnv, TaskConfig
from opsctl.errors import LaunchError, TemporaryFailure, UsageError
from opsctl.model import Check, LogPage, RunInfo, RunRef, RunSpec, State, Status, Timing
from opsctl.providers import cloudrun_admin
from opsctl.providers.cloudrun_clients import GcpClients, connect
from opsctl.providers.cloudrun_errors import TERRAFORM_MODULE, mapped
from opsctl.providers.cloudrun_logs import (
    NS,
    PAGE_SIZE,
    TAIL_BUFFER_WINDOW_MS,
    LogStream,
    TailSession,
    rfc3339,
)
from opsctl.providers.cloudrun_status import IMAGE_REASONS, final_status, is_complete, running_status, short
from opsctl.redact import Redactor

RPC_TIMEOUT_S = 30.0  # a hung connection becomes DEADLINE_EXCEEDED, which the runner retries
TAIL_TIMEOUT_S = 3600.0
LOG_SLACK_NS = 60 * NS  # read logs from a minute before the execution's create_time: clocks differ
SCAN_EXECUTIONS = 200  # find_run/active_runs look at the newest executions only (they are listed newest first)
_EXECUTION = re.compile(r"^projects/([^/]+)/locations/([^/]+)/jobs/([^/]+)/executions/([^/]+)$")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,126}$")


def build(env: CloudRunEnv) -> CloudRunProvider:
    """The provider with real clients; OPSCTL_GCP_ENDPOINT (or `endpoint =`) points them at a stand-in."""
    return CloudRunProvider(env, connect(os.environ.get("OPSCTL_GCP_ENDPOINT") or env.endpoint))


class CloudRunProvider:
    """Runs the job once with overrides, watches the execution, reads its logs, cancels it."""

    kind = "cloudrun"
    # Log reads 6 s apart keep list calls at <= 12 in any minute of a run, the drain's first read included (the
    # project's quota is 60 a minute, shared by every operator); while the tail streams, reads cost nothing.
    # Execution gets use the far larger Run API quota. After completion, reads go on until two reads 6 s apart
    # bring nothing new (Cloud Logging ingests with a delay of a few seconds).
    timing = Timing(
        fast_poll_s=2.0,
        slow_poll_s=5.0,
        fast_phase_s=30.0,
        log_fast_poll_s=6.0,
        log_poll_s=6.0,
        drain_settle_s=6.0,
        drain_quiet_reads=2,
        drain_max_s=60.0,
        stop_wait_s=60.0,
    )

    def __init__(self, env: CloudRunEnv, clients: GcpClients, *, tail: bool = True) -> None:
        self.env = env
        self.clients = clients
        self.tail = tail
        self.job_name = f"projects/{env.project}/locations/{env.region}/jobs/{env.job}"
        self._container: str | None = None
        self._created: dict[str, int] = {}  # execution id → create_time (ns), for the logs' `timestamp>=`
        self._streams: dict[str, LogStream] = {}
        self._complete: set[str] = set()

    # -- naming ------------------------------------------------------------------------------------

    def job_missing(self) -> str:
        return (
            f"Cloud Run job {self.env.job!r} not found in {self.env.project}/{self.env.region} — create it: "
            f"terraform apply in {TERRAFORM_MODULE}"
        )

    def _name(self, ref: RunRef) -> str:
        return f"{self.job_name}/executions/{ref.id}"

    def _gone(self, ref: RunRef) -> str:
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
        run = run.strip()
        match = _EXECUTION.match(run)
        if match:
            project, region, job, run = match.groups()
            if (project, region, job) != (self.env.project, self.env.region, self.env.job):
                raise UsageError(
                    f"execution {run!r} belongs to {project}/{region}/{job}, not to environment "
                    f"{self.env.name!r} ({self.env.project}/{self.env.region}/{self.env.job})"
                )
        if not _ID.match(run):
            raise UsageError(f"{run!r} is not a Cloud Run execution name (like {self.env.job}-x7k2p)")
        console = (
            f"https://console.cloud.google.com/run/jobs/executions/details/{self.env.region}/{run}/tasks"
            f"?project={self.env.project}"
        )
        logs = (
            f"https://console.cloud.google.com/logs/query;query={quote(self._base_filter(run), safe='')}"
            f"?project={self.env.project}"
        )
        return RunRef(id=run, console_url=console, log_url=logs)

    def target(self) -> list[tuple[str, str]]:
        """Project, region, job and container; no cloud call."""
        rows = [
            ("project", self.env.project),
            ("region", self.env.region),
            ("job", self.env.job),
            ("container", self.env.container or "(the job's first container)"),
        ]
        endpoint = os.environ.get("OPSCTL_GCP_ENDPOINT") or self.env.endpoint
        if endpoint:
            rows.append(("endpoint", f"{endpoint} (plaintext, no credentials)"))
        return rows

    # -- launch ------------------------------------------------------------------------------------

    def resolve_container(self) -> str:
        """The container to override: `container`, else the job's first; one GetJob per provider."""
        if self._container is not None:
            return self._container
        with mapped(self.env, "get_job", f"job {self.env.job!r}", not_found=self.job_missing()):
            job = self.clients.jobs.get_job(name=self.job_name, retry=None, timeout=RPC_TIMEOUT_S)
        names = [c.name for c in job.template.template.containers]
        if not names:
            raise LaunchError(f"Cloud Run job {self.env.job!r} has no container")
        condition = job.terminal_condition
        if condition is not None and condition.reason in IMAGE_REASONS:
            raise LaunchError(
                f"the image of Cloud Run job {self.env.job!r} is missing or unreadable "
                f"({condition.message}) — build and push it: opsctl build {self.env.name}"
            )
        wanted = self.env.container
        if wanted is not None and wanted not in names:
            shown = ", ".join(repr(n) if n else "(unnamed)" for n in names)
            raise LaunchError(
                f"container {wanted!r} is not in Cloud Run job {self.env.job!r} (its containers: "
                f"{shown}); fix environments.{self.env.name}.container in {self.env.source}"
            )
        self._container = wanted if wanted is not None else names[0]
        return self._container

    def _request(self, spec: RunSpec) -> run_v2.RunJobRequest:
        override = run_v2.RunJobRequest.Overrides.ContainerOverride(
            name=self.resolve_container(),
            args=list(spec.command) if spec.command is not None else [],
            env=[run_v2.EnvVar(name=k, value=v) for k, v in spec.env_dict().items()],
        )
        overrides = run_v2.RunJobRequest.Overrides(container_overrides=[override], task_count=1)
        if spec.timeout_s is not None:
            overrides.timeout = timedelta(seconds=math.ceil(spec.timeout_s))
        return run_v2.RunJobRequest(name=self.job_name, overrides=overrides)

    def plan(self, spec: RunSpec) -> dict[str, Any]:
        """The RunJob request launch would send (one GetJob to resolve the container)."""
        request = self._request(spec)
        body = run_v2.RunJobRequest.to_dict(
            request, preserving_proto_field_name=True, always_print_fields_with_no_presence=False
        )
        return {"rpc": "google.cloud.run.v2.Jobs/RunJob", "request": dict(body)}

    def launch(self, spec: RunSpec) -> RunRef:
        """RunJob once (GetJob first, once per provider); the execution name comes from the LRO's metadata."""
        request = self._request(spec)
        with mapped(
            self.env,
            "run_with_overrides",
            f"job {self.env.job!r}",
            not_found=self.job_missing(),
            redact=Redactor(spec.secret_values),
        ):
            operation = self.clients.jobs.run_job(request=request, retry=None, timeout=RPC_TIMEOUT_S)
        execution = operation.metadata
        if execution is None or not execution.name:
            # Whether it started is unknown: the runner looks for OPSCTL_RUN_ID before trying again.
            raise TemporaryFailure(f"Cloud Run accepted the run of job {self.env.job!r} but named no execution")
        self._remember(execution)
        return self.ref(short(execution.name))

    def _remember(self, execution: Any) -> None:
        raw = run_v2.Execution.pb(execution)
        if raw.HasField("create_time"):
            self._created[short(raw.name)] = raw.create_time.seconds * NS + raw.create_time.nanos

    def _executions(self) -> Iterator[Any]:
        """The job's newest executions (one call plus paging, at most SCAN_EXECUTIONS)."""
        with mapped(self.env, "list_executions", f"job {self.env.job!r}", not_found=self.job_missing()):
            pager = self.clients.executions.list_executions(
                request={"parent": self.job_name, "page_size": 50}, retry=None, timeout=RPC_TIMEOUT_S
            )
            for seen, execution in enumerate(pager):
                if seen >= SCAN_EXECUTIONS:
                    return
                yield execution

    def find_run(self, spec: RunSpec) -> RunRef | None:
        """The execution whose container env carries this spec's OPSCTL_RUN_ID."""
        for execution in self._executions():
            if env_of(execution).get("OPSCTL_RUN_ID") == spec.run_id:
                self._remember(execution)
                return self.ref(short(execution.name))
        return None

    def active_runs(self, env: str, task: str) -> list[RunRef]:
        """Executions of this job that opsctl started for this env and task and that have not completed."""
        found = []
        for execution in self._executions():
            values = env_of(execution)
            if (
                execution.completion_time is None
                and "OPSCTL_RUN_ID" in values
                and values.get("OPSCTL_ENV") == env
                and values.get("OPSCTL_TASK") == task
            ):
                found.append(self.ref(short(execution.name)))
        return found

    # -- watch -------------------------------------------------------------------------------------

    def _get(self, ref: RunRef) -> Any:
        with mapped(self.env, "get_execution", f"execution {ref.id!r}", not_found=self._gone(ref)):
            execution = self.clients.executions.get_execution(name=self._name(ref), retry=None, timeout=RPC_TIMEOUT_S)
        self._remember(execution)
        return execution

    def _observe(self, ref: RunRef, execution: Any) -> Status:
        """The Status of an execution just fetched; a complete one costs a ListTasks for the exit code."""
        if not is_complete(execution):
            return running_status(execution)
        with mapped(self.env, "list_tasks", f"execution {ref.id!r}", not_found=self._gone(ref)):
            pager = self.clients.tasks.list_tasks(
                request={"parent": self._name(ref), "page_size": 10}, retry=None, timeout=RPC_TIMEOUT_S
            )
            tasks = list(next(iter(pager.pages)).tasks)
        self._complete.add(ref.id)
        stream = self._streams.get(ref.id)
        if stream is not None:
            stream.tailer = None  # no new tail after the end; a live one keeps going through the drain
        return final_status(execution, tasks, self.env.name, _log_source(stream))

    def poll(self, ref: RunRef) -> Status:
        """GetExecution; once it is complete, ListTasks too for the exit code (one extra call, at the end)."""
        return self._observe(ref, self._get(ref))

    def info(self, ref: RunRef) -> RunInfo:
        """Who started the execution, for which task, and how it stands (its OPSCTL_* env)."""
        execution = self._get(ref)
        status = self._observe(ref, execution)
        values = env_of(execution)
        return RunInfo(
            ref=ref,
            env=values.get("OPSCTL_ENV"),
            task=values.get("OPSCTL_TASK"),
            actor=values.get("OPSCTL_ACTOR"),
            started_at=status.started_at or execution.create_time,
            stopped_at=status.stopped_at,
            state=status.state,
            exit_code=status.exit_code,
        )

    def recent_runs(self, env: str, limit: int) -> list[RunInfo]:
        """This env's opsctl executions, newest first (no exit code for a failed one: `opsctl wait` has it)."""
        found = []
        for execution in self._executions():
            values = env_of(execution)
            if values.get("OPSCTL_ENV") != env or "OPSCTL_RUN_ID" not in values:
                continue
            done = is_complete(execution)
            found.append(
                RunInfo(
                    ref=self.ref(short(execution.name)),
                    env=env,
                    task=values.get("OPSCTL_TASK"),
                    actor=values.get("OPSCTL_ACTOR"),
                    started_at=execution.start_time or execution.create_time,
                    stopped_at=execution.completion_time,
                    state=State.STOPPED if done else running_status(execution).state,
                    exit_code=0 if done and execution.succeeded_count >= execution.task_count else None,
                )
            )
            if len(found) >= limit:
                break
        return found

    def checks(self, tasks: list[TaskConfig]) -> list[Check]:
        """`opsctl doctor`: credentials, the job and its container and image, IAM on the job, log access."""
        return cloudrun_admin.checks(self, tasks)

    def registry_login(self, image: str) -> tuple[str, str]:
        """Artifact Registry: `oauth2accesstoken` and an access token of the Application Default Credentials."""
        return cloudrun_admin.registry_login(self, image)

    def set_image(self, image: str) -> str:
        """UpdateJob with the container's new image, waiting for the update to finish."""
        return cloudrun_admin.set_image(self, image)

    def read_logs(self, ref: RunRef, cursor: str | None) -> LogPage:
        """The next lines: from the live tail's buffer (no call), else one ListLogEntries call."""
        stream = self._streams.get(ref.id)
        if stream is None:
            since = self._created.get(ref.id)
            if since is None:
                # `opsctl logs` on an execution this process never saw: its create_time bounds the filter.
                with mapped(self.env, "get_execution", f"execution {ref.id!r}", not_found=self._gone(ref)):
                    execution = self.clients.executions.get_execution(
                        name=self._name(ref), retry=None, timeout=RPC_TIMEOUT_S
                    )
                self._remember(execution)
                if is_complete(execution):
                    self._complete.add(ref.id)
                since = self._created.get(ref.id, 0)
            tailer = self._tailer(ref) if self.tail and ref.id not in self._complete else None
            stream = LogStream(
                max(0, since - LOG_SLACK_NS), lambda ns: self.log_filter(ref.id, ns), self._lister(ref), tailer
            )
            self._streams[ref.id] = stream
        return stream.read(cursor)

    def _lister(self, ref: RunRef) -> Any:
        def list_page(filter_: str, token: str | None) -> tuple[Any, str]:
            request = ListLogEntriesRequest(
                resource_names=[f"projects/{self.env.project}"],
                filter=filter_,
                order_by="timestamp asc",
                page_size=PAGE_SIZE,
                page_token=token or "",
            )
            with mapped(self.env, "read_logs", f"the logs of execution {ref.id!r}"):
                pager = self.clients.logging.list_log_entries(request=request, retry=None, timeout=RPC_TIMEOUT_S)
                page = ListLogEntriesResponse.pb(next(iter(pager.pages)))
            return page.entries, page.next_page_token

        return list_page

    def _tailer(self, ref: RunRef) -> Any:
        def tail(filter_: str) -> TailSession:
            request = TailLogEntriesRequest(
                resource_names=[f"projects/{self.env.project}"],
                filter=filter_,
                buffer_window=timedelta(milliseconds=TAIL_BUFFER_WINDOW_MS),
            )
            return TailSession(self.clients.logging.transport.tail_log_entries, request, TAIL_TIMEOUT_S)

        return tail

    def stop(self, ref: RunRef, reason: str) -> None:
        """CancelExecution (Cloud Run takes no reason); an execution that already finished is left alone."""
        with mapped(self.env, "cancel", f"execution {ref.id!r}", not_found=self._gone(ref)):
            try:
                self.clients.executions.cancel_execution(name=self._name(ref), retry=None, timeout=RPC_TIMEOUT_S)
            except gexc.FailedPrecondition:
                return  # already completed (or already cancelled)

    def close(self) -> None:
        """Stop the log tails and close the channels."""
        for stream in self._streams.values():
            stream.close()
        self.clients.close()

    def warnings(self) -> tuple[str, ...]:
        """Cloud Run replaces the container's args: the image's entrypoint always runs."""
        return ()


def env_of(execution: Any) -> dict[str, str]:
    """The env of the execution's containers, overrides applied."""
    return {e.name: e.value for c in execution.template.containers for e in c.env}


def _log_source(stream: LogStream | None) -> str | None:
    if stream is None or stream.tails_started == 0:
        return None
    error = stream.tail_error
    if error is None and stream.tail is not None:
        return "live tail"
    code = getattr(error, "code", None)
    why = code().name if callable(code) else "ended"
    return f"polling (the live tail failed: {why})"
