"""`opsctl doctor` warns, with the fix, about settings that lose or repeat work (issue 14): a Cloud Run job whose
max_retries runs a failed task again, an ECS container whose awslogs driver is non-blocking."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.gcp import FakeGcp
from tests.fakes.gcp.harness import JOB
from tests.fakes.moto_ecs import EcsWorld, awslogs
from tests.providers.test_operate_cli import ecs, gcp
from tests.providers.test_operate_cli import ecs_project as ecs_project
from tests.providers.test_operate_cli import gcp_project as gcp_project

pytest_plugins = ("tests.fakes.gcp.fixtures",)


def test_cloudrun_job_with_retries_is_a_warning_with_the_fix(fake: FakeGcp, gcp_project: Path) -> None:
    out = gcp(fake, "doctor", "staging", cwd=gcp_project)  # the fake's job keeps Cloud Run's default: 3
    assert out.code == 0, out.output
    assert (
        f"! Cloud Run job projects/quill-staging-123456/locations/europe-west2/jobs/{JOB} — 1 container(s), "
        "max_retries 3: a failed task runs again, an admin action included\n"
        "    fix: set max_retries = 0 on the job (the Cloud Run module in infra/terraform/modules/cloud-run-admin-job "
        f"does; or gcloud run jobs update {JOB} --max-retries 0 --region europe-west2)\n"
    ) in out.stdout
    assert out.stderr == "opsctl: 7 passed (1 with a warning), 0 failed\n"


def test_ecs_non_blocking_awslogs_is_a_warning_with_the_fix(ecs_world: EcsWorld, ecs_project: Path) -> None:
    for name, mode in (("clinloop-unset", None), ("clinloop-nonblocking", "non-blocking")):
        ecs_world.register(name, [{"name": "api", "logConfiguration": awslogs(ecs_world.log_group, "ecs", mode)}])
    config = ecs_project / "opsctl.toml"
    healthy = config.read_text(encoding="utf-8")
    for name, said in (
        ("clinloop-unset", "no mode set (non-blocking, ECS's default since June 2025)"),
        ("clinloop-nonblocking", "mode 'non-blocking'"),
    ):
        config.write_text(healthy.replace('container = "api"', f'container = "api"\ntask_definition = "{name}"'))
        out = ecs("doctor", "staging", cwd=ecs_project)
        assert out.code == 0, out.output
        assert (
            f"! CloudWatch log group /ecs/clinloop-staging-api — streams ecs/api/TASK-ID; awslogs {said}: under "
            "pressure the driver drops lines, and splits lines over 16 KB\n"
            '    fix: set "mode": "blocking" in the container\'s logConfiguration options (the ECS module in '
            "infra/terraform does) and register a new task definition revision\n"
        ) in out.stdout
        assert out.stderr == "opsctl: 7 passed (1 with a warning), 0 failed\n"  # the AWS credentials row (issue 15)
