"""Cloud Run: reattaching (info), history, doctor, build (set_image, registry login), and seed 002's flow
end to end with `python -m opsctl` as a real process against the gRPC fake."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Mapping
from pathlib import Path

import grpc
import pytest

from opsctl.errors import UsageError
from opsctl.model import State
from opsctl.providers.cloudrun import CloudRunProvider
from opsctl.providers.cloudrun.clients import connect
from tests.conftest import REPO, run_cli, start_cli
from tests.contract import make_spec
from tests.fakes.gcp import FakeGcp, Script, lines
from tests.fakes.gcp.harness import (
    JOB,
    spec,
    staging,
)

pytest_plugins = ("tests.fakes.gcp.fixtures",)  # the fake, provider and polling fixtures

# -- wait, history, doctor, build ---------------------------------------------------------------------


def test_info_reads_the_audit_env_and_the_outcome(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(start_after=0, run_for=0, exit_codes=(3,)))
    ref = provider.launch(spec())
    info = provider.info(provider.ref(ref.id))
    assert (info.env, info.task, info.actor, info.state, info.exit_code) == (
        "staging",
        "create-superadmin",
        "tester",
        State.STOPPED,
        3,
    )
    assert info.started_at is not None and info.stopped_at is not None


def test_recent_runs_are_this_envs_opsctl_executions_newest_first(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(start_after=0, run_for=0), Script(start_after=0, run_for=None), Script(run_for=None))
    done = provider.launch(spec(run_id="run-a"))
    running = provider.launch(spec(run_id="run-b"))
    provider.launch(make_spec(None, env_name="teaching", run_id="run-c"))
    runs = provider.recent_runs("staging", 10)
    assert [(r.ref.id, r.state, r.exit_code) for r in runs] == [
        (running.id, State.RUNNING, None),
        (done.id, State.STOPPED, 0),
    ]
    assert [r.ref.id for r in provider.recent_runs("staging", 1)] == [running.id]


def test_doctor_checks_pass_against_a_healthy_job(provider: CloudRunProvider, fake: FakeGcp) -> None:
    checks = provider.checks([])
    assert [(c.name, c.ok) for c in checks] == [
        ("Google credentials", True),
        (f"Cloud Run job projects/quill-staging-123456/locations/europe-west2/jobs/{JOB}", True),
        ("container", True),
        ("image", True),
        ("opsctl permissions on the job", True),
        ("Cloud Logging read access", True),
    ]
    assert checks[2].detail == (
        "admin: a task's command becomes the args of the image's ENTRYPOINT (Cloud Run cannot override it)"
    )


def test_doctor_names_missing_permissions_and_a_missing_job(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.denied_permissions = {"run.executions.cancel", "run.jobs.runWithOverrides"}
    fake.fail("ListLogEntries", grpc.StatusCode.PERMISSION_DENIED)
    failed = {c.name: c for c in provider.checks([]) if not c.ok}
    assert failed["opsctl permissions on the job"].detail == "missing run.jobs.runWithOverrides, run.executions.cancel"
    assert failed["opsctl permissions on the job"].fix.startswith("ask an admin to add you to operator_members")
    assert "logging.logEntries.list" in failed["Cloud Logging read access"].detail
    missing = CloudRunProvider(staging(fake, job="nope"), connect(fake.address))
    checks = missing.checks([])
    missing.close()
    assert (checks[-1].ok, checks[-1].fix) == (
        False,
        "create it: terraform apply in infra/terraform/modules/cloud-run-admin-job",
    )


def test_set_image_updates_the_jobs_container(provider: CloudRunProvider, fake: FakeGcp) -> None:
    image = "europe-west2-docker.pkg.dev/quill-staging-123456/quill/admin:abc123"
    said = provider.set_image(image)
    assert said == (
        f"Cloud Run job '{JOB}': container admin image "
        "europe-west2-docker.pkg.dev/quill-staging-123456/quill/admin:latest → " + image
    )
    assert fake.world.jobs[provider.job_name].containers["admin"][0] == image


def test_registry_login_needs_artifact_registry_and_credentials(provider: CloudRunProvider) -> None:
    with pytest.raises(UsageError, match="is not in Artifact Registry"):
        provider.registry_login("docker.io/library/admin")
    with pytest.raises(UsageError, match="no Google credentials"):
        provider.registry_login("europe-west2-docker.pkg.dev/p/quill/admin")


# -- seed 002 end to end: `python -m opsctl` as a real process against the fake -----------------------

PASSWORD = "correct-horse-battery-staple"
STAGING = f"""
[environments.staging]
provider = "cloudrun"
project = "quill-staging-123456"
region = "europe-west2"
job = "{JOB}"
"""


def admin_task(env: Mapping[str, str]) -> Script:
    """What the quill-admin image does with its env (ADMIN_* from the overrides)."""
    user = {"username": env["ADMIN_USERNAME"], "email": env["ADMIN_EMAIL"], "role": "System Administrator"}
    said = [
        f"creating superadmin {env['ADMIN_USERNAME']}",
        f"password policy ok for {env['ADMIN_PASSWORD']}",  # a careless task: opsctl must mask it
        json.dumps({"ok": True, "wasNew": True, "user": user}),
    ]
    return Script(start_after=0.2, run_for=0.6, lines=lines(said, every=0.1))


@pytest.fixture
def seed002(tmp_path: Path) -> Path:
    """The repository's own opsctl.toml (its create-superadmin task), its ECS staging replaced by seed 002's staging
    on Cloud Run."""
    text = (REPO / "opsctl.toml").read_text(encoding="utf-8")
    text, dropped = re.subn(r"^\[environments\.staging(\.\w+)?\]\n(?:[^\[].*\n|\n)*", "", text, flags=re.M)
    assert dropped, "the shipped opsctl.toml has an [environments.staging] to replace"
    (tmp_path / "opsctl.toml").write_text(text + STAGING, encoding="utf-8")
    return tmp_path


def cli_env(fake: FakeGcp) -> dict[str, str]:
    return {"OPSCTL_GCP_ENDPOINT": fake.address, "OPSCTL_PARAM_PASSWORD": PASSWORD, "OPSCTL_TIMING_SCALE": "0.05"}


def test_seed_002_create_superadmin(fake: FakeGcp, seed002: Path) -> None:
    fake.script(Script(behaviour=admin_task))
    done = run_cli(
        "run",
        "staging",
        "create-superadmin",
        "--username",
        "ada.lovelace",
        "--email",
        "ada@example.com",
        cwd=seed002,
        env=cli_env(fake),
    )
    assert done.code == 0, done.output
    sent = fake.overrides()
    assert {k: sent[k] for k in ("ADMIN_ACTION", "ADMIN_USERNAME", "ADMIN_EMAIL", "ADMIN_PASSWORD")} == {
        "ADMIN_ACTION": "create-superadmin",
        "ADMIN_USERNAME": "ada.lovelace",
        "ADMIN_EMAIL": "ada@example.com",
        "ADMIN_PASSWORD": PASSWORD,
    }
    assert {"OPSCTL_RUN_ID", "OPSCTL_ACTOR", "OPSCTL_ORIGIN", "OPSCTL_ENV", "OPSCTL_TASK"} <= set(sent)
    assert (sent["OPSCTL_ENV"], sent["OPSCTL_TASK"]) == ("staging", "create-superadmin")
    assert list(fake.run_requests[0].overrides.container_overrides[0].args) == ["python", "-m", "admin_task"]
    assert "creating superadmin ada.lovelace" in done.stderr
    assert "password policy ok for ***" in done.stderr
    summary = {k: v.strip() for k, _, v in (line.partition("  ") for line in done.stdout.splitlines())}
    assert summary["Run"] == fake.executions[0].short
    assert (summary["Status"], summary["Exit code"]) == ("succeeded", "0")
    assert summary["WasNew"] == "true" and summary["Email"] == "ada@example.com"
    assert PASSWORD not in done.output


def test_seed_002_sigterm_cancels_the_execution(fake: FakeGcp, seed002: Path) -> None:
    fake.script(Script(start_after=0.1, run_for=None))
    argv = ["run", "staging", "cs", "--username", "ada", "--email", "ada@example.com"]
    proc = start_cli(*argv, cwd=seed002, env=cli_env(fake))
    assert proc.stderr is not None
    for line in proc.stderr:
        if "launched run" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert fake.calls["CancelExecution"] == 1
    assert PASSWORD not in out + err
