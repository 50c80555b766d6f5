"""Signals after the run has ended, through real `python -m opsctl` processes: while opsctl writes the run's
record and summary there is nothing left to stop, so one signal lets the writing finish (the task's exit code
stands) and a second one ends opsctl at once; `opsctl logs -f` says which signal ended it."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

# Three copies, each with a 50 KB result: the JSON summary (~150 KB) overflows a pipe nobody reads.
BIG = "import json\nprint(json.dumps({'ok': True, 'blob': 'x' * 50000}))\n"
MID = "import json\nprint(json.dumps({'ok': True, 'blob': 'y' * 5000}))\n"
LINES = "for i in range(50000):\n    print('line %06d' % i)\n"
NAP = "import time\nprint('up', flush=True)\nfor i in range(600):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.1)\n"
CONFIG = """\
[environments.dev]
provider = "local"
workdir = "@WORKDIR@"

[tasks.big]
command = ["{python}", "big.py"]

[tasks.nap]
command = ["{python}", "nap.py"]

[tasks.mid]
command = ["{python}", "mid.py"]

[tasks.lines]
command = ["{python}", "lines.py"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "big.py").write_text(BIG, encoding="utf-8")
    (tmp_path / "nap.py").write_text(NAP, encoding="utf-8")
    (tmp_path / "mid.py").write_text(MID, encoding="utf-8")
    (tmp_path / "lines.py").write_text(LINES, encoding="utf-8")
    (tmp_path / "opsctl.toml").write_text(CONFIG.replace("@WORKDIR@", str(tmp_path)), encoding="utf-8")
    return tmp_path


def opsctl(
    project: Path, *args: str, stdout: int = subprocess.PIPE, stderr: int = subprocess.PIPE, buffered: bool = False
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPSCTL_TIMING_SCALE": "0.2", "GITHUB_ACTIONS": "", "XDG_STATE_HOME": str(project / "state")}
    if buffered:  # stdout block-buffered, as people run it (the suite itself may run with PYTHONUNBUFFERED=1)
        env.pop("PYTHONUNBUFFERED", None)
    argv = [sys.executable, "-m", "opsctl", "--config", str(project / "opsctl.toml"), *args]
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=stdout, stderr=stderr)


def drain_in_background(stream: object) -> list[bytes]:
    """Read a pipe to its end in a thread (the run's lines must never block opsctl here)."""
    chunks: list[bytes] = []
    threading.Thread(target=lambda: chunks.extend(iter(lambda: stream.read1(65536), b"")), daemon=True).start()  # type: ignore[attr-defined]
    return chunks


def blocked_on_stdout(proc: subprocess.Popen[bytes]) -> None:
    """Wait until opsctl has filled its stdout pipe (so it is stuck writing the summary); bounded."""
    assert proc.stdout is not None
    waiting = bytearray(4)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        fcntl.ioctl(proc.stdout.fileno(), termios.FIONREAD, waiting)
        if int.from_bytes(waiting, sys.byteorder) >= 65536:
            time.sleep(0.2)  # it is in write(): the pipe is full
            return
        time.sleep(0.05)
    raise AssertionError(f"opsctl never filled its stdout (exit {proc.returncode})")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_one_signal_while_the_summary_is_written_lets_it_finish(project: Path, signum: int) -> None:
    proc = opsctl(project, "run", "dev", "big", "--yes", "--tasks", "3", "-o", "json")
    err = drain_in_background(proc.stderr)
    blocked_on_stdout(proc)
    proc.send_signal(signum)
    time.sleep(0.5)
    assert proc.poll() is None, b"".join(err)[-2000:]  # still writing: a default handler would have ended it here
    assert proc.stdout is not None
    out = proc.stdout.read()
    assert proc.wait(timeout=60) == 0  # the task's outcome stands: the signal came after the run
    summary = json.loads(out)
    assert summary["status"] == "succeeded" and [c["exit_code"] for c in summary["tasks"]] == [0, 0, 0]
    assert b"nothing was launched" not in b"".join(err)


def test_a_second_signal_while_the_summary_is_stuck_ends_opsctl_at_once(project: Path) -> None:
    proc = opsctl(project, "run", "dev", "big", "--yes", "--tasks", "3", "-o", "json")
    drain_in_background(proc.stderr)
    blocked_on_stdout(proc)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143  # without anyone reading its stdout


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 143), (signal.SIGINT, 130)])
def test_logs_follow_exits_with_the_signal_that_ended_it(project: Path, signum: int, code: int) -> None:
    launched = opsctl(project, "run", "dev", "nap", "--yes", "--detach", "-o", "json")
    out, err = launched.communicate(timeout=60)
    assert launched.returncode == 0, err
    run = json.loads(out)["run"]
    follower = opsctl(project, "logs", "dev", run, "--follow")
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline().strip() == b"up"
        follower.send_signal(signum)
        assert follower.wait(timeout=60) == code
    finally:
        opsctl(project, "stop", "dev", run).communicate(timeout=60)


def read_late(read: int, proc: subprocess.Popen[bytes]) -> bytes:
    """Read a pipe only once opsctl has filled it (what it holds stops growing), then to its end."""
    waiting = bytearray(4)
    held, still = -1, 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and still < 10:
        fcntl.ioctl(read, termios.FIONREAD, waiting)
        now = int.from_bytes(waiting, sys.byteorder)
        still = still + 1 if now == held and now > 0 else 0
        held = now
        time.sleep(0.05)
    with os.fdopen(read, "rb") as pipe:
        return pipe.read()


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_non_blocking_stream_loses_nothing(project: Path, stream: str) -> None:
    # A pipe or terminal handed over with O_NONBLOCK set (the flag belongs to the open file, shared with whoever
    # set it): a full pipe answers EAGAIN. opsctl waits until it takes more, as with a blocking one; before, it
    # failed part-way (the JSON cut at 64 KiB with "internal error: BlockingIOError", exit 70; log lines lost,
    # exit 1) and the commit before this one even exited 0 with the summary cut.
    read, write = os.pipe()
    os.set_blocking(write, False)
    if stream == "stdout":
        proc = opsctl(
            project, "run", "dev", "big", "--yes", "--tasks", "3", "-o", "json", stdout=write, stderr=subprocess.DEVNULL
        )
    else:
        proc = opsctl(project, "run", "dev", "lines", "--yes", stdout=subprocess.DEVNULL, stderr=write)
    os.close(write)
    out = read_late(read, proc)
    assert proc.wait(timeout=60) == 0, out[-2000:]
    if stream == "stdout":
        summary = json.loads(out)
        assert summary["status"] == "succeeded" and [c["exit_code"] for c in summary["tasks"]] == [0, 0, 0]
    else:
        relayed = [line for line in out.decode().splitlines() if line.startswith("line ")]
        assert relayed == [f"line {i:06d}" for i in range(50000)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_summary_still_in_the_buffer_is_written_before_a_signal_can_cut_it(project: Path, signum: int) -> None:
    # A 5 KB JSON document is less than the text layer's 8 KiB chunk: unless `finish` flushes it, it stays in
    # the buffer until the interpreter's exit, after the signal handlers are gone, and a first SIGTERM or Ctrl-C
    # while that final write waits on a slow reader killed opsctl (the JSON cut at 4 KiB, exit -15 or -2).
    read, write = os.pipe()
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)  # a pipe the document does not fit in (as under pipe-user-pages-soft)
    proc = opsctl(project, "run", "dev", "mid", "--yes", "-o", "json", stdout=write, buffered=True)
    os.close(write)
    drain_in_background(proc.stderr)
    waiting = bytearray(4)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        fcntl.ioctl(read, termios.FIONREAD, waiting)
        if int.from_bytes(waiting, sys.byteorder) >= 4096:
            break
        time.sleep(0.05)
    time.sleep(0.5)  # in the write the full pipe cannot take
    proc.send_signal(signum)
    time.sleep(0.5)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read()
    assert proc.wait(timeout=60) == 0, out[-300:]
    summary = json.loads(out)
    assert summary["status"] == "succeeded" and len(summary["result"]["blob"]) == 5000


def test_a_reader_gone_before_a_buffered_write_ends_opsctl_quietly(project: Path) -> None:
    # `opsctl tasks | true`: the reader leaves before opsctl writes. Block-buffered, the table only reaches the
    # pipe at the interpreter's exit: "Exception ignored … BrokenPipeError" (with a traceback through
    # console._WholeWrites) and exit 120, not the quiet SIGPIPE end of `opsctl tasks | head -1`.
    read, write = os.pipe()
    os.close(read)
    proc = opsctl(project, "tasks", stdout=write, buffered=True)
    os.close(write)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (-signal.SIGPIPE, b"")


@pytest.mark.parametrize("hangup_signal", [False, True])
def test_a_terminal_gone_while_the_summary_is_written_leaves_the_task_s_exit_code(
    project: Path, hangup_signal: bool
) -> None:
    # The terminal closes while opsctl waits to write the JSON (nobody reads the terminal): SIGHUP, then EIO on
    # every write. The run is over and recorded; the exit code must stay the task's, as for a reader that left
    # a pipe (EPIPE) — it was "internal error: OSError: [Errno 5]" and exit 70.
    import pty

    controller, terminal = pty.openpty()
    proc = opsctl(project, "run", "dev", "big", "--yes", "--tasks", "3", "-o", "json", stdout=terminal)
    os.close(terminal)
    err = drain_in_background(proc.stderr)
    seen = b""
    deadline = time.monotonic() + 60
    while b'"env"' not in seen and time.monotonic() < deadline:
        seen += os.read(controller, 4096)
    time.sleep(0.5)  # stuck in the write: nobody reads the terminal any more
    assert proc.poll() is None
    if hangup_signal:
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
    os.close(controller)  # the terminal goes away: writes to it fail with EIO
    assert proc.wait(timeout=60) == 0, b"".join(err)[-2000:]
    assert b"internal error" not in b"".join(err)


def test_logs_follow_into_a_pipe_passes_each_line_on_as_it_comes(project: Path) -> None:
    # `opsctl logs RUN --follow | grep …`: stdout block-buffered into the pipe held the lines until 8 KiB had
    # gathered (or the run ended): a follower showed nothing at all for a quiet task.
    launched = opsctl(project, "run", "dev", "nap", "--yes", "--detach", "-o", "json")
    out, err = launched.communicate(timeout=60)
    assert launched.returncode == 0, err
    run = json.loads(out)["run"]
    follower = opsctl(project, "logs", "dev", run, "--follow", buffered=True)
    try:
        assert follower.stdout is not None
        ready, _, _ = select.select([follower.stdout], [], [], 20)
        assert ready and follower.stdout.readline().strip() == b"up"
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(timeout=60)
        opsctl(project, "stop", "dev", run).communicate(timeout=60)
