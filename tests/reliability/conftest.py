"""The reliability suite's options and stand-ins: `--soak` multiplies every count, `--reliability-seed` replays
a run's random choices, and each test's counts are printed in CI output (and again in the terminal summary).

moto (ECS + CloudWatch Logs) and the Cloud Run fake start once per session; each test gets fresh state.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.reliability.gcp_faults import ConnectionDropper, GrpcFaultProxy

if TYPE_CHECKING:
    from tests.fakes.faultproxy import FaultProxy
    from tests.fakes.gcp import FakeGcp
    from tests.fakes.moto_ecs import EcsWorld, MotoServer

SOAK_FACTOR = 10
_REPORTED: list[str] = []
_SEEDS: list[int] = []
Report = Callable[[str], None]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reliability")
    group.addoption(
        "--soak",
        nargs="?",
        type=int,
        const=SOAK_FACTOR,
        default=1,
        metavar="FACTOR",
        help=f"reliability suite: multiply every count by FACTOR (default {SOAK_FACTOR} when given bare)",
    )
    group.addoption(
        "--reliability-seed",
        type=int,
        default=None,
        metavar="SEED",
        help="reliability suite: replay the random choices of a run (its seed is printed)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A soak multiplies the counts, so it multiplies the per-test time limit (pyproject's timeout) too."""
    factor = int(config.getoption("soak", default=1) or 1)
    limit = config.getini("timeout")
    if factor > 1 and limit:
        here = Path(__file__).parent
        for item in items:
            if here in item.path.parents:
                item.add_marker(pytest.mark.timeout(float(limit) * factor))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _SEEDS:
        terminalreporter.section("reliability seed")
        terminalreporter.write_line(f"{_SEEDS[0]} (replay this run's random choices: --reliability-seed {_SEEDS[0]})")
    if _REPORTED:
        terminalreporter.section("reliability counts")
        for line in _REPORTED:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def soak(pytestconfig: pytest.Config) -> int:
    """How many times the default counts to run (1 in CI)."""
    return max(1, int(pytestconfig.getoption("soak", default=1) or 1))


@pytest.fixture(scope="session")
def session_seed(pytestconfig: pytest.Config) -> int:
    """One seed for the session: given to replay a run (option, else $OPSCTL_RELIABILITY_SEED), or drawn fresh —
    in CI too: a fixed seed that once passed would stop finding anything new. It is printed at the end."""
    given = pytestconfig.getoption("reliability_seed", default=None) or os.environ.get("OPSCTL_RELIABILITY_SEED")
    seed = int(given) if given is not None else random.SystemRandom().randrange(1, 2**31)
    _SEEDS.append(seed)
    return seed


@pytest.fixture
def seed(session_seed: int, request: pytest.FixtureRequest) -> int:
    """This test's seed: the session seed mixed with the test's name, so tests do not share a schedule."""
    return (session_seed * 1_000_003 + sum(map(ord, request.node.name))) % 2**31


@pytest.fixture
def report(pytestconfig: pytest.Config, session_seed: int) -> Report:
    """Print one line of counts at once (visible in CI logs, even with -q) and again in the summary."""
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")

    def say(line: str) -> None:
        line = f"{line} (replay: --reliability-seed {session_seed})"
        _REPORTED.append(line)
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(line)

    return say


# -- AWS: moto behind the fault proxy ------------------------------------------------------------------------


@pytest.fixture
def aws_env(moto_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3 in this process reaches moto only through the proxy, with fake credentials and no outside config."""
    from tests.fakes.moto_ecs import CREDENTIALS, REGION

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_proxy.url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def ecs_world(moto_server: MotoServer, moto_proxy: FaultProxy, aws_env: None) -> Iterator[EcsWorld]:
    """Fresh ECS + Logs backends with seed 000's staging; tasks stay where the test puts them."""
    from tests.fakes.moto_ecs import build_world, hold_tasks, release_tasks

    moto_server.reset_ecs()
    hold_tasks()
    try:
        world = build_world(moto_server.url)
        moto_proxy.reset()
        yield world
    finally:
        moto_proxy.reset()
        release_tasks()


# -- Google: the gRPC fake behind the fault proxy and the connection dropper --------------------------------


class GcpStack:
    """FakeGcp (seed 002's job) ← GrpcFaultProxy ← ConnectionDropper; opsctl talks to `address`."""

    def __init__(self, seed: int, *, call_faults: float = 0.0, drops: float = 0.0) -> None:
        from tests.fakes.gcp import FakeGcp
        from tests.fakes.gcp.harness import JOB

        self.fake: FakeGcp = FakeGcp()
        self.job = self.fake.world.add_job(JOB, max_retries=0)
        # Cloud Logging lists entries a moment after they are written, and the executions listing lags RunJob.
        self.fake.world.ingestion_delay_s = 0.15
        self.fake.world.list_lag_s = 0.3
        self.proxy = GrpcFaultProxy(self.fake.address, seed=seed, rate=call_faults)
        self.dropper = ConnectionDropper(self.proxy.port, seed=seed + 1, rate=drops)
        self.address = self.dropper.address

    def stop(self) -> None:
        self.dropper.stop()
        self.proxy.stop()
        self.fake.stop()


@pytest.fixture
def gcp_stack(seed: int) -> Iterator[Callable[..., GcpStack]]:
    """`gcp_stack(call_faults=0.25, drops=0.01)`: a fresh stack, stopped after the test."""
    made: list[GcpStack] = []

    def make(**rates: float) -> GcpStack:
        stack = GcpStack(seed + len(made), **rates)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.stop()


@pytest.fixture
def github_actions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Path]:
    """Inside GitHub Actions: returns ($GITHUB_STEP_SUMMARY, $GITHUB_OUTPUT)."""
    summary, outputs = tmp_path / "step-summary.md", tmp_path / "step-outputs.txt"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_ACTOR", "ada")
    monkeypatch.setenv("GITHUB_REF", "refs/heads/main")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    return summary, outputs
