"""Launching on Cloud Run: a RunSpec → RunJob with container overrides, and finding executions by OPSCTL_RUN_ID.

`RunJob` is not idempotent, so every execution carries `OPSCTL_RUN_ID` in its env and the provider looks for
it (`executions`, `env_of`) before a retried launch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from google.cloud import run_v2

from opsctl.errors import TemporaryFailure
from opsctl.model import RunSpec
from opsctl.providers.cloudrun.clients import RPC_TIMEOUT_S
from opsctl.providers.cloudrun.errors import mapped
from opsctl.providers.cloudrun.resolve import Job
from opsctl.redact import Redactor

SCAN_EXECUTIONS = 200  # find_run/active_runs look at the newest executions only (they are listed newest first)


def request(job: Job, spec: RunSpec) -> run_v2.RunJobRequest:
    """The RunJob request for one run: the task's command as the container's args, its env merged, and
    `--tasks N` as the execution's task_count (Cloud Run sets CLOUD_RUN_TASK_INDEX/COUNT in each task)."""
    job.check_parallelism(spec.tasks, spec.parallelism)
    override = run_v2.RunJobRequest.Overrides.ContainerOverride(
        name=job.container(),
        args=list(spec.command) if spec.command is not None else [],
        env=[run_v2.EnvVar(name=k, value=v) for k, v in spec.env_dict().items()],
    )
    overrides = run_v2.RunJobRequest.Overrides(container_overrides=[override], task_count=spec.tasks)
    if spec.timeout_s is not None:
        overrides.timeout = timedelta(seconds=math.ceil(spec.timeout_s))
    return run_v2.RunJobRequest(name=job.name, overrides=overrides)


def request_body(job: Job, spec: RunSpec) -> dict[str, Any]:
    """The RunJob request as `--dry-run` shows it (with N > 1 copies, the job's parallelism too)."""
    body = run_v2.RunJobRequest.to_dict(
        request(job, spec), preserving_proto_field_name=True, always_print_fields_with_no_presence=False
    )
    plan: dict[str, Any] = {"rpc": "google.cloud.run.v2.Jobs/RunJob", "request": dict(body)}
    if spec.tasks > 1:
        plan["job_parallelism"] = job.parallelism  # not overridable per execution; 0: as many as possible
    return plan


def run_job(job: Job, spec: RunSpec) -> Any:
    """RunJob once; the new execution, from the long-running operation's metadata."""
    env = job.env
    req = request(job, spec)
    with mapped(
        env, "run_with_overrides", f"job {env.job!r}", not_found=job.missing(), redact=Redactor(spec.secret_values)
    ):
        operation = job.clients.jobs.run_job(request=req, retry=None, timeout=RPC_TIMEOUT_S)
    execution = operation.metadata
    if execution is None or not execution.name:
        # Whether it started is unknown: the runner looks for OPSCTL_RUN_ID before trying again.
        raise TemporaryFailure(f"Cloud Run accepted the run of job {env.job!r} but named no execution")
    return execution


def executions(job: Job) -> Iterator[Any]:
    """The job's newest executions (one call plus paging, at most SCAN_EXECUTIONS)."""
    env = job.env
    with mapped(env, "list_executions", f"job {env.job!r}", not_found=job.missing()):
        pager = job.clients.executions.list_executions(
            request={"parent": job.name, "page_size": 50}, retry=None, timeout=RPC_TIMEOUT_S
        )
        for seen, execution in enumerate(pager):
            if seen >= SCAN_EXECUTIONS:
                return
            yield execution


def env_of(execution: Any) -> dict[str, str]:
    """The env of the execution's containers, overrides applied."""
    return {e.name: e.value for c in execution.template.containers for e in c.env}
