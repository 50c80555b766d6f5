"""Reading a task: what DescribeTasks reports → opsctl's Status and RunInfo, decided by small tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsctl.model import RunInfo, RunRef, State, Status

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import TaskTypeDef

# ECS lastStatus → opsctl state (an unknown future status reads as PENDING: poll fast, decide nothing).
STATES = {
    "PROVISIONING": State.PENDING,
    "PENDING": State.PENDING,
    "ACTIVATING": State.PENDING,
    "RUNNING": State.RUNNING,
    "DEACTIVATING": State.STOPPING,
    "STOPPING": State.STOPPING,
    "DEPROVISIONING": State.STOPPING,
    "STOPPED": State.STOPPED,
    "DELETED": State.STOPPED,
}
# A stop was requested (desiredStatus STOPPED) while ECS still reports these: poll fast, as when stopping.
STOP_REQUESTED = {State.PENDING: State.STOPPING, State.RUNNING: State.STOPPING}
# Stop codes of a task that ended because its essential container exited: with exit code 0, a clean end
# that needs no explanation. Anything else (unknown future stop codes included) shows every reason ECS gave.
CLEAN_STOP_CODES = frozenset({None, "EssentialContainerExited"})
# The reasons shown in the summary's details, in this order, when the end was not clean.
REASON_ROWS = (("Stop code", "stopCode"), ("Stopped reason", "stoppedReason"), ("Container reason", "reason"))
# A Fargate task that failed to start for lack of capacity (no ENI came up, no capacity in the zone): nothing
# ran, and a new launch may find capacity (airflow PR #22002; AWS developer guide, stopped-task errors).
CAPACITY_REASONS = ("Timeout waiting for network interface provisioning", "Capacity is unavailable", "RESOURCE:")
# Failed-to-start errors whose cause is known, with the likely fix (copilot #3104, #1893; cloud-apis.md §11).
LIKELY_FIXES = (
    (
        "ResourceInitializationError",
        "likely fix: let the task's execution role read its secrets (secretsmanager:GetSecretValue or "
        "ssm:GetParameters, and kms:Decrypt for a customer-managed key) and pull from ECR, and give the task's "
        "subnets a way to Secrets Manager and ECR: VPC endpoints, a NAT gateway, or assign_public_ip = true in "
        "a public subnet",
    ),
    (
        "CannotPullContainerError",
        "likely fix: check that the image and tag exist (opsctl build {env} pushes one and points the task "
        "definition at it) and that the execution role may pull it (ecr:GetAuthorizationToken, "
        "ecr:BatchGetImage, ecr:GetDownloadUrlForLayer) over a route to ECR (VPC endpoints or NAT)",
    ),
)


def launched_with(task: TaskTypeDef, name: str) -> str | None:
    """An OPSCTL_* value a task was launched with: from its `opsctl:*` tag, else its env override."""
    tag = "opsctl:" + name.removeprefix("OPSCTL_").lower().replace("_", "-")
    for item in task.get("tags") or []:
        if item.get("key") == tag:
            return item.get("value")
    for override in (task.get("overrides") or {}).get("containerOverrides") or []:
        for env in override.get("environment") or []:
            if env.get("name") == name:
                return env.get("value")
    return None


def state_of(last_status: str, desired_status: str | None) -> State:
    """The state for ECS's lastStatus, moved to STOPPING once a stop was requested."""
    state = STATES.get(last_status, State.PENDING)
    return STOP_REQUESTED.get(state, state) if desired_status == "STOPPED" else state


def stop_reason(
    exit_code: int | None, stop_code: str | None, stopped_reason: str | None, container_reason: str | None
) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """The reason and detail rows of a stopped task: none for a clean exit; without an exit code, the
    container's own reason is added (it says why the container never ran or never reported)."""
    if exit_code == 0 and stop_code in CLEAN_STOP_CODES:
        return None, ()
    values = {"stopCode": stop_code, "stoppedReason": stopped_reason, "reason": container_reason}
    details = tuple((label, str(values[key])) for label, key in REASON_ROWS if values[key])
    reason = stopped_reason or stop_code or None
    if exit_code is None and container_reason:
        reason = f"{reason}: {container_reason}" if reason else container_reason
    return reason, details


def _container(task: TaskTypeDef, hint: str | None) -> Any:
    """The overridden container (named in the overrides, else `hint`), else the first one, else None."""
    overrides = (task.get("overrides") or {}).get("containerOverrides") or []
    name = overrides[0].get("name") if overrides else hint
    containers = task.get("containers") or []
    return next((c for c in containers if c.get("name") == name), containers[0] if containers else None)


def likely_fix(reason: str | None, env: str) -> str | None:
    """The reason of a task that never started, with the next step when the cause is a known one."""
    if reason is None:
        return None
    for marker, fix in LIKELY_FIXES:
        if marker in reason:
            return f"{reason} — {fix.format(env=env)}"
    return reason


def status_of(task: TaskTypeDef, container_hint: str | None = None, env: str = "ENV") -> Status:
    """Map a DescribeTasks task to a Status; when STOPPED, the overridden container's exit code and reasons."""
    last = task.get("lastStatus") or "PENDING"
    state = state_of(last, task.get("desiredStatus"))
    started = task.get("startedAt") or task.get("createdAt")
    if state is not State.STOPPED:
        return Status(state=state, raw=last, started_at=started)
    container = _container(task, container_hint) or {}
    exit_code = container.get("exitCode")
    reason, reasons = stop_reason(exit_code, task.get("stopCode"), task.get("stoppedReason"), container.get("reason"))
    never_ran = task.get("stopCode") == "TaskFailedToStart"
    if never_ran:
        reason = likely_fix(reason, env)
    revision = task.get("taskDefinitionArn", "?").rsplit("/", 1)[-1]
    return Status(
        state=State.STOPPED,
        raw=last,
        exit_code=exit_code,
        reason=reason,
        details=(("Task definition", revision), *reasons),
        started_at=started,
        stopped_at=task.get("stoppedAt"),
        # the essential container's exit: the awslogs driver has flushed by then
        output_ended_at=task.get("executionStoppedAt"),
        relaunch=never_ran and str(task.get("stoppedReason") or "").startswith(CAPACITY_REASONS),
    )


def info_of(task: TaskTypeDef, ref: RunRef) -> RunInfo:
    """Who launched a task for which env and task, when, and how it is doing."""
    status = status_of(task)
    return RunInfo(
        ref=ref,
        env=launched_with(task, "OPSCTL_ENV"),
        task=launched_with(task, "OPSCTL_TASK"),
        actor=launched_with(task, "OPSCTL_ACTOR"),
        started_at=task.get("startedAt") or task.get("createdAt"),
        stopped_at=task.get("stoppedAt"),
        state=status.state,
        exit_code=status.exit_code,
        run_id=launched_with(task, "OPSCTL_RUN_ID"),
        created_at=task.get("createdAt"),
    )
