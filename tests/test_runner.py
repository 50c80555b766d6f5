"""The runner against a scripted provider and a fake clock: timing, stops, drains, retries."""

from __future__ import annotations

import signal

import pytest

from opsctl.cancel import CancelToken
from opsctl.errors import LaunchError, TemporaryFailure
from opsctl.model import Outcome
from opsctl.runner import RetryPolicy, Runner
from opsctl.untrusted import parse_result_line
from tests.contract import RecordingObserver, make_spec
from tests.fakes.scripted import FakeClock, ScriptedProvider

RETRY = RetryPolicy(base_s=0.1, max_wait_s=1.0, max_s=1000.0, attempts=6)


def runner_for(provider: ScriptedProvider, clock: FakeClock, **kw: object) -> tuple[Runner, RecordingObserver]:
    observer = RecordingObserver()
    spec = kw.pop("spec", None) or make_spec(("task",), secrets=frozenset({"hunter2"}))
    runner = Runner(provider, spec, observer, clock=clock, sleep=clock.sleep, retry=RETRY, **kw)  # type: ignore[arg-type]
    return runner, observer


def test_success_relays_every_line_once_in_order_including_late_ones() -> None:
    clock = FakeClock()
    lines = [(0.6 + i * 0.001, f"line {i}") for i in range(2500)] + [(3.5, "late 1"), (4.2, "late 2")]
    provider = ScriptedProvider(clock, finish_at=3.0, lines=lines)
    runner, observer = runner_for(provider, clock)
    result = runner.run()
    assert result.outcome is Outcome.SUCCEEDED and result.exit_status == 0
    assert observer.messages == [m for _, m in lines]


def test_nonzero_exit_code_passes_through() -> None:
    clock = FakeClock()
    runner, _ = runner_for(ScriptedProvider(clock, exit_code=3), clock)
    result = runner.run()
    assert (result.outcome, result.exit_code, result.exit_status) == (Outcome.FAILED, 3, 3)


def test_stopped_without_exit_code_is_69_with_reason() -> None:
    clock = FakeClock()
    runner, _ = runner_for(ScriptedProvider(clock, exit_code=None), clock)
    result = runner.run()
    assert result.outcome is Outcome.NO_EXIT_CODE and result.exit_status == 69
    assert result.reason == "TaskFailedToStart"


def test_timeout_stops_the_run_and_exits_124() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(clock, finish_at=None)
    runner, observer = runner_for(provider, clock, timeout_s=30.0)
    result = runner.run()
    assert result.outcome is Outcome.TIMED_OUT and result.exit_status == 124
    assert len(provider.stops) == 1 and "--timeout 30s expired" in provider.stops[0]
    assert 30.0 <= provider.stop_requested_at <= 30.01  # type: ignore[operator]
    assert any("timeout of 30s expired" in n for n in observer.notices)


@pytest.mark.parametrize(
    ("signum", "outcome", "code"),
    [(signal.SIGINT, Outcome.INTERRUPTED, 130), (signal.SIGTERM, Outcome.TERMINATED, 143)],
)
def test_signal_stops_the_run_at_once(signum: int, outcome: Outcome, code: int) -> None:
    clock = FakeClock()
    provider = ScriptedProvider(clock, finish_at=None)
    cancel = CancelToken()
    runner, observer = runner_for(provider, clock, cancel=cancel)
    observer.on_status = lambda s: cancel.request(signum) if clock.now >= 7 and not cancel.requested else None
    result = runner.run()
    assert result.outcome is outcome and result.exit_status == code
    assert len(provider.stops) == 1 and "by tester" in provider.stops[0]
    # the stop went out on the first tick after the signal (no waiting for the next poll interval)
    assert provider.stop_requested_at is not None and provider.stop_requested_at - 7 < 1.0


def test_second_ctrl_c_within_the_grace_window_leaves_the_run_running() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(clock, finish_at=None)
    cancel = CancelToken()
    runner, observer = runner_for(provider, clock, cancel=cancel, interrupt_grace_s=2.0)

    def press_twice(_: object) -> None:
        if clock.now >= 2 and not cancel.requested:
            cancel.request(signal.SIGINT)

    observer.on_status = press_twice
    original_sleep = clock.sleep

    def sleep(seconds: float) -> None:
        original_sleep(seconds)
        if len(cancel.signals) == 1 and any("press Ctrl-C again" in n for n in observer.notices):
            cancel.request(signal.SIGINT)

    runner._sleep = sleep
    result = runner.run()
    assert result.outcome is Outcome.LEFT_RUNNING and result.exit_status == 130
    assert provider.stops == []
    assert any("opsctl wait test run-1" in n for n in observer.notices)


def test_a_sigterm_within_the_grace_window_stops_the_run_it_never_leaves_it_running() -> None:
    # Only a second Ctrl-C leaves the run running. A SIGTERM (or SIGHUP: the terminal was closed, which the handler
    # records as SIGTERM), or stderr going away, in the 2 s after a first Ctrl-C counted as that second Ctrl-C: the
    # run was left running, unseen, and opsctl exited — what a hangup must never do (README: 143, stopped).
    clock = FakeClock()
    provider = ScriptedProvider(clock, finish_at=None)
    cancel = CancelToken()
    observer = RecordingObserver()

    def press_once(_: object) -> None:
        if clock.now >= 2 and not cancel.requested:
            cancel.request(signal.SIGINT)

    observer.on_status = press_once

    def sleep(seconds: float) -> None:  # the test's clock; in the grace, the second signal arrives
        clock.sleep(seconds)
        if len(cancel.signals) == 1 and any("press Ctrl-C again" in n for n in observer.notices):
            cancel.request(signal.SIGTERM)  # what cancel_on_signals and HangupObserver record for these

    spec = make_spec(("task",))
    runner = Runner(
        provider,  # type: ignore[arg-type]
        spec,
        observer,
        clock=clock,
        sleep=sleep,
        retry=RETRY,
        cancel=cancel,
        interrupt_grace_s=2.0,
    )
    result = runner.run()
    assert result.outcome in (Outcome.INTERRUPTED, Outcome.TERMINATED)
    assert len(provider.stops) == 1
    assert not any("left run" in n for n in observer.notices)
    assert not any("had not stopped yet" in n for n in observer.notices)  # it waited for the stop, as for one signal


def test_single_ctrl_c_with_grace_window_still_stops_within_the_window() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(clock, finish_at=None)
    cancel = CancelToken()
    runner, observer = runner_for(provider, clock, cancel=cancel, interrupt_grace_s=2.0)
    observer.on_status = lambda s: cancel.request(signal.SIGINT) if clock.now >= 2 and not cancel.requested else None
    result = runner.run()
    assert result.outcome is Outcome.INTERRUPTED and len(provider.stops) == 1
    assert provider.stop_requested_at is not None and provider.stop_requested_at < 2 + 2.0 + 1.0


def test_throttled_calls_are_retried_and_the_run_still_ends_right() -> None:
    clock = FakeClock()
    lines = [(1.0 + i * 0.1, f"l{i}") for i in range(20)]
    provider = ScriptedProvider(clock, exit_code=4, lines=lines, failures={"poll": 3, "read_logs": 3, "launch": 2})
    runner, observer = runner_for(provider, clock)
    result = runner.run()
    assert result.exit_status == 4
    assert len(provider.launches) == 1  # the failed launches never reached the "cloud"
    assert observer.messages == [m for _, m in lines]
    assert sum("retrying" in n for n in observer.notices) == 8


def test_ambiguous_launch_is_adopted_not_repeated() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(clock, ambiguous_launch=True)
    runner, _ = runner_for(provider, clock)
    result = runner.run()
    assert result.outcome is Outcome.SUCCEEDED
    assert len(provider.launches) == 1 and provider.calls["find_run"] == 1


def test_retries_give_up_with_exit_75_and_say_how_to_reattach() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(clock, failures={"poll": 100})
    runner, observer = runner_for(provider, clock)
    with pytest.raises(TemporaryFailure) as info:
        runner.run()
    assert info.value.exit_code == 75
    assert provider.calls["poll"] == RETRY.attempts
    assert any("opsctl wait test run-1" in n for n in observer.notices)


def test_detach_returns_after_launch() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(clock)
    runner, _ = runner_for(provider, clock)
    result = runner.run(detach=True)
    assert result.outcome is Outcome.DETACHED and provider.calls["poll"] == 0


def test_nothing_launches_once_a_stop_was_requested() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(clock)
    cancel = CancelToken()
    cancel.request(signal.SIGINT)
    runner, _ = runner_for(provider, clock, cancel=cancel)
    with pytest.raises(LaunchError):
        runner.run()
    assert provider.launches == []


def test_polling_backs_off_in_steady_state_and_speeds_up_near_the_end() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(clock, finish_at=120.0, lines=[(115.0, '{"ok": true}')])
    runner, _ = runner_for(provider, clock)
    runner.run()
    # 10 s fast phase at 0.5 s, ~100 s at 5 s, then fast again after the result line at 115 s
    assert 30 <= provider.calls["poll"] <= 50
    assert provider.calls["read_logs"] <= 20 + 30 + 15


def test_secrets_are_masked_in_lines_and_result() -> None:
    clock = FakeClock()
    lines = [(1.0, "password is hunter2"), (1.1, '{"ok": true, "echo": "hunter2"}')]
    runner, observer = runner_for(ScriptedProvider(clock, lines=lines), clock)
    result = runner.run()
    assert observer.messages == ["password is ***", '{"ok": true, "echo": "***"}']
    assert result.result == {"ok": True, "echo": "***"}
    assert "hunter2" not in repr(result)


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ('{"ok": true, "wasNew": true}', {"ok": True, "wasNew": True}),
        ('  {"ok": false, "error": "x"}  ', {"ok": False, "error": "x"}),
        ('{"status": "ok"}', None),
        ('{"ok": tru', None),
        ('["ok"]', None),
        ("plain text", None),
    ],
)
def test_result_line(line: str, parsed: object) -> None:
    assert parse_result_line(line) == parsed


def test_last_result_line_wins_and_stderr_lines_are_not_results() -> None:
    clock = FakeClock()
    lines = [(1.0, '{"ok": false}'), (1.5, '{"ok": true, "n": 2}')]
    runner, _ = runner_for(ScriptedProvider(clock, lines=lines), clock)
    assert runner.run().result == {"ok": True, "n": 2}


@pytest.mark.parametrize(("ended_ago_s", "drain_reads"), [(None, 2), (0.5, 2), (30.0, 1)])
def test_drain_settles_only_when_the_output_may_still_be_landing(ended_ago_s: float | None, drain_reads: int) -> None:
    clock = FakeClock()
    provider = ScriptedProvider(clock, lines=[(1.0, "a")], output_ended_ago_s=ended_ago_s)
    runner, observer = runner_for(provider, clock)
    runner.run()
    assert observer.messages == ["a"]
    assert provider.reads_at_stop is not None
    assert provider.calls["read_logs"] - provider.reads_at_stop == drain_reads
