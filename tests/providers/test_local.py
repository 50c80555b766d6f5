"""The local provider through the shared contract, with real subprocesses."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from opsctl.config import LocalEnv
from opsctl.errors import LaunchError, NotFound
from opsctl.model import Outcome, State
from opsctl.providers.local import LocalProvider
from opsctl.runner import Runner
from tests.contract import RecordingObserver, assert_succeeded, make_spec, run_contract, when_running


def provider(tmp_path: Path) -> LocalProvider:
    return LocalProvider(LocalEnv(name="test", provider="local", source="t", workdir=tmp_path))


def py(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def test_success_with_stdout_and_stderr_lines(tmp_path: Path) -> None:
    code = "import sys; print('out 1'); print('err 1', file=sys.stderr); print('{\"ok\": true, \"n\": 1}')"
    result, observer = run_contract(provider(tmp_path), make_spec(py(code)))
    assert_succeeded(result)
    assert sorted(observer.messages) == sorted(["out 1", "err 1", '{"ok": true, "n": 1}'])
    assert [line.stream for line in observer.lines if line.message == "err 1"] == ["stderr"]
    assert result.result == {"ok": True, "n": 1}


def test_exit_code_passes_through_and_env_arrives(tmp_path: Path) -> None:
    code = "import os, sys; print(os.environ['GREETING'], os.environ['OPSCTL_RUN_ID']); sys.exit(3)"
    spec = make_spec(py(code), {"GREETING": "hello"}, run_id="r-exit3")
    result, observer = run_contract(provider(tmp_path), spec)
    assert (result.outcome, result.exit_code, result.exit_status) == (Outcome.FAILED, 3, 3)
    assert observer.messages == ["hello r-exit3"]


def test_ten_thousand_lines_exactly_once_in_order(tmp_path: Path) -> None:
    code = "import sys\nfor i in range(10000): sys.stdout.write(f'line {i}\\n')\nprint('last before exit', flush=True)"
    result, observer = run_contract(provider(tmp_path), make_spec(py(code)))
    assert_succeeded(result)
    assert observer.messages == [f"line {i}" for i in range(10000)] + ["last before exit"]


def test_timeout_stops_the_process(tmp_path: Path) -> None:
    code = "import time, os; open('pid', 'w').write(str(os.getpid())); print('sleeping', flush=True); time.sleep(60)"
    result, _ = run_contract(provider(tmp_path), make_spec(py(code)), timeout_s=1.0)
    assert result.outcome is Outcome.TIMED_OUT and result.exit_status == 124
    assert "--timeout 1s expired" in (result.reason or "")
    assert not _alive(int((tmp_path / "pid").read_text()))


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_process(tmp_path: Path, signum: int, code: int) -> None:
    task = "import time, os; open('pid', 'w').write(str(os.getpid())); print('up', flush=True); time.sleep(60)"
    started = (tmp_path / "pid").exists
    result, _ = run_contract(
        provider(tmp_path), make_spec(py(task)), signal_when=lambda s: signum if started() else None
    )
    assert result.exit_status == code
    assert not _alive(int((tmp_path / "pid").read_text()))


def test_a_task_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    task = (
        "import signal, time, os; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "open('pid', 'w').write(str(os.getpid())); print('stubborn', flush=True); time.sleep(60)"
    )
    started = (tmp_path / "pid").exists
    sigterm = signal.SIGTERM
    result, _ = run_contract(
        provider(tmp_path), make_spec(py(task)), signal_when=lambda s: sigterm if started() else None
    )
    assert result.outcome is Outcome.TERMINATED
    assert result.details == (("signal", "9"),)


def test_reattach_from_another_provider_instance(tmp_path: Path) -> None:
    first = provider(tmp_path)
    spec = make_spec(py("import time; print('a', flush=True); time.sleep(0.5); print('b'); raise SystemExit(7)"))
    ref = first.launch(spec)
    second = provider(tmp_path)  # as `opsctl wait` in a new process would build it
    assert second.find_run(spec) == ref and second.ref(ref.id) == ref
    assert [r.id for r in second.active_runs("test", "job")] == [ref.id]
    observer = RecordingObserver()
    result = Runner(second, spec, observer, timing=second.timing).watch(ref)
    assert result.exit_status == 7 and observer.messages == ["a", "b"]
    assert second.active_runs("test", "job") == []
    second.stop(ref, "late stop")  # stopping a stopped run is not an error
    assert second.poll(ref).exit_code == 7


def test_a_stop_right_after_launch_still_stops_the_task(tmp_path: Path) -> None:
    task = "import time; time.sleep(60)"
    result, _ = run_contract(provider(tmp_path), make_spec(py(task)), signal_when=when_running(signal.SIGINT))
    assert result.outcome is Outcome.INTERRUPTED and result.exit_status == 130


def test_missing_command_and_unknown_run(tmp_path: Path) -> None:
    local = provider(tmp_path)
    with pytest.raises(LaunchError, match="command 'no-such-binary-xyz' not found"):
        local.launch(make_spec(("no-such-binary-xyz",)))
    with pytest.raises(LaunchError, match="has no command, and a local run has no image"):
        local.launch(make_spec(None))
    with pytest.raises(NotFound, match="no local run 'nope'"):
        local.ref("nope")


def test_running_then_stopped_states(tmp_path: Path) -> None:
    local = provider(tmp_path)
    ref = local.launch(make_spec(py("import time; time.sleep(0.3)")))
    assert local.poll(ref).state is State.RUNNING
    deadline = time.monotonic() + 10
    while local.poll(ref).state is not State.STOPPED and time.monotonic() < deadline:
        time.sleep(0.05)
    assert local.poll(ref).exit_code == 0


def _alive(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    return True


def _blocked(status: Path) -> set[int]:
    """The signals a thread blocks, from /proc/…/status (SigBlk: a hex mask, bit n-1 for signal n)."""
    (mask,) = [line.split()[1] for line in status.read_text().splitlines() if line.startswith("SigBlk:")]
    return {n for n in range(1, 65) if int(mask, 16) >> (n - 1) & 1}


def test_only_the_supervisors_main_thread_takes_a_stop_signal(tmp_path: Path) -> None:
    # Python runs handlers in the main thread alone; a SIGTERM the kernel gave a pump thread instead left the main
    # thread asleep in join() and the stop unhandled. Every other thread blocks the stop signals; the tasks do not.
    local = provider(tmp_path)
    task = "import os, sys, time; open(f'pid{sys.argv[1]}', 'w').write(str(os.getpid())); time.sleep(60)"
    spec = make_spec((sys.executable, "-c", task, "x"))
    ref = local.launch(spec)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "pidx").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        supervisor = int((local.root / ref.id / "pid").read_text())
        threads = {int(t.name): _blocked(t / "status") for t in Path(f"/proc/{supervisor}/task").iterdir()}
        stops = {signal.SIGTERM, signal.SIGINT}
        assert not stops & threads.pop(supervisor)  # the main thread takes them
        assert len(threads) >= 3  # the watcher and its two pumps
        assert all(stops <= blocked for blocked in threads.values()), threads
        task_pid = int((tmp_path / "pidx").read_text())
        assert not stops & _blocked(Path(f"/proc/{task_pid}/status"))
    finally:
        local.stop(ref, "test over")
    result = Runner(local, spec, RecordingObserver(), timing=local.timing).watch(ref)
    assert result.details == (("signal", "15"),) and not _alive(task_pid)
