"""`--tasks N` on Cloud Run under adversity (#17): hostile task_index labels, tasks whose lines reach Cloud Logging
late, a job whose parallelism exceeds N. The real clients against the gRPC fake, the real Runner.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import grpc
import pytest

from opsctl.model import RunResult
from opsctl.providers.cloudrun import CloudRunProvider
from opsctl.runner import Runner
from tests.contract import FAST_RETRY, RecordingObserver, make_spec
from tests.fakes.gcp import FakeGcp, Script, lines

pytest_plugins = ("tests.fakes.gcp.fixtures",)  # the fake, provider and polling fixtures

TASK_INDEX = "run.googleapis.com/task_index"


def job(fake: FakeGcp) -> Any:
    """The fake's one job."""
    return next(iter(fake.world.jobs.values()))


def fan_out(provider: CloudRunProvider, n: int, **fields: Any) -> tuple[RunResult, RecordingObserver]:
    spec = replace(make_spec(None, env_name="staging", run_id="fan-hostile"), tasks=n, **fields)
    seen = RecordingObserver()
    result = Runner(provider, spec, seen, retry=FAST_RETRY, timing=provider.timing.scaled(0.05)).run()
    return result, seen


# A task can set its entries' labels itself: structured logging's `logging.googleapis.com/labels` (the fake merges
# them over Cloud Run's own, tests/fakes/gcp/payload.py), so a label value is any string the task chose.
@pytest.mark.parametrize(
    "label",
    ["", "abc", "-1", "3", "999999", "²", "9" * 5000],
    ids=["empty", "letters", "negative", "past-N", "huge", "superscript-digit", "5000-digits"],
)
def test_a_line_whose_task_index_label_is_unusable_is_shown_unprefixed_never_as_copy_0(
    provider: CloudRunProvider, fake: FakeGcp, label: str
) -> None:
    job(fake).max_retries = 0

    def task(env: Mapping[str, str]) -> Script:
        i = int(env["CLOUD_RUN_TASK_INDEX"])
        said = [f"copy {i} first"]
        if i == 1:
            said.append(json.dumps({"message": "relabelled", "logging.googleapis.com/labels": {TASK_INDEX: label}}))
        said.append(f"copy {i} last")
        return Script(start_after=0.1, run_for=0.4, lines=lines(said, every=0.01))

    fake.script(Script(behaviour=task))
    result, seen = fan_out(provider, 3)
    assert result.exit_status == 0
    # Not a valid index of this run's 3 tasks: said without a copy, rather than put in a copy's mouth.
    copies = [f"[{i}] copy {i} {w}" for i in range(3) for w in ("first", "last")]
    assert Counter(seen.messages) == Counter([*copies, "relabelled"])
    assert [line.copy for line in seen.lines if line.message == "relabelled"] == [None]


@pytest.mark.parametrize("tail", ["polling", "tail refused"])
def test_list_reads_keep_the_lines_of_a_task_that_cloud_logging_ingests_later_than_the_others(
    polling: CloudRunProvider, provider: CloudRunProvider, fake: FakeGcp, tail: str
) -> None:
    """Tasks run on different instances; Cloud Logging may list one's lines seconds after another's later ones
    ("late arriving log entries": googleapis `google/logging/v2/logging.proto`, TailLogEntriesRequest.buffer_window).
    List reads in timestamp order must not move past a task's lines before they are listable."""
    job(fake).max_retries = 0

    def task(env: Mapping[str, str]) -> Script:
        i = int(env["CLOUD_RUN_TASK_INDEX"])
        said = [f"copy {i} tick {k}" for k in range(40)]
        # Each task's own exit entry comes after its last line is listable (README: Finish when the last line is in).
        return Script(start_after=0.1, run_for=6.5, lines=lines(said, every=0.1, delay=1.0 * i))

    fake.script(Script(behaviour=task))
    if tail == "tail refused":
        fake.fail("TailLogEntries", grpc.StatusCode.PERMISSION_DENIED)  # no second tail: list reads from then on
    result, seen = fan_out(polling if tail == "polling" else provider, 3)
    assert result.exit_status == 0
    assert Counter(seen.messages) == Counter(f"[{i}] copy {i} tick {k}" for i in range(3) for k in range(40))


def test_parallelism_n_is_accepted_when_the_jobs_own_is_larger_than_n(
    provider: CloudRunProvider, fake: FakeGcp
) -> None:
    """A job of parallelism 10 runs an execution of 4 tasks 4 at a time: `--tasks 4 --parallelism 4` is what runs."""
    job(fake).max_retries = 0
    job(fake).parallelism = 10
    fake.script(Script(start_after=0.1, run_for=0.3, lines=lines(["done"])))
    result, seen = fan_out(provider, 4, parallelism=4)
    assert result.exit_status == 0
    assert Counter(seen.messages) == Counter(f"[{i}] done" for i in range(4))
    assert fake.run_requests[0].overrides.task_count == 4
    assert dict(result.details)["tasks"] == "4 succeeded of 4 tasks (parallelism 4)"
