"""`opsctl run ENV TASK --tasks N` on ECS at its edges: faults and signals in the middle of a fan-out launch,
foreign tasks carrying the run's id, copies ECS stops showing — through the CLI against moto and the proxy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from tests.fakes import moto_ecs
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.moto_ecs import EcsWorld
from tests.providers.test_ecs_cli import SEED_TOML
from tests.providers.test_ecs_fanout import ENV, detach, opsctl, ours, play


def token_copy(body: bytes) -> int:
    """The copy index a RunTask request is for, from its clientToken (`…-c<i>`)."""
    token = str(json.loads(body)["clientToken"])
    return int(token.rsplit("-c", 1)[1].split("-", 1)[0])


def start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    (tmp_path / "opsctl.toml").write_text(SEED_TOML)
    cmd = ["run", "staging", "seed-admin", "--email", "a@example.com", "--yes", *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "opsctl", *cmd],
        cwd=tmp_path,
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


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
