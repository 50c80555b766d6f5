"""The ECS provider, real boto3 against moto: resolving the target, launching, doctor/history/build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from opsctl.errors import ConfigError, LaunchError, NotFound, UsageError
from opsctl.model import Outcome, RunRef, State
from opsctl.providers.ecs import EcsProvider, build
from tests.fakes.ecs_play import RUN_ID, SEED_COMMAND, Play, drive, ecs_env, seed_spec
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.moto_ecs import EcsWorld, awslogs, client, override_env, script_stop

# -- resolution ---------------------------------------------------------------------------------------


def test_resolves_task_definition_and_network_from_the_service(ecs_world: EcsWorld) -> None:
    provider = build(ecs_env(ecs_world))
    plan = provider.plan(seed_spec())
    assert plan == {
        "cluster": "clinloop-staging",
        "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/clinloop-staging-api:1",
        "count": 1,
        "startedBy": "opsctl/staging/seed-admin",
        "clientToken": f"opsctl-{RUN_ID}",
        "overrides": {
            "containerOverrides": [
                {
                    "name": "api",
                    "command": list(SEED_COMMAND),
                    "environment": [{"name": k, "value": v} for k, v in seed_spec().env_vars],
                }
            ]
        },
        "networkConfiguration": ecs_world.network(),
        "launchType": "FARGATE",
        "platformVersion": "1.4.0",
        "tags": [
            {"key": "opsctl:run-id", "value": RUN_ID},
            {"key": "opsctl:actor", "value": "tester"},
            {"key": "opsctl:task", "value": "seed-admin"},
            {"key": "opsctl:env", "value": "staging"},
        ],
    }
    assert provider.warnings() == ()


def test_service_specific_endpoint_variables_are_honoured(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", moto_proxy.url)
    # botocore derives the name from the service id "CloudWatch Logs": AWS_ENDPOINT_URL_LOGS is not read.
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", moto_proxy.url)
    provider = build(ecs_env(ecs_world))
    ref = provider.launch(seed_spec())
    ecs_world.write_logs(ref.id, ["through the service-specific endpoints"])
    assert [line.message for line in provider.read_logs(ref, None).lines] == ["through the service-specific endpoints"]


def test_config_network_and_family_win_over_the_service(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]
) -> None:
    second = ecs_world.register(
        ecs_world.family, [{"name": "api", "logConfiguration": awslogs(ecs_world.log_group, ecs_world.prefix)}]
    )
    provider = ecs_provider(
        ecs_world,
        task_definition=ecs_world.family,
        subnets=(ecs_world.subnets[0],),
        security_groups=(ecs_world.security_group,),
        assign_public_ip=True,
    )
    plan = provider.plan(seed_spec())
    assert plan["taskDefinition"] == second and second.endswith(":2")
    assert plan["networkConfiguration"] == {
        "awsvpcConfiguration": {
            "subnets": [ecs_world.subnets[0]],
            "securityGroups": [ecs_world.security_group],
            "assignPublicIp": "ENABLED",
        }
    }


@pytest.mark.parametrize(
    "given", ["clinloop-staging-api:1", "arn:aws:ecs:us-east-1:123456789012:task-definition/clinloop-staging-api:1"]
)
def test_revision_or_arn_pins_the_revision(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], given: str
) -> None:
    ecs_world.register(ecs_world.family, [{"name": "api"}])
    provider = ecs_provider(
        ecs_world,
        service=None,
        task_definition=given,
        subnets=tuple(ecs_world.subnets[:1]),
        security_groups=(ecs_world.security_group,),
    )
    assert provider.plan(seed_spec())["taskDefinition"].endswith("task-definition/clinloop-staging-api:1")


def test_inactive_revision_is_refused(ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]) -> None:
    client("ecs", ecs_world.url).deregister_task_definition(taskDefinition=ecs_world.task_definition_arn)
    with pytest.raises(NotFound) as caught:
        ecs_provider(ecs_world).plan(seed_spec())
    assert str(caught.value).startswith("task definition clinloop-staging-api:1 is INACTIVE (deregistered)")


def test_default_container_is_the_first_essential_one(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]
) -> None:
    ecs_world.register("two", [{"name": "log-router", "essential": False}, {"name": "worker"}])
    provider = ecs_provider(
        ecs_world,
        service=None,
        container=None,
        task_definition="two",
        subnets=tuple(ecs_world.subnets[:1]),
        security_groups=(ecs_world.security_group,),
    )
    assert provider.plan(seed_spec())["overrides"]["containerOverrides"][0]["name"] == "worker"


def test_unknown_container_lists_the_real_ones(ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]) -> None:
    with pytest.raises(ConfigError) as caught:
        ecs_provider(ecs_world, container="apii").plan(seed_spec())
    assert str(caught.value) == (
        "opsctl.toml: environments.staging.container: no container 'apii' in task "
        "definition clinloop-staging-api:1 (its containers: api, sidecar)"
    )


def test_without_awslogs_a_run_warns_and_streams_nothing(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    ecs_world.register("quiet", [{"name": "api"}])
    provider = ecs_provider(ecs_world, task_definition="quiet")
    play = Play(ecs_world, exit_code=0)
    result = drive(provider, seed_spec(), play)
    assert result.outcome is Outcome.SUCCEEDED
    assert provider.warnings() == (
        "container 'api' in task definition quiet:1 has no awslogs log configuration: "
        "its output will not be streamed; the exit code and stop reason are still reported",
    )
    assert ("Logs", "not streamed (no awslogs log configuration)") in result.details
    assert moto_proxy.counts()["GetLogEvents"] == 0
    assert result.run.log_url is None


def test_override_over_8192_characters_is_refused_before_runtask(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    spec = seed_spec(BIG_TOKEN="s3cr3t" * 1500)
    spec = replace(spec, secret_values=frozenset({"s3cr3t" * 1500}))
    with pytest.raises(LaunchError) as caught:
        ecs_provider(ecs_world).launch(spec)
    message = str(caught.value)
    assert message.startswith("the container overrides are 9,")
    assert "ECS RunTask allows 8,192" in message and "Largest: env BIG_TOKEN (9,0" in message
    assert "s3cr3t" not in message
    assert moto_proxy.counts()["RunTask"] == 0


# -- launch ------------------------------------------------------------------------------------------------


def test_http_200_with_a_configuration_failure_is_a_launch_error(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    moto_proxy.arm(
        "RunTask",
        "respond",
        status=200,
        body={
            "tasks": [],
            "failures": [
                {
                    "arn": "arn:aws:ecs:us-east-1:123456789012:cluster/clinloop-staging",
                    "reason": "ATTRIBUTE",
                    "detail": "requires ecs.capability.secrets.asm.environment-variables",
                }
            ],
        },
    )
    result_code = None
    with pytest.raises(LaunchError) as caught:
        ecs_provider(ecs_world).launch(seed_spec())
    result_code = caught.value.exit_code
    assert str(caught.value) == (
        "ECS did not start the task: ATTRIBUTE requires ecs.capability.secrets.asm.environment-variables "
        "[arn:aws:ecs:us-east-1:123456789012:cluster/clinloop-staging] — check the cluster's capacity, the launch "
        "type and the task definition (opsctl doctor staging)"
    )
    assert result_code == 69
    assert ecs_world.tasks() == []


def test_launch_retries_untagged_when_ecs_refuses_tags(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    moto_proxy.arm(
        "RunTask",
        "error",
        code="InvalidParameterException",
        message="Long arn format must be used for tagging operations",
    )
    provider = ecs_provider(ecs_world)
    ref = provider.launch(seed_spec())
    (task,) = ecs_world.tasks()
    assert task.task_arn == ref.id and task.tags == []
    assert provider.warnings() == (
        "ECS refused the task's tags, so it was launched untagged (Long arn format "
        "must be used for tagging operations)",
    )
    bodies = [c.body for c in moto_proxy.calls if c.operation == "RunTask"]
    assert len(bodies) == 2 and b'"tags"' in bodies[0] and b'"tags"' not in bodies[1]


def test_launch_sets_started_by_tags_and_console_links(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]
) -> None:
    provider = ecs_provider(ecs_world)
    ref = provider.launch(seed_spec())
    (task,) = ecs_world.tasks()
    task_id = ref.id.rsplit("/", 1)[-1]
    assert task.started_by == "opsctl/staging/seed-admin"
    assert {t["key"]: t["value"] for t in task.tags}["opsctl:run-id"] == RUN_ID
    assert override_env(task)["ADMIN_EMAIL"] == "ada@example.com" and override_env(task)["OPSCTL_RUN_ID"] == RUN_ID
    assert ref.console_url == (
        f"https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/clinloop-staging/tasks/"
        f"{task_id}/configuration?region=us-east-1"
    )
    assert ref.log_url == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:"
        "log-groups/log-group/$252Fecs$252Fclinloop-staging-api/log-events/"
        f"ecs$252Fapi$252F{task_id}"
    )
    assert provider.find_run(seed_spec()) == ref
    assert provider.find_run(replace(seed_spec(), run_id="other")) is None
    assert provider.active_runs("staging", "seed-admin") == [ref]
    provider.stop(ref, "test")
    provider.stop(ref, "test again")  # stopping a stopped task is fine
    assert provider.active_runs("staging", "seed-admin") == []


def test_user_typed_runs(ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy) -> None:
    provider = ecs_provider(ecs_world)
    ref = provider.launch(seed_spec())
    assert provider.ref(ref.id) == ref
    assert provider.ref(ref.id.rsplit("/", 1)[-1]).id == ref.id.rsplit("/", 1)[-1]
    with pytest.raises(UsageError) as caught:
        provider.ref("arn:aws:ecs:us-east-1:123456789012:task/other-cluster/abcdef0123456789")
    assert str(caught.value) == (
        "arn:aws:ecs:us-east-1:123456789012:task/other-cluster/abcdef0123456789 is a task "
        "of cluster other-cluster in us-east-1; environment 'staging' is cluster "
        "clinloop-staging in us-east-1"
    )
    with pytest.raises(UsageError):
        provider.ref("not a task!")
    moto_proxy.arm(
        "DescribeTasks", "respond", status=200, body={"tasks": [], "failures": [{"arn": ref.id, "reason": "MISSING"}]}
    )
    with pytest.raises(NotFound) as gone:
        provider.poll(ref)
    assert "not found in cluster 'clinloop-staging' (us-east-1) (MISSING) — check" in str(gone.value)
    with pytest.raises(NotFound) as missing:
        provider.poll(RunRef(id="arn:aws:ecs:us-east-1:123456789012:task/clinloop-staging/0123456789abcdef"))
    assert str(missing.value) == (
        "ECS task 0123456789abcdef not found in cluster 'clinloop-staging' (us-east-1) — "
        "check the id and the environment; ECS shows stopped tasks for about an hour only"
    )


def test_started_by_client_token_and_tags_are_sanitised() -> None:
    from opsctl.providers.ecs.launch import client_token, started_by, tags

    assert started_by("stag ing", "seed.admin" + "x" * 200) == ("opsctl/stag-ing/seed-admin" + "x" * 200)[:128]
    assert client_token("r" * 100) == "opsctl-" + "r" * 57
    spec = replace(seed_spec(), actor="Ada Lovelace <ada@example.com>; rm -rf /")
    assert tags(spec)[1] == {"key": "opsctl:actor", "value": "Ada Lovelace _ada@example.com__ rm -rf /"}


# -- doctor, history, build ------------------------------------------------------------------------------


def test_doctor_checks(ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]) -> None:
    from opsctl.config import TaskConfig

    ecs_world.register(
        "with-secret",
        [
            {
                "name": "api",
                "logConfiguration": awslogs("/ecs/missing", "ecs"),
                "secrets": [{"name": "DATABASE_URL", "valueFrom": "arn:aws:ssm:x"}],
            }
        ],
    )
    tasks = [
        TaskConfig(name="seed-admin", command=SEED_COMMAND, env={"ADMIN_EMAIL": "{email}"}),
        TaskConfig(name="migrate", env={"DATABASE_URL": "postgres://elsewhere"}),
    ]
    good = ecs_provider(ecs_world).checks(tasks)
    assert [(c.name, c.ok) for c in good] == [
        ("AWS credentials", True),  # first, as on every provider
        ("ECS cluster clinloop-staging (us-east-1)", True),
        ("task definition, container and network", True),
        ("CloudWatch log group /ecs/clinloop-staging-api", True),
        ("task seed-admin: overrides", True),
        ("task migrate: overrides", True),
        ("IAM permissions opsctl uses", True),
    ]
    assert good[0].detail == "arn:aws:sts::123456789012:user/moto (account 123456789012)"
    assert good[2].detail == (
        "clinloop-staging-api:1 (from service clinloop-staging-api), container api, FARGATE, "
        "2 subnet(s), 1 security group(s)"
    )
    bad = ecs_provider(ecs_world, task_definition="with-secret").checks(tasks)
    assert [(c.name, c.ok) for c in bad][3:6] == [
        ("CloudWatch log group /ecs/missing", False),
        ("task seed-admin: overrides", True),
        ("task migrate: overrides", False),
    ]
    assert bad[5].detail == ("sets DATABASE_URL, which the container gets from secrets: ECS cannot override a secret")
    (_, missing) = ecs_provider(ecs_world, cluster="nope").checks(tasks)
    assert (missing.ok, missing.detail) == (False, "not found or not ACTIVE")


def test_history_and_info(ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]) -> None:
    provider = ecs_provider(ecs_world)
    first = provider.launch(seed_spec())
    script_stop(ecs_world.task(first.id), exit_code=3)
    second = provider.launch(replace(seed_spec(), run_id="20260101T000001Z-0000beef"))
    client("ecs", ecs_world.url).run_task(
        cluster=ecs_world.cluster,
        taskDefinition=ecs_world.family,
        launchType="FARGATE",
        networkConfiguration=ecs_world.network(),
    )
    runs = provider.recent_runs("staging", 10)
    assert {r.ref.id for r in runs} == {first.id, second.id}  # not the task opsctl did not start
    info = provider.info(first)
    assert (info.env, info.task, info.actor, info.state, info.exit_code) == (
        "staging",
        "seed-admin",
        "tester",
        State.STOPPED,
        3,
    )


def test_build_registers_a_revision_and_logs_in_to_ecr(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]
) -> None:
    provider = ecs_provider(ecs_world, task_definition=ecs_world.family)
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/clinloop-admin:abc123"
    assert provider.set_image(image) == (
        f"registered task definition clinloop-staging-api:2: container api now runs {image}"
    )
    described = client("ecs", ecs_world.url).describe_task_definition(taskDefinition=ecs_world.family)
    assert [c["image"] for c in described["taskDefinition"]["containerDefinitions"]] == [image, "clinloop/api:latest"]
    assert provider.plan(seed_spec())["taskDefinition"].endswith(":2")
    from_service = ecs_provider(ecs_world).set_image(image)
    assert from_service.endswith(
        "note: opsctl run staging still uses service clinloop-staging-api's revision "
        'clinloop-staging-api:1 — set task_definition = "clinloop-staging-api" in '
        "environments.staging to run the newest revision"
    )
    user, password = provider.registry_login(image)
    assert user == "AWS" and password
    with pytest.raises(UsageError):
        provider.registry_login("ghcr.io/clinloop/admin")
