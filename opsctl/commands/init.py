"""`opsctl init [ENV]`: read a live ECS service or Cloud Run job and add `[environments.ENV]` to the config.

Everything a user typed is checked before the first cloud call; the file is written only after the read
succeeded, atomically, and only if opsctl's own loader accepts the result.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from opsctl.config import CloudRunEnv, EcsEnv, parse_file
from opsctl.config.edit import environment_names, file_to_edit, kept_keys, render, write_atomic
from opsctl.config.fields import Fields
from opsctl.config.parse import parse_document
from opsctl.config.tasks import NAME_RE
from opsctl.errors import ConfigError, UsageError
from opsctl.model import Discovery
from opsctl.params import interactive
from opsctl.retry import on_stderr

_ECS_SERVICE = re.compile(r"^([A-Za-z0-9_-]{1,255})/([A-Za-z0-9_-]{1,255})$")
_CLOUDRUN_JOB = re.compile(r"^projects/([a-z0-9][a-z0-9-]{0,61}[a-z0-9])/locations/([a-z]+-[a-z]+[0-9]+)/jobs/([^/]+)$")
_JOB_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-[0-9]+$")
_PROFILE = re.compile(r"^[^\s\x00-\x1f\x7f]{1,128}$")
_ECS_FLAGS = {"region": "--region", "profile": "--profile"}
_TRIES = 3


@dataclass(frozen=True, slots=True)
class InitOptions:
    """What `opsctl init` was given; anything missing is asked for on a terminal."""

    config: str | None
    env: str | None = None
    ecs_service: str | None = None
    cloudrun_job: str | None = None
    region: str | None = None
    profile: str | None = None
    force: bool = False


def init_command(opts: InitOptions) -> int:
    """Check the input, read the target, write the environment, and say what to run next."""
    opts = _complete(opts)
    path, table = file_to_edit(opts.config)
    text = _existing_text(path)
    name = opts.env or ""
    if text is not None:
        current = parse_file(path, table)  # a file opsctl cannot read is fixed first, not edited
        found = current.environments.get(name)
        if found is not None and not found.builtin and not opts.force:
            raise UsageError(
                f"environment {name!r} is already in {path}; nothing was changed — pick another name, "
                f"or re-point it with: opsctl init {name} … --force (its other settings are kept)"
            )
    discovery = _discover(opts, str(path))
    comments = [f"Read by opsctl init from {discovery.facts[0]}:", *(f"  {f}" for f in discovery.facts[1:])]
    comments += [f"  note: {w}" for w in discovery.warnings]
    kept = kept_keys(text, table, name) if text is not None else []
    replaced = text is not None and name in environment_names(text, table)
    new_text = render(text, table, name, comments, discovery.settings)
    # The promise to the user: what init writes, every other command reads.
    parse_document(Fields(str(path), f"{table}." if table else ""), tomllib.loads(new_text), path).environment(name)
    write_atomic(path, new_text)
    _report(path, name, discovery, created=text is None, replaced=replaced, kept=kept)
    return 0


def _report(path: Path, name: str, discovery: Discovery, *, created: bool, replaced: bool, kept: list[str]) -> None:
    out = sys.stderr
    out.write(f"opsctl: read {discovery.facts[0]}\n")
    for fact in discovery.facts[1:]:
        out.write(f"  {fact}\n")
    for warning in discovery.warnings:
        out.write(f"opsctl: warning: {warning}\n")
    if created:
        out.write(f"opsctl: created {path} with [environments.{name}] and a starter task, hello\n")
    elif replaced:
        also = f" (kept: {', '.join(kept)})" if kept else ""
        out.write(f"opsctl: re-pointed [environments.{name}] in {path}{also}\n")
    else:
        out.write(f"opsctl: added [environments.{name}] to {path}\n")
    out.write(f"next: opsctl doctor {name}\n")
    if created:
        out.write(f"then: opsctl run {name} hello --dry-run\n")
    out.flush()


def _existing_text(path: Path) -> str | None:
    """The file's text, or None when it is to be created; anything in the way is a ConfigError now, before
    the cloud is asked anything."""
    if not path.exists():
        if not path.parent.is_dir():
            raise ConfigError(f"{path}: the folder {path.parent} does not exist")
        return None
    if not path.is_file():
        raise ConfigError(f"{path}: not a file")
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None


def _discover(opts: InitOptions, source: str) -> Discovery:
    """Build the provider for the new environment and read its target, through the one retry policy."""
    call = on_stderr()
    name = opts.env or ""
    if opts.ecs_service is not None:
        from opsctl.providers.ecs import build as build_ecs

        cluster, service = opts.ecs_service.split("/")
        ecs_env = EcsEnv(
            name=name,
            provider="ecs",
            source=source,
            cluster=cluster,
            service=service,
            region=opts.region,
            profile=opts.profile,
        )
        ecs = build_ecs(ecs_env, where=lambda key: _ECS_FLAGS.get(key, f"--ecs-service {opts.ecs_service}"))
        try:
            return call(f"read ECS service {opts.ecs_service}", ecs.discover)
        finally:
            ecs.close()
    from opsctl.providers.cloudrun import build as build_cloudrun

    match = _CLOUDRUN_JOB.match(opts.cloudrun_job or "")
    assert match is not None  # checked by _complete
    project, region, job = match.groups()
    run_env = CloudRunEnv(name=name, provider="cloudrun", source=source, project=project, region=region, job=job)
    cloudrun = build_cloudrun(run_env)
    try:
        return call(f"read Cloud Run job {job}", cloudrun.discover)
    finally:
        cloudrun.close()


# -- what the user typed -------------------------------------------------------------------------------


def _complete(opts: InitOptions) -> InitOptions:
    """Check every flag; on a terminal ask for what is missing, elsewhere say what to pass."""
    given = [f for f, v in (("--ecs-service", opts.ecs_service), ("--cloudrun-job", opts.cloudrun_job)) if v]
    if len(given) > 1:
        raise UsageError("--ecs-service and --cloudrun-job: pass one of them, not both")
    if opts.cloudrun_job is not None and (opts.region is not None or opts.profile is not None):
        flag = "--region" if opts.region is not None else "--profile"
        raise UsageError(f"{flag} goes with --ecs-service; a Cloud Run job's name holds its project and region")
    for flag, value, check in (
        ("ENV", opts.env, env_problem),
        ("--ecs-service", opts.ecs_service, service_problem),
        ("--cloudrun-job", opts.cloudrun_job, job_problem),
        ("--region", opts.region, region_problem),
        ("--profile", opts.profile, profile_problem),
    ):
        problem = check(value) if value is not None else None
        if problem:
            raise UsageError(f"{flag}: {problem}")
    if opts.env is not None and given:
        return opts
    if not interactive(False):
        raise UsageError(
            "opsctl init needs ENV and a target: opsctl init ENV --ecs-service CLUSTER/SERVICE [--region R] "
            "[--profile P], or opsctl init ENV --cloudrun-job projects/P/locations/R/jobs/J (on a terminal it asks)"
        )
    if opts.env is None:
        opts = replace(opts, env=_ask("Environment name (e.g. staging)", env_problem))
    if given:
        return opts
    provider = _ask(
        "Provider: ecs or cloudrun", lambda v: None if v in ("ecs", "cloudrun") else "answer ecs or cloudrun"
    )
    if provider == "cloudrun":
        return replace(opts, cloudrun_job=_ask("Cloud Run job (projects/P/locations/R/jobs/J)", job_problem))
    service = _ask("ECS service (CLUSTER/SERVICE)", service_problem)
    region = opts.region or _ask("AWS region (empty: AWS_REGION or the profile's)", region_problem, optional=True)
    profile = opts.profile or _ask("AWS profile (empty: the default credentials)", profile_problem, optional=True)
    return replace(opts, ecs_service=service, region=region or None, profile=profile or None)


def _ask(question: str, check: Callable[[str], str | None], *, optional: bool = False) -> str:
    """One answer from the terminal (prompts on stderr), asked again while it is wrong, at most three times."""
    problem = ""
    for _ in range(_TRIES):
        sys.stderr.write(f"{question}: ")
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            raise UsageError("standard input closed while asking; nothing was changed")
        answer = line.strip()
        if not answer and optional:
            return ""
        problem = check(answer) or ""
        if not problem:
            return answer
        sys.stderr.write(f"opsctl: {problem}\n")
    raise UsageError(f"{question}: {problem}; nothing was changed")


def env_problem(value: str) -> str | None:
    """Why `value` cannot name an environment (None when it can)."""
    if NAME_RE.match(value):
        return None
    return f"{value!r} is not an environment name: lowercase letters, digits, - and _, starting with a letter"


def service_problem(value: str) -> str | None:
    """Why `value` is not CLUSTER/SERVICE."""
    if _ECS_SERVICE.match(value):
        return None
    return f"{value!r} is not CLUSTER/SERVICE (e.g. clinloop-staging/clinloop-staging-api)"


def job_problem(value: str) -> str | None:
    """Why `value` is not a Cloud Run job's full name."""
    match = _CLOUDRUN_JOB.match(value)
    if match and _JOB_NAME.match(match.group(3)):
        return None
    example = "projects/quill-prod-123456/locations/europe-west2/jobs/quill-admin-prod"
    return f"{value!r} is not projects/PROJECT/locations/REGION/jobs/JOB (e.g. {example})"


def region_problem(value: str) -> str | None:
    """Why `value` is not an AWS region name."""
    return None if _REGION.match(value) else f"{value!r} is not an AWS region name (e.g. eu-west-2)"


def profile_problem(value: str) -> str | None:
    """Why `value` cannot be an AWS profile name."""
    return None if _PROFILE.match(value) else f"{value!r} is not an AWS profile name"
