"""One scripted Cloud Run execution: its tasks, their attempts, and every log entry they write.

Sources for what is modelled here (shared/notes/cloud-apis.md §7, §10, §11):
- An execution runs `task_count` tasks (`CLOUD_RUN_TASK_INDEX` 0…N-1); a task whose container exits non-zero
  runs again, up to the job's `max_retries` (default 3, not overridable per run) — googleapis
  `google/cloud/run/v2/{execution,task,task_template}.proto`; magic-modules #13664, airflow #52580.
- Every attempt writes its lines again, labelled `run.googleapis.com/task_index` and `task_attempt`; after a
  container exits, Cloud Run writes `Container called exit(N).` to `run.googleapis.com/varlog/system` —
  cloud.google.com/run/docs/logging; third-party observations quoted in §11.
- A single-line JSON object on stdout/stderr becomes `jsonPayload`, a protobuf Struct: key order is lost,
  every number is a double, `severity` and `logging.googleapis.com/*` move into LogEntry fields —
  cloud.google.com/logging/docs/structured-logging; googleapis `google/logging/v2/log_entry.proto`.
- Cloud Logging lists an entry only after an ingestion delay (no documented figure: configurable here).
- At most the job's `parallelism` tasks run at once; 0 (unset) means "the maximum possible", modelled as all
  of them — googleapis `google/cloud/run/v2/execution_template.proto` (`parallelism`),
  cloud.google.com/run/docs/configuring/parallelism. Which waiting task starts next is not documented: the
  fake starts them in index order. Each task's container has `CLOUD_RUN_TASK_INDEX` / `CLOUD_RUN_TASK_COUNT`
  — cloud.google.com/run/docs/container-contract#jobs-env-vars (world.py).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.cloud import run_v2
from google.cloud.logging_v2.types import LogEntry

from tests.fakes.gcp.payload import json_object, structured

NS = 1_000_000_000
ExecutionPb = run_v2.Execution.pb()
TaskPb = run_v2.Task.pb()
Condition = run_v2.Condition
SYSTEM = "varlog/system"  # the stream of Cloud Run's own lines about a task


@dataclass(frozen=True)
class Line:
    """One line the task prints `at` seconds after its attempt starts; Cloud Logging lists it `delay` s later.

    `stream` is stdout, stderr, or varlog/system for a line Cloud Run itself writes about the task (e.g. an
    out-of-memory kill)."""

    at: float
    text: str
    stream: str = "stdout"
    delay: float = 0.0


def lines(texts: Sequence[str], *, start: float = 0.0, every: float = 0.01, delay: float = 0.0) -> list[Line]:
    """Lines printed one after another."""
    return [Line(start + i * every, t, delay=delay) for i, t in enumerate(texts)]


@dataclass
class Script:
    """How one task behaves (every task of an execution follows the same script unless `behaviour` varies it)."""

    start_after: float = 0.5  # pending this long, then the task's first attempt runs
    run_for: float | None = 1.0  # each attempt runs this long; None: until cancelled
    # One per attempt: a non-zero code runs the task again, up to max_retries times (the script's attempts
    # end at its first 0 or its last code).
    exit_codes: tuple[int, ...] = (0,)
    term_signal: int = 0  # the last attempt was killed by this signal instead of exiting
    lines: Sequence[Line] = ()  # printed by every attempt
    fail_to_start: str | None = None  # the task never runs: this message (the image is missing)
    cancel_at: float | None = None  # someone cancels it elsewhere this long after creation
    cancel_takes: float = 0.5
    # Derive the script from the env: the overrides merged with the job's, plus CLOUD_RUN_TASK_INDEX / _COUNT.
    behaviour: Callable[[Mapping[str, str]], Script] | None = None

    def attempts(self, max_retries: int) -> int:
        """How many attempts the task makes: until one exits 0, at most max_retries + 1."""
        first_ok = next((i for i, c in enumerate(self.exit_codes) if c == 0), len(self.exit_codes) - 1)
        return min(first_ok + 1, max_retries + 1)

    def code(self, attempt: int) -> int:
        """The exit code of one attempt."""
        return self.exit_codes[min(attempt, len(self.exit_codes) - 1)]


@dataclass(frozen=True)
class Emit:
    """One log entry an execution writes: which task and attempt, when (fake time), what."""

    task: int
    attempt: int
    at: float
    text: str
    stream: str
    delay: float
    seq: int


@dataclass
class Job:
    """A Cloud Run job: its containers (name → (image, env, args)), retry policy and task count."""

    name: str  # full resource name
    containers: dict[str, tuple[str, dict[str, str], list[str]]]
    max_retries: int = 3  # Cloud Run's default (§10)
    image_missing: bool = False
    task_count: int = 1
    parallelism: int = 0  # template.parallelism: at most this many tasks at once (0: as many as possible)


@dataclass
class Execution:
    """One execution and its tasks' scripts, with time measured on the fake's clock.

    `script` is task 0's script, `more` the others' (task_count > 1); `__post_init__` derives every entry the
    execution writes, so a test that rewrites `script` calls it again."""

    name: str
    job: Job
    script: Script
    created: float
    created_ns: int
    env: dict[str, str]
    args: list[str]
    container: str
    timeout_s: int
    more: list[Script] = field(default_factory=list)
    parallelism: int = 0  # the job's: at most this many tasks run at once (0: all of them)
    ingestion_delay: float = 0.0
    system_log: bool = True  # Cloud Run's own varlog/system entries (the container's exit) are written
    cancelled_at: float | None = None
    emits: list[Emit] = field(default_factory=list)
    by_ts: list[int] = field(default_factory=list)  # emit indexes in (timestamp, insert id) order
    ts_keys: list[int] = field(default_factory=list)  # their timestamps, for bisect
    by_visible: list[int] = field(default_factory=list)  # emit indexes in visibility order
    visible_keys: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._schedule()
        self.emits = [e for k in range(self.task_count) for e in self._task_emits(k)]
        ids = [self.insert_id(i) for i in range(len(self.emits))]
        self.by_ts = sorted(range(len(self.emits)), key=lambda i: (self.line_ns(i), ids[i]))
        self.ts_keys = [self.line_ns(i) for i in self.by_ts]
        self.by_visible = sorted(range(len(self.emits)), key=lambda i: (self.visible_at(i), self.line_ns(i), ids[i]))
        self.visible_keys = [self.visible_at(i) for i in self.by_visible]

    def _schedule(self) -> None:
        """When each task starts and ends by itself: in index order, each waiting for a free slot of `parallelism`
        (a task that never ends holds its slot for good)."""
        slots = [self.created] * (self.parallelism or self.task_count)
        self._starts: list[float] = []
        self._ends: list[float | None] = []
        for script in self.scripts:
            start = max(self.created + script.start_after, heapq.heappop(slots))
            if script.fail_to_start is not None:
                end: float | None = start
            elif script.run_for is None:
                end = None
            else:
                end = start + script.attempts(self.job.max_retries) * script.run_for
            self._starts.append(start)
            self._ends.append(end)
            heapq.heappush(slots, math.inf if end is None else end)
        known = [e for e in self._ends if e is not None]
        self._end = None if len(known) < len(self._ends) else max(known)

    def _task_emits(self, k: int) -> list[Emit]:
        script = self.scripts[k]
        start = self.task_runs_from(k)
        if script.fail_to_start is not None or start == math.inf:  # never starts: every slot is held for good
            return []
        out: list[Emit] = []
        attempts = 1 if script.run_for is None else script.attempts(self.job.max_retries)
        for attempt in range(attempts):
            begin = start + attempt * (script.run_for or 0.0)
            for line in script.lines:
                if script.run_for is None or line.at <= script.run_for:
                    out.append(Emit(k, attempt, begin + line.at, line.text, line.stream, line.delay, len(out)))
            last = attempt == attempts - 1
            if self.system_log and script.run_for is not None and not (last and script.term_signal):
                # After the container exits, Cloud Run logs it (§11; no entry is modelled for a signal).
                text = f"Container called exit({script.code(attempt)})."
                out.append(Emit(k, attempt, begin + script.run_for, text, SYSTEM, 0.0, len(out)))
        return out

    # -- tasks and time ----------------------------------------------------------------------------

    @property
    def scripts(self) -> list[Script]:
        return [self.script, *self.more]

    @property
    def task_count(self) -> int:
        return 1 + len(self.more)

    @property
    def short(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def attempts(self) -> int:
        """Task 0's attempts."""
        return self.task_attempts(0)

    def task_attempts(self, k: int) -> int:
        return self.scripts[k].attempts(self.job.max_retries)

    @property
    def runs_from(self) -> float:
        """When task 0's first attempt starts."""
        return self.task_runs_from(0)

    def task_runs_from(self, k: int) -> float:
        """When task k's first attempt starts (after its own delay, once a slot of `parallelism` is free)."""
        return self._starts[k]

    def task_end(self, k: int) -> float | None:
        """When task k's last attempt ends by itself (None: never)."""
        return self._ends[k]

    def end(self) -> float | None:
        """When the last task ends by itself (None: never)."""
        return self._end

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

    def task_state(self, k: int, now: float) -> str:
        """pending | running | succeeded | failed | cancelled, at `now`."""
        end, cancel = self.task_end(k), self.cancel_time()
        done, cancelled = self.done_at()
        if end is not None and now >= end and (cancel is None or end <= cancel):
            script = self.scripts[k]
            ok = script.fail_to_start is None and not script.term_signal
            return "succeeded" if ok and script.code(self.task_attempts(k) - 1) == 0 else "failed"
        if cancelled and done is not None and now >= done:
            return "cancelled"
        return "pending" if now < self.task_runs_from(k) else "running"

    def _attempt(self, k: int, now: float) -> int:
        run_for = self.scripts[k].run_for
        if run_for is None or run_for <= 0 or now < self.task_runs_from(k):
            return 0
        return min(int((now - self.task_runs_from(k)) // run_for), self.task_attempts(k) - 1)

    def _ns(self, at: float) -> int:
        return self.created_ns + int((at - self.created) * NS)

    @property
    def final_exit(self) -> int:
        """Task 0's last exit code."""
        return self.script.code(self.attempts - 1)

    # -- log entries -------------------------------------------------------------------------------

    def insert_id(self, i: int) -> str:
        e = self.emits[i]
        return f"{self.short}-{e.task:03d}-{e.attempt:02d}-{e.seq:08d}"

    def line_ns(self, i: int) -> int:
        return self._ns(self.emits[i].at)

    def visible_at(self, i: int) -> float:
        return self.emits[i].at + self.emits[i].delay + self.ingestion_delay

    def emitted(self, i: int) -> bool:
        """The entry was written (the task had not been cancelled yet)."""
        cancel = self.cancel_time()
        return cancel is None or self.emits[i].at < cancel

    def entry(self, i: int, project: str) -> Any:
        """Entry i as a raw LogEntry, as Cloud Run's logging agent writes it."""
        emit = self.emits[i]
        job_id = self.job.name.rsplit("/", 1)[-1]
        location = self.job.name.split("/")[3]
        entry = LogEntry.pb()(
            log_name=f"projects/{project}/logs/run.googleapis.com%2F{emit.stream.replace('/', '%2F')}",
            insert_id=self.insert_id(i),
            labels={
                "run.googleapis.com/execution_name": self.short,
                "run.googleapis.com/task_index": str(emit.task),
                "run.googleapis.com/task_attempt": str(emit.attempt),
            },
        )
        entry.resource.type = "cloud_run_job"
        entry.resource.labels.update({"job_name": job_id, "location": location, "project_id": project})
        entry.timestamp.seconds, entry.timestamp.nanos = divmod(self.line_ns(i), NS)
        parsed = json_object(emit.text) if emit.stream != SYSTEM else None
        if parsed is not None:
            structured(entry, parsed)
        else:
            entry.text_payload = emit.text
        return entry

    # -- the API's view ----------------------------------------------------------------------------

    def to_pb(self, now: float) -> Any:
        """The Execution message as GetExecution returns it at time `now`."""
        ex = ExecutionPb(
            name=self.name,
            job=self.job.name.rsplit("/", 1)[-1],
            task_count=self.task_count,
            # "Must be <= task_count" (googleapis google/cloud/run/v2/execution.proto, Execution.parallelism).
            parallelism=min(self.parallelism or self.task_count, self.task_count),
            log_uri=f"https://console.cloud.google.com/logs/viewer?execution={self.short}",
        )
        _stamp(ex.create_time, self.created_ns)
        container = ex.template.containers.add(
            name=self.container, image=self.job.containers[self.container][0], args=self.args
        )
        for name, value in self.env.items():
            container.env.add(name=name, value=value)
        ex.template.max_retries = self.job.max_retries
        done, cancelled = self.done_at()
        first = min(self.task_runs_from(k) for k in range(self.task_count))
        if now < first and (done is None or now < done):
            ex.reconciling = True
            return ex
        _stamp(ex.start_time, self._ns(min(first, done if done is not None else first)))
        states = [self.task_state(k, now) for k in range(self.task_count)]
        ex.retried_count = sum(self._attempt(k, now) for k in range(self.task_count))
        completed = ex.conditions.add(type_="Completed")
        if done is None or now < done:
            ex.running_count = states.count("running")
            ex.succeeded_count, ex.failed_count = states.count("succeeded"), states.count("failed")
            ex.reconciling = True
            completed.state = Condition.State.CONDITION_PENDING
            cancel = self.cancel_time()
            if cancel is not None and now >= cancel:
                completed.execution_reason = Condition.ExecutionReason.CANCELLING
            return ex
        _stamp(ex.completion_time, self._ns(done))
        ex.succeeded_count, ex.failed_count = states.count("succeeded"), states.count("failed")
        ex.cancelled_count = states.count("cancelled")
        ex.retried_count = sum(self.task_attempts(k) - 1 for k in range(self.task_count))
        failed = [k for k, s in enumerate(states) if s == "failed"]
        if cancelled:
            completed.state = Condition.State.CONDITION_FAILED
            completed.execution_reason = Condition.ExecutionReason.CANCELLED
            completed.message = "The execution was cancelled."
        elif any(self.scripts[k].fail_to_start is not None for k in failed):
            completed.state = Condition.State.CONDITION_FAILED
            completed.message = "The execution failed."
            completed.reason = Condition.CommonReason.CONTAINER_MISSING
        elif failed:
            k = failed[0]
            completed.state = Condition.State.CONDITION_FAILED
            completed.execution_reason = Condition.ExecutionReason.NON_ZERO_EXIT_CODE
            code = self.scripts[k].code(self.task_attempts(k) - 1)
            completed.message = f"Task {self.short}-task{k} failed with exit code {code}."
        else:
            completed.state = Condition.State.CONDITION_SUCCEEDED
            completed.message = "Execution completed successfully."
        return ex

    def task_pb(self, now: float, k: int = 0) -> Any:
        """Task k, as GetTask / ListTasks return it."""
        script = self.scripts[k]
        task = TaskPb(
            name=f"{self.name}/tasks/{self.short}-task{k}",
            index=k,
            execution=self.name,
            max_retries=self.job.max_retries,
            job=self.job.name.rsplit("/", 1)[-1],
        )
        state = self.task_state(k, now)
        task.retried = self._attempt(k, now) if state in ("pending", "running") else self.task_attempts(k) - 1
        if script.fail_to_start is not None and state == "failed":
            task.conditions.add(
                type_="Ready",
                state=Condition.State.CONDITION_FAILED,
                reason=Condition.CommonReason.CONTAINER_MISSING,
                message=script.fail_to_start,
            )
            task.retried = 0
            return task
        if state not in ("succeeded", "failed"):
            return task
        result = task.last_attempt_result
        code = script.code(self.task_attempts(k) - 1)
        if script.term_signal:
            result.term_signal = script.term_signal
            result.status.code = 2
            result.status.message = f"Container terminated on signal {script.term_signal}."
        else:
            result.exit_code = code
            if code:
                result.status.code = 2
                result.status.message = f"Container terminated with exit code {code}."
        return task


def _stamp(ts: Any, ns: int) -> None:
    ts.seconds, ts.nanos = divmod(ns, NS)
