"""pytest fixtures for the Cloud Run tests (`pytest_plugins = ("tests.fakes.gcp.fixtures",)`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opsctl.providers.cloudrun import CloudRunProvider
from opsctl.providers.cloudrun.clients import connect
from tests.fakes.gcp.harness import JOB, staging
from tests.fakes.gcp.server import FakeGcp


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    """A fresh fake with seed 002's job, for one test."""
    server = FakeGcp()
    server.world.add_job(JOB)
    yield server
    server.stop()


@pytest.fixture
def provider(fake: FakeGcp) -> Iterator[CloudRunProvider]:
    """The provider on real clients pointed at the fake, with the live tail."""
    p = CloudRunProvider(staging(fake), connect(fake.address))
    yield p
    p.close()


@pytest.fixture
def polling(fake: FakeGcp) -> Iterator[CloudRunProvider]:
    """List reads only, no live tail."""
    p = CloudRunProvider(staging(fake), connect(fake.address), tail=False)
    yield p
    p.close()
