"""`opsctl build ENV`: build the admin image, push it, point the job / task definition at it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from opsctl import config as config_mod
from opsctl import providers
from opsctl.config import CloudRunEnv, EcsEnv
from opsctl.errors import ConfigError, LaunchError, UsageError
from opsctl.providers import Provider
from opsctl.retry import on_stderr


@dataclass(frozen=True, slots=True)
class Step:
    """One build step: a docker command (argv) or a cloud call (run)."""

    title: str
    argv: tuple[str, ...] = ()
    stdin: str | None = None
    run: Callable[[], str] | None = None
    # (user, password) for `docker login`, asked for when the step runs; the password goes on stdin only
    login: Callable[[], tuple[str, str]] | None = None


def image_tag(workdir: Path) -> str:
    """The git commit (with `-dirty` for uncommitted changes), else a UTC timestamp."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=workdir, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{sha}-dirty" if dirty else sha


def plan_build(cfg: config_mod.Config, env: config_mod.EnvConfig, tag: str | None, *, dry_run: bool) -> list[Step]:
    """The steps, in order. Nothing here reaches a registry or a cloud: the provider is built, and the
    registry asked for a login, only when those steps run — after the Docker engine check, never in a dry run."""
    if not isinstance(env, (EcsEnv, CloudRunEnv)):
        raise UsageError(f"environment {env.name!r} runs tasks as local processes: there is no image to build")
    if not env.image:
        raise ConfigError(
            f"{env.source}: environments.{env.name}.image: required for opsctl build (the repository to push to, "
            "e.g. europe-west2-docker.pkg.dev/PROJECT/REPO/admin or ACCOUNT.dkr.ecr.REGION.amazonaws.com/admin)"
        )
    settings = env.build
    base = cfg.path.parent.resolve()
    context = (base / settings.context).resolve()
    dockerfile = (base / settings.dockerfile).resolve() if settings.dockerfile else context / "Dockerfile"
    if not context.is_dir():
        raise ConfigError(
            f"{env.source}: environments.{env.name}.build.context: no directory {context} — set it to the "
            "directory docker builds from (relative to the config file)"
        )
    if not dockerfile.is_file():
        key = "dockerfile" if settings.dockerfile else "context"
        raise ConfigError(
            f"{env.source}: environments.{env.name}.build.{key}: no Dockerfile at {dockerfile} — set "
            f"[environments.{env.name}.build] dockerfile (or context) to where it is"
        )
    image = env.image
    ref = f"{image}:{tag or image_tag(base)}"
    built: list[Provider] = []

    def provider() -> Provider:
        if not built:
            built.append(providers.build(env))
        return built[0]

    registry = image.split("/", 1)[0]
    what = "update Cloud Run job" if isinstance(env, CloudRunEnv) else "register a task definition revision"
    return [
        Step("check the Docker engine", ("docker", "info", "--format", "{{.ServerVersion}}")),
        Step(
            f"log in to {registry}",
            ("docker", "login", "--username", "…", "--password-stdin", registry),
            login=None
            if dry_run
            else lambda: on_stderr()("log in to the registry", lambda: provider().registry_login(image)),
        ),
        Step(
            f"build target {settings.target!r}",
            ("docker", "build", "--target", settings.target, "--file", str(dockerfile), "--tag", ref, str(context)),
        ),
        Step(f"push {ref}", ("docker", "push", ref)),
        Step(
            f"{what} with {ref}", run=None if dry_run else lambda: on_stderr()(what, lambda: provider().set_image(ref))
        ),
    ]


def build_command(config_path: str | None, env_name: str, tag: str | None, dry_run: bool) -> int:
    """Run (or, with --dry-run, print) every build step; stop at the first that fails."""
    cfg = config_mod.load(config_path)
    env = cfg.environment(env_name)
    steps = plan_build(cfg, env, tag, dry_run=dry_run)
    if not dry_run and shutil.which("docker") is None:
        raise LaunchError("docker not found on PATH: opsctl build needs the Docker CLI and a running engine")
    for number, step in enumerate(steps, 1):
        shown = " ".join(step.argv) if step.argv else "(cloud API call)"
        sys.stderr.write(f"opsctl: [{number}/{len(steps)}] {step.title}: {shown}\n")
        if dry_run:
            continue
        if step.run is not None:
            sys.stderr.write(f"opsctl: {step.run()}\n")
            continue
        argv, stdin = step.argv, step.stdin
        if step.login is not None:
            user, stdin = step.login()
            argv = (*argv[:3], user, *argv[4:])
        quiet = argv[1] in ("info", "login")
        proc = subprocess.run(argv, input=stdin, text=True, check=False, capture_output=quiet)
        if proc.returncode != 0:
            if argv[1] == "info":
                raise LaunchError(
                    "the Docker engine is not reachable (docker info failed): start Docker / dockerd "
                    "and retry; nothing was built"
                )
            raise LaunchError(f"step {number} ({step.title}) failed with exit code {proc.returncode}")
    if dry_run:
        sys.stderr.write("opsctl: dry run: nothing was built, pushed or changed\n")
    return 0
