"""Helpers for the Cloud Run provider's tests: a fresh fake per test, seed 002's staging."""

from __future__ import annotations

from typing import Any

from opsctl.config import CloudRunEnv
from opsctl.model import RunResult, RunSpec
from opsctl.providers.cloudrun import CloudRunProvider
from tests.contract import RecordingObserver, make_spec, run_contract
from tests.fakes.gcp.server import FakeGcp
from tests.fakes.gcp.world import Line, lines

JOB = "quill-admin-staging"
RUN_ID = "20260101T000000Z-0000c0de"
SCALE = 0.05


def staging(fake: FakeGcp, **fields: Any) -> CloudRunEnv:
    """Seed 002's staging: project, region and job (the container comes from the job)."""
    base: dict[str, Any] = {
        "name": "staging",
        "provider": "cloudrun",
        "source": "opsctl.toml",
        "project": fake.world.project,
        "region": fake.world.region,
        "job": JOB,
    }
    return CloudRunEnv(**{**base, **fields})


def spec(command: tuple[str, ...] | None = ("python", "-m", "admin_task"), run_id: str = RUN_ID, **env: str) -> RunSpec:
    """Seed 002's create-superadmin as build_spec would make it (plus `env`)."""
    return make_spec(
        command,
        {"ADMIN_ACTION": "create-superadmin", **env},
        env_name="staging",
        task="create-superadmin",
        run_id=run_id,
    )


def run(provider: CloudRunProvider, run_spec: RunSpec | None = None, **kw: Any) -> tuple[RunResult, RecordingObserver]:
    """The shared contract driver with the real Runner, on real time with the provider's timing x0.05."""
    return run_contract(provider, run_spec or spec(), timing=provider.timing.scaled(SCALE), **kw)


def expect_all(seen: RecordingObserver, n: int) -> None:
    """Exactly `numbered(n)`'s lines, once each, in order."""
    assert len(seen.messages) == n
    assert seen.messages == [f"line {i:06d}" for i in range(n)]


def numbered(n: int, *, every: float = 0.0001, delay: float = 0.0) -> list[Line]:
    """`line 000000`, `line 000001`, … printed `every` seconds apart."""
    return lines([f"line {i:06d}" for i in range(n)], every=every, delay=delay)
