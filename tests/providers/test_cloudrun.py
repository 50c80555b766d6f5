"""The Cloud Run provider with the real google-cloud-run client against our gRPC fake: launch, watch, stop, errors.

Nothing of opsctl is mocked: the provider reaches the fake through the endpoint override, as a user
with an emulator would. Runner-level tests run on real time with the provider's timing scaled down;
no assertion depends on timing. Logs: test_cloudrun_logs.py; doctor, build and the CLI: test_cloudrun_ops.py.
"""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
import pytest

from opsctl.cancel import CancelToken
from opsctl.errors import LaunchError, NotFound, PermissionDenied, Refused, TemporaryFailure, UsageError
from opsctl.model import Outcome, RunSpec, State
from opsctl.providers.cloudrun import CloudRunProvider, build
from opsctl.providers.cloudrun.clients import connect
from tests.contract import assert_succeeded, make_spec, when_running
from tests.fakes.gcp import FakeGcp, Script, lines
from tests.fakes.gcp.harness import (
    JOB,
    RUN_ID,
    numbered,
    run,
    spec,
    staging,
)

pytest_plugins = ("tests.fakes.gcp.fixtures",)  # the fake, provider and polling fixtures

# -- target, plan, launch ---------------------------------------------------------------------------


def test_plan_is_the_run_job_request_with_args_env_and_one_task(provider: CloudRunProvider) -> None:
    s = spec(ADMIN_USERNAME="ada")
    plan = provider.plan(s)
    assert plan["rpc"] == "google.cloud.run.v2.Jobs/RunJob"
    assert plan["request"] == {
        "name": f"projects/quill-staging-123456/locations/europe-west2/jobs/{JOB}",
        "overrides": {
            "container_overrides": [
                {
                    "name": "admin",
                    "args": ["python", "-m", "admin_task"],
                    "env": [{"name": k, "value": v} for k, v in s.env_vars],
                }
            ],
            "task_count": 1,
        },
    }


def test_launch_sends_overrides_and_the_task_timeout(provider: CloudRunProvider, fake: FakeGcp) -> None:
    s = make_spec(None, {"A": "1"}, run_id=RUN_ID)
    s = RunSpec(**{**{f: getattr(s, f) for f in s.__slots__}, "timeout_s": 89.5})
    ref = provider.launch(s)
    request = fake.run_requests[0]
    assert ref.id == fake.executions[0].short
    assert request.overrides.task_count == 1
    assert request.overrides.timeout.seconds == 90
    assert list(request.overrides.container_overrides[0].args) == []  # no command: the job's own args
    assert fake.overrides()["OPSCTL_RUN_ID"] == RUN_ID
    assert fake.executions[0].env["A"] == "1"


def test_target_needs_no_cloud_call(fake: FakeGcp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSCTL_GCP_ENDPOINT", fake.address)
    p = build(staging(fake, container="admin"))
    assert p.target() == [
        ("project", "quill-staging-123456"),
        ("region", "europe-west2"),
        ("job", JOB),
        ("container", "admin"),
        ("endpoint", f"{fake.address} (plaintext, no credentials)"),
    ]
    p.close()
    assert sum(fake.calls.values()) == 0


def test_endpoint_from_the_environment_config(fake: FakeGcp) -> None:
    p = build(staging(fake, endpoint=fake.address))
    assert p.launch(spec()).id == fake.executions[0].short
    p.close()


def test_without_endpoint_and_credentials_says_how_to_log_in(
    fake: FakeGcp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    with pytest.raises(Refused, match=r"gcloud auth application-default login"):
        build(staging(fake))


def test_unknown_container_lists_the_real_ones(fake: FakeGcp) -> None:
    fake.world.add_job("multi", {"app": "img:1", "proxy": "img:2"})
    p = CloudRunProvider(staging(fake, job="multi", container="admin"), connect(fake.address))
    with pytest.raises(LaunchError) as e:
        p.launch(spec())
    assert str(e.value) == (
        "container 'admin' is not in Cloud Run job 'multi' (its containers: 'app', 'proxy'); "
        "fix environments.staging.container in opsctl.toml"
    )
    p.close()


def test_first_container_is_the_default(fake: FakeGcp) -> None:
    fake.world.add_job("multi", {"app": "img:1", "proxy": "img:2"})
    p = CloudRunProvider(staging(fake, job="multi"), connect(fake.address))
    p.launch(spec())
    assert fake.run_requests[0].overrides.container_overrides[0].name == "app"
    p.close()


def test_job_not_found_says_to_create_it(fake: FakeGcp) -> None:
    p = CloudRunProvider(staging(fake, job="quill-admin-teaching"), connect(fake.address))
    with pytest.raises(NotFound) as e:
        p.launch(spec())
    assert str(e.value) == (
        "Cloud Run job 'quill-admin-teaching' not found in quill-staging-123456/europe-west2 — "
        "create it: terraform apply in infra/terraform/modules/cloud-run-admin-job"
    )
    assert fake.calls["RunJob"] == 0
    p.close()


@pytest.mark.parametrize(
    ("method", "permission"),
    [
        ("RunJob", "run.jobs.runWithOverrides"),
        ("CancelExecution", "run.executions.cancel"),
        ("ListLogEntries", "logging.logEntries.list"),
    ],
)
def test_permission_denied_names_the_permission(
    polling: CloudRunProvider, fake: FakeGcp, method: str, permission: str
) -> None:
    fake.world.default_script = Script(run_for=None)
    fake.fail(method, grpc.StatusCode.PERMISSION_DENIED, message="Permission denied on resource")
    with pytest.raises(PermissionDenied) as e:
        ref = polling.launch(spec())
        polling.stop(ref, "test")
        polling.read_logs(ref, None)
    assert f"needs {permission}" in str(e.value)
    assert "operator_members in infra/terraform/modules/cloud-run-admin-job" in str(e.value)


def test_unauthenticated_says_how_to_log_in(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.fail("GetJob", grpc.StatusCode.UNAUTHENTICATED)
    with pytest.raises(
        Refused,
        match=r"^not authenticated to Google Cloud \(UNAUTHENTICATED\) — run: gcloud auth "
        r"application-default login",
    ):
        provider.launch(spec())


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED]
)
def test_transient_codes_are_temporary_failures(
    provider: CloudRunProvider, fake: FakeGcp, code: grpc.StatusCode
) -> None:
    ref = provider.launch(spec())
    fake.fail("GetExecution", code)
    with pytest.raises(TemporaryFailure):
        provider.poll(ref)
    assert provider.poll(ref).state in (State.PENDING, State.RUNNING)


def test_log_quota_exhausted_is_a_temporary_failure_that_loses_nothing(
    polling: CloudRunProvider, fake: FakeGcp
) -> None:
    fake.script(Script(start_after=0, run_for=0.01, lines=numbered(3)))
    ref = polling.launch(spec())
    while polling.poll(ref).state is not State.STOPPED:
        pass
    fake.fail("ListLogEntries", grpc.StatusCode.RESOURCE_EXHAUSTED)
    with pytest.raises(TemporaryFailure) as e:
        polling.read_logs(ref, None)
    assert "Cloud Logging read quota exhausted in project 'quill-staging-123456'" in str(e.value)
    page = polling.read_logs(ref, None)
    assert [line.message for line in page.lines] == ["line 000000", "line 000001", "line 000002"]


# -- refs, find_run, active_runs, stop --------------------------------------------------------------


def test_ref_takes_the_short_or_the_full_execution_name(provider: CloudRunProvider) -> None:
    full = f"projects/quill-staging-123456/locations/europe-west2/jobs/{JOB}/executions/{JOB}-x7k2p"
    assert provider.ref(full).id == provider.ref(f"{JOB}-x7k2p").id == f"{JOB}-x7k2p"
    assert provider.ref(f"{JOB}-x7k2p").console_url == (
        f"https://console.cloud.google.com/run/jobs/executions/details/europe-west2/{JOB}-x7k2p/tasks"
        "?project=quill-staging-123456"
    )
    with pytest.raises(UsageError, match="belongs to quill-prod/europe-west2/quill-admin-prod"):
        provider.ref(f"projects/quill-prod/locations/europe-west2/jobs/quill-admin-prod/executions/{JOB}-x7k2p")
    with pytest.raises(UsageError, match="is not a Cloud Run execution name"):
        provider.ref("Not An Id")


def test_unknown_execution_is_not_found(provider: CloudRunProvider) -> None:
    with pytest.raises(NotFound, match=f"Cloud Run execution '{JOB}-nope' not found in job '{JOB}'"):
        provider.poll(provider.ref(f"{JOB}-nope"))


def test_find_run_finds_the_execution_carrying_the_run_id(provider: CloudRunProvider, fake: FakeGcp) -> None:
    first = provider.launch(spec(run_id="run-a"))
    second = provider.launch(spec(run_id="run-b"))
    assert provider.find_run(spec(run_id="run-a")) == first
    assert provider.find_run(spec(run_id="run-b")) == second
    assert provider.find_run(spec(run_id="run-c")) is None


def test_active_runs_are_this_tasks_unfinished_executions(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(run_for=None), Script(start_after=0, run_for=0, fail_to_start=None))
    running = provider.launch(spec(run_id="run-a"))
    done = provider.launch(spec(run_id="run-b"))
    while provider.poll(done).state is not State.STOPPED:
        pass
    assert provider.active_runs("staging", "create-superadmin") == [running]
    assert provider.active_runs("staging", "other-task") == []


def test_stop_cancels_and_stopping_a_stopped_run_is_fine(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(start_after=0, run_for=None, cancel_takes=0))
    ref = provider.launch(spec())
    provider.stop(ref, "interrupted")
    status = provider.poll(ref)
    assert (status.state, status.raw, status.exit_code) == (State.STOPPED, "cancelled", None)
    provider.stop(ref, "again")
    assert fake.calls["CancelExecution"] == 2


# -- through the runner -----------------------------------------------------------------------------


def test_contract_exit_0_with_result_line(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(start_after=0.1, run_for=0.5, lines=lines(["creating ada", '{"ok": true, "wasNew": true}'])))
    result, seen = run(provider)
    assert_succeeded(result)
    assert seen.messages == ["creating ada", '{"ok":true,"wasNew":true}']  # keys sorted: a Struct keeps no order
    assert result.result == {"ok": True, "wasNew": True}
    assert result.run.id == fake.executions[0].short
    assert ("condition", "Completed: succeeded") in result.details


def test_exit_5_is_passed_through_with_attempts(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(start_after=0.1, run_for=0.2, exit_codes=(5, 5), lines=lines(["boom"])))
    result, _ = run(provider)
    assert (result.outcome, result.exit_code, result.exit_status) == (Outcome.FAILED, 5, 5)
    assert ("attempts", "2 (a failed task is retried up to 3 times)") in result.details
    assert result.reason == f"Task {result.run.id}-task0 failed with exit code 5."


def test_killed_by_a_signal_is_128_plus_the_signal(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(start_after=0.1, run_for=0.2, exit_codes=(1,), term_signal=9))
    result, _ = run(provider)
    assert (result.exit_code, result.exit_status) == (137, 137)
    assert ("signal", "signal 9 (SIGKILL)") in result.details


def test_never_started_says_to_build_the_image(fake: FakeGcp) -> None:
    fake.world.add_job("quill-admin-staging", image_missing=True)
    p = CloudRunProvider(staging(fake), connect(fake.address))
    result, _ = run(p)
    p.close()
    assert (result.outcome, result.exit_code, result.exit_status) == (Outcome.NO_EXIT_CODE, None, 69)
    assert result.reason == (
        "Image 'europe-west2-docker.pkg.dev/quill-staging-123456/quill/admin:latest' not found."
        " — build and push the image: opsctl build staging"
    )


def test_cancelled_elsewhere_is_69_with_the_reason(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(start_after=0.1, run_for=None, cancel_at=0.4, lines=numbered(5)))
    result, seen = run(provider)
    assert (result.outcome, result.exit_code, result.exit_status) == (Outcome.NO_EXIT_CODE, None, 69)
    assert result.reason == "cancelled: The execution was cancelled."
    assert seen.messages == [f"line {i:06d}" for i in range(5)]
    assert fake.calls["CancelExecution"] == 0


def test_timeout_cancels_the_execution(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(start_after=0.1, run_for=None))
    result, _ = run(provider, timeout_s=0.5)
    assert (result.outcome, result.exit_status) == (Outcome.TIMED_OUT, 124)
    assert fake.calls["CancelExecution"] == 1
    assert fake.executions[0].cancelled_at is not None


@pytest.mark.parametrize(
    ("signum", "outcome", "code"),
    [(signal.SIGINT, Outcome.INTERRUPTED, 130), (signal.SIGTERM, Outcome.TERMINATED, 143)],
)
def test_signals_cancel_the_execution(
    provider: CloudRunProvider, fake: FakeGcp, signum: int, outcome: Outcome, code: int
) -> None:
    fake.script(Script(start_after=0.1, run_for=None, lines=numbered(3)))
    result, seen = run(provider, signal_when=when_running(signum))
    assert (result.outcome, result.exit_status) == (outcome, code)
    assert fake.calls["CancelExecution"] == 1
    assert seen.messages == [f"line {i:06d}" for i in range(3)]


def test_ambiguous_launch_failure_adopts_the_execution(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(start_after=0.1, run_for=0.2))
    fake.fail("RunJob", grpc.StatusCode.UNAVAILABLE, after=True)  # created, but the answer was lost
    result, seen = run(provider)
    assert_succeeded(result)
    assert (fake.calls["RunJob"], len(fake.executions)) == (1, 1)
    assert fake.calls["ListExecutions"] >= 1
    assert any("launch: " in n and "retrying" in n for n in seen.notices)


def test_launch_failure_before_creation_launches_again_once(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.fail("RunJob", grpc.StatusCode.DEADLINE_EXCEEDED)
    fake.script(Script(start_after=0.1, run_for=0.2))
    result, _ = run(provider)
    assert_succeeded(result)
    assert (fake.calls["RunJob"], len(fake.executions)) == (2, 1)


def test_transient_poll_and_log_errors_are_retried(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(start_after=0.1, run_for=0.3, lines=numbered(50)))
    fake.fail("GetExecution", grpc.StatusCode.UNAVAILABLE, 2)
    fake.fail("ListLogEntries", grpc.StatusCode.RESOURCE_EXHAUSTED, 2)
    fake.fail("ListTasks", grpc.StatusCode.INTERNAL)
    result, seen = run(provider)
    assert_succeeded(result)
    assert seen.messages == [f"line {i:06d}" for i in range(50)]


def test_cancel_token_before_launch_starts_nothing(provider: CloudRunProvider, fake: FakeGcp) -> None:
    cancel = CancelToken()
    cancel.request(signal.SIGTERM)
    with pytest.raises(LaunchError):
        run(provider, cancel=cancel)
    assert fake.calls["RunJob"] == 0
