"""The ECS stand-in models what real ECS and the awslogs driver do (tests/fakes/ecs_model.py, cloud-apis.md §11),
seen through a real boto3 client against moto's server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from tests.fakes.moto_ecs import EcsWorld, MotoServer


@pytest.fixture
def world(moto_server: MotoServer) -> Iterator[EcsWorld]:
    from tests.fakes.moto_ecs import build_world, hold_tasks, release_tasks

    moto_server.reset_ecs()
    hold_tasks()
    try:
        yield build_world(moto_server.url, with_service=False)
    finally:
        release_tasks()


def ecs(world: EcsWorld) -> Any:
    from tests.fakes.moto_ecs import client

    return client("ecs", world.url)


def run_task(world: EcsWorld, token: str, started_by: str = "opsctl/staging/seed-admin", count: int = 1) -> Any:
    return ecs(world).run_task(
        cluster=world.cluster,
        taskDefinition=world.family,
        launchType="FARGATE",
        networkConfiguration=world.network(),
        startedBy=started_by,
        clientToken=token,
        count=count,
    )


def test_run_task_answers_200_with_a_capacity_failure_and_the_same_token_replays_it(world: EcsWorld) -> None:
    from tests.fakes.ecs_model import CAPACITY, capacity_failure, eni_failure, refuse

    refuse(world.cluster, capacity_failure(), eni_failure("arn:aws:ecs:us-east-1:123456789012:container-instance/x"))
    first = run_task(world, "run-1")
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (first["tasks"], first["failures"]) == ([], [{"reason": CAPACITY}])
    assert run_task(world, "run-1")["failures"] == [{"reason": CAPACITY}]  # the original result, again
    eni = run_task(world, "run-1-retry-1")
    assert eni["failures"] == [
        {"arn": "arn:aws:ecs:us-east-1:123456789012:container-instance/x", "reason": "RESOURCE:ENI"}
    ]
    started = run_task(world, "run-1-retry-2")
    assert started["failures"] == [] and len(started["tasks"]) == 1
    again = run_task(world, "run-1-retry-2")
    assert [t["taskArn"] for t in again["tasks"]] == [started["tasks"][0]["taskArn"]]
    assert len(world.tasks()) == 1


def test_the_same_token_with_other_parameters_is_a_conflict(world: EcsWorld) -> None:
    run_task(world, "run-2")
    with pytest.raises(ClientError) as caught:
        run_task(world, "run-2", started_by="opsctl/staging/other")
    assert caught.value.response["Error"]["Code"] == "ConflictException"


def test_list_tasks_takes_started_by_alone_and_pages_by_100(world: EcsWorld) -> None:
    from tests.fakes.moto_ecs import script_stop

    arns = [t["taskArn"] for i in range(12) for t in run_task(world, f"t{i}", count=10)["tasks"]]
    script_stop(world.task(arns[0]), exit_code=0)
    client = ecs(world)
    with pytest.raises(ClientError) as caught:
        client.list_tasks(cluster=world.cluster, startedBy="opsctl/staging/seed-admin", desiredStatus="RUNNING")
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "it must be the only filter" in caught.value.response["Error"]["Message"]
    first = client.list_tasks(cluster=world.cluster, startedBy="opsctl/staging/seed-admin")
    assert len(first["taskArns"]) == 100
    second = client.list_tasks(
        cluster=world.cluster, startedBy="opsctl/staging/seed-admin", nextToken=first["nextToken"]
    )
    assert "nextToken" not in second
    assert sorted(first["taskArns"] + second["taskArns"]) == sorted(arns)  # a recently stopped task too
    running = client.list_tasks(cluster=world.cluster, desiredStatus="RUNNING", maxResults=100)
    assert arns[0] not in running["taskArns"]


def test_a_task_that_never_started(world: EcsWorld) -> None:
    from tests.fakes.ecs_model import CANNOT_PULL, RESOURCE_INIT
    from tests.fakes.moto_ecs import script_failed_to_start

    arns = [t["taskArn"] for i in range(2) for t in run_task(world, f"f{i}")["tasks"]]
    script_failed_to_start(world.task(arns[0]), RESOURCE_INIT)
    script_failed_to_start(world.task(arns[1]), CANNOT_PULL)
    described = ecs(world).describe_tasks(cluster=world.cluster, tasks=arns)["tasks"]
    by_arn = {t["taskArn"]: t for t in described}
    init, pull = by_arn[arns[0]], by_arn[arns[1]]
    assert (init["lastStatus"], init["stopCode"], init["stoppedReason"]) == (
        "STOPPED",
        "TaskFailedToStart",
        RESOURCE_INIT,
    )
    assert all("exitCode" not in c for c in init["containers"] + pull["containers"])
    assert pull["stoppedReason"].startswith("CannotPullContainerError: ")
    assert any(c.get("reason") == CANNOT_PULL for c in pull["containers"])


def test_the_awslogs_driver_splits_and_in_non_blocking_mode_drops(moto_server: MotoServer) -> None:
    from tests.fakes.ecs_model import BLOCKING_SPLIT, NON_BLOCKING_SPLIT
    from tests.fakes.moto_ecs import build_world, client

    moto_server.reset_ecs()
    default = build_world(moto_server.url, with_service=False, log_mode=None)
    arn = run_task(default, "nb")["tasks"][0]["taskArn"]
    assert "mode" not in default.log_options(arn)  # unset: non-blocking, ECS's default since June 2025
    long = "é" * 20_000  # 40,000 bytes
    events = default.print(arn, [long, "short"])
    assert [len(e.encode()) for e in events] == [16_384, 16_384, 40_000 - 32_768, 5]
    assert "".join(events[:3]) == long
    burst = default.print(arn, ["x" * 1000] * 2000, burst=True)  # 2 MB at once into a 1 MB buffer
    assert 1000 <= len(burst) < 1100
    got = client("logs", moto_server.url).get_log_events(
        logGroupName=default.log_group, logStreamName=default.stream(arn), startFromHead=True
    )
    assert len(got["events"]) == 4 + len(burst)

    moto_server.reset_ecs()
    blocking = build_world(moto_server.url, with_service=False)
    arn = run_task(blocking, "b")["tasks"][0]["taskArn"]
    assert blocking.log_options(arn)["mode"] == "blocking"
    assert blocking.print(arn, [long]) == [long]
    assert [len(e) for e in blocking.print(arn, ["y" * 300_000])] == [BLOCKING_SPLIT, 300_000 - BLOCKING_SPLIT]
    assert len(blocking.print(arn, ["x" * 1000] * 2000, burst=True)) == 2000
    assert NON_BLOCKING_SPLIT < BLOCKING_SPLIT


def test_tasks_carry_created_at_in_launch_order(world: EcsWorld) -> None:
    # Real ECS always answers createdAt (to the millisecond); opsctl's guard orders simultaneous launches by it.
    first = run_task(world, "run-a")["tasks"][0]
    second = run_task(world, "run-b")["tasks"][0]
    described = ecs(world).describe_tasks(cluster=world.cluster, tasks=[first["taskArn"], second["taskArn"]])
    created = {t["taskArn"]: t["createdAt"] for t in described["tasks"]}
    assert created == {first["taskArn"]: first["createdAt"], second["taskArn"]: second["createdAt"]}
    assert first["createdAt"] <= second["createdAt"] and first["createdAt"].tzinfo is not None
