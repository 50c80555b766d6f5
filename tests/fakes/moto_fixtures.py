"""Session fixtures shared by every AWS test: one moto server, the fault proxy in front of it, clients.

Registered once for the whole suite in tests/conftest.py, so the provider and reliability tests share
one server. moto is imported inside the fixtures, so tests that need none of this do not pay for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.fakes.faultproxy import FaultProxy
    from tests.fakes.moto_ecs import MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto's ThreadedMotoServer on 127.0.0.1, started once, emptied at the start."""
    from tests.fakes.moto_ecs import MotoServer

    server = MotoServer()
    server.reset()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    """The fault-injecting proxy every opsctl call goes through."""
    from tests.fakes.faultproxy import FaultProxy

    proxy = FaultProxy(moto_server.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def moto_clients(moto_proxy: FaultProxy) -> tuple[Any, Any]:
    """opsctl's clients as `build` makes them (SDK retries off), built once: boto3 sessions are slow."""
    from botocore.config import Config

    from tests.fakes.moto_ecs import client

    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    return client("ecs", moto_proxy.url, config), client("logs", moto_proxy.url, config)
