"""`provider = "cloudrun"`: a Cloud Run job execution with overrides, its Cloud Logging lines, cancel.

Cloud Run can override a job container's `args` and merge `env`, never its entrypoint: a task's
`command` becomes the container's args (launch.py). `RunJob` is not idempotent, so every execution
carries `OPSCTL_RUN_ID` in its env and `find_run` looks for it before a retried launch.

`--tasks N` is one execution with task_count N: one RunJob, one GetExecution per poll (its counts), one
Cloud Logging read path for all N tasks (each line's copy from its `task_index` label), ListTasks (paged)
once it is complete, one CancelExecution to stop them all.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import run_v2
from google.cloud.logging_v2.types import ListLogEntriesRequest, ListLogEntriesResponse, TailLogEntriesRequest

from opsctl.config import CloudRunEnv, TaskConfig
from opsctl.model import Check, Discovery, LogPage, RunInfo, RunRef, RunSpec, State, Status, Timing
from opsctl.providers.cloudrun import admin
from opsctl.providers.cloudrun.clients import RPC_TIMEOUT_S, GcpClients, connect
from opsctl.providers.cloudrun.errors import mapped
from opsctl.providers.cloudrun.launch import env_of, executions, request_body, run_job
from opsctl.providers.cloudrun.logs import NS, PAGE_SIZE, TAIL_BUFFER_WINDOW_MS, LogStream, TailSession
from opsctl.providers.cloudrun.platform import last_attempts
from opsctl.providers.cloudrun.resolve import Job
from opsctl.providers.cloudrun.status import final_copies, final_status, is_complete, running_status, short

TAIL_TIMEOUT_S = 3600.0
TASKS_PAGE = 1000  # ListTasks page size for an execution of N > 1 tasks (10,000 tasks: 10 calls, once)
LOG_SLACK_NS = 60 * NS  # read logs from a minute before the execution's create_time: clocks differ


def build(env: CloudRunEnv) -> CloudRunProvider:
    """The provider with real clients; OPSCTL_GCP_ENDPOINT (or `endpoint =`) points them at a stand-in."""
    return CloudRunProvider(env, connect(os.environ.get("OPSCTL_GCP_ENDPOINT") or env.endpoint))


class CloudRunProvider:
    """Runs the job once with overrides, watches the execution, reads its logs, cancels it."""

    kind = "cloudrun"
    # Log reads 6 s apart keep list calls at <= 12 in any minute of a run, the drain's first read included (the
    # project's quota is 60 a minute, shared by every operator); while the tail streams, reads cost nothing.
    # Execution gets use the far larger Run API quota. After completion, reads go on until every task's exit
    # entry is in (from the tail's buffer: every 0.25 s, for free); without one (a cancelled or killed task
    # writes none), until two reads 6 s apart bring nothing new (Cloud Logging ingests with a delay).
    # RunJob is not idempotent and the executions listing lags the run call: after an ambiguous RunJob, look
    # for the run id for 30 s before running the job again.
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
        find_window_s=30.0,
    )

    def __init__(self, env: CloudRunEnv, clients: GcpClients, *, tail: bool = True) -> None:
        self.env = env
        self.clients = clients
        self.tail = tail
        self.job = Job(env, clients)
        self.job_name = self.job.name
        self._created: dict[str, int] = {}  # execution id → create_time (ns), for the logs' `timestamp>=`
        self._counts: dict[str, int] = {}  # execution id → task_count (N > 1: each log line names its copy)
        self._streams: dict[str, LogStream] = {}
        self._complete: set[str] = set()
        self._last_attempts: dict[str, dict[int, int] | None] = {}  # execution id → task → its last attempt

    def ref(self, run: str) -> RunRef:
        """An execution's short name (as gcloud shows it) or full resource name → RunRef."""
        return self.job.ref(run)

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

    def plan(self, spec: RunSpec) -> dict[str, Any]:
        """The RunJob request launch would send (one GetJob to resolve the container)."""
        return request_body(self.job, spec)

    def launch(self, spec: RunSpec) -> RunRef:
        """RunJob once (GetJob first, once per provider); the execution name comes from the LRO's metadata."""
        execution = run_job(self.job, spec)
        self._counts[short(execution.name)] = spec.tasks
        self._remember(execution)
        return self.ref(short(execution.name))

    def _remember(self, execution: Any) -> None:
        raw = run_v2.Execution.pb(execution)
        if raw.task_count:
            self._counts[short(raw.name)] = raw.task_count
        if raw.HasField("create_time"):
            self._created[short(raw.name)] = raw.create_time.seconds * NS + raw.create_time.nanos

    def find_run(self, spec: RunSpec) -> RunRef | None:
        """The execution whose container env carries this spec's OPSCTL_RUN_ID."""
        for execution in executions(self.job):
            if env_of(execution).get("OPSCTL_RUN_ID") == spec.run_id:
                self._remember(execution)
                return self.ref(short(execution.name))
        return None

    def duplicates(self, spec: RunSpec, ref: RunRef) -> list[RunRef]:
        """Executions other than `ref` whose env carries this spec's OPSCTL_RUN_ID (RunJob is not idempotent)."""
        return [
            self.ref(short(execution.name))
            for execution in executions(self.job)
            if env_of(execution).get("OPSCTL_RUN_ID") == spec.run_id and short(execution.name) != ref.id
        ]

    def active_runs(self, env: str, task: str) -> list[RunRef]:
        """Executions of this job that opsctl started for this env and task and that have not completed."""
        found = []
        for execution in executions(self.job):
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
        with mapped(self.env, "get_execution", f"execution {ref.id!r}", not_found=self.job.gone(ref)):
            execution = self.clients.executions.get_execution(
                name=self.job.execution(ref), retry=None, timeout=RPC_TIMEOUT_S
            )
        self._remember(execution)
        return execution

    def _observe(self, ref: RunRef, execution: Any) -> Status:
        """The Status of an execution just fetched; a complete one costs a ListTasks for the exit code."""
        if not is_complete(execution):
            return running_status(execution)
        tasks = self._tasks(ref, execution.task_count)
        self._complete.add(ref.id)
        self._last_attempts[ref.id] = last_attempts(execution, tasks)
        stream = self._streams.get(ref.id)
        if stream is not None:
            stream.tailer = None  # no new tail after the end; a live one keeps going through the drain
            stream.ends.last_attempts = self._last_attempts[ref.id]
        if execution.task_count > 1:
            return final_copies(execution, tasks, self.env.name, _log_source(stream))
        return final_status(execution, tasks, self.env.name, _log_source(stream))

    def _tasks(self, ref: RunRef, count: int) -> list[Any]:
        """ListTasks: one page for a single task; every page (of TASKS_PAGE) for N > 1 tasks."""
        size = 10 if count <= 1 else TASKS_PAGE
        with mapped(self.env, "list_tasks", f"execution {ref.id!r}", not_found=self.job.gone(ref)):
            pager = self.clients.tasks.list_tasks(
                request={"parent": self.job.execution(ref), "page_size": size}, retry=None, timeout=RPC_TIMEOUT_S
            )
            if count <= 1:
                return list(next(iter(pager.pages)).tasks)
            return [task for page in pager.pages for task in page.tasks]

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
            run_id=values.get("OPSCTL_RUN_ID"),
            created_at=execution.create_time,
        )

    def recent_runs(self, env: str, limit: int) -> list[RunInfo]:
        """This env's opsctl executions, newest first (no exit code for a failed one: `opsctl wait` has it)."""
        found = []
        for execution in executions(self.job):
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
        return admin.checks(self.job, tasks)

    def registry_login(self, image: str) -> tuple[str, str]:
        """Artifact Registry: `oauth2accesstoken` and an access token of the Application Default Credentials."""
        return admin.registry_login(self.job, image)

    def set_image(self, image: str) -> str:
        """UpdateJob with the container's new image, waiting for the update to finish."""
        return admin.set_image(self.job, image)

    def discover(self) -> Discovery:
        """`opsctl init`: read the job (its containers and images)."""
        return admin.discover(self.job)

    def read_logs(self, ref: RunRef, cursor: str | None) -> LogPage:
        """The next lines: from the live tail's buffer (no call), else one ListLogEntries call."""
        stream = self._streams.get(ref.id)
        if stream is None:
            since = self._created.get(ref.id)
            if since is None or ref.id not in self._counts:
                # `opsctl logs` on an execution this process never saw: its create_time bounds the filter.
                with mapped(self.env, "get_execution", f"execution {ref.id!r}", not_found=self.job.gone(ref)):
                    execution = self.clients.executions.get_execution(
                        name=self.job.execution(ref), retry=None, timeout=RPC_TIMEOUT_S
                    )
                self._remember(execution)
                if is_complete(execution):
                    self._complete.add(ref.id)
                since = self._created.get(ref.id, 0)
            tailer = self._tailer(ref) if self.tail and ref.id not in self._complete else None
            stream = LogStream(
                max(0, since - LOG_SLACK_NS),
                lambda ns: self.job.log_filter(ref.id, ns),
                self._lister(ref),
                tailer,
                tasks=self._counts.get(ref.id, 1),
            )
            stream.ends.last_attempts = self._last_attempts.get(ref.id)
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
        with mapped(self.env, "cancel", f"execution {ref.id!r}", not_found=self.job.gone(ref)):
            try:
                self.clients.executions.cancel_execution(
                    name=self.job.execution(ref), retry=None, timeout=RPC_TIMEOUT_S
                )
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


def _log_source(stream: LogStream | None) -> str | None:
    if stream is None or stream.tails_started == 0:
        return None
    error = stream.tail_error
    if error is None and stream.tail is not None:
        return "live tail"
    code = getattr(error, "code", None)
    why = code().name if callable(code) else "ended"
    return f"polling (the live tail failed: {why})"
