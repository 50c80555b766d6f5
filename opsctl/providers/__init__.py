"""The Provider Protocol every backend implements, and the registry that builds them from config."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from opsctl.config import CloudRunEnv, EcsEnv, EnvConfig, LocalEnv, TaskConfig

if TYPE_CHECKING:
    from opsctl.model import Check, LogPage, RunInfo, RunRef, RunSpec, Status, Timing


class Provider(Protocol):
    """One backend. A method makes one API call (plus paging); it never loops, sleeps or prints."""

    kind: str
    timing: Timing

    def target(self) -> list[tuple[str, str]]:
        """Describe the resolved target without calling the cloud (for `envs`, `--dry-run`)."""
        ...

    def plan(self, spec: RunSpec) -> dict[str, Any]:
        """The launch request as it would be sent (read-only calls allowed), for `--dry-run`."""
        ...

    def launch(self, spec: RunSpec) -> RunRef:
        """Start the run once; a retried launch with the same run id must not start a second one."""
        ...

    def find_run(self, spec: RunSpec) -> RunRef | None:
        """The run launched with this spec's run id, if one exists (recovery after an ambiguous launch)."""
        ...

    def duplicates(self, spec: RunSpec, ref: RunRef) -> list[RunRef]:
        """Runs other than `ref` launched with this spec's run id (a launch retried after an ambiguous failure
        that took effect after all); none where the launch is idempotent."""
        ...

    def ref(self, run: str) -> RunRef:
        """Turn a user-typed RUN (ARN, id, execution name) into a RunRef."""
        ...

    def poll(self, ref: RunRef) -> Status:
        """Observe the run once."""
        ...

    def read_logs(self, ref: RunRef, cursor: str | None) -> LogPage:
        """Read the log lines after `cursor` (None: from the start)."""
        ...

    def stop(self, ref: RunRef, reason: str) -> None:
        """Ask the run to stop; stopping a stopped run is not an error."""
        ...

    def active_runs(self, env: str, task: str) -> list[RunRef]:
        """Runs of this task in this env that opsctl started and that have not stopped yet."""
        ...

    def info(self, ref: RunRef) -> RunInfo:
        """Who started this run, for which task, when (from the run's OPSCTL_* env / tags)."""
        ...

    def recent_runs(self, env: str, limit: int) -> list[RunInfo]:
        """opsctl runs in this env that the cloud still lists, newest first."""
        ...

    def checks(self, tasks: list[TaskConfig]) -> list[Check]:
        """`opsctl doctor`: preflight checks of credentials, target, logs and permissions."""
        ...

    def registry_login(self, image: str) -> tuple[str, str]:
        """Docker registry credentials (username, password) for pushing `image`."""
        ...

    def set_image(self, image: str) -> str:
        """Point the job / a new task-definition revision at `image`; return what was changed."""
        ...

    def close(self) -> None:
        """Release clients, channels and background readers."""
        ...

    def warnings(self) -> tuple[str, ...]:
        """Things the operator should know about the target (e.g. no log streaming), found while launching."""
        ...


def _local(env: EnvConfig, dry_run: bool) -> Provider:
    from opsctl.providers.local import build

    assert isinstance(env, LocalEnv)
    return build(env)


def _ecs(env: EnvConfig, dry_run: bool) -> Provider:
    from opsctl.providers.ecs import build

    assert isinstance(env, EcsEnv)
    return build(env, dry_run=dry_run)


def _cloudrun(env: EnvConfig, dry_run: bool) -> Provider:
    from opsctl.providers.cloudrun import build

    assert isinstance(env, CloudRunEnv)
    return build(env)


# Heavy SDKs are imported inside the factories, so `opsctl --help` never pays for boto3 or grpc.
# `dry_run`: the provider will only plan (ECS then resolves nothing the config already names).
PROVIDERS: dict[str, Callable[[EnvConfig, bool], Provider]] = {
    "local": _local,
    "ecs": _ecs,
    "cloudrun": _cloudrun,
}


def build(env: EnvConfig, dry_run: bool = False) -> Provider:
    """Build the provider for an environment with real clients."""
    return PROVIDERS[env.provider](env, dry_run)
