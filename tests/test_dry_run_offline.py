"""`run --dry-run` on ECS needs no credentials and no network when the config names the whole target."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli
from tests.test_doctor_shape import NO_CREDENTIALS

CONFIG = """
[environments.staging]
provider = "ecs"
region = "eu-west-2"
cluster = "clinloop-staging"
task_definition = "clinloop-api:7"
container = "api"
subnets = ["subnet-0abc"]
security_groups = ["sg-0abc"]
assign_public_ip = false

[tasks.seed-admin]
command = ["node", "seed.js"]
env = { ADMIN_EMAIL = "{email}" }

[tasks.seed-admin.params.email]
type = "email"
"""


def test_a_fully_named_ecs_target_plans_offline(tmp_path: Path) -> None:
    (tmp_path / "opsctl.toml").write_text(CONFIG, encoding="utf-8")
    out = run_cli("run", "staging", "seed-admin", "--email", "a@b.co", "--dry-run", cwd=tmp_path, env=NO_CREDENTIALS)
    assert out.code == 0, out.output
    request = json.loads(out.stdout)["request"]
    assert (request["cluster"], request["taskDefinition"], request["launchType"]) == (
        "clinloop-staging",
        "clinloop-api:7",
        "FARGATE",
    )
    assert request["networkConfiguration"] == {
        "awsvpcConfiguration": {"subnets": ["subnet-0abc"], "securityGroups": ["sg-0abc"], "assignPublicIp": "DISABLED"}
    }
    (override,) = request["overrides"]["containerOverrides"]
    assert override["name"] == "api" and override["command"] == ["node", "seed.js"]


def test_a_target_that_needs_aws_still_asks_it(tmp_path: Path) -> None:
    # With a service to copy from, a dry run must read it: no credentials is then the usual refusal.
    config = CONFIG.replace('task_definition = "clinloop-api:7"', 'service = "clinloop-staging-api"')
    (tmp_path / "opsctl.toml").write_text(config, encoding="utf-8")
    out = run_cli("run", "staging", "seed-admin", "--email", "a@b.co", "--dry-run", cwd=tmp_path, env=NO_CREDENTIALS)
    assert out.code == 77, out.output
    assert out.stderr.startswith("opsctl: error: no AWS credentials for environment 'staging' — ")
