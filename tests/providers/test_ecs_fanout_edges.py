"""`opsctl run ENV TASK --tasks N` on ECS at its edges: faults and signals in the middle of a fan-out launch,
foreign tasks carrying the run's id, copies ECS stops showing — through the CLI against moto and the proxy.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

from tests.conftest import CliResult, run_cli, start_cli
from tests.fakes import moto_ecs
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.moto_ecs import EcsWorld, FakeAgent, override_env
from tests.providers.test_ecs_cli import SEED_TOML
from tests.providers.test_ecs_fanout import ENV, detach, index, lines_of, opsctl, ours, play


def token_copy(body: bytes) -> int:
    """The copy index a RunTask request is for, from its clientToken (`…-c<i>`)."""
    token = str(json.loads(body)["clientToken"])
    return int(token.rsplit("-c", 1)[1].split("-", 1)[0])


def polls(proxy: FaultProxy) -> int:
    """The run's polls so far: DescribeTasks without tags (the guard and history ask for tags)."""
    return sum(1 for c in proxy.calls if c.operation == "DescribeTasks" and b"TAGS" not in c.body)


def start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    (tmp_path / "opsctl.toml").write_text(SEED_TOML)
    cmd = ["run", "staging", "seed-admin", "--email", "a@example.com", "--yes", *extra]
    return start_cli(*cmd, cwd=tmp_path, env=ENV)


def hold_copy(proxy: FaultProxy, copy: int) -> tuple[threading.Event, threading.Event]:
    """Hold RunTask's answer for `copy` (it has taken effect in moto) until `release` is set."""
    reached, release = threading.Event(), threading.Event()

    def hook(request: bytes, response: bytes) -> None:
        if token_copy(request) == copy:
            reached.set()
            release.wait(60)

    proxy.after("RunTask", hook)
    return reached, release


def foreign_task(world: EcsWorld, started_by: str, env: dict[str, str]) -> str:
    """A task someone else started in the cluster (not through opsctl), with the env it was given."""
    resp = moto_ecs.client("ecs", world.url).run_task(
        cluster=world.cluster,
        taskDefinition=world.task_definition_arn,
        launchType="FARGATE",
        networkConfiguration=world.network(),
        startedBy=started_by,
        overrides={
            "containerOverrides": [
                {"name": world.container, "environment": [{"name": k, "value": v} for k, v in env.items()]}
            ]
        },
    )
    return str(resp["tasks"][0]["taskArn"])


# -- a foreign task that carries the run's id -----------------------------------------------------------------


def test_a_foreign_task_carrying_the_run_id_is_not_adopted_nor_stopped(ecs_world: EcsWorld, tmp_path: Path) -> None:
    run_id = detach(tmp_path, 3)  # no agent: the copies stay RUNNING
    forged = {"OPSCTL_RUN_ID": run_id, "OPSCTL_TASK_INDEX": "3", "OPSCTL_TASK_COUNT": "4"}
    other = foreign_task(ecs_world, "someone-else", forged)
    stop = opsctl(tmp_path, "stop", "staging", run_id)
    assert stop.code == 0, stop.output
    assert all(t.desired_status == "STOPPED" for t in ours(ecs_world))
    assert ecs_world.task(other).desired_status == "RUNNING", stop.output
    logs = opsctl(tmp_path, "history", "staging", "--output", "json")
    assert [row["run"] for row in json.loads(logs.stdout)] == [run_id], logs.output


def test_a_foreign_task_does_not_change_the_copy_count(ecs_world: EcsWorld, tmp_path: Path) -> None:
    with play(ecs_world, start_after_s=1.0):
        run_id = detach(tmp_path, 2)
        foreign_task(
            ecs_world, "someone-else", {"OPSCTL_RUN_ID": run_id, "OPSCTL_TASK_INDEX": "0", "OPSCTL_TASK_COUNT": "9"}
        )
        cli = opsctl(tmp_path, "wait", "staging", run_id, "--output", "json")
    assert cli.code == 0, cli.output
    assert [t["index"] for t in json.loads(cli.stdout)["tasks"]] == [0, 1]


# -- a launch that gives up part-way ---------------------------------------------------------------------------


def launch_three_giving_up(tmp_path: Path) -> CliResult:
    """`run … --tasks 3` with 3 attempts per call, so that a launch the test makes fail gives up soon."""
    (tmp_path / "opsctl.toml").write_text(SEED_TOML)
    cmd = ["run", "staging", "seed-admin", "--email", "a@example.com", "--yes", "--tasks", "3"]
    return run_cli(*cmd, cwd=tmp_path, env={**ENV, "OPSCTL_RETRY_ATTEMPTS": "3"})


def test_a_launch_that_gives_up_mid_set_stops_the_copies_it_started(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path
) -> None:
    """RunTask throttled from copy 2 on, past every retry: copies 0 and 1 must not be left running."""

    def after(request: bytes, response: bytes) -> None:
        if token_copy(request) == 1:
            moto_proxy.arm("RunTask", "throttle", count=10_000)

    moto_proxy.after("RunTask", after)
    cli = launch_three_giving_up(tmp_path)
    assert cli.code == 75, cli.output
    assert "its copies that started were stopped" in cli.stderr, cli.stderr
    tasks = ours(ecs_world)
    assert sorted(index(t) for t in tasks) == [0, 1], cli.output
    assert all(t.desired_status == "STOPPED" for t in tasks), cli.output


def test_a_launch_that_gives_up_stops_a_copy_whose_answer_was_lost(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path
) -> None:
    """Copy 1's RunTask takes effect every time but its answer never arrives, and ListTasks lags (ECS is
    eventually consistent) for every listing the launch makes: the guard's, then one per lookup of the
    attempts and their retries (OPSCTL_RETRY_ATTEMPTS=3) — 8 in all. The launch gives up not knowing copy 1's
    task; the stop that calls the run off lists the tasks again (the 9th listing, no longer lagging), so copy 1
    is stopped too, not left running unwatched."""
    lagging = 8

    def after_run_task(request: bytes, response: bytes) -> None:
        if token_copy(request) == 0:
            moto_proxy.arm("RunTask", "drop_after", count=10_000)

    moto_proxy.after("RunTask", after_run_task)
    moto_proxy.rewrite("ListTasks", lambda request, response: json.dumps({"taskArns": []}).encode(), count=lagging)
    cli = launch_three_giving_up(tmp_path)
    assert cli.code == 75, cli.output
    before_stop = [c.operation for c in moto_proxy.calls]
    before_stop = before_stop[: before_stop.index("StopTask")]
    # The scenario holds only if every listing before the call-off lagged and the call-off's did not.
    assert before_stop.count("ListTasks") == lagging + 1, before_stop
    tasks = ours(ecs_world)
    assert sorted(index(t) for t in tasks) == [0, 1], cli.output
    assert all(t.desired_status == "STOPPED" for t in tasks), cli.output


# -- another process while copies are being launched -----------------------------------------------------------


def test_wait_from_another_process_while_copies_launch_sees_every_copy(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path
) -> None:
    """`wait` started when only copies 0 and 1 exist finds copies 2 and 3 once they are launched."""
    reached, release = hold_copy(moto_proxy, 1)
    go = threading.Event()  # the copies run only once every one was launched
    agent = FakeAgent(
        ecs_world,
        lines=lambda task: (go.wait(60), lines_of(index(task)))[1],
        exit_code=lambda task: 6 if index(task) == 3 else 0,
    )
    with agent:
        proc = start(tmp_path, "--tasks", "4", "--detach")
        assert reached.wait(60)
        run_id = override_env(ours(ecs_world)[0])["OPSCTL_RUN_ID"]
        waiter = start_cli("wait", "staging", run_id, "--output", "json", cwd=tmp_path, env=ENV)
        while polls(moto_proxy) < 1 and waiter.poll() is None:  # the waiter found copies 0 and 1 and polled
            threading.Event().wait(0.05)
        release.set()
        proc.communicate(timeout=120)
        go.set()
        out, err = waiter.communicate(timeout=120)
    assert agent.errors == []
    assert waiter.returncode == 6, err
    assert [t["exit_code"] for t in json.loads(out)["tasks"]] == [0, 0, 0, 6]


# -- copies ECS stops showing -----------------------------------------------------------------------------------


def test_a_copy_ecs_forgets_after_it_stopped_keeps_its_exit_code(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path
) -> None:
    """A run longer than the hour ECS shows stopped tasks for: copy 0 ended long ago and is gone from
    DescribeTasks (failures: MISSING) when copy 1 ends; copy 0's exit code 0 was seen and stands."""
    proc = start(tmp_path, "--tasks", "2", "--output", "json")
    while len(ours(ecs_world)) < 2 and proc.poll() is None:
        threading.Event().wait(0.05)
    first, second = sorted(ours(ecs_world), key=index)
    ecs_world.print(first.task_arn, ["copy 0 done"])
    moto_ecs.script_stop(first, exit_code=0)
    seen = polls(moto_proxy)
    while polls(moto_proxy) < seen + 2 and proc.poll() is None:  # opsctl's poll has seen copy 0 stopped
        threading.Event().wait(0.05)
    moto_ecs.forget(ecs_world, first.task_arn)
    ecs_world.print(second.task_arn, ["copy 1 done"])
    moto_ecs.script_stop(second, exit_code=0)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert [t["exit_code"] for t in json.loads(out)["tasks"]] == [0, 0]


def test_describe_tasks_missing_a_running_copy_does_not_end_the_run(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path
) -> None:
    """ECS is eventually consistent: a DescribeTasks may answer MISSING for a task that runs. That copy is not
    taken for stopped, so the run does not end (nor leave it running) while it runs."""
    proc = start(tmp_path, "--tasks", "2", "--output", "json")
    while len(ours(ecs_world)) < 2 and proc.poll() is None:
        threading.Event().wait(0.05)
    first, second = sorted(ours(ecs_world), key=index)
    while polls(moto_proxy) < 1 and proc.poll() is None:  # watching: the guard's lookups are done
        threading.Event().wait(0.05)
    moto_ecs.script_stop(first, exit_code=0)
    moto_proxy.rewrite("DescribeTasks", moto_ecs.missing(second.task_arn), count=2)
    while moto_proxy.rewritten("DescribeTasks") < 2 and proc.poll() is None:
        threading.Event().wait(0.05)
    ecs_world.print(second.task_arn, ["copy 1 done"])
    moto_ecs.script_stop(second, exit_code=4)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err
    assert [t["exit_code"] for t in json.loads(out)["tasks"]] == [0, 4]
