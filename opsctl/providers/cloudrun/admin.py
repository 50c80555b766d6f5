"""The Cloud Run provider's preflight (`opsctl doctor`), image update (`opsctl build`) and reading a live job
(`opsctl init`).

Each takes the environment's Job (its config, clients and names), never the provider: no import circle.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from google.auth import exceptions as auth_exc

from opsctl.config import TaskConfig
from opsctl.errors import LaunchError, OpsctlError, TemporaryFailure, UsageError
from opsctl.model import Check, Discovery
from opsctl.permissions import CLOUD_RUN_PERMISSIONS, CLOUD_RUN_PROJECT_LEVEL_PERMISSIONS
from opsctl.providers.cloudrun.clients import RPC_TIMEOUT_S
from opsctl.providers.cloudrun.errors import TERRAFORM_MODULE, mapped, no_credentials
from opsctl.providers.cloudrun.logs import NS, rfc3339
from opsctl.providers.cloudrun.resolve import Job
from opsctl.providers.cloudrun.status import IMAGE_REASONS

UPDATE_TIMEOUT_S = 300.0


def _check(name: str, action: Callable[[], str]) -> Check:
    """Run one check; an OpsctlError becomes a failed Check whose fix is the message's next step."""
    try:
        return Check(name, True, action())
    except TemporaryFailure:
        raise  # not a finding: `opsctl doctor` retries the checks
    except OpsctlError as e:
        detail, _, fix = str(e).partition(" — ")
        return Check(name, False, detail, fix)


def checks(target: Job, tasks: list[TaskConfig]) -> list[Check]:
    """Credentials, the job, its container and image, the opsctl permissions on the job, reading its logs."""
    env, clients = target.env, target.clients
    endpoint = os.environ.get("OPSCTL_GCP_ENDPOINT") or env.endpoint
    found: list[Check] = []
    if clients.credentials is None:
        found.append(Check("Google credentials", True, f"none needed: endpoint override {endpoint} (plaintext)"))
    else:
        account = getattr(clients.credentials, "service_account_email", None)
        found.append(Check("Google credentials", True, f"Application Default Credentials ({account or 'user'})"))
    job: Any = None

    def get_job() -> str:
        nonlocal job
        with mapped(env, "get_job", f"job {env.job!r}", not_found=target.missing()):
            job = clients.jobs.get_job(name=target.name, retry=None)
        return f"{len(job.template.template.containers)} container(s), max_retries {job.template.template.max_retries}"

    found.append(_check(f"Cloud Run job {target.name}", get_job))
    if job is None:
        return found
    if job.template.template.max_retries > 0:
        # max_retries (default 3) cannot be overridden per run: a failed task silently runs again (§11).
        found[-1] = replace(
            found[-1],
            detail=f"{found[-1].detail}: a failed task runs again, an admin action included",
            fix=f"set max_retries = 0 on the job (the Cloud Run module in {TERRAFORM_MODULE} does; or "
            f"gcloud run jobs update {env.job} --max-retries 0 --region {env.region})",
            warn=True,
        )

    def container() -> str:
        name = target.container()
        spec = next(c for c in job.template.template.containers if c.name == name)
        entrypoint = " ".join(spec.command) or "the image's ENTRYPOINT"
        return (
            f"{name or '(unnamed)'}: a task's command becomes the args of {entrypoint} (Cloud Run cannot override it)"
        )

    found.append(_check("container", container))
    condition = job.terminal_condition
    image_ok = condition is None or condition.reason not in IMAGE_REASONS
    images = ", ".join(c.image for c in job.template.template.containers)
    found.append(
        Check(
            "image",
            image_ok,
            images if image_ok else f"{images}: {condition.message}",
            "" if image_ok else f"build and push it: opsctl build {env.name}",
        )
    )

    def permissions() -> str:
        wanted = [p for p in CLOUD_RUN_PERMISSIONS if p not in CLOUD_RUN_PROJECT_LEVEL_PERMISSIONS]
        with mapped(env, "test_iam_permissions", f"job {env.job!r}"):
            granted = set(
                clients.jobs.test_iam_permissions(request={"resource": target.name, "permissions": wanted}).permissions
            )
        missing = [p for p in wanted if p not in granted]
        if missing:
            raise UsageError(
                f"missing {', '.join(missing)} — ask an admin to add you to operator_members in "
                f"{TERRAFORM_MODULE} (terraform apply)"
            )
        return f"all {len(wanted)} granted"

    found.append(_check("opsctl permissions on the job", permissions))

    def logs() -> str:
        since = int((datetime.now(UTC) - timedelta(hours=1)).timestamp()) * NS
        flt = (
            f'resource.type="cloud_run_job" AND resource.labels.job_name="{env.job}" AND timestamp>="{rfc3339(since)}"'
        )
        with mapped(env, "read_logs", f"the logs of job {env.job!r}"):
            clients.logging.list_log_entries(
                request={"resource_names": [f"projects/{env.project}"], "filter": flt, "page_size": 1}, retry=None
            )
        return "logging.logEntries.list granted on the project"

    found.append(_check("Cloud Logging read access", logs))
    return found


def registry_login(job: Job, image: str) -> tuple[str, str]:
    """`oauth2accesstoken` and a fresh access token: what `gcloud auth configure-docker` would use."""
    host = image.split("/", 1)[0]
    if not (host.endswith("-docker.pkg.dev") or host == "gcr.io" or host.endswith(".gcr.io")):
        raise UsageError(
            f"environments.{job.env.name}.image {image!r} is not in Artifact Registry "
            "(REGION-docker.pkg.dev/PROJECT/REPOSITORY/NAME)"
        )
    credentials = job.clients.credentials
    if credentials is None:
        raise UsageError(
            f"with an endpoint override opsctl holds no Google credentials to log in to {host}: "
            f"log in yourself (gcloud auth configure-docker {host}) or unset OPSCTL_GCP_ENDPOINT"
        )
    from google.auth.transport.requests import Request

    try:
        refresh: Callable[[Request], None] = credentials.refresh
        refresh(Request())
    except (auth_exc.RefreshError, auth_exc.TransportError) as e:
        raise no_credentials(e) from None
    return "oauth2accesstoken", str(credentials.token)


def set_image(job: Job, image: str) -> str:
    """Point the job's container at `image` and wait (bounded) for Cloud Run to accept the new job."""
    env, jobs = job.env, job.clients.jobs
    name = job.container()
    with mapped(env, "get_job", f"job {env.job!r}", not_found=job.missing()):
        current = jobs.get_job(name=job.name, retry=None)
    container = next(c for c in current.template.template.containers if c.name == name)
    old, container.image = container.image, image
    with mapped(env, "update_job", f"job {env.job!r}", not_found=job.missing()):
        operation = jobs.update_job(job=current, retry=None)
        try:
            wait: Callable[..., Any] = operation.result
            wait(timeout=UPDATE_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            raise TemporaryFailure(
                f"Cloud Run is still updating job {env.job!r} after {UPDATE_TIMEOUT_S:g}s; "
                f"check it with: opsctl doctor {env.name}"
            ) from None
    return f"Cloud Run job {env.job!r}: container {name or '(unnamed)'} image {old} → {image}"


def discover(job: Job) -> Discovery:
    """The environment `opsctl init` writes for the job (one GetJob): its names, and the container to override."""
    env = job.env
    missing = (
        f"Cloud Run job {env.job!r} not found in {env.project}/{env.region} — check the name "
        f"(gcloud run jobs list --project {env.project} --region {env.region})"
    )
    with mapped(env, "get_job", f"job {env.job!r}", not_found=missing):
        found = job.clients.jobs.get_job(name=job.name, retry=None, timeout=RPC_TIMEOUT_S)
    template = found.template.template
    containers = [(c.name, c.image) for c in template.containers]
    if not containers:
        raise LaunchError(f"Cloud Run job {env.job!r} has no container: nothing for opsctl to run")
    settings = [("provider", "cloudrun"), ("project", env.project), ("region", env.region), ("job", env.job)]
    if len(containers) > 1:  # one container needs no name (and Cloud Run may not have one for it)
        settings.append(("container", containers[0][0]))
    facts = [f"Cloud Run job {job.name}"]
    facts += [f"container {name or '(unnamed)'}: image {image}" for name, image in containers]
    facts.append(f"max_retries {template.max_retries} (a failed task runs again up to this many times)")
    warnings = []
    condition = found.terminal_condition
    if condition is not None and condition.reason in IMAGE_REASONS:
        warnings.append(f"the job's image is missing or unreadable ({condition.message}): opsctl build {env.name}")
    return Discovery(settings=tuple(settings), facts=tuple(facts), warnings=tuple(warnings))
