"""ECS launch failures said plainly (issue 14): no capacity is retried with backoff and a fresh clientToken,
a task that never started for a known cause says the likely fix, and find_run reads every ListTasks page with
startedBy as its only filter — against the stand-in's model of RunTask and ListTasks (tests/fakes/ecs_model.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from opsctl.errors import TemporaryFailure
from opsctl.model import Outcome, Status
from opsctl.providers.ecs import EcsProvider
from opsctl.runner import RetryPolicy
from tests.fakes.ecs_model import CAPACITY, ENI_TIMEOUT, RESOURCE_INIT, capacity_failure, eni_failure, refuse
from tests.fakes.ecs_play import RUN_ID, Play, drive, seed_spec
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.moto_ecs import EcsWorld, client, script_failed_to_start

FEW = RetryPolicy(base_s=0.01, max_wait_s=0.02, max_s=5.0, attempts=4)


def run_task_tokens(proxy: FaultProxy) -> list[str]:
    return [json.loads(c.body)["clientToken"] for c in proxy.calls if c.operation == "RunTask"]


def test_no_capacity_is_retried_with_a_fresh_client_token_and_said_on_stderr(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    refuse(ecs_world.cluster, capacity_failure(), eni_failure())
    play = Play(ecs_world, lines=["seeded"])
    result = drive(ecs_provider(ecs_world), seed_spec(), play)
    assert (result.outcome, result.exit_status, play.messages) == (Outcome.SUCCEEDED, 0, ["seeded"])
    assert len(ecs_world.tasks()) == 1
    token = f"opsctl-{RUN_ID}"
    assert run_task_tokens(moto_proxy) == [token, f"{token}-r1", f"{token}-r2"]
    retries = [n for n in play.notices if n.startswith("launch: ")]
    assert len(retries) == 2
    assert retries[0].startswith(f"launch: ECS started nothing: {CAPACITY} — retrying in ")
    assert retries[1].startswith("launch: ECS started nothing: RESOURCE:ENI — retrying in ")
    assert "ListTasks" not in moto_proxy.counts()  # nothing can have started: no need to look for it


def test_no_capacity_for_longer_than_the_retry_budget_is_exit_75_with_nothing_started(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    refuse(ecs_world.cluster, *[capacity_failure()] * FEW.attempts)
    with pytest.raises(TemporaryFailure) as caught:
        drive(ecs_provider(ecs_world), seed_spec(), Play(ecs_world), retry=FEW)
    assert (str(caught.value), caught.value.exit_code) == (f"ECS started nothing: {CAPACITY}", 75)
    assert ecs_world.tasks() == []
    assert len(set(run_task_tokens(moto_proxy))) == FEW.attempts


def test_a_task_that_failed_to_start_for_lack_of_capacity_is_launched_again(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    play = Play(ecs_world, lines=["seeded"], stop_at=None)

    def on_status(status: Status) -> None:  # the first task's ENI never comes up; the second one runs
        task = ecs_world.task(play.arn)
        if len(play.refs) == 1:
            script_failed_to_start(task, ENI_TIMEOUT)
        elif task.last_status != "STOPPED":
            from tests.fakes.moto_ecs import script_stop

            script_stop(task, exit_code=0)

    play.on_status = on_status
    result = drive(ecs_provider(ecs_world), seed_spec(), play)
    assert (result.outcome, result.exit_status) == (Outcome.SUCCEEDED, 0)
    first, second = (r.id for r in play.refs)
    assert result.run.id == second and len(ecs_world.tasks()) == 2
    assert ecs_world.task(first).stop_code == "TaskFailedToStart"
    notice = next(n for n in play.notices if n.startswith(f"run {first} never started"))
    assert notice.startswith(
        f"run {first} never started ({ENI_TIMEOUT}); nothing ran — launching again in "
    ) and notice.endswith("(1 of 3)")
    assert run_task_tokens(moto_proxy) == [f"opsctl-{RUN_ID}", f"opsctl-{RUN_ID}-r1"]


def test_a_task_that_cannot_read_its_secrets_is_69_with_the_likely_fix(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]
) -> None:
    play = Play(ecs_world, stop_at=None)
    play.on_status = lambda status: script_failed_to_start(ecs_world.task(play.arn), RESOURCE_INIT)
    result = drive(ecs_provider(ecs_world), seed_spec(), play)
    assert (result.outcome, result.exit_code, result.exit_status) == (Outcome.NO_EXIT_CODE, None, 69)
    assert result.reason == (
        f"{RESOURCE_INIT} — likely fix: let the task's execution role read its secrets "
        "(secretsmanager:GetSecretValue or ssm:GetParameters, and kms:Decrypt for a customer-managed key) and pull "
        "from ECR, and give the task's subnets a way to Secrets Manager and ECR: VPC endpoints, a NAT gateway, or "
        "assign_public_ip = true in a public subnet"
    )
    assert len(ecs_world.tasks()) == 1  # not launched again: a new launch would fail the same way


def test_find_run_reads_every_page_by_started_by_alone(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    provider = ecs_provider(ecs_world)
    request = provider.plan(seed_spec())
    ecs = client("ecs", ecs_world.url)
    for i in range(12):  # 120 earlier runs of the same task: the one sought is on the second page
        batch = {**request, "count": 10, "clientToken": f"earlier-{i}"}
        batch["overrides"] = {
            "containerOverrides": [{"name": "api", "environment": [{"name": "OPSCTL_RUN_ID", "value": f"old-{i}"}]}]
        }
        ecs.run_task(**{k: v for k, v in batch.items() if k != "tags"})
    moto_proxy.reset()
    ref = provider.launch(seed_spec())
    assert provider.find_run(seed_spec()) == ref
    assert provider.find_run(replace(seed_spec(), run_id="never-launched")) is None
    assert provider.active_runs("staging", "seed-admin")[-1] == ref
    lists = [json.loads(c.body) for c in moto_proxy.calls if c.operation == "ListTasks"]
    assert {tuple(sorted(body)) for body in lists} == {
        ("cluster", "maxResults", "startedBy"),
        ("cluster", "maxResults", "nextToken", "startedBy"),
    }
