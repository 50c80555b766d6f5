"""Seed 000 end to end: `python -m opsctl run staging seed-admin` as a subprocess against moto."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.fakes.ecs_play import SEED_COMMAND, after_stopped_seen
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.moto_ecs import EcsWorld, FakeAgent, override_env, result_line

SEED_TOML = """\
[environments.staging]
provider = "ecs"
cluster = "clinloop-staging"
service = "clinloop-staging-api"
container = "api"

[tasks.seed-admin]
help = "Create a staging admin, or confirm it exists (idempotent)."
command = ["node", "node_modules/@clinloop/db/dist/seeds/admin-cli.js"]
env = { ADMIN_EMAIL = "{email}" }

[tasks.seed-admin.params.email]
type = "email"
help = "Email of the admin to create"
"""


@pytest.mark.parametrize("exit_code", [0, 3])
def test_seed_000_end_to_end(ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path, exit_code: int) -> None:
    from tests.conftest import run_cli

    (tmp_path / "opsctl.toml").write_text(SEED_TOML)
    user = {"id": "u-1", "email": "ada@example.com", "role": "admin", "createdAt": "2026-01-01T00:00:00Z"}
    lines = [
        "admin-cli: validating ada@example.com",
        "admin-cli: inserted admin row, wrote audit_events row",
        result_line({"ok": exit_code == 0, "wasNew": True, "user": user}),
    ]
    after_stopped_seen(moto_proxy, ecs_world, ["admin-cli: done"], [])  # a line that arrives after STOPPED
    with FakeAgent(ecs_world, lines=lines, exit_code=exit_code) as agent:
        cli = run_cli(
            "run",
            "staging",
            "seed-admin",
            "--email",
            "ada@example.com",
            "--yes",
            cwd=tmp_path,
            env={
                "OPSCTL_TIMING_SCALE": "0.05",
                "GITHUB_ACTOR": "ada",
                "GITHUB_ACTIONS": "",
                "OPSCTL_RETRY_BASE_S": "0.05",
            },
        )
    assert agent.errors == []
    assert cli.code == exit_code, cli.output
    (task,) = ecs_world.tasks()
    assert task.overrides["containerOverrides"][0]["command"] == list(SEED_COMMAND)
    assert override_env(task)["ADMIN_EMAIL"] == "ada@example.com"
    assert task.task_definition_arn == ecs_world.task_definition_arn
    for line in [*lines, "admin-cli: done"]:
        assert line in cli.stderr
    assert cli.stderr.index(lines[0]) < cli.stderr.index(lines[2]) < cli.stderr.index("admin-cli: done")
    for text in ("ada@example.com", task.task_arn, "Actor", "Exit code"):
        assert text in cli.stdout, cli.stdout


def test_sigterm_to_the_cli_stops_the_task(ecs_world: EcsWorld, tmp_path: Path) -> None:
    """A cancelled CI job: SIGTERM → StopTask with the actor in the reason, exit 143."""
    import subprocess
    import sys

    (tmp_path / "opsctl.toml").write_text(SEED_TOML)
    env = {**os.environ, "OPSCTL_TIMING_SCALE": "0.05"}
    with FakeAgent(ecs_world, lines=[f"working {i}" for i in range(2_000)], lines_per_batch=1, interval_s=0.05):
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsctl", "run", "staging", "seed-admin", "--email", "ada@example.com", "--yes"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        for line in proc.stderr:  # the task is running once its lines are relayed
            if line.startswith("working 3"):
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    (task,) = ecs_world.tasks()
    assert task.desired_status == "STOPPED" and task.stopped_reason.startswith("terminated by ")
