"""Every command's own cloud calls go through the one retry policy (issue 14): each operation fails three times in
turn — throttled at the proxy in front of moto, UNAVAILABLE from the Cloud Run fake — and the command still does
its job, saying on stderr what it retried. (Faults on every call at once: tests/reliability/test_faults.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from tests.fakes.faultproxy import FaultProxy
from tests.fakes.gcp import FakeGcp, Script
from tests.fakes.moto_ecs import EcsWorld, script_stop
from tests.providers.test_operate_cli import ACTOR, ecs, ecs_detach, gcp, gcp_detach
from tests.providers.test_operate_cli import ecs_project as ecs_project
from tests.providers.test_operate_cli import gcp_project as gcp_project

pytest_plugins = ("tests.fakes.gcp.fixtures",)
RETRIED = 3


def retried(stderr: str, what: str) -> int:
    """How many times the command said it retried `what`."""
    return sum(line.startswith(f"opsctl: {what}: ") and " — retrying in " in line for line in stderr.splitlines())


# == ECS: the proxy throttles the operation ===================================================================


def test_ecs_run_guard_lookup_is_retried(ecs_world: EcsWorld, ecs_project: Path, moto_proxy: FaultProxy) -> None:
    moto_proxy.arm("ListTasks", "throttle", count=RETRIED)
    out = ecs("run", "staging", "seed-admin", "--email", ACTOR, "--yes", "--detach", "-o", "json", cwd=ecs_project)
    assert out.code == 0, out.output
    assert retried(out.stderr, "look for a run already in progress") == RETRIED
    assert len(ecs_world.tasks()) == 1


def test_ecs_dry_run_resolve_is_retried(ecs_world: EcsWorld, ecs_project: Path, moto_proxy: FaultProxy) -> None:
    moto_proxy.arm("DescribeServices", "throttle", count=RETRIED)
    out = ecs("run", "staging", "seed-admin", "--email", ACTOR, "--dry-run", cwd=ecs_project)
    assert out.code == 0, out.output
    assert retried(out.stderr, "resolve the target") == RETRIED


@pytest.mark.parametrize(
    ("operation", "args", "what"),
    [
        ("DescribeClusters", ("doctor", "staging"), "doctor"),
        ("ListTasks", ("history", "staging", "-o", "json"), "list recent runs"),
    ],
)
def test_ecs_read_commands_are_retried(
    ecs_world: EcsWorld,
    ecs_project: Path,
    moto_proxy: FaultProxy,
    operation: str,
    args: tuple[str, ...],
    what: str,
) -> None:
    moto_proxy.arm(operation, "throttle", count=RETRIED)
    out = ecs(*args, cwd=ecs_project)
    assert out.code == 0, out.output
    assert retried(out.stderr, what) == RETRIED


def test_ecs_wait_stop_and_logs_are_retried(ecs_world: EcsWorld, ecs_project: Path, moto_proxy: FaultProxy) -> None:
    arn = ecs_detach(ecs_project)
    ecs_world.write_logs(arn, ["tick"])
    moto_proxy.arm("StopTask", "throttle", count=RETRIED)
    stopped = ecs("stop", "staging", arn, cwd=ecs_project)
    assert stopped.code == 0, stopped.output
    assert retried(stopped.stderr, "stop") == RETRIED
    script_stop(ecs_world.task(arn), exit_code=4)
    moto_proxy.arm("DescribeTasks", "throttle", count=RETRIED)
    waited = ecs("wait", "staging", arn, "-o", "json", cwd=ecs_project)
    assert (waited.code, json.loads(waited.stdout)["exit_code"]) == (4, 4), waited.output
    assert retried(waited.stderr, "look up the run") == RETRIED
    moto_proxy.arm("GetLogEvents", "throttle", count=RETRIED)
    logged = ecs("logs", "staging", arn, cwd=ecs_project)
    assert (logged.code, logged.stdout) == (0, "tick\n"), logged.output
    assert retried(logged.stderr, "read logs") == RETRIED


# == Cloud Run: the fake answers UNAVAILABLE ==================================================================


def test_cloudrun_run_guard_lookup_is_retried(fake: FakeGcp, gcp_project: Path) -> None:
    fake.fail("ListExecutions", grpc.StatusCode.UNAVAILABLE, times=RETRIED)
    fake.script(Script(start_after=0, run_for=None))
    out = gcp(fake, "run", "staging", "create-superadmin", "--detach", "-o", "json", cwd=gcp_project)
    assert out.code == 0, out.output
    assert retried(out.stderr, "look for a run already in progress") == RETRIED
    assert len(fake.executions) == 1


@pytest.mark.parametrize(
    ("method", "args", "what"),
    [
        ("GetJob", ("doctor", "staging"), "doctor"),
        ("ListExecutions", ("history", "staging", "-o", "json"), "list recent runs"),
        ("GetJob", ("run", "staging", "create-superadmin", "--dry-run"), "resolve the target"),
    ],
)
def test_cloudrun_read_commands_are_retried(
    fake: FakeGcp, gcp_project: Path, method: str, args: tuple[str, ...], what: str
) -> None:
    fake.fail(method, grpc.StatusCode.UNAVAILABLE, times=RETRIED)
    out = gcp(fake, *args, cwd=gcp_project)
    assert out.code == 0, out.output
    assert retried(out.stderr, what) == RETRIED


def test_cloudrun_wait_stop_and_logs_are_retried(fake: FakeGcp, gcp_project: Path) -> None:
    run = gcp_detach(fake, gcp_project, Script(start_after=0, run_for=None))
    fake.fail("CancelExecution", grpc.StatusCode.UNAVAILABLE, times=RETRIED)
    stopped = gcp(fake, "stop", "staging", run, cwd=gcp_project)
    assert stopped.code == 0, stopped.output
    assert retried(stopped.stderr, "stop") == RETRIED
    fake.fail("GetExecution", grpc.StatusCode.UNAVAILABLE, times=RETRIED)
    waited = gcp(fake, "wait", "staging", run, "-o", "json", cwd=gcp_project)
    assert (waited.code, json.loads(waited.stdout)["status"]) == (69, "stopped without exit code"), waited.output
    assert retried(waited.stderr, "look up the run") == RETRIED
    fake.fail("ListLogEntries", grpc.StatusCode.UNAVAILABLE, times=RETRIED)
    logged = gcp(fake, "logs", "staging", run, cwd=gcp_project)
    assert logged.code == 0, logged.output
    assert retried(logged.stderr, "read logs") == RETRIED
