"""ECS fixtures: moto's server (one per session), the fault proxy in front of it, a fresh seed-000 world.

moto is imported inside the fixtures, so test modules that need none of this do not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from opsctl.providers.ecs import EcsProvider
    from tests.fakes.faultproxy import FaultProxy
    from tests.fakes.moto_ecs import EcsWorld, MotoServer


@pytest.fixture
def ecs_provider(moto_clients: tuple[Any, Any], moto_proxy: FaultProxy) -> Callable[..., EcsProvider]:
    """`ecs_provider(world, **env_fields)`: an EcsProvider on the shared clients (through the proxy)."""
    from opsctl.providers.ecs import EcsProvider
    from tests.fakes.ecs_play import ecs_env
    from tests.fakes.moto_ecs import REGION, client

    return lambda world, **fields: EcsProvider(
        ecs_env(world, **fields), *moto_clients, REGION, lambda service, region: client(service, moto_proxy.url)
    )


@pytest.fixture
def ecs_world(
    moto_server: MotoServer, moto_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[EcsWorld]:
    """Fresh ECS + Logs backends with seed 000's staging (cluster, service, task definition, log group);
    opsctl's boto3 reaches moto only through the proxy, with fake credentials and no outside AWS config."""
    from tests.fakes.moto_ecs import CREDENTIALS, REGION, build_world, hold_tasks, release_tasks

    moto_server.reset_ecs()
    hold_tasks()
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ENDPOINT_URL_ECS",
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
        "AWS_ENDPOINT_URL_STS",
        "AWS_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_proxy.url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    try:
        world = build_world(moto_server.url)
        moto_proxy.reset()
        yield world
    finally:
        moto_proxy.reset()
        release_tasks()
