"""Two operators at once on the clouds (issue 13): two `opsctl run` processes started behind a barrier, with the
concurrency pre-check slowed so that both pass it — the race the pre-check alone loses. Right after launching,
each lists the other active runs; the later launch stops its own run and exits 77 naming the earlier one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.gcp import FakeGcp, Script
from tests.fakes.moto_ecs import EcsWorld, client
from tests.providers.test_operate_cli import ACTOR, BASE_ENV, ECS_TOML, GCP_TOML

pytest_plugins = ("tests.fakes.gcp.fixtures",)

# How long the first pre-check's answer may wait for the second launcher's (start-ups differ on a busy machine).
SLOW_S = 4.0


def together(argv: list[str], cwd: Path, env: dict[str, str]) -> list[CliResult]:
    """The same `python -m opsctl ARGV` twice, released at once by a barrier; both results."""
    import os

    barrier = threading.Barrier(2)
    results: list[CliResult] = []

    def launch() -> None:
        barrier.wait()
        done = subprocess.run(
            [sys.executable, "-m", "opsctl", *argv],
            cwd=cwd,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        results.append(CliResult(done.returncode, done.stdout, done.stderr))

    threads = [threading.Thread(target=launch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results, key=lambda r: r.code)


def hold_first_two() -> Callable[[], None]:
    """A hook for the list call's answer: the first two answers wait for each other (both launchers then act on
    the same, empty, state); later ones pass."""
    held = threading.Barrier(2, timeout=SLOW_S * 10)
    seen = iter(range(10**9))

    def hook() -> None:
        if next(seen) < 2:
            held.wait()

    return hook


REFUSAL = re.compile(
    r"^opsctl: error: task '(?P<task>[\w-]+)' was launched in 'staging' at the same moment as run (?P<first>\S+), "
    r"which came first; ours \((?P<ours>\S+)\) was stopped before it could start\. Wait for the other with: "
    r"opsctl wait staging (?P=first)$",
    re.MULTILINE,
)


def test_ecs_simultaneous_launches_leave_one_task_running(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path
) -> None:
    first_two = hold_first_two()
    project = tmp_path / "project"
    project.mkdir()
    (project / "opsctl.toml").write_text(ECS_TOML, encoding="utf-8")
    # Both pre-checks are answered (empty) before either launcher hears back: a barrier on moto's answers.
    moto_proxy.after("ListTasks", lambda _req, _resp: first_two())
    argv = ["run", "staging", "seed-admin", "--email", ACTOR, "--yes", "--detach", "-o", "json"]
    winner, loser = together(argv, project, BASE_ENV)
    assert (winner.code, loser.code) == (0, 77), (winner.output, loser.output)
    calls = [c.operation for c in moto_proxy.calls]
    assert calls.count("RunTask") == 2, (calls, loser.stderr)  # both passed the pre-check: the race happened
    refused = REFUSAL.search(loser.stderr)
    assert refused is not None, loser.stderr
    assert refused["first"] == json.loads(winner.stdout)["run"]
    ecs = client("ecs", ecs_world.url)
    tasks = ecs.describe_tasks(cluster="clinloop-staging", tasks=[refused["first"], refused["ours"]])["tasks"]
    states = {t["taskArn"]: t["lastStatus"] for t in tasks}
    assert states == {refused["first"]: "RUNNING", refused["ours"]: "STOPPED"}
    # Every reconcile lookup went through the proxy (and so through the retry policy's client).
    assert calls.count("ListTasks") >= 4


@pytest.mark.parametrize("trial", range(2))
def test_cloud_run_simultaneous_launches_leave_one_execution_running(fake: FakeGcp, tmp_path: Path, trial: int) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "opsctl.toml").write_text(GCP_TOML, encoding="utf-8")
    fake.script(Script(run_for=None), Script(run_for=None))  # both run until cancelled
    fake.after_answer["ListExecutions"] = hold_first_two()
    env = {**BASE_ENV, "OPSCTL_GCP_ENDPOINT": fake.address}
    winner, loser = together(["run", "staging", "create-superadmin", "--detach", "-o", "json"], project, env)
    assert (winner.code, loser.code) == (0, 77), (winner.output, loser.output)
    assert fake.calls["RunJob"] == 2
    refused = REFUSAL.search(loser.stderr)
    assert refused is not None, loser.stderr
    assert refused["first"] == json.loads(winner.stdout)["run"]
    cancelled = {e.short: e.cancelled_at is not None for e in fake.executions}
    assert cancelled == {refused["first"]: False, refused["ours"]: True}


def test_ecs_launch_that_missed_the_other_is_first_whatever_the_run_ids(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path
) -> None:
    """The interleaving a loaded machine makes: one launcher's reconcile lists before the other's RunTask reaches
    ECS, so it sees no other run and goes on. The other sees it and must stop its own — though its run id (made
    before either launched) sorts first: the order is ECS's createdAt, not the run ids'."""
    first_two = hold_first_two()
    project = tmp_path / "project"
    project.mkdir()
    (project / "opsctl.toml").write_text(ECS_TOML, encoding="utf-8")
    moto_proxy.after("ListTasks", lambda _req, _resp: first_two())
    both = threading.Barrier(2, timeout=SLOW_S * 10)
    listed = threading.Event()  # the first launcher's reconcile listing was answered
    lists = iter(range(10**9))
    run_ids: list[str] = []

    def run_task(body: bytes) -> None:
        mine = json.loads(body)["clientToken"].removeprefix("opsctl-")
        run_ids.append(mine)
        both.wait()  # both RunTasks are here: the one whose run id sorts last reaches moto first
        if mine == min(run_ids):
            assert listed.wait(SLOW_S * 10)  # … and the other, only once that launcher's reconcile has listed

    def list_tasks(_req: bytes, _resp: bytes) -> None:
        if next(lists) == 2:  # the 3rd listing: the reconcile of the launcher that went first
            listed.set()

    moto_proxy.before("RunTask", run_task)
    moto_proxy.after("ListTasks", list_tasks)
    argv = ["run", "staging", "seed-admin", "--email", ACTOR, "--yes", "--detach", "-o", "json"]
    winner, loser = together(argv, project, BASE_ENV)
    assert listed.is_set() and len(run_ids) == 2
    assert (winner.code, loser.code) == (0, 77), (run_ids, winner.output, loser.output)
    refused = REFUSAL.search(loser.stderr)
    assert refused is not None, loser.stderr
    assert refused["first"] == json.loads(winner.stdout)["run"]
    ecs = client("ecs", ecs_world.url)
    tasks = ecs.describe_tasks(cluster="clinloop-staging", tasks=[refused["first"], refused["ours"]], include=["TAGS"])
    run_of = {t["taskArn"]: {g["key"]: g["value"] for g in t["tags"]}["opsctl:run-id"] for t in tasks["tasks"]}
    assert run_of[refused["first"]] == max(run_ids)  # the later run id went first, and won
    states = {t["taskArn"]: t["lastStatus"] for t in tasks["tasks"]}
    assert states == {refused["first"]: "RUNNING", refused["ours"]: "STOPPED"}
