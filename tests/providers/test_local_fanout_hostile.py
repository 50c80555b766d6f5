"""`--tasks N` on the local provider against copies that break the supervisor's assumptions: copies that die by
signals Python has no name for, copies that exit leaving a grandchild on their output, hostile output."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from opsctl.config import LocalEnv
from opsctl.providers.local import LocalProvider
from opsctl.runner import Runner
from tests.conftest import CliResult, run_cli
from tests.contract import RecordingObserver, make_spec
from tests.reliability.plays import local_orphans

HOSTILE = """\
import os, signal, subprocess, sys
i = int(os.environ.get("OPSCTL_TASK_INDEX") or 0)
mode = sys.argv[1]
os.makedirs("pids", exist_ok=True)
if mode == "rtsig":
    print(f"copy {i}", flush=True)
    if i == 0:
        os.kill(os.getpid(), signal.SIGRTMIN + 6)  # a real-time signal: no name in signal.Signals
elif mode == "liar":
    # Lines that pose as another copy's, or as opsctl's own; a result line claiming another index; a broken one.
    print("[3] forged", flush=True)
    print("opsctl: exited (0.1s)", flush=True)
    print('{"ok": true, "copy": 7}' if i == 0 else '{"ok": nope}', flush=True)
elif mode == "mask":
    blocked = [line for line in open("/proc/self/status") if line.startswith("SigBlk:")]
    print(int(blocked[0].split()[1], 16), flush=True)
elif mode == "orphan":
    # A grandchild that keeps the copy's stdout open (and, in copy 1, ignores SIGTERM), then the copy exits 0.
    ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN); " if i == 1 else ""
    child = subprocess.Popen([sys.executable, "-c", f"import signal, time; {ignore}print('held', flush=True); time.sleep(120)"])
    with open(f"pids/copy-{i}-child.pid", "w") as f:
        f.write(str(child.pid))
    print(f"up {i}", flush=True)
"""

CONFIG = """\
[environments.dev]
provider = "local"
workdir = "."

[tasks.rtsig]
command = ["{python}", "hostile.py", "rtsig"]

[tasks.liar]
command = ["{python}", "hostile.py", "liar"]

[tasks.mask]
command = ["{python}", "hostile.py", "mask"]

[tasks.orphan]
command = ["{python}", "hostile.py", "orphan"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "opsctl.toml").write_text(CONFIG.replace("{python}", sys.executable), encoding="utf-8")
    (tmp_path / "hostile.py").write_text(HOSTILE, encoding="utf-8")
    yield tmp_path
    # A failed test must not leave its grandchildren behind (only ours: the sleep they run).
    for path in (tmp_path / "pids").glob("*.pid"):
        pid = int(path.read_text())
        with contextlib.suppress(OSError):
            if b"time.sleep(120)" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def opsctl(project: Path, *args: str, timeout: float = 60) -> CliResult:
    return run_cli("--config", str(project / "opsctl.toml"), *args, cwd=project, timeout=timeout)


def test_a_copy_killed_by_a_real_time_signal_ends_and_frees_its_slot(project: Path) -> None:
    """Python's signal.Signals has no member for SIGRTMIN+1 … SIGRTMAX-1: naming the signal must not kill the
    thread that records the copy's end, or the run never ends (with K = 1, no further copy ever starts)."""
    out = opsctl(project, "run", "dev", "rtsig", "--tasks", "3", "--parallelism", "1", "-o", "json")
    assert out.code == 69, out.output  # copy 0 failed without an exit code of its own
    doc = json.loads(out.stdout)
    number = int(signal.SIGRTMIN) + 6
    assert [(t["status"], t["exit_code"], t["reason"]) for t in doc["tasks"]] == [
        ("failed", None, f"killed by signal {number} (SIGRTMIN+6)"),
        ("succeeded", 0, None),
        ("succeeded", 0, None),
    ]
    assert doc["reason"] == f"copy 0 of 3 failed: killed by signal {number} (SIGRTMIN+6)"


def test_a_stop_reaches_the_grandchildren_of_copies_that_already_exited(project: Path, isolated: Path) -> None:
    """A copy that exits 0 leaving a grandchild on its stdout has not ended (its output is still open), so a stop
    must reach its process group — SIGTERM, then SIGKILL for the one that ignores it — and the run must end."""
    run = json.loads(opsctl(project, "run", "dev", "orphan", "--tasks", "2", "--detach", "-o", "json").stdout)["run"]
    pids = project / "pids"
    _until_exited(isolated / "opsctl" / "local-runs" / run, copies=2)
    stopped = opsctl(project, "stop", "dev", run)
    assert stopped.code == 0, stopped.output
    assert not local_orphans(isolated / "opsctl" / "local-runs", pids)
    waited = opsctl(project, "wait", "dev", run, "-o", "json")
    assert waited.code == 0, waited.output  # each copy exited 0 by itself; the stop only ended what it left
    assert [t["exit_code"] for t in json.loads(waited.stdout)["tasks"]] == [0, 0]


def _until_exited(run_dir: Path, copies: int) -> None:
    """Until every copy's own process has exited (and been reaped), its grandchild still holding its output."""
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, "the copies never exited"
        try:
            records = json.loads((run_dir / "copies.json").read_text())["copies"]
        except (OSError, ValueError):
            records = []
        started = [r["pid"] for r in records if "pid" in r]
        if len(started) == copies and not any(_alive(pid) for pid in started):
            return
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("tasks", [1, 3])
def test_a_stop_sent_while_the_supervisor_is_starting_is_handled_not_fatal(project: Path, tasks: int) -> None:
    """Ctrl-C right after the launch: the stop reaches the supervisor while its interpreter is still starting
    (tens of ms). It must be handled like any stop — nothing started, each copy `stopped before it started` —
    not kill the supervisor by SIGTERM's default action, which left the run `lost`."""
    local = LocalProvider(LocalEnv(name="dev", provider="local", source="t", workdir=project))
    spec = replace(make_spec((sys.executable, "hostile.py", "rtsig"), task="rtsig"), tasks=tasks)
    ref = local.launch(spec)
    local.stop(ref, "interrupted by tester")
    result = Runner(local, spec, RecordingObserver(), timing=local.timing).watch(ref)
    assert (result.reason, result.exit_status) == ("interrupted by tester", 69)
    assert not (local.root / ref.id / "log.jsonl").read_text()  # no copy ever started
    assert [c.reason for c in result.tasks] == ["stopped before it started"] * (tasks if tasks > 1 else 0)


def test_the_copies_start_with_no_signal_blocked(project: Path) -> None:
    """The supervisor starts with SIGTERM and SIGINT blocked (see above); its copies must not inherit that, or a
    stop's SIGTERM would never reach them."""
    for args in (("--tasks", "2"), ()):
        out = opsctl(project, "run", "dev", "mask", *args)
        assert out.code == 0, out.output
        assert sorted(line for line in out.stderr.splitlines() if not line.startswith("opsctl:")) == (
            ["[0] 0", "[1] 0"] if args else ["0"]
        )


def test_a_copy_cannot_pass_its_lines_or_result_off_as_another_copys(project: Path) -> None:
    out = opsctl(project, "run", "dev", "liar", "--tasks", "2", "-o", "json")
    assert out.code == 0, out.output
    relayed = [line for line in out.stderr.splitlines() if line.startswith("[")]
    forged = [f"[{i}] {text}" for i in range(2) for text in ("[3] forged", "opsctl: exited (0.1s)")]
    assert sorted(relayed) == sorted([*forged, '[0] {"ok": true, "copy": 7}', '[1] {"ok": nope}'])
    # The copy is the one the supervisor saw print it, whatever the line says; a broken one names its copy.
    assert [t["result"] for t in json.loads(out.stdout)["tasks"]] == [{"ok": True, "copy": 7}, None]
    assert "opsctl: ignored copy 1's result line: not valid JSON" in out.stderr.splitlines()
