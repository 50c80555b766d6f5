"""The Cloud Run + Cloud Logging fake models what the real APIs do (cloud-apis.md §11), seen through the real
google-cloud-run and google-cloud-logging clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.cloud import run_v2
from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
from google.cloud.logging_v2.services.logging_service_v2.transports import LoggingServiceV2GrpcTransport
from google.cloud.run_v2.services.executions.transports import ExecutionsGrpcTransport
from google.cloud.run_v2.services.jobs.transports import JobsGrpcTransport
from google.cloud.run_v2.services.tasks.transports import TasksGrpcTransport

from tests.fakes.gcp import FakeGcp, ManualClock, Script, lines
from tests.fakes.gcp.execution import Line

JOB = "quill-admin-staging"


class Clients:
    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.jobs = run_v2.JobsClient(transport=JobsGrpcTransport(channel=self.channel))
        self.executions = run_v2.ExecutionsClient(transport=ExecutionsGrpcTransport(channel=self.channel))
        self.tasks = run_v2.TasksClient(transport=TasksGrpcTransport(channel=self.channel))
        self.logging = LoggingServiceV2Client(transport=LoggingServiceV2GrpcTransport(channel=self.channel))


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    server = FakeGcp(ManualClock())
    server.world.add_job(JOB)
    yield server
    server.stop()


@pytest.fixture
def clients(fake: FakeGcp) -> Iterator[Clients]:
    made = Clients(fake.address)
    yield made
    made.channel.close()


def job_name(fake: FakeGcp) -> str:
    return f"projects/{fake.world.project}/locations/{fake.world.region}/jobs/{JOB}"


def run(clients: Clients, fake: FakeGcp, task_count: int = 0, **env: str) -> Any:
    overrides = run_v2.RunJobRequest.Overrides(
        container_overrides=[
            run_v2.RunJobRequest.Overrides.ContainerOverride(
                env=[run_v2.EnvVar(name=k, value=v) for k, v in env.items()]
            )
        ],
        task_count=task_count,
    )
    return clients.jobs.run_job(request=run_v2.RunJobRequest(name=job_name(fake), overrides=overrides))


def entries(clients: Clients, fake: FakeGcp, short: str) -> list[Any]:
    flt = (
        f'resource.type="cloud_run_job" AND resource.labels.job_name="{JOB}" AND '
        f'resource.labels.location="{fake.world.region}" AND labels."run.googleapis.com/execution_name"="{short}"'
    )
    pager = clients.logging.list_log_entries(
        request={"resource_names": [f"projects/{fake.world.project}"], "filter": flt, "page_size": 1000}
    )
    return list(pager)


def listed(clients: Clients, fake: FakeGcp) -> list[str]:
    return [e.name.rsplit("/", 1)[-1] for e in clients.executions.list_executions(parent=job_name(fake))]


def test_run_job_has_no_idempotency_and_names_the_execution_on_the_first_reply(fake: FakeGcp, clients: Clients) -> None:
    first = run(clients, fake, OPSCTL_RUN_ID="r1")
    second = run(clients, fake, OPSCTL_RUN_ID="r1")
    assert first.metadata.name.endswith("/executions/quill-admin-staging-00001")
    assert second.metadata.name.endswith("/executions/quill-admin-staging-00002")
    assert not first.done()
    assert [e.env["OPSCTL_RUN_ID"] for e in fake.executions] == ["r1", "r1"]


def test_the_executions_listing_lags_the_run_call_but_get_does_not(fake: FakeGcp, clients: Clients) -> None:
    fake.world.list_lag_s = 2.0
    op = run(clients, fake)
    assert listed(clients, fake) == []
    assert clients.executions.get_execution(name=op.metadata.name).name == op.metadata.name
    fake.clock.sleep(2.0)
    assert listed(clients, fake) == ["quill-admin-staging-00001"]


def test_a_json_line_becomes_a_struct_of_doubles_without_its_key_order(fake: FakeGcp, clients: Clients) -> None:
    text = '{"z": 1, "ok": true, "count": 3, "big": 9007199254740993, "severity": "WARNING"}'
    fake.script(Script(start_after=0, run_for=1, lines=lines([text, "plain"])))
    op = run(clients, fake)
    fake.clock.sleep(2)
    found = entries(clients, fake, op.metadata.name.rsplit("/", 1)[-1])
    payload = type(found[0]).pb(found[0]).json_payload
    assert sorted(payload.fields) == ["big", "count", "ok", "z"]  # a map: the order written is not kept
    assert payload.fields["count"].number_value == 3.0
    assert payload.fields["big"].number_value == 9007199254740992.0  # a double: past 2**53, precision is lost
    assert found[0].severity == 400  # WARNING: a LogEntry field now, no longer a key of the payload
    assert found[1].text_payload == "plain"


def test_after_each_attempt_cloud_run_logs_the_exit_to_varlog_system(fake: FakeGcp, clients: Clients) -> None:
    fake.script(Script(start_after=0, run_for=1, exit_codes=(3, 0), lines=lines(["hello"])))
    op = run(clients, fake)
    fake.clock.sleep(2.5)
    found = entries(clients, fake, op.metadata.name.rsplit("/", 1)[-1])
    seen = [(e.log_name.rsplit("/", 1)[-1], e.labels["run.googleapis.com/task_attempt"], e.text_payload) for e in found]
    assert seen == [
        ("run.googleapis.com%2Fstdout", "0", "hello"),
        ("run.googleapis.com%2Fvarlog%2Fsystem", "0", "Container called exit(3)."),
        ("run.googleapis.com%2Fstdout", "1", "hello"),
        ("run.googleapis.com%2Fvarlog%2Fsystem", "1", "Container called exit(0)."),
    ]
    execution = clients.executions.get_execution(name=op.metadata.name)
    assert (execution.succeeded_count, execution.retried_count) == (1, 1)


def test_max_retries_defaults_to_three(fake: FakeGcp, clients: Clients) -> None:
    fake.script(Script(start_after=0, run_for=1, exit_codes=(7,) * 5))
    op = run(clients, fake)
    fake.clock.sleep(10)
    execution = clients.executions.get_execution(name=op.metadata.name)
    (task,) = clients.tasks.list_tasks(parent=op.metadata.name)
    assert (execution.failed_count, execution.retried_count, task.retried, task.max_retries) == (1, 3, 3, 3)
    exits = [e.text_payload for e in entries(clients, fake, op.metadata.name.rsplit("/", 1)[-1])]
    assert exits == ["Container called exit(7)."] * 4


def test_entries_are_listed_only_after_the_ingestion_delay(fake: FakeGcp, clients: Clients) -> None:
    fake.world.ingestion_delay_s = 1.5
    fake.script(Script(start_after=0, run_for=1, lines=lines(["one"])))
    op = run(clients, fake)
    short = op.metadata.name.rsplit("/", 1)[-1]
    fake.clock.sleep(1.4)
    assert entries(clients, fake, short) == []
    fake.clock.sleep(0.2)
    assert [e.text_payload for e in entries(clients, fake, short)] == ["one"]
    fake.clock.sleep(1.0)
    assert [e.text_payload for e in entries(clients, fake, short)][-1] == "Container called exit(0)."


def test_several_tasks_per_execution(fake: FakeGcp, clients: Clients) -> None:
    def per_task(env: Any) -> Script:
        index = int(env["CLOUD_RUN_TASK_INDEX"])
        return Script(start_after=0, run_for=1 + index, exit_codes=(index,), lines=[Line(0.1, f"task {index}")])

    fake.world.jobs[job_name(fake)].max_retries = 0
    fake.script(Script(behaviour=per_task))
    op = run(clients, fake, task_count=3)
    fake.clock.sleep(2.5)
    execution = clients.executions.get_execution(name=op.metadata.name)
    assert (execution.task_count, execution.succeeded_count, execution.failed_count, execution.running_count) == (
        3,
        1,
        1,
        1,
    )
    fake.clock.sleep(1)
    execution = clients.executions.get_execution(name=op.metadata.name)
    assert execution.completion_time is not None
    assert execution.conditions[0].message == "Task quill-admin-staging-00001-task1 failed with exit code 1."
    tasks = list(clients.tasks.list_tasks(parent=op.metadata.name))
    assert [(t.index, t.last_attempt_result.exit_code) for t in tasks] == [(0, 0), (1, 1), (2, 2)]
    found = entries(clients, fake, op.metadata.name.rsplit("/", 1)[-1])
    mine = {(e.labels["run.googleapis.com/task_index"], e.text_payload) for e in found}
    assert mine == {
        ("0", "task 0"),
        ("1", "task 1"),
        ("2", "task 2"),
        ("0", "Container called exit(0)."),
        ("1", "Container called exit(1)."),
        ("2", "Container called exit(2)."),
    }
