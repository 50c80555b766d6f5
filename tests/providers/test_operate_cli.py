"""doctor, wait, logs, stop, history and build on the clouds, as real `python -m opsctl` processes.

ECS runs on moto (through the fault proxy), Cloud Run on the gRPC fake; this process plays the task: it
writes the task's log lines and ends it with an exit code while a CLI process is attached. `build` runs a
stand-in `docker` (a script on PATH that records its arguments). Mirrors tests/test_operate.py (local).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from opsctl.providers.cloudrun import CloudRunProvider
from tests.conftest import CliResult, run_cli
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.gcp import FakeGcp, Script, lines
from tests.fakes.gcp.harness import JOB
from tests.fakes.moto_ecs import ACCOUNT, REGION, EcsWorld, client, result_line, script_stop

pytest_plugins = ("tests.fakes.gcp.fixtures",)  # fake (a fresh gRPC fake with seed 002's job), provider

ACTOR = "ada@example.com"
# The actor is `git config user.email` outside GitHub Actions: pin it without touching any git config file.
BASE_ENV = {
    "OPSCTL_TIMING_SCALE": "0.05",
    "OPSCTL_RETRY_BASE_S": "0.05",
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "user.email",
    "GIT_CONFIG_VALUE_0": ACTOR,
}


class Background:
    """`python -m opsctl ARGS` running while the test plays the task; both streams collected as they come."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "opsctl", *args],
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._seen: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self._seen[name].append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _text(self, name: str) -> str:
        with self._changed:
            return "".join(self._seen[name])

    def wait_for(self, text: str, stream: str = "stderr") -> None:
        """Block until `text` shows up on `stream` (the process is then known to be attached)."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: text in "".join(self._seen[stream]) or not any(r.is_alive() for r in self._readers),
                timeout=60,
            )
        assert found and text in self._text(stream), f"{text!r} never came: {self._text('stderr')}"

    def result(self) -> CliResult:
        """Wait for the process to exit (bounded) and return what it did."""
        code = self.proc.wait(timeout=60)
        for reader in self._readers:
            reader.join(timeout=10)
        return CliResult(code, self._text("stdout"), self._text("stderr"))

    def __enter__(self) -> Background:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def summary(stdout: str) -> dict[str, str]:
    """The plain summary table as {row: value}."""
    return {k: v.strip() for k, _, v in (line.partition("  ") for line in stdout.splitlines())}


def history_rows(out: CliResult) -> list[dict[str, Any]]:
    assert out.code == 0, out.output
    rows = json.loads(out.stdout)
    assert isinstance(rows, list)
    return rows


def record_local_run(env: str, task: str, run: str, provider: str) -> None:
    """A run this machine recorded that the cloud no longer lists (ECS forgets stopped tasks after an hour)."""
    from opsctl.sinks.history import history_path

    entry = {
        "env": env,
        "task": task,
        "provider": provider,
        "run": run,
        "actor": ACTOR,
        "origin": "host:laptop",
        "started_at": "2020-01-01T00:00:00+00:00",
        "stopped_at": "2020-01-01T00:01:00+00:00",
        "status": "succeeded",
        "exit_code": 0,
    }
    path = history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


# -- the docker stand-in -------------------------------------------------------------------------------------

DOCKER = """#!{python}
import json, sys
argv = sys.argv[1:]
stdin = sys.stdin.read() if argv[:1] == ["login"] else None
with open({log!r}, "a", encoding="utf-8") as f:
    f.write(json.dumps({{"argv": argv, "stdin": stdin}}) + "\\n")
sys.exit(1 if argv[:1] == [{fail!r}] else 0)
"""


def docker_standin(tmp_path: Path, fail: str = "") -> tuple[dict[str, str], Path]:
    """A `docker` on PATH that appends {"argv", "stdin"} per call to a file and exits 0 (1 for `fail`)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "docker-calls.jsonl"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(DOCKER.format(python=sys.executable, log=str(log), fail=fail), encoding="utf-8")
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def docker_calls(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


# == ECS on moto ===============================================================================================

ECS_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/admin"
ECS_TOML = f"""\
[environments.staging]
provider = "ecs"
cluster = "clinloop-staging"
service = "clinloop-staging-api"
container = "api"
image = "{ECS_IMAGE}"

[tasks.seed-admin]
command = ["node", "node_modules/@clinloop/db/dist/seeds/admin-cli.js"]
env = {{ ADMIN_EMAIL = "{{email}}" }}

[tasks.seed-admin.params.email]
type = "email"
"""


@pytest.fixture
def ecs_project(ecs_world: EcsWorld, tmp_path: Path) -> Path:
    """Seed 000's staging (moto) as opsctl.toml in a fresh directory."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "opsctl.toml").write_text(ECS_TOML, encoding="utf-8")
    (project / "Dockerfile").write_text("FROM scratch AS admin\n", encoding="utf-8")
    return project


def ecs(*args: str, cwd: Path, env: dict[str, str] | None = None) -> CliResult:
    return run_cli(*args, cwd=cwd, env={**BASE_ENV, **(env or {})})


def ecs_detach(project: Path) -> str:
    """`opsctl run staging seed-admin --detach -o json` in its own process; the task ARN."""
    out = ecs("run", "staging", "seed-admin", "--email", ACTOR, "--yes", "--detach", "-o", "json", cwd=project)
    assert out.code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["status"] == "detached"
    return str(doc["run"])


def revisions(world: EcsWorld) -> list[dict[str, Any]]:
    """Every revision of the service's task-definition family, oldest first."""
    ecs_client = client("ecs", world.url)
    arns = ecs_client.list_task_definitions(familyPrefix=world.family, sort="ASC")["taskDefinitionArns"]
    return [ecs_client.describe_task_definition(taskDefinition=arn)["taskDefinition"] for arn in arns]


def test_ecs_doctor_passes_on_a_healthy_environment(ecs_project: Path) -> None:
    out = ecs("doctor", "staging", cwd=ecs_project)
    assert out.code == 0, out.output
    assert all(line.startswith(("✓ ", "    ")) for line in out.stdout.splitlines()), out.stdout
    assert "✓ ECS cluster clinloop-staging (us-east-1) — ACTIVE" in out.stdout
    assert "✓ task definition, container and network — clinloop-staging-api:1 (from service" in out.stdout
    assert "✓ CloudWatch log group /ecs/clinloop-staging-api — streams ecs/api/TASK-ID" in out.stdout
    assert "✓ task seed-admin: overrides — command and 1 env var(s) on container api" in out.stdout
    assert (
        out.stdout.splitlines()[1] == "✓ AWS credentials — arn:aws:sts::123456789012:user/moto (account 123456789012)"
    )
    assert out.stderr == "opsctl: 7 passed, 0 failed\n"


@pytest.mark.parametrize(
    ("old", "new", "failed"),
    [
        pytest.param(
            'cluster = "clinloop-staging"',
            'cluster = "clinloop-nope"',
            "✗ ECS cluster clinloop-nope (us-east-1) — not found or not ACTIVE\n"
            "    fix: check environments.staging.cluster, the region and the profile (aws ecs list-clusters)\n",
            id="missing-cluster",
        ),
        pytest.param(
            'container = "api"',
            'container = "web"',
            "✗ task definition, container and network — opsctl.toml: environments.staging.container: no container "
            "'web' in task definition clinloop-staging-api:1 (its containers: api, sidecar)",
            id="unknown-container",
        ),
        pytest.param(
            'container = "api"',
            'container = "web"',
            "(its containers: api, sidecar)\n    fix: ",
            id="unknown-container-fix-line",
        ),
        pytest.param(
            'container = "api"',
            'container = "api"\ntask_definition = "clinloop-nologs"',
            "✗ CloudWatch logs — container 'api' in task definition clinloop-nologs:1 has no awslogs log "
            "configuration: its output will not be streamed; the exit code and stop reason are still reported\n"
            "    fix: add an awslogs logConfiguration to the container, or set log_group and log_stream_prefix\n",
            id="no-awslogs",
        ),
    ],
)
def test_ecs_doctor_fails_with_the_fix(ecs_world: EcsWorld, ecs_project: Path, old: str, new: str, failed: str) -> None:
    ecs_world.register("clinloop-nologs", [{"name": "api"}])  # no logConfiguration
    config = ecs_project / "opsctl.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    out = ecs("doctor", "staging", cwd=ecs_project)
    assert out.code == 1, out.output
    assert failed in out.stdout, out.stdout
    assert ", 1 failed" in out.stderr, out.stderr


def test_ecs_wait_on_a_run_started_by_another_process(ecs_world: EcsWorld, ecs_project: Path) -> None:
    arn = ecs_detach(ecs_project)
    ecs_world.write_logs(arn, ["admin-cli: validating ada@example.com"])
    with Background("wait", "staging", arn, cwd=ecs_project, env=BASE_ENV) as waiting:
        waiting.wait_for("admin-cli: validating ada@example.com")  # attached while the task runs
        ecs_world.write_logs(arn, ["admin-cli: inserted admin row", result_line({"ok": False, "error": "dup"})])
        script_stop(ecs_world.task(arn), exit_code=3)
        done = waiting.result()
    assert done.code == 3, done.output
    logged = "admin-cli: validating ada@example.com\nadmin-cli: inserted admin row\n"
    assert logged + '{"ok":false,"error":"dup"}\n' in done.stderr
    assert done.stderr.startswith(f"opsctl: reattached to run {arn}\n")
    table = summary(done.stdout)
    assert (table["Environment"], table["Task"], table["Actor"], table["Run"]) == ("staging", "seed-admin", ACTOR, arn)
    assert (table["Status"], table["Exit code"], table["Error"]) == ("failed", "3", "dup")
    # Once it has stopped: the same lines replayed, the same exit code.
    again = ecs("wait", "staging", arn.rsplit("/", 1)[-1], "-o", "json", cwd=ecs_project)
    assert again.code == 3, again.output
    assert logged in again.stderr
    doc = json.loads(again.stdout)
    assert doc["run"] == arn  # typed as the bare id, reported as the task's ARN
    assert (doc["status"], doc["exit_code"], doc["actor"], doc["task"]) == ("failed", 3, ACTOR, "seed-admin")


def test_ecs_logs_and_follow(ecs_world: EcsWorld, ecs_project: Path) -> None:
    arn = ecs_detach(ecs_project)
    ecs_world.write_logs(arn, ["tick 0"])
    with Background("logs", "staging", arn, "--follow", cwd=ecs_project, env=BASE_ENV) as following:
        following.wait_for("tick 0\n", stream="stdout")
        ecs_world.write_logs(arn, ["tick 1", "tick 2"])
        script_stop(ecs_world.task(arn), exit_code=0)
        followed = following.result()
    assert followed.code == 0, followed.output
    assert followed.stdout == "tick 0\ntick 1\ntick 2\n"
    assert ecs("logs", "staging", arn, cwd=ecs_project).stdout == followed.stdout
    assert ecs("logs", "staging", arn, "--since", "1h", cwd=ecs_project).stdout == followed.stdout


def test_ecs_stop_names_the_actor(ecs_world: EcsWorld, ecs_project: Path, moto_proxy: FaultProxy) -> None:
    arn = ecs_detach(ecs_project)
    out = ecs("stop", "staging", arn, cwd=ecs_project)
    assert out.code == 0, out.output
    assert f"opsctl: stop requested for run {arn} (now " in out.stderr
    assert f"follow it with: opsctl wait staging {arn}" in out.stderr
    task = ecs_world.task(arn)
    assert (task.desired_status, task.stopped_reason) == ("STOPPED", f"stopped by {ACTOR} (opsctl stop)")
    assert moto_proxy.counts()["StopTask"] == 1


def test_ecs_history_merges_the_cluster_and_local_history(ecs_world: EcsWorld, ecs_project: Path) -> None:
    first = ecs_detach(ecs_project)
    script_stop(ecs_world.task(first), exit_code=3)
    second = ecs_detach(ecs_project)
    # A task opsctl did not start is not listed; a run ECS has forgotten is, from the local history.
    client("ecs", ecs_world.url).run_task(
        cluster=ecs_world.cluster,
        taskDefinition=ecs_world.task_definition_arn,
        launchType="FARGATE",
        networkConfiguration=ecs_world.network(),
    )
    record_local_run("staging", "seed-admin", "0ld0ld0ld0ld0ld0", "ecs")
    rows = history_rows(ecs("history", "staging", "-o", "json", cwd=ecs_project))
    assert [r["run"] for r in rows] == [second, first, "0ld0ld0ld0ld0ld0"]
    assert [(r["task"], r["actor"], r["source"]) for r in rows] == [
        ("seed-admin", ACTOR, "ecs + local history"),
        ("seed-admin", ACTOR, "ecs + local history"),
        ("seed-admin", ACTOR, "local history"),
    ]
    # Recorded here as detached; ECS says how the first ended, in the summary's words (issue 15).
    assert [(r["status"], r["exit_code"]) for r in rows[:2]] == [("running", None), ("failed", 3)]
    text = ecs("history", "staging", "--limit", "1", cwd=ecs_project).stdout.splitlines()
    assert text[0].split() == ["RUN", "TASK", "ACTOR", "STARTED", "STATUS", "EXIT"]
    assert len(text) == 2 and text[1].split()[:3] == [second, "seed-admin", ACTOR]


def test_ecs_wait_by_task_id_is_the_same_run_in_history(ecs_world: EcsWorld, ecs_project: Path) -> None:
    arn = ecs_detach(ecs_project)
    script_stop(ecs_world.task(arn), exit_code=0)
    assert ecs("wait", "staging", arn.rsplit("/", 1)[-1], cwd=ecs_project).code == 0
    rows = history_rows(ecs("history", "staging", "-o", "json", cwd=ecs_project))
    assert [r["run"] for r in rows] == [arn]


# -- build ---------------------------------------------------------------------------------------------------


def ecr_password(world: EcsWorld) -> tuple[str, str]:
    """What ECR's GetAuthorizationToken gives for the account (moto's answer), as (user, password)."""
    data = client("ecr", world.url).get_authorization_token(registryIds=[ACCOUNT])["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return user, password


def test_ecs_build_pushes_and_registers_a_revision(ecs_world: EcsWorld, ecs_project: Path, tmp_path: Path) -> None:
    path, log = docker_standin(tmp_path)
    out = ecs("build", "staging", "--tag", "t1", cwd=ecs_project, env=path)
    assert out.code == 0, out.output
    user, password = ecr_password(ecs_world)
    registry, image = ECS_IMAGE.split("/", 1)[0], f"{ECS_IMAGE}:t1"
    root = ecs_project.resolve()
    assert docker_calls(log) == [
        {"argv": ["info", "--format", "{{.ServerVersion}}"], "stdin": None},
        {"argv": ["login", "--username", user, "--password-stdin", registry], "stdin": password},
        {
            "argv": ["build", "--target", "admin", "--file", str(root / "Dockerfile"), "--tag", image, str(root)],
            "stdin": None,
        },
        {"argv": ["push", image], "stdin": None},
    ]
    assert password and password not in out.output
    assert not any(password in arg for call in docker_calls(log) for arg in call["argv"])
    old, new = revisions(ecs_world)
    assert new["revision"] == old["revision"] + 1
    images = {c["name"]: c["image"] for c in new["containerDefinitions"]}
    assert images == {"api": image, "sidecar": "clinloop/api:latest"}
    assert {c["name"]: c["image"] for c in old["containerDefinitions"]}["api"] == "clinloop/api:latest"
    assert (
        f"opsctl: registered task definition clinloop-staging-api:{new['revision']}: container api now runs {image}; "
        "note: opsctl run staging still uses service clinloop-staging-api's revision clinloop-staging-api:1"
    ) in out.stderr


def test_ecs_build_stops_when_the_docker_engine_is_not_reachable(
    ecs_world: EcsWorld, ecs_project: Path, tmp_path: Path
) -> None:
    path, log = docker_standin(tmp_path, fail="info")
    out = ecs("build", "staging", "--tag", "t1", cwd=ecs_project, env=path)
    assert out.code == 69, out.output
    assert "opsctl: error: the Docker engine is not reachable (docker info failed)" in out.stderr
    assert [c["argv"][0] for c in docker_calls(log)] == ["info"]
    assert len(revisions(ecs_world)) == 1


def test_build_without_docker_on_path(ecs_world: EcsWorld, ecs_project: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = ecs("build", "staging", "--tag", "t1", cwd=ecs_project, env={"PATH": str(empty)})
    assert out.code == 69, out.output
    assert out.stderr == (
        "opsctl: error: docker not found on PATH: opsctl build needs the Docker CLI and a running engine\n"
    )
    assert len(revisions(ecs_world)) == 1


def test_ecs_build_dry_run_changes_nothing(
    ecs_world: EcsWorld, ecs_project: Path, tmp_path: Path, moto_proxy: FaultProxy
) -> None:
    path, log = docker_standin(tmp_path)
    out = ecs("build", "staging", "--tag", "t1", "--dry-run", cwd=ecs_project, env=path)
    assert out.code == 0, out.output
    root, image = ecs_project.resolve(), f"{ECS_IMAGE}:t1"
    assert out.stderr.splitlines() == [
        "opsctl: [1/5] check the Docker engine: docker info --format {{.ServerVersion}}",
        f"opsctl: [2/5] log in to {ECS_IMAGE.split('/')[0]}: docker login --username … --password-stdin "
        + ECS_IMAGE.split("/")[0],
        f"opsctl: [3/5] build target 'admin': docker build --target admin --file {root / 'Dockerfile'} "
        f"--tag {image} {root}",
        f"opsctl: [4/5] push {image}: docker push {image}",
        f"opsctl: [5/5] register a task definition revision with {image}: (cloud API call)",
        "opsctl: dry run: nothing was built, pushed or changed",
    ]
    assert docker_calls(log) == []
    assert len(revisions(ecs_world)) == 1
    assert sum(moto_proxy.counts().values()) == 0  # not even a read


# == Cloud Run on the gRPC fake ================================================================================

GCP_IMAGE = "europe-west2-docker.pkg.dev/quill-staging-123456/quill/admin"
GCP_TOML = f"""\
[environments.staging]
provider = "cloudrun"
project = "quill-staging-123456"
region = "europe-west2"
job = "{JOB}"
image = "{GCP_IMAGE}"

[tasks.create-superadmin]
command = ["python", "-m", "admin_task"]
env = {{ ADMIN_ACTION = "create-superadmin" }}
"""


@pytest.fixture
def gcp_project(tmp_path: Path) -> Path:
    """Seed 002's staging (the fake's job) as opsctl.toml in a fresh directory."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "opsctl.toml").write_text(GCP_TOML, encoding="utf-8")
    (project / "Dockerfile").write_text("FROM scratch AS admin\n", encoding="utf-8")
    return project


def gcp_env(fake: FakeGcp) -> dict[str, str]:
    return {**BASE_ENV, "OPSCTL_GCP_ENDPOINT": fake.address}


def gcp(fake: FakeGcp, *args: str, cwd: Path, env: dict[str, str] | None = None) -> CliResult:
    return run_cli(*args, cwd=cwd, env={**gcp_env(fake), **(env or {})})


def gcp_detach(fake: FakeGcp, project: Path, script: Script) -> str:
    """`opsctl run staging create-superadmin --detach -o json` in its own process; the execution's name."""
    fake.script(script)
    out = gcp(fake, "run", "staging", "create-superadmin", "--detach", "-o", "json", cwd=project)
    assert out.code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["status"] == "detached"
    return str(doc["run"])


def end_execution(fake: FakeGcp, short: str, more: Sequence[str], exit_code: int) -> None:
    """The running task prints `more` from now on, then exits with `exit_code` (its script, rewritten)."""
    with fake.world.lock:
        execution = next(e for e in fake.executions if e.short == short)
        now = fake.clock() - execution.runs_from
        script = execution.script
        added = lines(more, start=now + 0.05, every=0.02)
        execution.script = replace(
            script, lines=[*script.lines, *added], run_for=now + 0.3 + 0.02 * len(more), exit_codes=(exit_code,)
        )
        execution.__post_init__()  # re-index the lines (the new ones sort after every line already visible)


def test_cloudrun_doctor_passes_on_a_healthy_environment(fake: FakeGcp, gcp_project: Path) -> None:
    next(iter(fake.world.jobs.values())).max_retries = 0  # as the Terraform module sets it
    out = gcp(fake, "doctor", "staging", cwd=gcp_project)
    assert out.code == 0, out.output
    assert all(line.startswith("✓ ") for line in out.stdout.splitlines()), out.stdout
    assert f"✓ Cloud Run job projects/quill-staging-123456/locations/europe-west2/jobs/{JOB} — 1 container(s)" in (
        out.stdout
    )
    assert f"✓ image — {GCP_IMAGE}:latest\n" in out.stdout
    assert "✓ opsctl permissions on the job — all " in out.stdout
    assert out.stderr == "opsctl: 7 passed, 0 failed\n"


def test_cloudrun_doctor_fails_for_a_missing_job(fake: FakeGcp, gcp_project: Path) -> None:
    config = gcp_project / "opsctl.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(f'job = "{JOB}"', 'job = "nope"'), encoding="utf-8")
    out = gcp(fake, "doctor", "staging", cwd=gcp_project)
    assert out.code == 1, out.output
    assert (
        "✗ Cloud Run job projects/quill-staging-123456/locations/europe-west2/jobs/nope — Cloud Run job 'nope' not "
        "found in quill-staging-123456/europe-west2\n"
        "    fix: create it: terraform apply in infra/terraform/modules/cloud-run-admin-job\n"
    ) in out.stdout
    assert out.stderr == "opsctl: 2 passed, 1 failed\n"


def test_cloudrun_wait_on_a_run_started_by_another_process(fake: FakeGcp, gcp_project: Path) -> None:
    run = gcp_detach(fake, gcp_project, Script(start_after=0, run_for=None, lines=lines(["creating superadmin"])))
    with Background("wait", "staging", run, cwd=gcp_project, env=gcp_env(fake)) as waiting:
        waiting.wait_for("creating superadmin")  # attached while the execution runs
        # A JSON line becomes a jsonPayload, whose keys come back sorted: write them sorted.
        end_execution(fake, run, ["password policy ok", result_line({"error": "dup", "ok": False})], exit_code=3)
        done = waiting.result()
    assert done.code == 3, done.output
    logged = "creating superadmin\npassword policy ok\n"
    assert logged + '{"error":"dup","ok":false}\n' in done.stderr
    assert done.stderr.startswith(f"opsctl: reattached to run {run}\n")
    table = summary(done.stdout)
    assert (table["Environment"], table["Task"], table["Actor"], table["Run"]) == (
        "staging",
        "create-superadmin",
        ACTOR,
        run,
    )
    assert (table["Status"], table["Exit code"], table["Error"]) == ("failed", "3", "dup")
    # Once it has completed: the same lines replayed (by the full resource name too), the same exit code.
    full = f"projects/quill-staging-123456/locations/europe-west2/jobs/{JOB}/executions/{run}"
    again = gcp(fake, "wait", "staging", full, "-o", "json", cwd=gcp_project)
    assert again.code == 3, again.output
    assert logged in again.stderr
    doc = json.loads(again.stdout)
    assert (doc["run"], doc["status"], doc["exit_code"], doc["actor"]) == (run, "failed", 3, ACTOR)


def test_cloudrun_logs_and_follow(fake: FakeGcp, gcp_project: Path) -> None:
    run = gcp_detach(fake, gcp_project, Script(start_after=0, run_for=None, lines=lines(["tick 0"])))
    with Background("logs", "staging", run, "--follow", cwd=gcp_project, env=gcp_env(fake)) as following:
        following.wait_for("tick 0\n", stream="stdout")
        end_execution(fake, run, ["tick 1", "tick 2"], exit_code=0)
        followed = following.result()
    assert followed.code == 0, followed.output
    assert followed.stdout == "tick 0\ntick 1\ntick 2\n"
    assert gcp(fake, "logs", "staging", run, cwd=gcp_project).stdout == followed.stdout
    assert gcp(fake, "logs", "staging", run, "--since", "1h", cwd=gcp_project).stdout == followed.stdout


def test_cloudrun_stop_cancels_the_execution(fake: FakeGcp, gcp_project: Path) -> None:
    run = gcp_detach(fake, gcp_project, Script(start_after=0, run_for=None))
    out = gcp(fake, "stop", "staging", run, cwd=gcp_project)
    assert out.code == 0, out.output
    assert f"opsctl: stop requested for run {run} (now " in out.stderr
    assert fake.calls["CancelExecution"] == 1
    (execution,) = fake.executions
    assert execution.cancelled_at is not None
    # Cloud Run's CancelExecution takes no reason: the actor is in the execution's OPSCTL_ACTOR instead.
    assert execution.env["OPSCTL_ACTOR"] == ACTOR
    waited = gcp(fake, "wait", "staging", run, "-o", "json", cwd=gcp_project)
    doc = json.loads(waited.stdout)
    assert (waited.code, doc["status"], doc["exit_code"]) == (69, "stopped without exit code", None), waited.output
    assert doc["reason"] == "cancelled: The execution was cancelled."


def test_cloudrun_history_merges_the_job_and_local_history(fake: FakeGcp, gcp_project: Path) -> None:
    first = gcp_detach(fake, gcp_project, Script(start_after=0, run_for=0))
    second = gcp_detach(fake, gcp_project, Script(start_after=0, run_for=None))
    job = next(iter(fake.world.jobs.values()))
    fake.world.run(job, "admin", {}, None, 600)  # an execution opsctl did not start (gcloud run jobs execute)
    record_local_run("staging", "create-superadmin", "quill-admin-staging-old", "cloudrun")
    rows = history_rows(gcp(fake, "history", "staging", "-o", "json", cwd=gcp_project))
    assert [r["run"] for r in rows] == [second, first, "quill-admin-staging-old"]
    assert [(r["task"], r["actor"], r["source"]) for r in rows] == [
        ("create-superadmin", ACTOR, "cloudrun + local history"),
        ("create-superadmin", ACTOR, "cloudrun + local history"),
        ("create-superadmin", ACTOR, "local history"),
    ]
    assert [(r["status"], r["exit_code"]) for r in rows[:2]] == [("running", None), ("succeeded", 0)]
    text = gcp(fake, "history", "staging", "--limit", "1", cwd=gcp_project).stdout.splitlines()
    assert len(text) == 2 and text[1].split()[:3] == [second, "create-superadmin", ACTOR]


# -- build: with OPSCTL_GCP_ENDPOINT opsctl holds no Google credentials, so the registry login cannot happen
# against the fake; the docker steps are shown by --dry-run and the job update through the provider.


def test_cloudrun_build_dry_run_changes_nothing(fake: FakeGcp, gcp_project: Path, tmp_path: Path) -> None:
    path, log = docker_standin(tmp_path)
    out = gcp(fake, "build", "staging", "--tag", "t1", "--dry-run", cwd=gcp_project, env=path)
    assert out.code == 0, out.output
    root, image, registry = gcp_project.resolve(), f"{GCP_IMAGE}:t1", GCP_IMAGE.split("/")[0]
    assert out.stderr.splitlines() == [
        "opsctl: [1/5] check the Docker engine: docker info --format {{.ServerVersion}}",
        f"opsctl: [2/5] log in to {registry}: docker login --username … --password-stdin {registry}",
        f"opsctl: [3/5] build target 'admin': docker build --target admin --file {root / 'Dockerfile'} "
        f"--tag {image} {root}",
        f"opsctl: [4/5] push {image}: docker push {image}",
        f"opsctl: [5/5] update Cloud Run job with {image}: (cloud API call)",
        "opsctl: dry run: nothing was built, pushed or changed",
    ]
    assert docker_calls(log) == []
    assert sum(fake.calls.values()) == 0
    assert next(iter(fake.world.jobs.values())).containers["admin"][0] == f"{GCP_IMAGE}:latest"


def test_cloudrun_build_through_an_endpoint_override_cannot_log_in(
    fake: FakeGcp, gcp_project: Path, tmp_path: Path
) -> None:
    path, log = docker_standin(tmp_path)
    out = gcp(fake, "build", "staging", "--tag", "t1", cwd=gcp_project, env=path)
    assert out.code == 2, out.output
    registry = "europe-west2-docker.pkg.dev"
    assert out.stderr == (
        "opsctl: [1/5] check the Docker engine: docker info --format {{.ServerVersion}}\n"
        f"opsctl: [2/5] log in to {registry}: docker login --username … --password-stdin {registry}\n"
        "opsctl: error: with an endpoint override opsctl holds no Google credentials to log in to "
        "europe-west2-docker.pkg.dev: log in yourself (gcloud auth configure-docker europe-west2-docker.pkg.dev) "
        "or unset OPSCTL_GCP_ENDPOINT\n"
    )
    # The Docker engine is checked first (issue 15); the login is refused before any other docker step.
    assert [c["argv"][0] for c in docker_calls(log)] == ["info"]
    assert fake.calls["UpdateJob"] == 0


def test_cloudrun_build_points_the_job_at_the_new_image(provider: CloudRunProvider, fake: FakeGcp) -> None:
    image = f"{GCP_IMAGE}:t1"
    said = provider.set_image(image)  # build's last step
    assert said == f"Cloud Run job '{JOB}': container admin image {GCP_IMAGE}:latest → {image}"
    assert fake.world.jobs[provider.job_name].containers["admin"][0] == image
    assert fake.calls["UpdateJob"] == 1


# == both ======================================================================================================


def test_envs_and_tasks_make_no_cloud_call(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, fake: FakeGcp, gcp_project: Path
) -> None:
    config = gcp_project / "opsctl.toml"
    ecs_part = ECS_TOML.split("[tasks.", 1)[0].replace("[environments.staging]", "[environments.staging-ecs]")
    config.write_text(ecs_part + config.read_text(encoding="utf-8"), encoding="utf-8")
    envs = gcp(fake, "envs", "-o", "json", cwd=gcp_project)
    assert envs.code == 0, envs.output
    listed = [e for e in json.loads(envs.stdout) if not e["builtin"]]
    assert [(e["name"], e["provider"]) for e in listed] == [("staging-ecs", "ecs"), ("staging", "cloudrun")]
    assert "cluster=clinloop-staging, service=clinloop-staging-api" in listed[0]["target"]
    assert listed[1]["target"] == f"job=projects/quill-staging-123456/locations/europe-west2/jobs/{JOB}"
    tasks = gcp(fake, "tasks", "staging-ecs", "-o", "json", cwd=gcp_project)
    assert tasks.code == 0, tasks.output
    assert [t["name"] for t in json.loads(tasks.stdout)] == ["create-superadmin"]
    assert sum(moto_proxy.counts().values()) == 0 and sum(fake.calls.values()) == 0


def test_build_checks_docker_before_the_registry(
    ecs_world: EcsWorld, ecs_project: Path, tmp_path: Path, moto_proxy: FaultProxy
) -> None:
    path, log = docker_standin(tmp_path, fail="info")
    out = ecs("build", "staging", "--tag", "t1", cwd=ecs_project, env=path)
    assert out.code == 69, out.output
    assert [c["argv"][0] for c in docker_calls(log)] == ["info"]
    assert sum(moto_proxy.counts().values()) == 0  # neither the registry nor ECS was asked anything


@pytest.mark.parametrize("dry_run", [True, False])
def test_build_notices_a_missing_dockerfile_first(
    ecs_world: EcsWorld, ecs_project: Path, tmp_path: Path, moto_proxy: FaultProxy, dry_run: bool
) -> None:
    (ecs_project / "Dockerfile").unlink()
    path, log = docker_standin(tmp_path)
    out = ecs("build", "staging", "--tag", "t1", *(["--dry-run"] if dry_run else []), cwd=ecs_project, env=path)
    assert out.code == 78, out.output
    assert out.stderr == (
        f"opsctl: error: opsctl.toml: environments.staging.build.context: no Dockerfile at "
        f"{ecs_project.resolve() / 'Dockerfile'} — set [environments.staging.build] dockerfile (or context) to "
        "where it is\n"
    )
    assert docker_calls(log) == []
    assert sum(moto_proxy.counts().values()) == 0
