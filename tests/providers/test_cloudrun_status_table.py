"""Every combination `cloudrun.status.final_status` decides: a completed Execution and its Task → state, exit
code, reason, details.

The messages are the real google-cloud-run types (`run_v2.Execution`, `run_v2.Task`, `run_v2.Condition`), filled
as the Run Admin API v2 fills them (GA execution.proto, task.proto, condition.proto; notes/cloud-apis.md): the
`Completed` condition with an `execution_reason`, the counts, `Task.last_attempt_result` with `exit_code` or
`term_signal` (at most one set; an unset exit code reads as 0, so `status.code` tells success apart), `retried`
and `max_retries`, and a task's own conditions (a container that never started says why there).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from google.cloud import run_v2

from opsctl.model import State, Status
from opsctl.providers.cloudrun.status import final_status

Condition = run_v2.Condition
FAILED, SUCCEEDED = Condition.State.CONDITION_FAILED, Condition.State.CONDITION_SUCCEEDED
T0, T1 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC), datetime(2026, 1, 1, 12, 1, 0, tzinfo=UTC)
ATTEMPTS_1 = ("attempts", "1 (a failed task is retried up to 3 times)")
IMAGE_HINT = " — build and push the image: opsctl build staging"


@dataclass(frozen=True)
class Reported:
    """What Cloud Run reports about a completed execution with one task (index 0)."""

    state: int = SUCCEEDED  # a Condition.State
    why: int | None = None  # a Condition.ExecutionReason
    common: int | None = None  # a Condition.CommonReason
    message: str = ""
    cancelled_count: int = 0
    attempt: bool = True  # False: the task has no last_attempt_result (it never ran)
    exit_code: int = 0
    term_signal: int = 0
    status_code: int = 0  # google.rpc.Status code of the attempt (0 = OK)
    status_message: str = ""
    task_condition: run_v2.Condition | None = None
    retried: int = 0


def execution(r: Reported) -> run_v2.Execution:
    completed = Condition(type_="Completed", state=r.state, message=r.message)
    if r.why is not None:
        completed.execution_reason = Condition.ExecutionReason(r.why)
    if r.common is not None:
        completed.reason = Condition.CommonReason(r.common)
    return run_v2.Execution(
        name="projects/p/locations/europe-west2/jobs/quill-admin/executions/quill-admin-x7k2p",
        task_count=1,
        succeeded_count=1 if r.state == SUCCEEDED else 0,
        failed_count=0 if r.state == SUCCEEDED or r.cancelled_count else 1,
        cancelled_count=r.cancelled_count,
        conditions=[completed],
        start_time=T0,
        completion_time=T1,
    )


def task(r: Reported, index: int = 0) -> run_v2.Task:
    t = run_v2.Task(index=index, retried=r.retried, max_retries=3)
    if r.attempt:
        t.last_attempt_result = run_v2.TaskAttemptResult(
            exit_code=r.exit_code,
            term_signal=r.term_signal,
            status={"code": r.status_code, "message": r.status_message},
        )
    if r.task_condition is not None:
        t.conditions = [r.task_condition]
    return t


def completed(state: str, why: str = "") -> tuple[str, str]:
    return ("condition", f"Completed: {state}{f' ({why})' if why else ''}")


EXIT3 = "Task quill-admin-x7k2p-task0 failed with exit code 3."
NO_IMAGE = "Image 'europe-west2-docker.pkg.dev/p/r/admin:abc' not found."
NOT_STARTED = Condition(
    type_="Started", state=FAILED, reason=Condition.CommonReason.CONTAINER_MISSING, message=NO_IMAGE
)
QUOTA = Condition(type_="Started", state=FAILED, message="Quota exceeded for CPU in europe-west2.")

# Reported → (raw, exit code, reason, details). One row per decision of final_status.
ROWS: list[tuple[str, Reported, str, int | None, str | None, list[tuple[str, str]]]] = [
    ("succeeded", Reported(message="Execution completed successfully."),
     "succeeded", 0, None, [completed("succeeded"), ATTEMPTS_1]),
    ("exited non-zero", Reported(FAILED, Condition.ExecutionReason.NON_ZERO_EXIT_CODE, message=EXIT3, exit_code=3, status_code=2),
     "failed", 3, EXIT3, [completed("failed", "NON_ZERO_EXIT_CODE"), ATTEMPTS_1]),
    ("exited non-zero, no message", Reported(FAILED, exit_code=3, status_code=2),
     "failed", 3, None, [completed("failed"), ATTEMPTS_1]),
    ("exited non-zero after retries", Reported(FAILED, message=EXIT3, exit_code=1, retried=3),
     "failed", 1, EXIT3, [completed("failed"), ("attempts", "4 (a failed task is retried up to 3 times)")]),
    ("killed by a signal", Reported(FAILED, message="Task failed.", term_signal=9, status_code=2, status_message="Container terminated on signal 9."),
     "failed", 137, "killed by signal 9 (SIGKILL): Task failed.", [completed("failed"), ATTEMPTS_1, ("signal", "signal 9 (SIGKILL)")]),
    ("killed by a signal, no message", Reported(FAILED, term_signal=15, status_code=2),
     "failed", 143, "killed by signal 15 (SIGTERM)", [completed("failed"), ATTEMPTS_1, ("signal", "signal 15 (SIGTERM)")]),
    ("killed by a signal Python does not name", Reported(FAILED, term_signal=99, status_code=2),
     "failed", 227, "killed by signal 99", [completed("failed"), ATTEMPTS_1, ("signal", "signal 99")]),
    ("failed without exit code: the attempt's own message", Reported(FAILED, message="Task failed.", status_code=13, status_message="Memory limit of 512 MiB exceeded."),
     "failed without exit code", None, "Memory limit of 512 MiB exceeded.", [completed("failed"), ATTEMPTS_1]),
    ("failed without exit code: else the condition's", Reported(FAILED, message="Task failed.", status_code=13),
     "failed without exit code", None, "Task failed.", [completed("failed"), ATTEMPTS_1]),
    ("failed without exit code: a failed task condition first", Reported(FAILED, message="Task failed.", status_code=13, task_condition=QUOTA),
     "failed without exit code", None, "Quota exceeded for CPU in europe-west2.", [completed("failed"), ATTEMPTS_1]),
    ("failed without exit code or any message", Reported(FAILED, status_code=13),
     "failed without exit code", None, "the task stopped without an exit code", [completed("failed"), ATTEMPTS_1]),
    ("never ran: the image is missing", Reported(FAILED, common=Condition.CommonReason.CONTAINER_MISSING, message="The execution failed.", attempt=False, task_condition=NOT_STARTED),
     "failed to start", None, NO_IMAGE + IMAGE_HINT, [completed("failed")]),
    ("never ran: the execution's image reason alone", Reported(FAILED, common=Condition.CommonReason.CONTAINER_IMAGE_UNAUTHORIZED, message="Permission denied on the image.", attempt=False),
     "failed to start", None, "Permission denied on the image." + IMAGE_HINT, [completed("failed")]),
    ("never ran: another reason", Reported(FAILED, message="The execution failed.", attempt=False, task_condition=QUOTA),
     "failed to start", None, "Quota exceeded for CPU in europe-west2.", [completed("failed")]),
    ("never ran, nothing said", Reported(FAILED, attempt=False),
     "failed to start", None, "the task stopped without an exit code", [completed("failed")]),
    ("cancelled (condition), before the task ran", Reported(FAILED, Condition.ExecutionReason.CANCELLED, message="The execution was cancelled.", cancelled_count=1, attempt=False),
     "cancelled", None, "cancelled: The execution was cancelled.", [completed("failed", "CANCELLED")]),
    ("cancelled (count only), with an exit code", Reported(FAILED, message="Stopped.", cancelled_count=1, exit_code=0),
     "cancelled", None, "cancelled: Stopped.", [completed("failed"), ATTEMPTS_1]),
    ("cancelled (condition only), no message", Reported(FAILED, Condition.ExecutionReason.CANCELLED, exit_code=3, status_code=2),
     "cancelled", None, "the execution was cancelled", [completed("failed", "CANCELLED"), ATTEMPTS_1]),
    ("cancelled while failing without exit code: the attempt's message", Reported(FAILED, message="Cancelled.", cancelled_count=1, status_code=1, status_message="Container was stopped."),
     "cancelled", None, "cancelled: Container was stopped.", [completed("failed"), ATTEMPTS_1]),
    ("cancelled while being killed: the signal is still shown", Reported(FAILED, Condition.ExecutionReason.CANCELLED, message="Cancelled.", term_signal=15, status_code=2),
     "cancelled", None, "cancelled: Cancelled.", [completed("failed", "CANCELLED"), ATTEMPTS_1, ("signal", "signal 15 (SIGTERM)")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("reported", "raw", "exit_code", "reason", "details"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS]
)
def test_a_completed_execution(
    reported: Reported, raw: str, exit_code: int | None, reason: str | None, details: list[tuple[str, str]]
) -> None:
    status = final_status(execution(reported), [task(reported)], "staging")
    assert status == Status(
        State.STOPPED, raw, exit_code=exit_code, reason=reason, details=tuple(details), started_at=T0, stopped_at=T1
    )


def test_the_log_source_comes_last_in_the_details() -> None:
    r = Reported(message="Execution completed successfully.")
    status = final_status(execution(r), [task(r)], "staging", "polling (the live tail failed: UNAVAILABLE)")
    assert status.details == (
        completed("succeeded"),
        ATTEMPTS_1,
        ("log source", "polling (the live tail failed: UNAVAILABLE)"),
    )


def test_the_lowest_index_task_decides() -> None:
    ok, bad = Reported(), Reported(FAILED, exit_code=5, status_code=2)
    status = final_status(execution(bad), [task(ok, index=1), task(bad, index=0)], "staging")
    assert (status.raw, status.exit_code) == ("failed", 5)


def test_no_task_listed_and_no_condition() -> None:
    ex = run_v2.Execution(task_count=1, failed_count=1, start_time=T0, completion_time=T1)
    assert final_status(ex, [], "staging") == Status(
        State.STOPPED,
        "failed to start",
        exit_code=None,
        reason="the task stopped without an exit code",
        details=(),
        started_at=T0,
        stopped_at=T1,
    )
