"""The state behind the Cloud Run + Cloud Logging fake: jobs, scripted executions, their log entries.

Everything is computed from the clock at request time: an execution is pending, running or done
depending on how long ago it was created and what its Script says; a log line is listable once
its ingestion delay has passed. The clock is either real (CLI tests in a subprocess) or manual
(in-process runner tests advance it, like the runner's own FakeClock).
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Mapping
from typing import Any

from tests.fakes.gcp.clock import Clock
from tests.fakes.gcp.execution import NS, SYSTEM, Emit, Execution, Job, Line, Script, lines

__all__ = ["NS", "SYSTEM", "Emit", "Execution", "Job", "Line", "Script", "World", "lines"]


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
        # Cloud Logging lists an entry this long after it was written, on top of each Line's own delay
        # (there is no documented figure; a second or two is typical).
        self.ingestion_delay_s = 0.0
        # ListExecutions shows a new execution only this long after RunJob created it: "the executions
        # listing can lag the :run call for a moment" (cloud-apis.md §11, third party). GetExecution by
        # name does not lag.
        self.list_lag_s = 0.0
        # Cloud Run writes `Container called exit(N).` to varlog/system after each attempt (§11).
        self.system_log = True
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
        parallelism: int = 0,
    ) -> Job:
        """Create a job: container name → image (default one container `admin`); max_retries defaults to
        Cloud Run's own default, 3 (googleapis `task_template.proto`); parallelism 0 is "as many as possible"
        (googleapis `execution_template.proto`)."""
        name = f"projects/{self.project}/locations/{self.region}/jobs/{job}"
        images = containers or {"admin": f"{self.region}-docker.pkg.dev/{self.project}/quill/admin:latest"}
        self.jobs[name] = Job(
            name,
            {c: (img, dict(env or {}), []) for c, img in images.items()},
            max_retries=max_retries,
            image_missing=image_missing,
            parallelism=parallelism,
        )
        return self.jobs[name]

    def run(
        self,
        job: Job,
        container: str,
        env: Mapping[str, str],
        args: list[str] | None,
        timeout_s: int,
        task_count: int = 0,
    ) -> Execution:
        """Create an execution with the overrides applied (env merged, args replaced); task_count 0 is the
        job's. Every task follows the next script (a `behaviour` sees each task's CLOUD_RUN_TASK_INDEX)."""
        image, base_env, base_args = job.containers[container]
        merged = {**base_env, **env}
        count = task_count or job.task_count
        script = self.scripts.pop(0) if self.scripts else self.default_script
        scripts = [self._task_script(script, merged, k, count) for k in range(count)]
        if job.image_missing:
            scripts = [
                s if s.fail_to_start else Script(start_after=s.start_after, fail_to_start=f"Image '{image}' not found.")
                for s in scripts
            ]
        short = f"{job.name.rsplit('/', 1)[-1]}-{next(self._ids):05d}"
        now = self.clock()
        execution = Execution(
            name=f"{job.name}/executions/{short}",
            job=job,
            script=scripts[0],
            more=scripts[1:],
            created=now,
            created_ns=self.wall_ns(now),
            env=merged,
            args=args if args is not None else base_args,
            container=container,
            timeout_s=timeout_s,
            parallelism=job.parallelism,
            ingestion_delay=self.ingestion_delay_s,
            system_log=self.system_log,
        )
        self.executions[execution.name] = execution
        return execution

    @staticmethod
    def _task_script(script: Script, env: Mapping[str, str], index: int, count: int) -> Script:
        if script.behaviour is None:
            return script
        # Cloud Run sets these in each task's container (cloud.google.com/run/docs/container-contract#jobs-env-vars).
        return script.behaviour({**env, "CLOUD_RUN_TASK_INDEX": str(index), "CLOUD_RUN_TASK_COUNT": str(count)})

    def listed(self, execution: Execution, now: float) -> bool:
        """Whether ListExecutions shows the execution yet."""
        return now - execution.created >= self.list_lag_s

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
            if after is not None and (execution.ts_keys[pos], execution.insert_id(i)) <= after:
                continue
            if execution.visible_at(i) > now or not execution.emitted(i):
                continue
            if len(out) == limit:
                return out, True
            out.append(execution.entry(i, self.project))
        return out, False
