"""Cloud Run logs through Cloud Logging (real google-cloud-logging client, gRPC fake): every line exactly
once and in order, with the live tail, with list polling, across tail failures; and the list-call budget."""

from __future__ import annotations

import grpc
import pytest

from opsctl.model import State, Timing
from opsctl.providers.cloudrun import CloudRunProvider
from opsctl.providers.cloudrun.clients import connect
from opsctl.providers.cloudrun.logs import NS, PAGE_SIZE, rfc3339
from opsctl.runner import Runner
from tests.contract import FAST_RETRY, RecordingObserver, assert_succeeded
from tests.fakes.gcp import FakeGcp, Line, ManualClock, Script, parse_filter
from tests.fakes.gcp.harness import (
    JOB,
    expect_all,
    numbered,
    run,
    spec,
    staging,
)

pytest_plugins = ("tests.fakes.gcp.fixtures",)  # the fake, provider and polling fixtures

# -- log completeness ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tail", [True, False], ids=["tail", "list"])
def test_10000_lines_exactly_once_in_order(fake: FakeGcp, tail: bool) -> None:
    fake.script(Script(start_after=0.1, run_for=1.0, lines=numbered(10_000)))
    p = CloudRunProvider(staging(fake), connect(fake.address), tail=tail)
    _, seen = run(p)
    p.close()
    expect_all(seen, 10_000)
    assert all('timestamp>="' in f for f in fake.list_filters + fake.tail_filters)
    assert fake.calls["TailLogEntries"] == (1 if tail else 0)


@pytest.mark.parametrize("delay", [0.3, 0.8], ids=["delay-as-quiet-window", "delay-over-quiet-window"])
@pytest.mark.parametrize("tail", [True, False], ids=["tail", "list"])
def test_late_lines_after_completion_are_drained(fake: FakeGcp, tail: bool, delay: float) -> None:
    # Cloud Logging lists every entry `delay` s after it was written, Cloud Run's exit entry too (issue 14: the
    # drain ends once that entry is read, so a line ingested later than the exit entry would be left behind). The
    # quiet window is 0.3 s here (6 s x 0.05): it must not end a drain whose exit entry is still due (CI lost the
    # last 3 lines at 0.3 s).
    fake.world.ingestion_delay_s = delay
    late = [Line(0.49 + i * 0.001, f"line {100 + i:06d}") for i in range(3)]
    fake.script(Script(start_after=0.1, run_for=0.5, lines=numbered(100, every=0.001) + late))
    p = CloudRunProvider(staging(fake), connect(fake.address), tail=tail)
    _, seen = run(p)
    p.close()
    expect_all(seen, 103)


def test_a_line_ingested_late_mid_run_still_comes_once_through_the_tail(
    provider: CloudRunProvider, fake: FakeGcp
) -> None:
    fake.script(Script(start_after=0.1, run_for=1.0, lines=[*numbered(10, every=0.05), Line(0.2, "slow", delay=0.5)]))
    _, seen = run(provider)
    assert sorted(seen.messages) == sorted([f"line {i:06d}" for i in range(10)] + ["slow"])


@pytest.mark.parametrize("fault", ["break", "suppress", "refused"])
def test_tail_failures_fall_back_to_list_reads_without_loss(
    provider: CloudRunProvider, fake: FakeGcp, fault: str
) -> None:
    if fault == "break":
        fake.tail_break_after = 2000
    elif fault == "suppress":
        fake.tail_suppress = 700
    else:
        fake.fail("TailLogEntries", grpc.StatusCode.PERMISSION_DENIED)
    fake.script(Script(start_after=0.1, run_for=1.0, lines=numbered(5000, every=0.0002)))
    result, seen = run(provider)
    assert sorted(seen.messages) == [f"line {i:06d}" for i in range(5000)]
    assert dict(result.details)["log source"].startswith("polling (the live tail failed")


def test_many_lines_with_one_timestamp_page_through_ties(polling: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(
        Script(start_after=0, run_for=0.01, lines=[Line(0.0, f"line {i:06d}") for i in range(2 * PAGE_SIZE + 1)])
    )
    ref = polling.launch(spec())
    while polling.poll(ref).state is not State.STOPPED:
        pass
    cursor, got = None, []
    for _ in range(10):
        page = polling.read_logs(ref, cursor)
        got += [line.message for line in page.lines]
        if page.cursor == cursor and not page.more:
            break
        cursor = page.cursor
    assert got == [f"line {i:06d}" for i in range(2 * PAGE_SIZE + 1)]


def test_an_unchanged_cursor_means_nothing_new(polling: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(start_after=0, run_for=0.01, lines=numbered(3)))
    ref = polling.launch(spec())
    while polling.poll(ref).state is not State.STOPPED:
        pass
    first = polling.read_logs(ref, None)
    again = polling.read_logs(ref, first.cursor)
    assert (again.lines, again.cursor, again.more) == ((), first.cursor, False)
    terms = parse_filter(fake.list_filters[-1])
    assert terms['labels."run.googleapis.com/execution_name"'] == ref.id
    assert terms["resource.labels.job_name"] == JOB


# -- the Cloud Logging budget, over minutes of fake time ---------------------------------------------


@pytest.mark.parametrize("tail", [True, False], ids=["tail", "list"])
def test_list_calls_stay_within_12_a_minute(tail: bool) -> None:
    clock = ManualClock()
    fake = FakeGcp(clock)
    fake.world.add_job(JOB)
    fake.script(Script(start_after=5, run_for=180, lines=numbered(3600, every=0.05)))
    p = CloudRunProvider(staging(fake), connect(fake.address), tail=tail)
    seen = RecordingObserver()
    try:
        result = Runner(p, spec(), seen, clock=clock, sleep=clock.sleep, retry=FAST_RETRY, timing=p.timing).run()
    finally:
        p.close()
        fake.stop()
    assert_succeeded(result)
    expect_all(seen, 3600)
    assert fake.per_minute("ListLogEntries") <= 12
    if tail:
        assert fake.calls["ListLogEntries"] <= 8  # the backlog before the tail took over, then the drain


def test_timing_keeps_log_reads_6s_apart() -> None:
    timing: Timing = CloudRunProvider.timing
    assert min(timing.log_poll_s, timing.log_fast_poll_s, timing.drain_settle_s) >= 6.0


def test_logs_of_an_execution_this_process_never_saw(provider: CloudRunProvider, fake: FakeGcp) -> None:
    fake.script(Script(start_after=0, run_for=0.01, lines=numbered(3)))
    ref = provider.launch(spec())
    while provider.poll(ref).state is not State.STOPPED:
        pass
    other = CloudRunProvider(staging(fake), connect(fake.address))
    page = other.read_logs(other.ref(ref.id), None)
    other.close()
    assert [line.message for line in page.lines] == ["line 000000", "line 000001", "line 000002"]
    assert fake.calls["TailLogEntries"] == 0  # a finished execution is read by listing, never tailed
    assert f'timestamp>="{rfc3339(fake.executions[0].created_ns - 60 * NS)}"' in fake.list_filters[-1]
