"""Ctrl-C on a real terminal (a pty): twice leaves the task running, prints how to reattach and exits 130."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

from tests.conftest import REPO, run_cli

TOML = """\
[environments.dev]
provider = "local"
workdir = "."

[tasks.sleeper]
command = ["{python}", "-c", "import time; print('up', flush=True); time.sleep(60)"]
"""


def _read_until(fd: int, needle: bytes, seen: bytearray, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if needle in seen:
            return True
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                return needle in seen
            if not chunk:
                return needle in seen
            seen.extend(chunk)
    return needle in seen


def test_double_ctrl_c_on_a_terminal_leaves_the_run_running_and_exits_130(tmp_path: Path) -> None:
    (tmp_path / "opsctl.toml").write_text(TOML)
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "TERM": "dumb"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session leader with the pty as its controlling terminal
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "opsctl", "run", "dev", "sleeper", "--no-color"], env)  # noqa: S606
    seen = bytearray()
    try:
        assert _read_until(fd, b"up", seen, time.monotonic() + 60), seen.decode(errors="replace")
        os.write(fd, b"\x03")  # Ctrl-C, as the terminal's line discipline turns it into SIGINT
        assert _read_until(fd, b"press Ctrl-C again", seen, time.monotonic() + 30), seen.decode(errors="replace")
        os.write(fd, b"\x03")
        _read_until(fd, b"\x00never", seen, time.monotonic() + 30)
        _, status = os.waitpid(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.close(fd)
    text = seen.decode(errors="replace").replace("\r\n", "\n")
    assert os.waitstatus_to_exitcode(status) == 130, text
    run_id = next(line.split()[-1] for line in text.splitlines() if line.startswith("Run "))
    assert f"opsctl: left run {run_id} running; reattach with: opsctl wait dev {run_id}\n" in text
    assert "\nStatus       left running\n" in text
    assert f"\nReattach     opsctl wait dev {run_id}\n" in text
    # The task really is still running: `stop` finds it running and stops it.
    out = run_cli("stop", "dev", run_id, cwd=tmp_path)
    assert out.code == 0 and f"opsctl: stop requested for run {run_id}" in out.stderr, out.output
