"""Supervises one local run so it outlives opsctl: logs to a file, exit code to `exit.json`.

`python -I supervisor.py RUN_DIR -- ARGV…`: provider.py starts it as a plain script, never imports it.
Stdlib only: it starts on every local run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

STOP_GRACE_S = 5.0


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)  # atomic: a reader sees the whole file or none


def _pump(pipe: IO[bytes], stream: str, out: IO[str], lock: threading.Lock) -> None:
    for raw in iter(pipe.readline, b""):
        record = json.dumps({"t": _now(), "s": stream, "m": raw.decode("utf-8", "replace").rstrip("\r\n")})
        with lock:
            out.write(record + "\n")
            out.flush()
    pipe.close()


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def _kill_if_alive(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        _signal_group(child.pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    """Run the command, relay its output into RUN_DIR/log.jsonl, record how it ended."""
    run_dir, argv = Path(argv[0]), argv[2:]
    log = (run_dir / "log.jsonl").open("a", encoding="utf-8")
    lock = threading.Lock()
    child: subprocess.Popen[bytes] | None = None
    stop_signal: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        # Ask nicely, then insist: a task that ignores SIGTERM is killed after STOP_GRACE_S.
        stop_signal.append(signum)
        if child is not None and child.poll() is None:
            _signal_group(child.pid, signum)
            threading.Timer(STOP_GRACE_S, _kill_if_alive, args=(child,)).start()

    # Handlers first: a stop that arrives while the task is being started must still reach it.
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        # Its own process group, so a stop reaches whatever the task spawned (a shell's children too).
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
    except OSError as e:
        reason = f"cannot start {argv[0]!r}: {e.strerror}"
        log.write(json.dumps({"t": _now(), "s": "stderr", "m": reason}) + "\n")
        log.close()
        _write_json(run_dir / "exit.json", {"exit_code": None, "signal": None, "stopped_at": _now(), "reason": reason})
        return 0
    if stop_signal:
        forward(stop_signal[0], None)
    pumps = [
        threading.Thread(target=_pump, args=(child.stdout, "stdout", log, lock), daemon=True),
        threading.Thread(target=_pump, args=(child.stderr, "stderr", log, lock), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    code = child.wait()
    for pump in pumps:
        pump.join()
    log.close()
    if code < 0:
        name = signal.Signals(-code).name
        _write_json(
            run_dir / "exit.json",
            {"exit_code": None, "signal": -code, "stopped_at": _now(), "reason": f"killed by signal {-code} ({name})"},
        )
    else:
        _write_json(run_dir / "exit.json", {"exit_code": code, "signal": None, "stopped_at": _now()})
    os._exit(0)  # the SIGKILL timer thread may still be pending; don't wait for it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
