"""The state behind the Cloud Run + Cloud Logging fake: jobs, scripted executions, their log entries.

Everything is computed from the clock at request time: an execution is pending, running or done
depending on how long ago it was created and what its Script says; a log line is listable once
its ingestion delay has passed. The clock is either real (CLI tests in a subprocess) or manual
(in-process runner tests advance it, like the runner's own FakeClock).
"""

from __future__ import annotations

import bisect
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.cloud import run_v2
from google.cloud.logging_v2.types import LogEntry

from tests.fakes.gcp.clock import Clock

NS = 1_000_000_000
ExecutionPb = run_v2.Execution.pb()
TaskPb = run_v2.Task.pb()
Condition = run_v2.Condition


@dataclass(frozen=True)
class Line:
    """One line the task prints `at` seconds after it starts; Cloud Logging lists it `delay` s later."""

    at: float
    text: str
    stream: str = "stdout"
    delay: float = 0.0


def lines(texts: Sequence[str], *, start: float = 0.0, every: float = 0.01, delay: float = 0.0) -> list[Line]:
    """Lines printed one after another."""
    return [Line(start + i * every, t, delay=delay) for i, t in enumerate(texts)]


@dataclass
class Script:
    """How one execution behaves."""

    start_after: float = 0.5  # pending this long, then the task's first attempt runs
    run_for: float | None = 1.0  # each attempt runs this long; None: until cancelled
    exit_codes: tuple[int, ...] = (0,)  # one per attempt: a non-zero code is retried up to max_retries
    term_signal: int = 0  # the last attempt was killed by this signal instead of exiting
    lines: Sequence[Line] = ()
    fail_to_start: str | None = None  # the task never runs: this message (the image is missing)
    cancel_at: float | None = None  # someone cancels it elsewhere this long after creation
    cancel_takes: float = 0.5
    behaviour: Callable[[Mapping[str, str]], Script] | None = None  # derive the script from the env overrides


@dataclass
class Job:
    """A Cloud Run job: its containers (name → (image, env, args)) and retry policy."""

    name: str  # full resource name
    containers: dict[str, tuple[str, dict[str, str], list[str]]]
    max_retries: int = 3
    image_missing: bool = False


@dataclass
class Execution:
    """One execution and its script, with time measured on the fake's clock."""

    name: str
    job: Job
    script: Script
    created: float
    created_ns: int
    env: dict[str, str]
    args: list[str]
    container: str
    timeout_s: int
    cancelled_at: float | None = None
    by_ts: list[int] = field(default_factory=list)  # line indexes in (timestamp, insert id) order
    ts_keys: list[int] = field(default_factory=list)  # their timestamps, for bisect
    by_visible: list[int] = field(default_factory=list)  # line indexes in visibility order
    visible_keys: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        lines = self.script.lines
        self.by_ts = sorted(range(len(lines)), key=lambda i: (self.line_ns(i), i))
        self.ts_keys = [self.line_ns(i) for i in self.by_ts]
        self.by_visible = sorted(range(len(lines)), key=lambda i: (self.visible_at(i), self.line_ns(i), i))
        self.visible_keys = [self.visible_at(i) for i in self.by_visible]

    @property
    def short(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def attempts(self) -> int:
        codes = self.script.exit_codes
        first_ok = next((i for i, c in enumerate(codes) if c == 0), len(codes) - 1)
        return min(first_ok + 1, self.job.max_retries + 1)

    @property
    def runs_from(self) -> float:
        return self.created + self.script.start_after

    def end(self) -> float | None:
        """When the last attempt ends by itself (None: never)."""
        if self.script.fail_to_start is not None:
            return self.runs_from
        if self.script.run_for is None:
            return None
        return self.runs_from + self.attempts * self.script.run_for

    def cancel_time(self) -> float | None:
        if self.script.cancel_at is not None:
            elsewhere = self.created + self.script.cancel_at
            if self.cancelled_at is None or elsewhere < self.cancelled_at:
                return elsewhere
        return self.cancelled_at

    def done_at(self) -> tuple[float | None, bool]:
        """When it completes and whether by cancellation."""
        end, cancel = self.end(), self.cancel_time()
        if cancel is not None and (end is None or cancel < end):
            return cancel + self.script.cancel_takes, True
        return end, False

    def line_ns(self, i: int) -> int:
        return self.created_ns + int((self.script.start_after + self.script.lines[i].at) * NS)

    def visible_at(self, i: int) -> float:
        return self.runs_from + self.script.lines[i].at + self.script.lines[i].delay

    def emitted(self, i: int) -> bool:
        """The task printed line i (it had not been cancelled or stopped yet)."""
        if self.script.fail_to_start is not None:
            return False
        printed = self.runs_from + self.script.lines[i].at
        cancel, end = self.cancel_time(), self.end()
        return (cancel is None or printed < cancel) and (end is None or printed <= end)

    def entry(self, i: int, project: str) -> Any:
        """Line i as a raw LogEntry, as Cloud Run's logging agent writes it."""
        line = self.script.lines[i]
        job_id = self.job.name.rsplit("/", 1)[-1]
        location = self.job.name.split("/")[3]
        entry = LogEntry.pb()(
            log_name=f"projects/{project}/logs/run.googleapis.com%2F{line.stream}",
            insert_id=f"{self.short}-{i:08d}",
            labels={
                "run.googleapis.com/execution_name": self.short,
                "run.googleapis.com/task_index": "0",
                "run.googleapis.com/task_attempt": str(self.attempts - 1),
            },
        )
        entry.resource.type = "cloud_run_job"
        entry.resource.labels.update({"job_name": job_id, "location": location, "project_id": project})
        ns = self.line_ns(i)
        entry.timestamp.seconds, entry.timestamp.nanos = divmod(ns, NS)
        parsed = _json_object(line.text)
        if parsed is not None:  # Cloud Run turns a JSON line on stdout into a jsonPayload
            entry.json_payload.update(parsed)
        else:
            entry.text_payload = line.text
        return entry

    def to_pb(self, now: float) -> Any:
        """The Execution message as GetExecution returns it at time `now`."""
        ex = ExecutionPb(
            name=self.name,
            job=self.job.name.rsplit("/", 1)[-1],
            task_count=1,
            parallelism=1,
            log_uri=f"https://console.cloud.google.com/logs/viewer?execution={self.short}",
        )
        _stamp(ex.create_time, self.created_ns)
        container = ex.template.containers.add(
            name=self.container, image=self.job.containers[self.container][0], args=self.args
        )
        for k, v in self.env.items():
            container.env.add(name=k, value=v)
        ex.template.max_retries = self.job.max_retries
        done, cancelled = self.done_at()
        cancel = self.cancel_time()
        if now < self.runs_from and (done is None or now < done):
            ex.reconciling = True
            return ex
        _stamp(ex.start_time, self._ns(min(self.runs_from, done if done is not None else self.runs_from)))
        attempt = self._attempt(now)
        ex.retried_count = attempt
        completed = ex.conditions.add(type_="Completed")
        if done is None or now < done:
            ex.running_count = 1
            ex.reconciling = True
            completed.state = Condition.State.CONDITION_PENDING
            if cancel is not None and now >= cancel:
                completed.execution_reason = Condition.ExecutionReason.CANCELLING
            return ex
        _stamp(ex.completion_time, self._ns(done))
        if cancelled:
            ex.cancelled_count = 1
            completed.state = Condition.State.CONDITION_FAILED
            completed.execution_reason = Condition.ExecutionReason.CANCELLED
            completed.message = "The execution was cancelled."
        elif self.script.fail_to_start is not None:
            ex.failed_count = 1
            completed.state = Condition.State.CONDITION_FAILED
            completed.message = "The execution failed."
            completed.reason = Condition.CommonReason.CONTAINER_MISSING
        elif self.final_exit != 0 or self.script.term_signal:
            ex.failed_count = 1
            completed.state = Condition.State.CONDITION_FAILED
            completed.execution_reason = Condition.ExecutionReason.NON_ZERO_EXIT_CODE
            completed.message = f"Task {self.short}-task0 failed with exit code {self.final_exit}."
        else:
            ex.succeeded_count = 1
            completed.state = Condition.State.CONDITION_SUCCEEDED
            completed.message = "Execution completed successfully."
        ex.retried_count = self.attempts - 1
        return ex

    @property
    def final_exit(self) -> int:
        return self.script.exit_codes[min(self.attempts, len(self.script.exit_codes)) - 1]

    def _attempt(self, now: float) -> int:
        run_for = self.script.run_for
        if run_for is None or run_for <= 0 or now < self.runs_from:
            return 0
        return min(int((now - self.runs_from) // run_for), self.attempts - 1)

    def _ns(self, at: float) -> int:
        return self.created_ns + int((at - self.created) * NS)

    def task_pb(self, now: float) -> Any:
        """The execution's only task, as ListTasks returns it."""
        task = TaskPb(
            name=f"{self.name}/tasks/{self.short}-task0",
            index=0,
            execution=self.name,
            max_retries=self.job.max_retries,
            job=self.job.name.rsplit("/", 1)[-1],
        )
        done, cancelled = self.done_at()
        task.retried = self._attempt(now) if done is None or now < done else self.attempts - 1
        if self.script.fail_to_start is not None and done is not None and now >= done:
            task.conditions.add(
                type_="Ready",
                state=Condition.State.CONDITION_FAILED,
                reason=Condition.CommonReason.CONTAINER_MISSING,
                message=self.script.fail_to_start,
            )
            task.retried = 0
            return task
        if done is None or now < done or cancelled:
            return task
        result = task.last_attempt_result
        if self.script.term_signal:
            result.term_signal = self.script.term_signal
            result.status.code = 2
            result.status.message = f"Container terminated on signal {self.script.term_signal}."
        else:
            result.exit_code = self.final_exit
            if self.final_exit:
                result.status.code = 2
                result.status.message = f"Container terminated with exit code {self.final_exit}."
        return task


def _stamp(ts: Any, ns: int) -> None:
    ts.seconds, ts.nanos = divmod(ns, NS)


def _json_object(text: str) -> dict[str, Any] | None:
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class World:
    """Jobs and executions of one fake project-region."""

    def __init__(self, clock: Clock, project: str = "quill-staging-123456", region: str = "europe-west2") -> None:
        self.clock = clock
        self.project = project
        self.region = region
        self.lock = threading.RLock()
        self.jobs: dict[str, Job] = {}
        self.executions: dict[str, Execution] = {}
        self.scripts: list[Script] = []
        self.default_script = Script()
        self._ids = itertools.count(1)
        self._base_ns = (time.time_ns() // NS) * NS

    def wall_ns(self, at: float) -> int:
        """The wall-clock timestamp of fake time `at`."""
        return self._base_ns + int(at * NS)

    def add_job(
        self,
        job: str,
        containers: Mapping[str, str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        max_retries: int = 3,
        image_missing: bool = False,
    ) -> Job:
        """Create a job: container name → image (default one container `admin`)."""
        name = f"projects/{self.project}/locations/{self.region}/jobs/{job}"
        images = containers or {"admin": f"{self.region}-docker.pkg.dev/{self.project}/quill/admin:latest"}
        self.jobs[name] = Job(
            name,
            {c: (img, dict(env or {}), []) for c, img in images.items()},
            max_retries=max_retries,
            image_missing=image_missing,
        )
        return self.jobs[name]

    def run(
        self, job: Job, container: str, env: Mapping[str, str], args: list[str] | None, timeout_s: int
    ) -> Execution:
        """Create an execution with the overrides applied (env merged, args replaced)."""
        image, base_env, base_args = job.containers[container]
        merged = {**base_env, **env}
        script = self.scripts.pop(0) if self.scripts else self.default_script
        if script.behaviour is not None:
            script = script.behaviour(merged)
        if job.image_missing and script.fail_to_start is None:
            script = Script(start_after=script.start_after, fail_to_start=f"Image '{image}' not found.")
        short = f"{job.name.rsplit('/', 1)[-1]}-{next(self._ids):05d}"
        now = self.clock()
        execution = Execution(
            name=f"{job.name}/executions/{short}",
            job=job,
            script=script,
            created=now,
            created_ns=self.wall_ns(now),
            env=merged,
            args=args if args is not None else base_args,
            container=container,
            timeout_s=timeout_s,
        )
        self.executions[execution.name] = execution
        return execution

    def visible_entries(
        self, execution: Execution, since_ns: int, after: tuple[int, str] | None, limit: int, now: float
    ) -> tuple[list[Any], bool]:
        """Listable entries from `since_ns` (or after the page-token position), in timestamp order."""
        start = bisect.bisect_left(execution.ts_keys, since_ns)
        if after is not None:
            start = max(start, bisect.bisect_left(execution.ts_keys, after[0]))
        out: list[Any] = []
        for pos in range(start, len(execution.by_ts)):
            i = execution.by_ts[pos]
            if after is not None and (execution.ts_keys[pos], f"{execution.short}-{i:08d}") <= after:
                continue
            if execution.visible_at(i) > now or not execution.emitted(i):
                continue
            if len(out) == limit:
                return out, True
            out.append(execution.entry(i, self.project))
        return out, False
