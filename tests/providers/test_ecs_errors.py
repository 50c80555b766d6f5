"""ECS errors mapped by code, each with the next step (cluster, service, task definition, IAM, credentials, OIDC)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from opsctl.errors import ConfigError, NotFound, PermissionDenied, Refused, TemporaryFailure
from opsctl.providers.ecs import EcsProvider, build
from opsctl.runner import RetryPolicy
from tests.fakes.ecs_play import Play, drive, ecs_env, seed_spec
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.moto_ecs import CREDENTIALS, EcsWorld


def test_cluster_not_found(ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]) -> None:
    with pytest.raises(NotFound) as caught:
        ecs_provider(ecs_world, cluster="clinloop-stagin").launch(seed_spec())
    assert str(caught.value) == (
        "ECS cluster 'clinloop-stagin' not found in us-east-1 — check opsctl.toml: "
        "environments.staging.cluster and the region/profile (aws ecs list-clusters)"
    )


def test_service_not_found(ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]) -> None:
    with pytest.raises(NotFound) as caught:
        ecs_provider(ecs_world, service="api").launch(seed_spec())
    assert str(caught.value) == (
        "ECS service 'api' not found in cluster 'clinloop-staging' (us-east-1) — check "
        "opsctl.toml: environments.staging.service (aws ecs list-services --cluster "
        "clinloop-staging)"
    )


def test_task_definition_not_found(ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider]) -> None:
    with pytest.raises(NotFound) as caught:
        ecs_provider(ecs_world, task_definition="clinloop-api:9").launch(seed_spec())
    assert str(caught.value) == (
        "ECS task definition 'clinloop-api:9' not found in us-east-1 — check opsctl.toml: "
        "environments.staging.task_definition or the service (aws ecs "
        "list-task-definitions --family-prefix clinloop-api)"
    )


def test_access_denied_names_the_action(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    moto_proxy.arm(
        "RunTask",
        "error",
        code="AccessDeniedException",
        message="User: arn:aws:sts::123456789012:assumed-role/deploy/gha is not authorized to perform: ecs:RunTask",
    )
    with pytest.raises(PermissionDenied) as caught:
        ecs_provider(ecs_world).launch(seed_spec())
    assert caught.value.exit_code == 77
    assert str(caught.value).startswith(
        "permission denied: ecs:RunTask in us-east-1 (it also needs iam:PassRole on "
        "the task definition's task and execution roles) — grant it"
    )


def test_expired_credentials_suggest_sso_login(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in CREDENTIALS:
        monkeypatch.delenv(name)
    (tmp_path / "aws-config").write_text(
        "[profile clinloop-staging]\naws_access_key_id = a\naws_secret_access_key = b\nregion = us-east-1\n"
    )
    moto_proxy.arm(
        "DescribeServices",
        "error",
        code="ExpiredTokenException",
        message="The security token included in the request is expired",
    )
    with pytest.raises(Refused) as caught:
        build(ecs_env(ecs_world, profile="clinloop-staging")).launch(seed_spec())
    assert str(caught.value) == (
        "AWS rejected the credentials for environment 'staging' (ExpiredTokenException: "
        "The security token included in the request is expired) — run: aws sso login "
        "--profile clinloop-staging"
    )


def test_missing_credentials_and_unknown_profile(ecs_world: EcsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CREDENTIALS:
        monkeypatch.delenv(name)
    with pytest.raises(Refused) as caught:
        build(ecs_env(ecs_world)).launch(seed_spec())
    assert str(caught.value).startswith("no AWS credentials for environment 'staging' — configure credentials")
    with pytest.raises(ConfigError) as profile:
        build(ecs_env(ecs_world, profile="nope"))
    assert str(profile.value) == (
        "opsctl.toml: environments.staging.profile: AWS profile 'nope' is not in your AWS "
        "config — create it (aws configure sso --profile nope)"
    )


def test_oidc_role_refused_explains_the_sub_claim(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in CREDENTIALS:
        monkeypatch.delenv(name)
    token = tmp_path / "token"
    token.write_text("eyJhbGciOi.fake.jwt")
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy-staging")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    moto_proxy.arm(
        "AssumeRoleWithWebIdentity",
        "error",
        status=403,
        code="AccessDenied",
        message="Not authorized to perform sts:AssumeRoleWithWebIdentity",
    )
    with pytest.raises(Refused) as caught:
        build(ecs_env(ecs_world)).launch(seed_spec())
    message = str(caught.value)
    assert message.startswith("GitHub OIDC: not authorized to perform sts:AssumeRoleWithWebIdentity")
    assert "repo:OWNER/REPO:environment:NAME" in message and "repo:OWNER/REPO:ref:refs/heads/BRANCH" in message


def test_throttling_is_temporary_and_exhausts_to_75(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], moto_proxy: FaultProxy
) -> None:
    moto_proxy.arm("DescribeTasks", "throttle", probability=1.0)
    with pytest.raises(TemporaryFailure) as caught:
        drive(
            ecs_provider(ecs_world),
            seed_spec(),
            Play(ecs_world),
            retry=RetryPolicy(base_s=0.01, max_wait_s=0.02, max_s=5, attempts=3),
        )
    assert caught.value.exit_code == 75
    assert str(caught.value) == "DescribeTasks: ThrottlingException from AWS ecs (Rate exceeded)"
    assert moto_proxy.counts()["DescribeTasks"] == 3


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"AWS_ENDPOINT_URL_LOGS": "http://127.0.0.1:9"}, "http://127.0.0.1:9"),
        (
            {"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "http://127.0.0.1:8", "AWS_ENDPOINT_URL_LOGS": "http://127.0.0.1:9"},
            "http://127.0.0.1:8",
        ),
    ],
)
def test_logs_endpoint_variables(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: str) -> None:
    from opsctl.config import EcsEnv
    from opsctl.providers.ecs import build

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL_LOGS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    provider = build(
        EcsEnv(
            name="s", provider="ecs", source="t", region="us-east-1", cluster="c", task_definition="f", subnets=("s",)
        )
    )
    assert provider.clients.logs_client("us-east-1").meta.endpoint_url == expected
