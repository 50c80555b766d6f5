"""ECS runs through the real Runner on a virtual clock: outcomes, logs, faults on every call, the API budget."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from dataclasses import replace

import pytest

from opsctl.cancel import CancelToken
from opsctl.model import Outcome, State, Status
from opsctl.providers.ecs import EcsProvider, build
from tests.contract import run_contract, when_running
from tests.fakes.ecs_play import Play, VirtualClock, after_stopped_seen, drive, ecs_env, seed_spec
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.moto_ecs import EcsWorld, result_line, script_state, script_stop

# -- outcomes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("exit_code", [0, 3])
def test_exit_code_and_logs_pass_through(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], exit_code: int
) -> None:
    lines = ["starting", "seeding ada@example.com", result_line({"ok": True, "wasNew": True})]
    play = Play(ecs_world, lines=lines, exit_code=exit_code, stopped_reason="Essential container in task exited")
    result = drive(ecs_provider(ecs_world), seed_spec(), play)
    assert result.exit_code == exit_code and result.exit_status == exit_code
    assert play.messages == lines
    assert result.result == {"ok": True, "wasNew": True}
    assert result.run.log_url is not None and result.run.console_url is not None
    if exit_code:
        assert result.details == (
            ("Task definition", "clinloop-staging-api:1"),
            ("Stop code", "EssentialContainerExited"),
            ("Stopped reason", "Essential container in task exited"),
        )
        assert result.reason == "Essential container in task exited"
    else:
        assert result.details == (("Task definition", "clinloop-staging-api:1"),) and result.reason is None


def test_failed_to_start_without_exit_code_is_69_with_reasons(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]
) -> None:
    play = Play(
        ecs_world,
        pending_first=True,
        stop_at=2,
        exit_code=None,
        stop_code="TaskFailedToStart",
        stopped_reason="Task failed to start",
        container_reason="CannotPullContainerError: pull image manifest has been retried 5 time(s)",
    )
    result = drive(ecs_provider(ecs_world), seed_spec(), play)
    assert [s.raw for s in play.statuses] == ["PENDING", "PENDING", "STOPPED"]  # never RUNNING: normal
    assert result.outcome is Outcome.NO_EXIT_CODE and result.exit_status == 69
    assert result.reason == (
        "Task failed to start: CannotPullContainerError: pull image manifest has been retried 5 time(s) — likely "
        "fix: check that the image and tag exist (opsctl build staging pushes one and points the task definition "
        "at it) and that the execution role may pull it (ecr:GetAuthorizationToken, ecr:BatchGetImage, "
        "ecr:GetDownloadUrlForLayer) over a route to ECR (VPC endpoints or NAT)"
    )
    assert ("Stop code", "TaskFailedToStart") in result.details


@pytest.mark.parametrize(("exit_code", "status"), [(None, 69), (143, 143)])
def test_stopped_by_someone_else(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], exit_code: int | None, status: int
) -> None:
    play = Play(ecs_world, exit_code=exit_code, stop_code="UserInitiated", stopped_reason="Task stopped by alice")
    result = drive(ecs_provider(ecs_world), seed_spec(), play)
    assert result.exit_status == status and result.reason == "Task stopped by alice"
    assert ("Stop code", "UserInitiated") in result.details


def test_unknown_stop_codes_are_shown_not_fatal(ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]) -> None:
    play = Play(ecs_world, exit_code=None, stop_code="SomeFutureStopCode", stopped_reason=None)
    result = drive(ecs_provider(ecs_world), seed_spec(), play)
    assert result.exit_status == 69 and result.reason == "SomeFutureStopCode"


def test_timeout_stops_the_task_and_exits_124(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    play = Play(ecs_world, lines=["working"], stop_at=None)
    result = drive(ecs_provider(ecs_world), seed_spec(), play, timeout_s=30)
    assert result.outcome is Outcome.TIMED_OUT and result.exit_status == 124
    assert moto_proxy.counts()["StopTask"] == 1
    task = ecs_world.task(play.arn)
    assert task.desired_status == "STOPPED" and task.stopped_reason == "opsctl --timeout 30s expired (run by tester)"


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_stop_the_task(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy, signum: int, status: int
) -> None:
    cancel = CancelToken()
    play = Play(
        ecs_world,
        stop_at=None,
        on_status=lambda s: cancel.request(signum) if s.state is State.RUNNING and not cancel.requested else None,
    )
    result = drive(ecs_provider(ecs_world), seed_spec(), play, cancel=cancel)
    assert result.exit_status == status
    assert moto_proxy.counts()["StopTask"] == 1
    assert ecs_world.task(play.arn).stopped_reason.endswith("by tester")


def test_contract(ecs_world: EcsWorld, moto_proxy: FaultProxy) -> None:
    def started(request: bytes, response: bytes) -> None:  # the task prints as soon as it exists
        ecs_world.write_logs(json.loads(response)["tasks"][0]["taskArn"], ["hello", "world"] * 3)

    moto_proxy.after("RunTask", started)
    provider = build(ecs_env(ecs_world))
    result, observer = run_contract(
        provider, seed_spec(), timing=provider.timing.scaled(0.05), signal_when=when_running(signal.SIGTERM)
    )
    assert result.outcome is Outcome.TERMINATED and result.exit_status == 143
    assert observer.messages == ["hello", "world"] * 3
    assert [t.desired_status for t in ecs_world.tasks()] == ["STOPPED"]


# -- logs -------------------------------------------------------------------------------------------------


def test_25000_lines_and_late_lines_arrive_once_in_order(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    lines = [f"line {i:05d} " + "x" * (i % 70) for i in range(25_000)]
    late, later = [f"late {i}" for i in range(30)], [f"later {i}" for i in range(20)]
    after_stopped_seen(moto_proxy, ecs_world, late, later)
    play = Play(ecs_world, lines=lines, stop_at=4, exit_code=0)
    result = drive(ecs_provider(ecs_world), seed_spec(), play)
    assert result.exit_status == 0
    assert play.messages == lines + late + later


def test_log_stream_that_does_not_exist_yet_is_an_empty_page(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]
) -> None:
    provider = ecs_provider(ecs_world)
    ref = provider.launch(seed_spec())
    first = provider.read_logs(ref, None)
    assert first.lines == () and first.cursor is None
    ecs_world.write_logs(ref.id, ["a", "b"])
    page = provider.read_logs(ref, first.cursor)
    assert [line.message for line in page.lines] == ["a", "b"] and not page.more
    assert provider.read_logs(ref, page.cursor) == replace(page, lines=())  # unchanged token: end of stream


# -- faults in front of moto ----------------------------------------------------------------------------

FAULT_KINDS = ("latency", "throttle", "error500", "drop_before", "drop_after")


@pytest.mark.parametrize(
    "operation",
    ["DescribeServices", "DescribeTaskDefinition", "RunTask", "ListTasks", "DescribeTasks", "GetLogEvents", "StopTask"],
)
def test_every_fault_on_every_call_type(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy, operation: str
) -> None:
    """Each kind of fault once on one operation: same exit code, one task, every line once in order."""
    if operation == "ListTasks":  # only an ambiguous launch makes opsctl look for its task
        moto_proxy.arm("RunTask", "drop_after")
    for kind in FAULT_KINDS:
        moto_proxy.arm(operation, kind, delay_s=0.2)
    lines = [f"line {i}" for i in range(300)]
    stops = operation == "StopTask"  # only a timeout (or a signal) makes opsctl stop the task
    play = Play(ecs_world, lines=lines, stop_at=None if stops else 4, exit_code=3)
    result = drive(ecs_provider(ecs_world), seed_spec(), play, timeout_s=30 if stops else None)
    assert result.exit_status == (124 if stops else 3)
    assert len(ecs_world.tasks()) == 1
    assert play.messages == lines
    assert {kind for (op, kind) in moto_proxy.injected() if op == operation} == set(FAULT_KINDS)


def test_random_faults_everywhere(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    for seed, kind in enumerate(("throttle", "error500", "drop_before", "drop_after")):
        moto_proxy.arm("*", kind, probability=0.06, seed=seed)
    lines = [f"line {i}" for i in range(2_000)]
    late, later = ["late"], ["later"]
    after_stopped_seen(moto_proxy, ecs_world, late, later)
    play = Play(ecs_world, lines=lines, stop_at=6, exit_code=3)
    result = drive(ecs_provider(ecs_world), seed_spec(), play)
    assert result.exit_status == 3
    assert len(ecs_world.tasks()) == 1
    assert play.messages == lines + late + later
    assert sum(moto_proxy.injected().values()) > 0


# -- budget and detection, on the virtual clock ----------------------------------------------------------


def test_api_budget_and_stopped_detection(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    """≤ 30 ECS + Logs calls per minute in steady state; a real stop (DEACTIVATING → … → STOPPED, a few
    seconds each) is seen within 1 s of STOPPED, and the run ends within 3 s of it (drain included)."""
    clock = VirtualClock()
    calls: dict[float, int] = {}

    def count(status: Status) -> None:
        calls[clock.now] = sum(moto_proxy.counts().values())

    play = Play(ecs_world, lines=["working"], stop_at=None, on_status=count)
    stopped: dict[str, float] = {}

    def progress(state: str) -> Callable[[], None]:
        def act() -> None:
            if state == "STOPPED":
                stopped["at"] = clock.now
                script_stop(ecs_world.task(play.arn), exit_code=0)
            else:
                script_state(ecs_world.task(play.arn), state)

        return act

    for i, state in enumerate(("DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED")):
        clock.at(150.3 + 3 * i, progress(state))

    def seen(request: bytes, response: bytes) -> None:
        tasks = json.loads(response).get("tasks") or []
        if tasks and tasks[0]["lastStatus"] == "STOPPED":
            stopped.setdefault("seen", clock.now)

    moto_proxy.after("DescribeTasks", seen)
    result = drive(ecs_provider(ecs_world), seed_spec(), play, clock=clock)
    assert result.exit_status == 0
    window = [t for t in calls if 30 <= t <= 150]
    per_minute = (calls[max(window)] - calls[min(window)]) / ((max(window) - min(window)) / 60)
    assert 20 <= per_minute <= 30
    assert stopped["seen"] - stopped["at"] <= 1.0
    assert clock.now - stopped["at"] <= 3.0
