"""`--tasks N` on Cloud Run (#17): one execution with task_count N, against the gRPC fake with the real clients.

Each task of the fake's execution has CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT in its env (as Cloud Run sets
them) and its log entries carry the `run.googleapis.com/task_index` label; the job's parallelism limits how
many run at once. Through `python -m opsctl` where the feature is the CLI's (exit codes, JSON, signals).
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from opsctl.model import State
from opsctl.providers.cloudrun import CloudRunProvider
from opsctl.providers.cloudrun.clients import connect
from opsctl.runner import Runner
from tests.conftest import CliResult, run_cli, start_cli
from tests.contract import FAST_RETRY, RecordingObserver, make_spec
from tests.fakes.gcp import FakeGcp, ManualClock, Script, lines
from tests.fakes.gcp.harness import JOB, staging

pytest_plugins = ("tests.fakes.gcp.fixtures",)  # the fake, provider and polling fixtures

TOML = f"""\
[environments.staging]
provider = "cloudrun"
project = "quill-staging-123456"
region = "europe-west2"
job = "{JOB}"

[tasks.reindex]
command = ["python", "-m", "reindex"]
"""


@pytest.fixture
def project(tmp_path: Path, fake: FakeGcp) -> Path:
    """A project whose staging is the fake's job, as the Terraform module makes it (no retries)."""
    (tmp_path / "opsctl.toml").write_text(TOML, encoding="utf-8")
    job(fake).max_retries = 0
    return tmp_path


def job(fake: FakeGcp) -> Any:
    """The fake's one job."""
    return next(iter(fake.world.jobs.values()))


def cli_env(fake: FakeGcp) -> dict[str, str]:
    return {"OPSCTL_GCP_ENDPOINT": fake.address, "OPSCTL_TIMING_SCALE": "0.05", "OPSCTL_RETRY_BASE_S": "0.05"}


def opsctl(fake: FakeGcp, project: Path, *args: str) -> CliResult:
    return run_cli(*args, cwd=project, env=cli_env(fake))


def shards(
    n_lines: int = 3, codes: Mapping[int, int] | None = None, run_for: float | None = 0.6, start_after: float = 0.1
) -> Script:
    """Every task prints `n_lines` lines naming its shard (from Cloud Run's env), then a result line; task i exits
    with codes[i] (default 0)."""

    def task(env: Mapping[str, str]) -> Script:
        i, n = int(env["CLOUD_RUN_TASK_INDEX"]), int(env["CLOUD_RUN_TASK_COUNT"])
        said = [f"shard {i} of {n}: line {k}" for k in range(n_lines)] + [json.dumps({"ok": True, "shard": i})]
        code = (codes or {}).get(i, 0)
        return Script(start_after=start_after, run_for=run_for, exit_codes=(code,), lines=lines(said, every=0.002))

    return Script(behaviour=task)


def expected(n: int, n_lines: int) -> Counter[str]:
    return Counter(f"[{i}] shard {i} of {n}: line {k}" for i in range(n) for k in range(n_lines)) + Counter(
        f'[{i}] {{"ok":true,"shard":{i}}}' for i in range(n)
    )


def relayed(stderr: str) -> Counter[str]:
    """The task lines opsctl relayed (prefixed with a copy index), counted."""
    return Counter(line for line in stderr.splitlines() if line.startswith("["))


# -- all succeed, one fails ---------------------------------------------------------------------------


def test_all_copies_succeed_one_execution_every_line_once_with_its_prefix(fake: FakeGcp, project: Path) -> None:
    fake.script(shards(n_lines=40))
    done = opsctl(fake, project, "run", "staging", "reindex", "--tasks", "5", "-o", "json")
    assert done.code == 0, done.output
    (request,) = fake.run_requests
    assert request.overrides.task_count == 5
    (execution,) = fake.executions
    assert relayed(done.stderr) == expected(5, 40)
    doc = json.loads(done.stdout)
    assert (doc["status"], doc["exit_code"], doc["run"]) == ("succeeded", 0, execution.short)
    assert doc["tasks"] == [
        {
            "index": i,
            "run": f"{execution.short}-task{i}",
            "status": "succeeded",
            "exit_code": 0,
            "reason": None,
            "result": {"ok": True, "shard": i},
        }
        for i in range(5)
    ]
    assert doc["result"] is None  # no copy's fields stand for the run's; each copy's are in `tasks`
    assert doc["details"]["tasks"] == "5 succeeded of 5 tasks (parallelism 5)"
    assert fake.calls["RunJob"] == 1 and fake.calls["ListTasks"] == 1


def test_one_copy_fails_two_fail_the_lowest_index_decides(fake: FakeGcp, project: Path) -> None:
    fake.script(shards(codes={3: 5, 1: 3}))
    done = opsctl(fake, project, "run", "staging", "reindex", "--tasks", "4")
    assert done.code == 3, done.output
    rows = {k: v.strip() for k, _, v in (line.partition("  ") for line in done.stdout.splitlines())}
    assert (rows["Status"], rows["Exit code"]) == ("failed", "3")
    assert rows["Reason"] == ("copy 1 of 4 failed: Container terminated with exit code 3. (1 other copy failed too)")
    assert rows["Copies"] == "4 (2 succeeded, 2 failed)"
    assert rows["Failed copies"] == "1 (exit 3), 3 (exit 5)"
    # Cloud Run's own line about each failed exit is a notice, named by task, never a copy's output.
    assert "opsctl: Cloud Run (task 1): Container called exit(3).\n" in done.stderr
    assert "opsctl: Cloud Run (task 3): Container called exit(5).\n" in done.stderr
    assert relayed(done.stderr) == expected(4, 3)


def test_a_copy_killed_by_a_signal_reports_128_plus_n_as_a_single_task_does(fake: FakeGcp, project: Path) -> None:
    """README (Fan-out, Exit code): on Cloud Run the attempt reports the signal, so a killed copy's code is 128 + n."""

    def task(env: Mapping[str, str]) -> Script:
        i = int(env["CLOUD_RUN_TASK_INDEX"])
        return Script(start_after=0.1, run_for=0.4, exit_codes=(1,) if i == 1 else (0,), term_signal=9 if i == 1 else 0)

    fake.script(Script(behaviour=task))
    done = opsctl(fake, project, "run", "staging", "reindex", "--tasks", "3", "-o", "json")
    assert done.code == 137, done.output
    doc = json.loads(done.stdout)
    assert [(t["status"], t["exit_code"]) for t in doc["tasks"]] == [
        ("succeeded", 0),
        ("failed", 137),
        ("succeeded", 0),
    ]


def test_json_lists_every_copy_of_a_failed_run(fake: FakeGcp, project: Path) -> None:
    fake.script(shards(codes={2: 9}))
    done = opsctl(fake, project, "run", "staging", "reindex", "--tasks", "3", "-o", "json")
    assert done.code == 9, done.output
    doc = json.loads(done.stdout)
    short = fake.executions[0].short
    assert [(t["index"], t["run"], t["status"], t["exit_code"]) for t in doc["tasks"]] == [
        (0, f"{short}-task0", "succeeded", 0),
        (1, f"{short}-task1", "succeeded", 0),
        (2, f"{short}-task2", "failed", 9),
    ]
    assert doc["tasks"][2]["reason"] == "Container terminated with exit code 9."
    assert doc["result"] == {"ok": True, "shard": 2}  # the copy whose exit code the run reports


# -- stop every copy: SIGTERM, --timeout, opsctl stop ----------------------------------------------------------


def _cancelled_everywhere(fake: FakeGcp) -> None:
    assert fake.calls["CancelExecution"] == 1
    (execution,) = fake.executions
    assert execution.cancelled_at is not None
    after = fake.clock() + 60
    assert [execution.task_state(k, after) for k in range(execution.task_count)] == ["cancelled"] * 6


def test_sigterm_cancels_the_one_execution_and_every_task(fake: FakeGcp, project: Path) -> None:
    job(fake).parallelism = 4  # two tasks still wait for a slot when the cancel comes: they are cancelled too
    fake.script(shards(run_for=None))
    proc = start_cli("run", "staging", "reindex", "--tasks", "6", "-o", "json", cwd=project, env=cli_env(fake))
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("[3] shard 3"):  # the fourth copy runs
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    _cancelled_everywhere(fake)
    doc = json.loads(out)
    assert doc["status"] == "terminated"
    assert [(t["status"], t["exit_code"], t["reason"]) for t in doc["tasks"]] == [
        ("failed", None, "the execution was cancelled")
    ] * 6


def test_timeout_cancels_the_one_execution(fake: FakeGcp, project: Path) -> None:
    fake.script(shards(run_for=None))
    done = opsctl(fake, project, "run", "staging", "reindex", "--tasks", "6", "--timeout", "2s")
    assert done.code == 124, done.output
    _cancelled_everywhere(fake)
    rows = {k: v.strip() for k, _, v in (line.partition("  ") for line in done.stdout.splitlines())}
    assert (rows["Status"], rows["Copies"]) == ("timed out", "6 (6 failed)")


def test_stop_wait_logs_and_history_work_on_the_whole_run(fake: FakeGcp, project: Path) -> None:
    fake.script(shards(n_lines=20, run_for=None))
    detached = opsctl(fake, project, "run", "staging", "reindex", "--tasks", "6", "--detach", "-o", "json")
    assert detached.code == 0, detached.output
    run = json.loads(detached.stdout)["run"]
    history = json.loads(opsctl(fake, project, "history", "staging", "-o", "json").stdout)
    assert [(r["run"], r["status"]) for r in history if r["run"] == run] == [(run, "running")]
    stopped = opsctl(fake, project, "stop", "staging", run)
    assert stopped.code == 0, stopped.output
    _cancelled_everywhere(fake)
    waited = opsctl(fake, project, "wait", "staging", run, "-o", "json")  # a fresh process: no memory of the run
    doc = json.loads(waited.stdout)
    assert (waited.code, doc["status"], len(doc["tasks"])) == (69, "stopped without exit code", 6), waited.output
    assert relayed(waited.stderr) == expected(6, 20)
    logs = opsctl(fake, project, "logs", "staging", run)
    assert Counter(logs.stdout.splitlines()) == relayed(waited.stderr)


def test_wait_reattaches_to_every_copy(fake: FakeGcp, project: Path) -> None:
    fake.script(shards(n_lines=10, codes={4: 2}, run_for=1.5, start_after=0.5))
    detached = opsctl(fake, project, "run", "staging", "reindex", "--tasks", "5", "--detach", "-o", "json")
    run = json.loads(detached.stdout)["run"]
    waited = opsctl(fake, project, "wait", "staging", run, "-o", "json")
    assert waited.code == 2, waited.output
    assert relayed(waited.stderr) == expected(5, 10)
    doc = json.loads(waited.stdout)
    assert [(t["index"], t["exit_code"]) for t in doc["tasks"]] == [(0, 0), (1, 0), (2, 0), (3, 0), (4, 2)]
    assert doc["tasks"][4]["result"] == {"ok": True, "shard": 4}


# -- launch: at most one execution, --parallelism, --dry-run --------------------------------------------------


def test_an_ambiguous_run_job_never_makes_a_second_execution(fake: FakeGcp, project: Path) -> None:
    """RunJob took effect but its answer was lost: opsctl finds the execution by OPSCTL_RUN_ID (no second one)."""
    fake.fail("RunJob", grpc.StatusCode.UNAVAILABLE, after=True)
    fake.script(shards())
    done = opsctl(fake, project, "run", "staging", "reindex", "--tasks", "4", "-o", "json")
    assert done.code == 0, done.output
    (execution,) = fake.executions
    assert execution.task_count == 4 and fake.calls["RunJob"] == 1
    assert json.loads(done.stdout)["run"] == execution.short
    assert relayed(done.stderr) == expected(4, 3)


def test_parallelism_other_than_the_jobs_is_refused_before_run_job(fake: FakeGcp, project: Path) -> None:
    job(fake).parallelism = 2
    done = opsctl(fake, project, "run", "staging", "reindex", "--tasks", "4", "--parallelism", "3")
    assert done.code == 2, done.output
    assert done.stderr == (
        f"opsctl: error: --parallelism 3: Cloud Run job '{JOB}' runs 2 tasks at a time (its parallelism: 2) and an "
        "execution cannot change that — leave --parallelism out, or set parallelism = 3 on the job (variable "
        "`parallelism` of infra/terraform/modules/cloud-run-admin-job)\n"
    )
    assert fake.calls["RunJob"] == 0 and fake.executions == []


def test_parallelism_equal_to_the_jobs_runs_at_most_that_many_at_once(fake: FakeGcp, project: Path) -> None:
    job(fake).parallelism = 2
    fake.script(shards())
    plan = opsctl(fake, project, "run", "staging", "reindex", "--tasks", "5", "--parallelism", "2", "--dry-run")
    assert plan.code == 0, plan.output
    shown = json.loads(plan.stdout)
    assert (shown["request"]["request"]["overrides"]["task_count"], shown["request"]["job_parallelism"]) == (5, 2)
    done = opsctl(fake, project, "run", "staging", "reindex", "--tasks", "5", "--parallelism", "2")
    assert done.code == 0, done.output
    (execution,) = fake.executions
    spans = [(execution.task_runs_from(k), execution.task_end(k)) for k in range(5)]
    for t, _ in spans:
        assert sum(1 for s, e in spans if e is not None and s <= t < e) <= 2
    assert relayed(done.stderr) == expected(5, 3)


# -- in-process: copies on each line, the guard, the Cloud Logging budget ------------------------------------


def test_each_line_names_its_copy_once_polling(polling: CloudRunProvider, fake: FakeGcp) -> None:
    """No live tail: list reads page through every task's lines, each once, each with its copy."""
    fake.script(shards(n_lines=300, run_for=0.8))
    job(fake).max_retries = 0
    spec = replace(make_spec(None, env_name="staging", run_id="fan-poll"), tasks=4)
    seen = RecordingObserver()
    result = Runner(polling, spec, seen, retry=FAST_RETRY, timing=polling.timing.scaled(0.05)).run()
    assert result.exit_status == 0
    assert Counter(seen.messages) == expected(4, 300)
    assert {line.copy for line in seen.lines} == {0, 1, 2, 3}


def test_the_guard_and_history_see_one_run(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(shards(run_for=None, start_after=0))
    ref = provider.launch(replace(make_spec(None, env_name="staging", task="reindex", run_id="fan-guard"), tasks=7))
    assert [r.id for r in provider.active_runs("staging", "reindex")] == [ref.id]
    assert [r.ref.id for r in provider.recent_runs("staging", 10)] == [ref.id]
    status = provider.poll(ref)
    assert (status.state, status.copies) == (State.RUNNING, ())  # counts only while it runs: no ListTasks
    assert status.raw == "running (7 running of 7 tasks)"
    assert fake.calls["ListTasks"] == 0


@pytest.mark.parametrize("tail", [False, True], ids=["polling", "live tail"])
def test_fifty_copies_keep_the_cloud_logging_budget(tail: bool) -> None:
    """50 tasks printing for 3 minutes (fake time): every line once, ≤ 12 list calls in any minute, one tail."""
    clock = ManualClock()
    fake = FakeGcp(clock)
    fake.world.add_job(JOB, max_retries=0)

    def task(env: Mapping[str, str]) -> Script:
        i = int(env["CLOUD_RUN_TASK_INDEX"])
        return Script(start_after=2, run_for=180, lines=lines([f"copy {i} tick {k}" for k in range(36)], every=5))

    fake.script(Script(behaviour=task))
    provider = CloudRunProvider(staging(fake), connect(fake.address), tail=tail)
    seen = RecordingObserver()
    try:
        spec = replace(make_spec(None, env_name="staging", run_id="fan-budget"), tasks=50)
        result = Runner(provider, spec, seen, clock=clock, sleep=clock.sleep, retry=FAST_RETRY).run()
    finally:
        provider.close()
        fake.stop()
    assert result.exit_status == 0
    assert Counter(seen.messages) == Counter(f"[{i}] copy {i} tick {k}" for i in range(50) for k in range(36))
    assert fake.per_minute("ListLogEntries") <= 12
    assert fake.calls["TailLogEntries"] == (1 if tail else 0)
    assert fake.calls["ListTasks"] == 1  # once, at the end: never per copy per poll
    assert fake.calls["RunJob"] == 1
