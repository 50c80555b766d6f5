"""Reading a task: what DescribeTasks reports → opsctl's Status and RunInfo, decided by small tables."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsctl.model import Copy, RunInfo, RunRef, State, Status, fold_copies

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


# A copy of a fanned-out run that ECS no longer shows (or that was never started: the launching process died
# between two RunTasks): it has no exit code, so it counts as failed.
MISSING_COPY = "ECS does not show this copy (stopped more than about an hour ago, or never started)"


def copy_of(task: TaskTypeDef) -> tuple[int, int] | None:
    """(index, count) of a copy of a fanned-out run (`--tasks N`, N > 1), from the OPSCTL_TASK_INDEX and
    OPSCTL_TASK_COUNT it was launched with; None for a run of one task."""
    index, count = launched_with(task, "OPSCTL_TASK_INDEX"), launched_with(task, "OPSCTL_TASK_COUNT")
    if not (index and count and index.isdigit() and count.isdigit()):
        return None
    i, n = int(index), int(count)
    return (i, n) if 0 <= i < n and n > 1 else None


def members(tasks: list[TaskTypeDef]) -> dict[int, TaskTypeDef]:
    """Each copy's task by index, from tasks carrying one run id: the oldest when a copy was started twice."""
    found: dict[int, TaskTypeDef] = {}
    for task in sorted(tasks, key=lambda t: str(t.get("createdAt") or "")):
        copy = copy_of(task)
        if copy is not None:
            found.setdefault(copy[0], task)
    return found


def copies_status(tasks: dict[int, TaskTypeDef], count: int, container_hint: str | None, env: str) -> Status:
    """A fanned-out run from one DescribeTasks of its copies: each copy mapped as a run of one task would be
    (its reasons and likely fixes included), folded into the run's state and exit code (model.fold_copies).

    A copy that failed to start for lack of capacity is not launched again (Status.relaunch stays False): the
    runner's relaunch replaces the whole run, and the other copies may have run already."""
    copies, seen = [], []
    for index in range(count):
        task = tasks.get(index)
        if task is None:
            copies.append(Copy(index, "-", State.STOPPED, None, MISSING_COPY))
            continue
        one = status_of(task, container_hint, env)
        copies.append(Copy(index, str(task.get("taskArn", "-")), one.state, one.exit_code, one.reason))
        seen.append(task)
    state, exit_code, reason = fold_copies(tuple(copies))
    raw = Counter(str(t.get("lastStatus") or "PENDING") for t in seen)
    revision = str(seen[0].get("taskDefinitionArn", "?")).rsplit("/", 1)[-1] if seen else "?"
    stopped = state is State.STOPPED
    return Status(
        state=state,
        raw=", ".join(f"{n} {name}" for name, n in raw.most_common()) or "MISSING",
        exit_code=exit_code,
        reason=reason,
        details=(("Task definition", revision),) if stopped else (),
        started_at=_earliest(t.get("startedAt") or t.get("createdAt") for t in seen),
        stopped_at=_latest([t.get("stoppedAt") for t in seen]) if stopped else None,
        output_ended_at=_latest([t.get("executionStoppedAt") or t.get("stoppedAt") for t in seen]) if stopped else None,
        copies=tuple(copies),
    )


def copies_info(tasks: dict[int, TaskTypeDef], count: int, ref: RunRef) -> RunInfo:
    """Who launched a fanned-out run for which env and task, when, and how its copies are doing together."""
    status = copies_status(tasks, count, None, "ENV")
    first = tasks[min(tasks)]
    return RunInfo(
        ref=ref,
        env=launched_with(first, "OPSCTL_ENV"),
        task=launched_with(first, "OPSCTL_TASK"),
        actor=launched_with(first, "OPSCTL_ACTOR"),
        started_at=status.started_at,
        stopped_at=status.stopped_at,
        state=status.state,
        exit_code=status.exit_code,
        run_id=launched_with(first, "OPSCTL_RUN_ID"),
        created_at=_earliest(t.get("createdAt") for t in tasks.values()),
    )


def _earliest(moments: Any) -> datetime | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


def _latest(moments: list[Any]) -> datetime | None:
    """The last of the moments, or None when one is unknown (the run's end is not known yet)."""
    return None if not moments or any(m is None for m in moments) else max(moments)
