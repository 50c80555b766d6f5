"""Every combination `ecs.status.status_of` decides: DescribeTasks' task → state, exit code, reason, details.

The tasks are shaped as DescribeTasks returns them (botocore's ECS service model: lastStatus, desiredStatus,
stopCode, stoppedReason, containers[].exitCode/reason). The values come from the ECS docs as summarised in
notes/cloud-apis.md: the Fargate lifecycle, the stopCode enum (InfrastructureHealth is newer, so unknown codes
must be tolerated), `exitCode` missing when the container never started.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from opsctl.model import State, Status
from opsctl.providers.ecs.status import status_of

TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/clinloop-api:7"
T0, T1, T2 = (datetime(2026, 1, 1, 12, 0, s, tzinfo=UTC) for s in (0, 30, 31))


# (lastStatus, desiredStatus) → state. A stop request while ECS still says PENDING/RUNNING polls fast as STOPPING.
@pytest.mark.parametrize(
    ("last", "desired", "state"),
    [
        ("PROVISIONING", "RUNNING", State.PENDING),
        ("PENDING", "RUNNING", State.PENDING),
        ("ACTIVATING", "RUNNING", State.PENDING),
        ("RUNNING", "RUNNING", State.RUNNING),
        ("DEACTIVATING", "RUNNING", State.STOPPING),
        ("STOPPING", "RUNNING", State.STOPPING),
        ("DEPROVISIONING", "RUNNING", State.STOPPING),
        ("PROVISIONING", "STOPPED", State.STOPPING),
        ("PENDING", "STOPPED", State.STOPPING),
        ("ACTIVATING", "STOPPED", State.STOPPING),
        ("RUNNING", "STOPPED", State.STOPPING),
        ("DEACTIVATING", "STOPPED", State.STOPPING),
        ("STOPPING", "STOPPED", State.STOPPING),
        ("DEPROVISIONING", "STOPPED", State.STOPPING),
        ("SOMETHING_NEW", "RUNNING", State.PENDING),  # a status added later: poll fast, decide nothing
        ("SOMETHING_NEW", "STOPPED", State.STOPPING),
    ],
)
def test_state_of_a_task_that_has_not_stopped(last: str, desired: str, state: State) -> None:
    task: Any = {"lastStatus": last, "desiredStatus": desired, "startedAt": T0, "containers": [{"name": "api"}]}
    assert status_of(task) == Status(state=state, raw=last, started_at=T0)


def test_a_task_without_a_last_status_is_pending_and_falls_back_to_its_creation_time() -> None:
    assert status_of({"createdAt": T0}) == Status(state=State.PENDING, raw="PENDING", started_at=T0)


def stopped(exit_code: int | None, stop_code: str | None, stopped_reason: str | None, reason: str | None) -> Any:
    container: dict[str, Any] = {"name": "api"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if reason is not None:
        container["reason"] = reason
    task: dict[str, Any] = {
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "taskDefinitionArn": TD,
        "startedAt": T0,
        "stoppedAt": T2,
        "executionStoppedAt": T1,
        "containers": [container],
        "overrides": {"containerOverrides": [{"name": "api"}]},
    }
    if stop_code is not None:
        task["stopCode"] = stop_code
    if stopped_reason is not None:
        task["stoppedReason"] = stopped_reason
    return task


EXITED = "Essential container in task exited"
PULL = "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found"
OOM = "OutOfMemoryError: Container killed due to memory usage"
SPOT = "Your Spot Task was interrupted."
BY_USER = "opsctl: stopped by ada@example.com (--timeout 90s expired)"
SECRETS = "ResourceInitializationError: unable to pull secrets or registry auth"
# A task that never started for a known cause: the reason ends with the likely fix (issue 14).
PULL_FIX = (
    " — likely fix: check that the image and tag exist (opsctl build ENV pushes one and points the task definition "
    "at it) and that the execution role may pull it (ecr:GetAuthorizationToken, ecr:BatchGetImage, "
    "ecr:GetDownloadUrlForLayer) over a route to ECR (VPC endpoints or NAT)"
)
SECRETS_FIX = (
    " — likely fix: let the task's execution role read its secrets (secretsmanager:GetSecretValue or "
    "ssm:GetParameters, and kms:Decrypt for a customer-managed key) and pull from ECR, and give the task's "
    "subnets a way to Secrets Manager and ECR: VPC endpoints, a NAT gateway, or assign_public_ip = true in a "
    "public subnet"
)

# (container exitCode, stopCode, stoppedReason, container reason) → (reason, the detail rows after the task definition)
STOPS: list[tuple[int | None, str | None, str | None, str | None, str | None, list[tuple[str, str]]]] = [
    # a clean end: exit 0 and the essential container exited (or no stop code at all) — nothing to explain
    (0, "EssentialContainerExited", EXITED, None, None, []),
    (0, None, None, None, None, []),
    (0, "EssentialContainerExited", EXITED, "exited on its own", None, []),
    # the task failed: every reason ECS gave is shown, the stoppedReason is the reason
    (3, "EssentialContainerExited", EXITED, None, EXITED, [("Stop code", "EssentialContainerExited"), ("Stopped reason", EXITED)]),
    (1, None, None, None, None, []),
    (137, "EssentialContainerExited", EXITED, OOM, EXITED, [("Stop code", "EssentialContainerExited"), ("Stopped reason", EXITED), ("Container reason", OOM)]),
    # exit 0 but stopped by someone or something else: not clean, so explained
    (0, "UserInitiated", BY_USER, None, BY_USER, [("Stop code", "UserInitiated"), ("Stopped reason", BY_USER)]),
    (0, "ServiceSchedulerInitiated", None, None, "ServiceSchedulerInitiated", [("Stop code", "ServiceSchedulerInitiated")]),
    (143, "SpotInterruption", SPOT, None, SPOT, [("Stop code", "SpotInterruption"), ("Stopped reason", SPOT)]),
    (143, "TerminationNotice", None, None, "TerminationNotice", [("Stop code", "TerminationNotice")]),
    (137, "InfrastructureHealth", "Task stopped due to infrastructure health", None, "Task stopped due to infrastructure health", [("Stop code", "InfrastructureHealth"), ("Stopped reason", "Task stopped due to infrastructure health")]),
    (0, "SomeFutureStopCode", None, None, "SomeFutureStopCode", [("Stop code", "SomeFutureStopCode")]),
    # no exit code (the container never ran, or it could not be inspected): the container's reason is appended
    (None, "TaskFailedToStart", "Task failed to start", PULL, f"Task failed to start: {PULL}{PULL_FIX}", [("Stop code", "TaskFailedToStart"), ("Stopped reason", "Task failed to start"), ("Container reason", PULL)]),
    (None, "TaskFailedToStart", None, SECRETS, f"TaskFailedToStart: {SECRETS}{SECRETS_FIX}", [("Stop code", "TaskFailedToStart"), ("Container reason", SECRETS)]),
    (None, None, None, OOM, OOM, [("Container reason", OOM)]),
    (None, "TaskFailedToStart", "Task failed to start", None, "Task failed to start", [("Stop code", "TaskFailedToStart"), ("Stopped reason", "Task failed to start")]),
    (None, "UserInitiated", BY_USER, None, BY_USER, [("Stop code", "UserInitiated"), ("Stopped reason", BY_USER)]),
    (None, None, None, None, None, []),
]  # fmt: skip


@pytest.mark.parametrize(("exit_code", "stop_code", "stopped_reason", "reason", "shown", "details"), STOPS)
def test_a_stopped_task(
    exit_code: int | None,
    stop_code: str | None,
    stopped_reason: str | None,
    reason: str | None,
    shown: str | None,
    details: list[tuple[str, str]],
) -> None:
    status = status_of(stopped(exit_code, stop_code, stopped_reason, reason))
    assert status == Status(
        state=State.STOPPED,
        raw="STOPPED",
        exit_code=exit_code,
        reason=shown,
        details=(("Task definition", "clinloop-api:7"), *details),
        started_at=T0,
        stopped_at=T2,
        output_ended_at=T1,
    )


def test_deleted_is_stopped_too() -> None:
    task: Any = {**stopped(0, "EssentialContainerExited", EXITED, None), "lastStatus": "DELETED"}
    status = status_of(task)
    assert (status.state, status.raw, status.exit_code, status.reason) == (State.STOPPED, "DELETED", 0, None)


def containers(*pairs: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"name": name, "exitCode": code} for name, code in pairs]


# Which container's exit code counts: the overridden one (named in the overrides), else the resolved container
# the provider passes as a hint, else the first. Sidecars stopped after the essential container report 137.
@pytest.mark.parametrize(
    ("overrides", "hint", "exit_code"),
    [
        ([{"name": "api"}], None, 4),
        ([{"name": "api"}], "log-router", 4),  # the overrides win over the hint
        ([], "api", 4),
        ([], None, 137),  # neither: the first container
        ([{"name": "gone"}], None, 137),  # an override naming no container: the first
    ],
)
def test_whose_exit_code_counts(overrides: list[dict[str, str]], hint: str | None, exit_code: int) -> None:
    task: Any = {**stopped(None, None, None, None), "containers": containers(("log-router", 137), ("api", 4))}
    task["overrides"] = {"containerOverrides": overrides}
    assert status_of(task, hint).exit_code == exit_code


def test_a_stopped_task_without_containers_has_no_exit_code() -> None:
    task: Any = {**stopped(None, "TaskFailedToStart", "Task failed to start", None), "containers": []}
    status = status_of(task)
    assert (status.exit_code, status.reason) == (None, "Task failed to start")
