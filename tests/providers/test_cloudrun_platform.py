"""Cloud Run's own lines are not the task's output, and a run ends once the last line is in (issue 14): against the
fake's varlog/system entries (`Container called exit(N).` after each attempt), ingestion delay, retries and several
tasks per execution, through the real clients and the real Runner."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import grpc
import pytest

from opsctl.model import Outcome
from opsctl.providers.cloudrun import CloudRunProvider
from opsctl.providers.cloudrun.clients import connect
from opsctl.runner import Runner
from tests.contract import FAST_RETRY, RecordingObserver
from tests.fakes.gcp import FakeGcp, Line, ManualClock, Script, lines
from tests.fakes.gcp.harness import JOB, RUN_ID, run, spec, staging

pytest_plugins = ("tests.fakes.gcp.fixtures",)
OOM = (
    "Memory limit of 512 MiB exceeded with 530 MiB used. Consider increasing the memory limit, see "
    "https://cloud.google.com/run/docs/configuring/memory-limits"
)


def test_platform_lines_are_notices_never_the_tasks_lines_or_result(provider: CloudRunProvider, fake: FakeGcp) -> None:
    attempt = [Line(0.0, "seeding"), Line(0.05, OOM, stream="varlog/system"), Line(0.06, '{"ok": true}')]
    fake.script(Script(start_after=0.1, run_for=0.2, exit_codes=(137, 0), lines=attempt))
    result, seen = run(provider)
    assert (result.outcome, result.exit_status) == (Outcome.SUCCEEDED, 0)
    assert seen.messages == ["seeding", '{"ok":true}'] * 2  # both attempts' own lines, nothing of Cloud Run's
    assert result.result == {"ok": True}
    platform = [n for n in seen.notices if n.startswith("Cloud Run (")]
    assert platform == [
        f"Cloud Run (task 0): {OOM}",
        "Cloud Run (task 0): Container called exit(137).",
        f"Cloud Run (task 0, attempt 2): {OOM}",
    ]  # a clean exit is no news
    assert ("attempts", "2 (a failed task is retried up to 3 times)") in result.details


def test_a_json_line_that_looks_like_a_platform_line_is_still_the_tasks(
    provider: CloudRunProvider, fake: FakeGcp
) -> None:
    fake.script(Script(start_after=0.1, run_for=0.2, lines=lines(["Container called exit(9).", '{"ok":true,"n":3}'])))
    result, seen = run(provider)
    assert seen.messages == ["Container called exit(9).", '{"n":3,"ok":true}']  # 3.0 in the Struct, shown as 3
    assert result.result == {"ok": True, "n": 3}
    assert not [n for n in seen.notices if n.startswith("Cloud Run (")]


@pytest.fixture
def manual() -> Iterator[FakeGcp]:
    server = FakeGcp(ManualClock())
    server.world.add_job(JOB)
    server.world.ingestion_delay_s = 1.5
    yield server
    server.stop()


def watch(fake: FakeGcp, script: Script) -> tuple[float, RecordingObserver, Outcome]:
    """Run on the fake's manual clock with the provider's real timing; how long after the execution completed the
    runner returned (fake seconds), what it saw, how it ended."""
    assert isinstance(fake.clock, ManualClock)
    clock = fake.clock
    fake.script(script)
    provider = CloudRunProvider(staging(fake), connect(fake.address))
    seen = RecordingObserver()
    try:
        result = Runner(provider, spec(), seen, clock=clock, sleep=clock.sleep, retry=FAST_RETRY).run()
    finally:
        provider.close()
    done, _ = fake.executions[-1].done_at()
    assert done is not None
    return clock() - done, seen, result.outcome


def test_the_drain_ends_when_every_tasks_exit_entry_is_in(manual: FakeGcp) -> None:
    printed = lines([f"line {i}" for i in range(200)], every=0.02)
    after, seen, outcome = watch(manual, Script(start_after=1.0, run_for=4.0, lines=printed))
    assert outcome is Outcome.SUCCEEDED
    assert seen.messages == [f"line {i}" for i in range(200)]  # every line, though each lands 1.5 s late
    # The exit entry lands 1.5 s after the end: opsctl returns within one status poll (2 s) of that at most,
    # not after a quiet window of 6 s.
    assert 1.5 <= after <= 1.5 + CloudRunProvider.timing.fast_poll_s + 0.5


def test_an_exit_entry_listed_later_than_the_quiet_window_is_still_waited_for(manual: FakeGcp) -> None:
    # Cloud Logging documents no bound on its ingestion delay. With a delay longer than the 6 s quiet window, the
    # drain used to end on that window and leave the last lines behind (CI: 3 of 103 lost at a delay equal to it).
    manual.world.ingestion_delay_s = 10.0
    printed = lines([f"line {i}" for i in range(50)], every=0.02)
    after, seen, outcome = watch(manual, Script(start_after=1.0, run_for=2.0, lines=printed))
    assert outcome is Outcome.SUCCEEDED
    assert seen.messages == [f"line {i}" for i in range(50)]
    assert not [n for n in seen.notices if n.startswith("stopped reading")]
    # Nothing came through the tail while the run lasted, so the drain lists: one read every 6 s (the quota).
    assert 10.0 <= after <= 10.0 + CloudRunProvider.timing.drain_settle_s + 0.5


def test_an_exit_entry_that_never_comes_ends_the_drain_at_its_bound_and_says_so(manual: FakeGcp) -> None:
    # An exclusion filter on run.googleapis.com/varlog/system drops every exit entry: after 60 s opsctl stops
    # waiting for one, with a notice, the task's lines all relayed and its exit code from the execution.
    manual.world.system_log = False
    after, seen, outcome = watch(manual, Script(start_after=1.0, run_for=2.0, lines=lines(["working"])))
    assert outcome is Outcome.SUCCEEDED and seen.messages == ["working"]
    limit = CloudRunProvider.timing.drain_max_s
    assert f"stopped reading logs {limit:g}s after the run ended" in seen.notices
    assert limit <= after <= limit + CloudRunProvider.timing.slow_poll_s


def test_without_an_exit_entry_the_drain_falls_back_to_a_quiet_window(manual: FakeGcp) -> None:
    killed = Script(start_after=1.0, run_for=2.0, exit_codes=(1,), term_signal=9, lines=lines(["working"]))
    manual.world.jobs[f"projects/{manual.world.project}/locations/{manual.world.region}/jobs/{JOB}"].max_retries = 0
    after, seen, outcome = watch(manual, killed)
    assert outcome is Outcome.FAILED and seen.messages == ["working"]
    window = CloudRunProvider.timing.drain_settle_s * (CloudRunProvider.timing.drain_quiet_reads - 1)
    assert window <= after <= CloudRunProvider.timing.drain_max_s + CloudRunProvider.timing.slow_poll_s


def test_several_tasks_each_end_with_their_own_exit_entry(manual: FakeGcp) -> None:
    """`opsctl wait` on an execution of three tasks (started with gcloud … --tasks 3): each task's exit entry."""

    def per_task(env: Mapping[str, str]) -> Script:
        index = int(env["CLOUD_RUN_TASK_INDEX"])
        return Script(start_after=1.0, run_for=2.0 + index, lines=[Line(0.1, f"task {index}")])

    clock = manual.clock
    assert isinstance(clock, ManualClock)
    manual.script(Script(behaviour=per_task))
    job = next(iter(manual.world.jobs.values()))
    execution = manual.world.run(job, "admin", {"OPSCTL_RUN_ID": RUN_ID}, None, 600, task_count=3)
    provider = CloudRunProvider(staging(manual), connect(manual.address))
    seen = RecordingObserver()
    try:
        runner = Runner(provider, spec(), seen, clock=clock, sleep=clock.sleep, retry=FAST_RETRY)
        result = runner.watch(provider.ref(execution.short))
    finally:
        provider.close()
    done, _ = execution.done_at()
    assert done is not None and result.outcome is Outcome.SUCCEEDED
    assert sorted(seen.messages) == ["[0] task 0", "[1] task 1", "[2] task 2"]  # a run of 3 copies (#17)
    assert [(c.index, c.exit_code) for c in result.tasks] == [(0, 0), (1, 0), (2, 0)]
    assert clock() - done <= 1.5 + CloudRunProvider.timing.fast_poll_s + 0.5


def test_a_duplicate_that_appears_after_the_find_window_is_cancelled_and_said(
    provider: CloudRunProvider, fake: FakeGcp
) -> None:
    """RunJob's answer is lost, and the execution shows up in the listing only after opsctl's find window: opsctl
    runs the job again, then finds the first execution carrying its OPSCTL_RUN_ID, cancels it and says so."""
    fake.world.list_lag_s = 3.0  # longer than the scaled 30 s window (1.5 s)
    fake.fail("RunJob", grpc.StatusCode.UNAVAILABLE, after=True)
    fake.script(Script(start_after=0.1, run_for=None), Script(start_after=0.1, run_for=2.5, lines=lines(["ok"])))
    result, seen = run(provider)
    assert (result.outcome, result.exit_status, seen.messages) == (Outcome.SUCCEEDED, 0, ["ok"])
    first, second = fake.executions
    assert result.run.id == second.short
    assert first.cancelled_at is not None and second.cancelled_at is None
    assert (
        f"run {first.short} also carries OPSCTL_RUN_ID {RUN_ID} (a retried launch whose first attempt took effect "
        f"late started it); cancelling it — run {second.short} is the one reported here"
    ) in seen.notices


@pytest.mark.parametrize(
    ("method", "after"),
    [
        ("GetJob", False),
        ("RunJob", False),
        ("RunJob", True),  # created, answer lost: the lookup afterwards finds it
        ("ListExecutions", False),  # the lookup after an ambiguous RunJob
        ("GetExecution", False),
        ("ListTasks", False),
        ("ListLogEntries", False),
        ("TailLogEntries", False),
        ("CancelExecution", False),  # the stop on --timeout
    ],
)
def test_each_call_failing_in_turn_changes_nothing(
    provider: CloudRunProvider, fake: FakeGcp, method: str, after: bool
) -> None:
    """Each call Cloud Run opsctl makes answers UNAVAILABLE three times in a row: the same outcome, one execution,
    every line once and in order."""
    if method == "ListExecutions":
        fake.fail("RunJob", grpc.StatusCode.UNAVAILABLE, after=True)
    fake.fail(method, grpc.StatusCode.UNAVAILABLE, times=3, after=after)
    stops = method == "CancelExecution"
    printed = [f"line {i:03d}" for i in range(60)]
    fake.script(
        Script(start_after=0.1, run_for=None if stops else 0.4, exit_codes=(4,), lines=lines(printed, every=0.005))
    )
    result, seen = run(provider, timeout_s=1.0 if stops else None)
    assert (result.exit_status, len(fake.executions), seen.messages) == (124 if stops else 4, 1, printed)
    if (method, after) == ("RunJob", True):  # the first RunJob took effect: found, never run again
        assert (fake.calls["RunJob"], fake.calls["ListExecutions"] >= 1) == (1, True)
    elif method == "TailLogEntries":  # a failed tail is not retried at once: list reads carry on
        assert fake.calls["TailLogEntries"] >= 1 and fake.calls["ListLogEntries"] >= 1
    else:
        assert fake.calls[method] >= 4
        assert sum("retrying in" in n for n in seen.notices) >= 3


def test_a_trickle_of_late_lines_keeps_the_drain_within_the_list_budget(manual: FakeGcp) -> None:
    # Without the tail, every drain read is a ListLogEntries call (60 a minute per project, shared). Late lines
    # that become listable one per read used to make each read that found one followed by another at once (which
    # found nothing): two calls every 6 s, 21 in the drain's minute, not 12.
    manual.world.system_log = False  # no exit entry either: the drain goes on for its 60 s
    late = [Line(1.9, f"late {k}", delay=5.0 * k + 1) for k in range(12)]
    manual.script(Script(start_after=1.0, run_for=2.0, lines=late))
    provider = CloudRunProvider(staging(manual), connect(manual.address), tail=False)
    seen = RecordingObserver()
    clock = manual.clock
    assert isinstance(clock, ManualClock)
    try:
        result = Runner(provider, spec(), seen, clock=clock, sleep=clock.sleep, retry=FAST_RETRY).run()
    finally:
        provider.close()
    assert result.outcome is Outcome.SUCCEEDED
    assert seen.messages == [f"late {k}" for k in range(12)]
    assert manual.per_minute("ListLogEntries") <= 12


def test_waiting_on_a_run_that_ended_long_ago_does_not_wait_for_an_exit_entry(manual: FakeGcp) -> None:
    # `opsctl wait` two hours after the end, and the exit entry is not in the logs (an exclusion filter on
    # varlog/system, or the logs' retention): it is not on its way. It was waited for all the same: 60 s, 11 list
    # calls, and "stopped reading logs 60s after the run ended" of a run that ended two hours before.
    manual.world.system_log = False
    manual.world.ingestion_delay_s = 0.0
    manual.script(Script(start_after=1.0, run_for=2.0, lines=lines(["working"])))
    clock = manual.clock
    assert isinstance(clock, ManualClock)
    launcher = CloudRunProvider(staging(manual), connect(manual.address), tail=False)
    try:
        ref = launcher.launch(spec())
    finally:
        launcher.close()
    clock.sleep(7200.0)
    provider = CloudRunProvider(staging(manual), connect(manual.address))
    seen = RecordingObserver()
    start = clock()

    def now() -> datetime:
        return datetime.fromtimestamp(manual.world.wall_ns(clock()) / 1e9, UTC)

    try:
        info = provider.info(provider.ref(ref.id))
        runner = Runner(provider, spec(), seen, clock=clock, sleep=clock.sleep, now=now, retry=FAST_RETRY)
        result = runner.watch(info.ref, info.started_at)
    finally:
        provider.close()
    assert result.outcome is Outcome.SUCCEEDED and seen.messages == ["working"]
    assert not [n for n in seen.notices if n.startswith("stopped reading")]
    assert clock() - start <= CloudRunProvider.timing.drain_settle_s * 2


def test_a_local_clock_ahead_of_the_clouds_does_not_cut_short_the_wait_for_a_run_seen_ending(manual: FakeGcp) -> None:
    # The run ended while opsctl watched it: its exit entry is on its way whatever this machine's clock says (here
    # 10 minutes ahead, so the end looks long past).
    manual.world.ingestion_delay_s = 10.0
    manual.script(Script(start_after=1.0, run_for=2.0, lines=lines([f"line {i}" for i in range(5)])))
    clock = manual.clock
    assert isinstance(clock, ManualClock)
    provider = CloudRunProvider(staging(manual), connect(manual.address))
    seen = RecordingObserver()

    def now() -> datetime:
        return datetime.fromtimestamp(manual.world.wall_ns(clock() + 600.0) / 1e9, UTC)

    try:
        result = Runner(provider, spec(), seen, clock=clock, sleep=clock.sleep, now=now, retry=FAST_RETRY).run()
    finally:
        provider.close()
    assert result.outcome is Outcome.SUCCEEDED
    assert seen.messages == [f"line {i}" for i in range(5)]
