"""`opsctl run ENV TASK --tasks N` on ECS (moto): N tasks, one RunTask each, one run — through the CLI.

Each copy is played by FakeAgent: it prints lines naming its OPSCTL_TASK_INDEX and exits with the code the test
gives that index. Faults come from the proxy every opsctl call goes through (the CLI subprocess too).
"""

from __future__ import annotations

import json
import random
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opsctl.providers.ecs import EcsProvider
from tests.conftest import CliResult, run_cli, start_cli
from tests.fakes import ecs_model
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.moto_ecs import EcsWorld, FakeAgent, override_env, result_line
from tests.providers.test_ecs_cli import SEED_TOML

ENV = {"OPSCTL_TIMING_SCALE": "0.05", "OPSCTL_RETRY_BASE_S": "0.05", "GITHUB_ACTIONS": "", "GITHUB_ACTOR": "ada"}
STARTED_BY = "opsctl/staging/seed-admin"


def index(task: Any) -> int:
    return int(override_env(task).get("OPSCTL_TASK_INDEX", "0"))


def lines_of(i: int, n: int = 5) -> list[str]:
    return [*(f"copy {i} line {k}" for k in range(n)), result_line({"ok": True, "copy": i})]


def play(world: EcsWorld, codes: dict[int, int] | None = None, **kw: Any) -> FakeAgent:
    """Each copy prints lines_of(its index) and exits with codes[index] (default 0)."""
    return FakeAgent(
        world,
        lines=lambda task: lines_of(index(task)),
        exit_code=lambda task: (codes or {}).get(index(task), 0),
        **kw,
    )


def opsctl(tmp_path: Path, *args: str) -> CliResult:
    (tmp_path / "opsctl.toml").write_text(SEED_TOML)
    return run_cli(*args, cwd=tmp_path, env=ENV)


def run(tmp_path: Path, *extra: str) -> CliResult:
    return opsctl(tmp_path, "run", "staging", "seed-admin", "--email", "ada@example.com", "--yes", *extra)


def ours(world: EcsWorld) -> list[Any]:
    return [t for t in world.tasks() if t.started_by == STARTED_BY]


def relayed(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("[")]


def assert_each_line_once(stderr: str, copies: int) -> None:
    got = relayed(stderr)
    expected = [f"[{i}] {line}" for i in range(copies) for line in lines_of(i)]
    assert sorted(got) == sorted(expected), stderr
    for i in range(copies):  # each copy's own lines in order
        mine = [line for line in got if line.startswith(f"[{i}] ")]
        assert mine == [f"[{i}] {line}" for line in lines_of(i)]


def run_task_bodies(proxy: FaultProxy) -> list[dict[str, Any]]:
    return [json.loads(c.body) for c in proxy.calls if c.operation == "RunTask"]


# -- outcomes --------------------------------------------------------------------------------------------------


def test_all_copies_succeed(ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path) -> None:
    with play(ecs_world) as agent:
        cli = run(tmp_path, "--tasks", "3", "--output", "json")
    assert agent.errors == []
    assert cli.code == 0, cli.output
    tasks = sorted(ours(ecs_world), key=index)
    assert [override_env(t)["OPSCTL_TASK_INDEX"] for t in tasks] == ["0", "1", "2"]
    assert {override_env(t)["OPSCTL_TASK_COUNT"] for t in tasks} == {"3"}
    run_id = override_env(tasks[0])["OPSCTL_RUN_ID"]
    assert {override_env(t)["OPSCTL_RUN_ID"] for t in tasks} == {run_id}
    bodies = run_task_bodies(moto_proxy)
    assert [b["count"] for b in bodies] == [1, 1, 1]  # one RunTask per copy: overrides apply to all of a call's tasks
    assert [b["clientToken"] for b in bodies] == [f"opsctl-{run_id}-c{i}" for i in range(3)]
    assert_each_line_once(cli.stderr, 3)
    doc = json.loads(cli.stdout)
    assert (doc["run"], doc["status"], doc["exit_code"]) == (run_id, "succeeded", 0)
    assert doc["tasks"] == [
        {
            "index": i,
            "run": t.task_arn,
            "status": "succeeded",
            "exit_code": 0,
            "reason": None,
            "result": {"ok": True, "copy": i},
        }
        for i, t in enumerate(tasks)
    ]


def test_the_lowest_failing_copy_gives_the_exit_code(ecs_world: EcsWorld, tmp_path: Path) -> None:
    with play(ecs_world, {1: 5, 3: 3}):
        cli = run(tmp_path, "--tasks", "4", "--output", "json")
    assert cli.code == 5, cli.output
    doc = json.loads(cli.stdout)
    assert [(t["index"], t["exit_code"]) for t in doc["tasks"]] == [(0, 0), (1, 5), (2, 0), (3, 3)]
    assert doc["reason"].startswith("copy 1 of 4 failed: Essential container in task exited")
    assert doc["reason"].endswith("(1 other copy failed too)")
    assert_each_line_once(cli.stderr, 4)


def test_text_summary_names_the_failing_copies(ecs_world: EcsWorld, tmp_path: Path) -> None:
    with play(ecs_world, {2: 7}):
        cli = run(tmp_path, "--tasks", "3")
    assert cli.code == 7, cli.output
    assert "Copies" in cli.stdout and "Failed copies" in cli.stdout, cli.stdout


def test_one_task_sends_what_it_always_sent(ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path) -> None:
    with play(ecs_world):
        cli = run(tmp_path, "--output", "json")
    assert cli.code == 0, cli.output
    (body,) = run_task_bodies(moto_proxy)
    (task,) = ours(ecs_world)
    assert not {"OPSCTL_TASK_INDEX", "OPSCTL_TASK_COUNT"} & set(override_env(task))
    assert body["clientToken"] == "opsctl-" + override_env(task)["OPSCTL_RUN_ID"]
    assert json.loads(cli.stdout)["run"] == task.task_arn and "tasks" not in json.loads(cli.stdout)


def test_dry_run_shows_one_request_per_copy(ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path) -> None:
    cli = run(tmp_path, "--tasks", "2", "--dry-run")
    assert cli.code == 0, cli.output
    reqs = json.loads(cli.stdout)["request"]["runTask"]
    assert [r["clientToken"].rsplit("-", 1)[-1] for r in reqs] == ["c0", "c1"]
    envs = [{e["name"]: e["value"] for e in r["overrides"]["containerOverrides"][0]["environment"]} for r in reqs]
    assert [(e["OPSCTL_TASK_INDEX"], e["OPSCTL_TASK_COUNT"]) for e in envs] == [("0", "2"), ("1", "2")]
    assert moto_proxy.counts()["RunTask"] == 0


# -- cancel ----------------------------------------------------------------------------------------------------


def test_sigterm_stops_every_copy(ecs_world: EcsWorld, tmp_path: Path) -> None:
    (tmp_path / "opsctl.toml").write_text(SEED_TOML)
    slow = FakeAgent(ecs_world, lines=[f"working {i}" for i in range(2_000)], lines_per_batch=1, interval_s=0.05)
    with slow:
        cmd = ["run", "staging", "seed-admin", "--email", "a@example.com", "--yes", "--tasks", "3"]
        proc = start_cli(*cmd, cwd=tmp_path, env=ENV)
        assert proc.stderr is not None
        seen: set[str] = set()
        for line in proc.stderr:  # every copy is running once its lines are relayed
            if line.startswith("[") and "working 3" in line:
                seen.add(line[:3])
                if len(seen) == 3:
                    break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    tasks = ours(ecs_world)
    assert len(tasks) == 3
    for task in tasks:
        assert task.desired_status == "STOPPED" and task.stopped_reason.startswith("terminated by "), err


def test_timeout_stops_every_copy(ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path) -> None:
    with FakeAgent(ecs_world, lines=[f"working {i}" for i in range(2_000)], lines_per_batch=1, interval_s=0.05):
        cli = run(tmp_path, "--tasks", "3", "--timeout", "2s")
    assert cli.code == 124, cli.output
    assert moto_proxy.counts()["StopTask"] == 3
    assert all(t.stopped_reason.startswith("opsctl --timeout 2s expired") for t in ours(ecs_world))


# -- launches that fail part-way -------------------------------------------------------------------------------


def test_a_lost_runtask_answer_mid_fanout_starts_no_extra_copy(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path
) -> None:
    """Copy 1's RunTask takes effect but its answer is lost: the retry finds copies 0 and 1 and launches only 2."""
    calls = []

    def after_first(request: bytes, response: bytes) -> None:
        calls.append(request)
        if len(calls) == 1:
            moto_proxy.arm("RunTask", "drop_after")

    moto_proxy.after("RunTask", after_first)
    with play(ecs_world):
        cli = run(tmp_path, "--tasks", "3")
    assert cli.code == 0, cli.output
    assert sorted(index(t) for t in ours(ecs_world)) == [0, 1, 2]
    assert moto_proxy.injected()[("RunTask", "drop_after")] == 1
    assert_each_line_once(cli.stderr, 3)


def test_a_lost_answer_while_the_listing_lags_starts_no_extra_copy(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path
) -> None:
    """The same, while ListTasks does not show the new task yet (ECS is eventually consistent): the copy is sent
    again with its own token, which ECS answers with the task it already started."""
    calls = []

    def after_first(request: bytes, response: bytes) -> None:
        calls.append(request)
        if len(calls) == 1:
            moto_proxy.arm("RunTask", "drop_after")
            moto_proxy.arm("ListTasks", "respond", count=3, status=200, body={"taskArns": []})

    moto_proxy.after("RunTask", after_first)
    with play(ecs_world):
        cli = run(tmp_path, "--tasks", "3")
    assert cli.code == 0, cli.output
    assert sorted(index(t) for t in ours(ecs_world)) == [0, 1, 2]
    tokens = [b["clientToken"] for b in run_task_bodies(moto_proxy)]
    assert tokens.count(tokens[1]) == 2  # copy 1 sent twice, one task


def test_random_faults_never_make_more_than_n_copies(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path
) -> None:
    seed = random.SystemRandom().randrange(2**31)
    print(f"seed {seed}")
    moto_proxy.arm("RunTask", "drop_after", probability=0.3, seed=seed)
    moto_proxy.arm("RunTask", "drop_before", probability=0.1, seed=seed + 1)
    moto_proxy.arm("ListTasks", "throttle", probability=0.2, seed=seed + 2)
    moto_proxy.arm("DescribeTasks", "error500", probability=0.2, seed=seed + 3)
    moto_proxy.arm("GetLogEvents", "drop_after", probability=0.2, seed=seed + 4)  # a copy's read fails, others don't
    with play(ecs_world, {4: 9}):
        cli = run(tmp_path, "--tasks", "5")
    assert cli.code == 9, f"seed {seed}: {cli.output}"
    assert sorted(index(t) for t in ours(ecs_world)) == [0, 1, 2, 3, 4], f"seed {seed}"
    assert_each_line_once(cli.stderr, 5)


def test_a_copy_refused_after_others_started_stops_them(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path
) -> None:
    calls = []

    def after(request: bytes, response: bytes) -> None:
        calls.append(request)
        if len(calls) == 2:
            ecs_model.refuse(ecs_world.cluster, ecs_model.capacity_failure())

    moto_proxy.after("RunTask", after)
    with play(ecs_world, start_after_s=5.0):
        cli = run(tmp_path, "--tasks", "4")
    assert cli.code == 69, cli.output
    assert "ECS did not start copy 2 of 4 (ECS started nothing: Capacity is unavailable" in cli.stderr
    assert "the 2 copies already started were stopped" in cli.stderr
    tasks = ours(ecs_world)
    assert sorted(index(t) for t in tasks) == [0, 1]
    assert all(t.desired_status == "STOPPED" for t in tasks)


# -- the whole run: wait, logs, stop, the guard, history -------------------------------------------------------


def detach(tmp_path: Path, n: int) -> str:
    cli = run(tmp_path, "--tasks", str(n), "--detach", "--output", "json")
    assert cli.code == 0, cli.output
    return str(json.loads(cli.stdout)["run"])


def test_wait_reattaches_to_every_copy_from_a_fresh_process(ecs_world: EcsWorld, tmp_path: Path) -> None:
    with play(ecs_world, {0: 4}, start_after_s=1.0) as agent:
        run_id = detach(tmp_path, 3)
        cli = opsctl(tmp_path, "wait", "staging", run_id, "--output", "json")
    assert agent.errors == []
    assert cli.code == 4, cli.output
    doc = json.loads(cli.stdout)
    assert doc["run"] == run_id and [t["exit_code"] for t in doc["tasks"]] == [4, 0, 0]
    assert_each_line_once(cli.stderr, 3)
    logs = opsctl(tmp_path, "logs", "staging", run_id)
    assert logs.code == 0, logs.output
    assert sorted(line for line in logs.output.splitlines() if line.startswith("[")) == sorted(
        f"[{i}] {line}" for i in range(3) for line in lines_of(i)
    )


def test_the_guard_history_and_stop_see_one_run(
    ecs_world: EcsWorld, ecs_provider: Callable[..., EcsProvider], tmp_path: Path
) -> None:
    run_id = detach(tmp_path, 3)  # no agent: the copies stay RUNNING
    provider = ecs_provider(ecs_world)
    assert [r.id for r in provider.active_runs("staging", "seed-admin")] == [run_id]
    again = run(tmp_path)
    assert again.code == 77, again.output
    assert f"(run {run_id})" in again.stderr and f"opsctl wait staging {run_id}" in again.stderr
    history = opsctl(tmp_path, "history", "staging", "--output", "json")
    assert [row["run"] for row in json.loads(history.stdout)] == [run_id], history.output
    stop = opsctl(tmp_path, "stop", "staging", run_id)
    assert stop.code == 0, stop.output
    assert all(t.desired_status == "STOPPED" for t in ours(ecs_world))
    assert len(ours(ecs_world)) == 3
