"""`opsctl init` as a real `python -m opsctl` process: ECS on moto (through the fault proxy), Cloud Run on the
gRPC fake, the terminal on a pty. Every file it writes is read back with opsctl's own loader."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from opsctl import config as config_mod
from opsctl.config import CloudRunEnv, EcsEnv
from tests.conftest import REPO, run_cli
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.gcp import FakeGcp
from tests.fakes.gcp.harness import JOB
from tests.fakes.moto_ecs import REGION, EcsWorld

pytest_plugins = ("tests.fakes.gcp.fixtures",)  # fake: a fresh gRPC fake with seed 002's job

SERVICE = "clinloop-staging/clinloop-staging-api"
ACTOR = "ada@example.com"
# The actor is `git config user.email` outside GitHub Actions: pinned without touching any git config file.
AS_ADA = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "user.email", "GIT_CONFIG_VALUE_0": ACTOR}
FAST = {"OPSCTL_RETRY_BASE_S": "0.01", "OPSCTL_RETRY_WAIT_MAX_S": "0.05"}
ECS_FACTS = [
    f"opsctl: read ECS service {SERVICE} in {REGION}",
    "  task definition clinloop-staging-api:1 (each run uses the service's current revision)",
    "  container api (its command and env are what a task overrides)",
    "  launch FARGATE, platform 1.4.0",
    "  network 2 subnet(s), 1 security group(s), public IP off (copied from the service at each run)",
    f"  logs CloudWatch /ecs/clinloop-staging-api ({REGION}), streams ecs/api/TASK-ID",
]
# A config someone wrote by hand: comments everywhere, odd spacing, no newline at the end.
HANDWRITTEN = """\
# Our environments — keep prod protected!
[environments.staging]   # the shared one
provider = "local"       # for now
protected = true
env = { APP_ENV = "staging" }

[environments.staging.tasks.seed-admin]
command = ["{python}", "-c", "print('override')"]

# Tasks
[tasks.seed-admin]
help   =   "Create an admin"   # spacing kept
command = ["{python}", "-c", "print('hi')"]
env = { ADMIN_EMAIL = "{email}" }

[tasks.seed-admin.params.email]
type = "email"     # the last line has no newline"""


def lines(text: str) -> list[str]:
    return text.splitlines()


def job_name(fake: FakeGcp, job: str = JOB) -> str:
    return f"projects/{fake.world.project}/locations/{fake.world.region}/jobs/{job}"


# -- ECS (moto) -------------------------------------------------------------------------------------


def test_ecs_creates_a_new_file_that_opsctl_loads_and_dry_runs(ecs_world: EcsWorld, tmp_path: Path) -> None:
    out = run_cli("init", "staging", "--ecs-service", SERVICE, "--region", REGION, cwd=tmp_path)
    assert out.code == 0, out.output
    path = tmp_path / "opsctl.toml"
    assert lines(out.stderr) == [
        *ECS_FACTS,
        f"opsctl: created {path} with [environments.staging] and a starter task, hello",
        "next: opsctl doctor staging",
        "then: opsctl run staging hello --dry-run",
    ]
    assert out.stdout == ""
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    env = config_mod.load(str(path)).environment("staging")
    assert isinstance(env, EcsEnv)
    assert (env.region, env.cluster, env.service, env.container) == (
        REGION,
        ecs_world.cluster,
        ecs_world.service,
        "api",
    )
    assert (env.task_definition, env.subnets, env.profile) == (None, (), None)  # the service supplies them per run
    text = path.read_text()
    assert "# Read by opsctl init from ECS service clinloop-staging/clinloop-staging-api in us-east-1:" in text
    assert "\n# Try it without launching anything:  opsctl run staging hello --dry-run\n[tasks.hello]\n" in text

    dry = run_cli("run", "staging", "hello", "--dry-run", cwd=tmp_path, env=AS_ADA)
    assert dry.code == 0, dry.output
    plan = json.loads(dry.stdout)
    override = plan["request"]["overrides"]["containerOverrides"][0]
    assert override["name"] == "api"
    assert override["command"] == ["echo", f"hello from staging, run by {ACTOR}"]
    assert plan["request"]["taskDefinition"] == ecs_world.task_definition_arn


def test_ecs_adds_to_an_existing_file_keeping_every_byte(ecs_world: EcsWorld, tmp_path: Path) -> None:
    path = tmp_path / "opsctl.toml"
    path.write_text(HANDWRITTEN)
    path.chmod(0o600)
    out = run_cli("init", "aws-staging", "--ecs-service", SERVICE, "--region", REGION, cwd=tmp_path)
    assert out.code == 0, out.output
    assert lines(out.stderr)[-2:] == [
        f"opsctl: added [environments.aws-staging] to {path}",
        "next: opsctl doctor aws-staging",
    ]
    text = path.read_text()
    assert text.startswith(HANDWRITTEN + "\n\n[environments.aws-staging]\n# Read by opsctl init from ECS service")
    assert text.endswith('provider = "ecs"\nregion = "us-east-1"\ncluster = "clinloop-staging"\n'
                         'service = "clinloop-staging-api"\ncontainer = "api"\n')  # fmt: skip
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cfg = config_mod.load(str(path))
    assert sorted(cfg.environments) == ["aws-staging", "local", "staging"]
    assert cfg.tasks["seed-admin"].overridden_in == ("staging",)


def test_an_existing_environment_is_refused_then_repointed_with_force(ecs_world: EcsWorld, tmp_path: Path) -> None:
    path = tmp_path / "opsctl.toml"
    path.write_text(HANDWRITTEN)
    refused = run_cli("init", "staging", "--ecs-service", SERVICE, "--region", REGION, cwd=tmp_path)
    assert refused.code == 2
    assert refused.stderr == (
        f"opsctl: error: environment 'staging' is already in {path}; nothing was changed — pick another name, "
        "or re-point it with: opsctl init staging … --force (its other settings are kept)\n"
    )
    assert path.read_text() == HANDWRITTEN

    forced = run_cli("init", "staging", "--ecs-service", SERVICE, "--region", REGION, "--force", cwd=tmp_path)
    assert forced.code == 0, forced.output
    assert f"opsctl: re-pointed [environments.staging] in {path} (kept: protected, env, tasks)" in lines(forced.stderr)
    text = path.read_text()
    assert text.startswith("# Our environments — keep prod protected!\n[environments.staging]   # the shared one\n")
    assert text.endswith(HANDWRITTEN[HANDWRITTEN.index("\n[environments.staging.tasks.seed-admin]") :])
    env = config_mod.load(str(path)).environment("staging")
    assert isinstance(env, EcsEnv) and env.cluster == ecs_world.cluster
    assert env.protected and dict(env.env) == {"APP_ENV": "staging"} and "seed-admin" in env.task_overrides


@pytest.mark.parametrize(
    ("service", "message"),
    [
        (
            "clinloop-staging/nope",
            "ECS service 'nope' not found in cluster 'clinloop-staging' (us-east-1) — check --ecs-service "
            "clinloop-staging/nope (aws ecs list-services --cluster clinloop-staging)",
        ),
        (
            "no-such-cluster/api",
            "ECS cluster 'no-such-cluster' not found in us-east-1 — check --ecs-service no-such-cluster/api "
            "and the region/profile (aws ecs list-clusters)",
        ),
    ],
)
def test_an_unknown_service_is_one_line_and_no_file(
    ecs_world: EcsWorld, tmp_path: Path, service: str, message: str
) -> None:
    out = run_cli("init", "staging", "--ecs-service", service, "--region", REGION, cwd=tmp_path)
    assert (out.code, out.stderr) == (69, f"opsctl: error: {message}\n")
    assert list(tmp_path.iterdir()) == []


def test_a_container_without_awslogs_is_written_with_a_warning(ecs_world: EcsWorld, tmp_path: Path) -> None:
    from tests.fakes.moto_ecs import client

    arn = ecs_world.register("quiet", [{"name": "worker"}])
    client("ecs", ecs_world.url).create_service(
        cluster=ecs_world.cluster,
        serviceName="quiet",
        taskDefinition=arn,
        desiredCount=0,
        launchType="FARGATE",
        networkConfiguration=ecs_world.network(),
    )
    out = run_cli("init", "quiet", "--ecs-service", f"{ecs_world.cluster}/quiet", "--region", REGION, cwd=tmp_path)
    assert out.code == 0, out.output
    warning = (
        "container 'worker' in task definition quiet:1 has no awslogs log configuration: its output will not be "
        "streamed; the exit code and stop reason are still reported"
    )
    assert f"opsctl: warning: {warning}" in lines(out.stderr)
    assert f"#   note: {warning}\n" in (tmp_path / "opsctl.toml").read_text()
    env = config_mod.load(str(tmp_path / "opsctl.toml")).environment("quiet")
    assert isinstance(env, EcsEnv) and env.container == "worker"


def test_no_region_anywhere_names_the_flag(ecs_world: EcsWorld, tmp_path: Path) -> None:
    out = run_cli("init", "staging", "--ecs-service", SERVICE, cwd=tmp_path, env={"AWS_DEFAULT_REGION": ""})
    assert (out.code, out.stderr) == (
        78,
        "opsctl: error: --region: no AWS region — give one here, or set AWS_REGION, or region in the profile\n",
    )


def test_a_throttled_read_is_retried(ecs_world: EcsWorld, moto_proxy: FaultProxy, tmp_path: Path) -> None:
    moto_proxy.arm("DescribeServices", "throttle", count=2)
    out = run_cli("init", "staging", "--ecs-service", SERVICE, "--region", REGION, cwd=tmp_path, env=FAST)
    assert out.code == 0, out.output
    assert out.stderr.count(f"opsctl: read ECS service {SERVICE}: DescribeServices: ThrottlingException") == 2


# -- Cloud Run (gRPC fake) --------------------------------------------------------------------------


def test_cloudrun_creates_then_adds_then_forces(fake: FakeGcp, tmp_path: Path) -> None:
    gcp = {"OPSCTL_GCP_ENDPOINT": fake.address}
    out = run_cli("init", "prod", "--cloudrun-job", job_name(fake), cwd=tmp_path, env=gcp)
    assert out.code == 0, out.output
    path = tmp_path / "opsctl.toml"
    image = f"{fake.world.region}-docker.pkg.dev/{fake.world.project}/quill/admin:latest"
    assert lines(out.stderr) == [
        f"opsctl: read Cloud Run job {job_name(fake)}",
        f"  container admin: image {image}",
        "  max_retries 3 (a failed task runs again up to this many times)",
        f"opsctl: created {path} with [environments.prod] and a starter task, hello",
        "next: opsctl doctor prod",
        "then: opsctl run prod hello --dry-run",
    ]
    env = config_mod.load(str(path)).environment("prod")
    assert isinstance(env, CloudRunEnv)
    assert (env.project, env.region, env.job, env.container) == (fake.world.project, fake.world.region, JOB, None)
    dry = run_cli("run", "prod", "hello", "--dry-run", cwd=tmp_path, env={**gcp, **AS_ADA})
    assert dry.code == 0, dry.output
    (override,) = json.loads(dry.stdout)["request"]["request"]["overrides"]["container_overrides"]
    assert (override["name"], override["args"]) == ("admin", ["echo", f"hello from prod, run by {ACTOR}"])

    before = path.read_text()
    fake.world.add_job("quill-admin-other", {"admin": "img:1", "proxy": "img:2"})
    added = run_cli("init", "other", "--cloudrun-job", job_name(fake, "quill-admin-other"), cwd=tmp_path, env=gcp)
    assert added.code == 0, added.output
    text = path.read_text()
    assert text.startswith(before + "\n[environments.other]\n")
    other = config_mod.load(str(path)).environment("other")
    assert isinstance(other, CloudRunEnv) and other.container == "admin"  # two containers: the first, named

    forced = run_cli(
        "init", "prod", "--cloudrun-job", job_name(fake, "quill-admin-other"), "--force", cwd=tmp_path, env=gcp
    )
    assert forced.code == 0, forced.output
    prod = config_mod.load(str(path)).environment("prod")
    assert isinstance(prod, CloudRunEnv) and prod.job == "quill-admin-other"
    assert path.read_text().endswith(text[text.index("\n# A first task to edit.") :])


def test_cloudrun_unknown_job_is_one_line_and_no_change(fake: FakeGcp, tmp_path: Path) -> None:
    path = tmp_path / "opsctl.toml"
    path.write_text(HANDWRITTEN)
    out = run_cli(
        "init",
        "prod",
        "--cloudrun-job",
        job_name(fake, "nope"),
        cwd=tmp_path,
        env={"OPSCTL_GCP_ENDPOINT": fake.address},
    )
    project, region = fake.world.project, fake.world.region
    assert (out.code, out.stderr) == (
        69,
        f"opsctl: error: Cloud Run job 'nope' not found in {project}/{region} — check the name "
        f"(gcloud run jobs list --project {project} --region {region})\n",
    )
    assert path.read_text() == HANDWRITTEN


def test_cloudrun_unavailable_is_retried(fake: FakeGcp, tmp_path: Path) -> None:
    fake.fail("GetJob", grpc.StatusCode.UNAVAILABLE, times=2)
    env = {"OPSCTL_GCP_ENDPOINT": fake.address, **FAST}
    out = run_cli("init", "prod", "--cloudrun-job", job_name(fake), cwd=tmp_path, env=env)
    assert out.code == 0, out.output
    # Said in opsctl's words (issue 15), naming the endpoint override; never the transport's raw text.
    said = f"opsctl: read Cloud Run job {JOB}: get job job '{JOB}': Google Cloud could not be reached"
    assert out.stderr.count(said) == 2, out.stderr
    assert f"(calls go to OPSCTL_GCP_ENDPOINT={fake.address}: is it running?)" in out.stderr
    assert fake.calls["GetJob"] == 3


# -- input checked before any cloud call -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Staging", "--ecs-service", SERVICE], "ENV: 'Staging' is not an environment name: lowercase letters, digits, - and _, starting with a letter"),
        (["staging", "--ecs-service", "just-a-service"], "--ecs-service: 'just-a-service' is not CLUSTER/SERVICE (e.g. clinloop-staging/clinloop-staging-api)"),
        (["staging", "--ecs-service", SERVICE, "--region", "London"], "--region: 'London' is not an AWS region name (e.g. eu-west-2)"),
        (["staging", "--cloudrun-job", "quill-admin"], "--cloudrun-job: 'quill-admin' is not projects/PROJECT/locations/REGION/jobs/JOB (e.g. projects/quill-prod-123456/locations/europe-west2/jobs/quill-admin-prod)"),
        (["staging", "--cloudrun-job", "projects/p-123456/locations/europe-west2/jobs/j", "--region", "eu-west-2"], "--region goes with --ecs-service; a Cloud Run job's name holds its project and region"),
        (["staging", "--ecs-service", SERVICE, "--cloudrun-job", "projects/p-123456/locations/europe-west2/jobs/j"], "--ecs-service and --cloudrun-job: pass one of them, not both"),
        (["staging"], "opsctl init needs ENV and a target: opsctl init ENV --ecs-service CLUSTER/SERVICE [--region R] [--profile P], or opsctl init ENV --cloudrun-job projects/P/locations/R/jobs/J (on a terminal it asks)"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_before_any_cloud_call(tmp_path: Path, args: list[str], message: str) -> None:
    # Endpoints that refuse connections: a cloud call would end in a retry notice, not in this one line.
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "OPSCTL_GCP_ENDPOINT": "127.0.0.1:9"}
    out = run_cli("init", *args, cwd=tmp_path, env=env)
    assert (out.code, out.stderr) == (2, f"opsctl: error: {message}\n")
    assert list(tmp_path.iterdir()) == []


def test_a_file_opsctl_cannot_read_is_not_edited(tmp_path: Path) -> None:
    path = tmp_path / "opsctl.toml"
    path.write_text('[environments.staging]\nprovider = "ecs"\n')
    out = run_cli("init", "prod", "--cloudrun-job", "projects/p-123456/locations/europe-west2/jobs/j", cwd=tmp_path,
                  env={"OPSCTL_GCP_ENDPOINT": "127.0.0.1:9"})  # fmt: skip
    assert (out.code, out.stderr) == (
        78,
        "opsctl: error: opsctl.toml: environments.staging.task_definition: required when no service is set (or set service)\n",
    )


def test_the_no_config_error_names_init(tmp_path: Path) -> None:
    out = run_cli("envs", cwd=tmp_path)
    assert out.code == 78
    assert "create one from a live ECS service or Cloud Run job with opsctl init, or pass --config PATH" in out.stderr


def test_help_teaches(tmp_path: Path) -> None:
    out = run_cli("init", "--help", cwd=tmp_path)
    assert out.code == 0
    for text in (
        "Usage: opsctl init [OPTIONS] [ENV]",
        "Add environment ENV to opsctl.toml from a live ECS service or Cloud Run job.",
        "--ecs-service CLUSTER/SERVICE",
        "--cloudrun-job projects/P/locations/R/jobs/J",
        "    opsctl init staging --ecs-service clinloop-staging/clinloop-staging-api --region eu-west-2\n",
        "    opsctl init prod --cloudrun-job projects/quill-prod-123456/locations/europe-west2/jobs/quill-admin-prod\n",
        "opsctl doctor ENV",
    ):
        assert text in out.stdout, text


# -- on a terminal ----------------------------------------------------------------------------------


def converse(tmp_path: Path, args: list[str], env: dict[str, str], script: list[tuple[str, str | None]]) -> int:
    """Run `opsctl ARGS` with stdin, stdout and stderr on a pty, as in a shell: wait for each text, then type
    its answer (None: just wait). Returns the exit code."""
    main, tty = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsctl", *args],
        cwd=tmp_path,
        stdin=tty,
        stdout=tty,
        stderr=tty,
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        close_fds=True,
    )
    os.close(tty)
    seen = b""
    try:
        for text, answer in script:
            deadline = time.monotonic() + 30
            while text.encode() not in seen and time.monotonic() < deadline:
                if select.select([main], [], [], 0.5)[0]:
                    try:
                        seen += os.read(main, 4096)
                    except OSError:  # the child closed the terminal
                        break
            assert text.encode() in seen, seen.decode(errors="replace")
            if answer is not None:
                os.write(main, (answer + "\n").encode())
        return proc.wait(timeout=30)
    finally:
        proc.kill()
        os.close(main)


def test_on_a_terminal_it_asks_for_a_cloud_run_job(fake: FakeGcp, tmp_path: Path) -> None:
    code = converse(
        tmp_path,
        ["init"],
        {"OPSCTL_GCP_ENDPOINT": fake.address},
        [
            ("Environment name (e.g. staging): ", "prod"),
            ("Provider: ecs or cloudrun: ", "gcp"),
            ("opsctl: answer ecs or cloudrun", None),  # a wrong answer is asked again
            ("Provider: ecs or cloudrun: ", "cloudrun"),
            ("Cloud Run job (projects/P/locations/R/jobs/J): ", job_name(fake)),
            ("next: opsctl doctor prod", None),
        ],
    )
    assert code == 0
    env = config_mod.load(str(tmp_path / "opsctl.toml")).environment("prod")
    assert isinstance(env, CloudRunEnv) and env.job == JOB


def test_on_a_terminal_it_asks_for_an_ecs_service(ecs_world: EcsWorld, tmp_path: Path) -> None:
    code = converse(
        tmp_path,
        ["init", "staging"],  # ENV given: only the rest is asked
        {},
        [
            ("Provider: ecs or cloudrun: ", "ecs"),
            ("ECS service (CLUSTER/SERVICE): ", "clinloop-staging-api"),
            ("opsctl: 'clinloop-staging-api' is not CLUSTER/SERVICE", None),
            ("ECS service (CLUSTER/SERVICE): ", SERVICE),
            ("AWS region (empty: AWS_REGION or the profile's): ", ""),
            ("AWS profile (empty: the default credentials): ", ""),
            ("next: opsctl doctor staging", None),
        ],
    )
    assert code == 0
    env = config_mod.load(str(tmp_path / "opsctl.toml")).environment("staging")
    assert isinstance(env, EcsEnv) and (env.cluster, env.region, env.profile) == (ecs_world.cluster, REGION, None)


def test_tomlkit_is_imported_only_when_init_writes() -> None:
    probe = "import sys, opsctl.cli, opsctl.commands.init; print(sorted(m for m in sys.modules if 'tomlkit' in m))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout == "[]\n"
