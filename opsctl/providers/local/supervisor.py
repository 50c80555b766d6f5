"""Supervises one local run so it outlives opsctl: logs to a file, exit code to `exit.json`.

`python -I supervisor.py RUN_DIR FD -- ARGV…`: launch.py starts it as a plain script, never imports it.
Stdlib only: it starts on every local run. FD is an inherited pipe carrying `{"env": …, "mask": […]}`: the
task's env overrides and the secret forms to mask, so no secret is on its command line or in its own
environment. Each line is redacted, and cut at LINE_MAX_BYTES, before it reaches log.jsonl; every file
it creates is 0600 (its umask is 077; the task gets the umask opsctl had).
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
LINE_MAX_BYTES = 64 * 1024  # as opsctl.untrusted.LINE_MAX_BYTES (this script imports nothing of opsctl)
MASK = "***"


def _now() -> str:
    return datetime.now(UTC).isoformat()


# Written at start and given up when the disk is full at the end, so that exit.json still fits.
RESERVE = "exit.reserve"
RESERVE_BYTES = 64 * 1024


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(data), encoding="utf-8")
    except OSError:
        # A full disk: free the space set aside at start, and try once more (the exit code must arrive).
        with contextlib.suppress(OSError):
            (path.parent / RESERVE).unlink()
        tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)  # atomic: a reader sees the whole file or none
    with contextlib.suppress(OSError):
        (path.parent / RESERVE).unlink()


def _read_line(pipe: IO[bytes], limit: int) -> tuple[bytes, int]:
    """One line of at most `limit` bytes, and how many bytes of it were skipped past that (read, not kept)."""
    raw = pipe.readline(limit)
    skipped = 0
    if len(raw) == limit and not raw.endswith(b"\n"):
        while True:  # the rest of an over-long line: read in bounded chunks, counted, dropped
            more = pipe.readline(LINE_MAX_BYTES)
            if more.endswith(b"\n"):
                skipped += len(more) - 1  # the line break is not part of the line
                break
            if not more:
                break
            skipped += len(more)
    return raw, skipped


def _reserve(run_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (run_dir / RESERVE).write_bytes(b"\0" * RESERVE_BYTES)


class _Log:
    """log.jsonl, written so that a full disk never blocks the task: the pumps keep draining its pipes, lines
    that cannot be written are counted, and once space is back a line says how many were dropped."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.lock = threading.Lock()
        self.dropped = 0  # in all
        self._unsaid = 0  # dropped since the last line that made it
        self._torn = False  # a line was half written: the next one starts on a fresh line

    def write(self, stream: str, message: str, cut: int = 0) -> None:
        """Append one record (`cut`: bytes cut off the end of the line); never raises."""
        data: dict[str, Any] = {"t": _now(), "s": stream, "m": message}
        if cut:
            data["c"] = cut
        record = json.dumps(data) + "\n"
        with self.lock:
            if self._unsaid:
                note = f"[opsctl: {self._unsaid} log lines dropped: the disk was full]"
                if not self._append(json.dumps({"t": _now(), "s": "stderr", "m": note}) + "\n"):
                    self._drop()
                    return
                self._unsaid = 0
            if not self._append(record):
                self._drop()

    def _drop(self) -> None:
        self.dropped += 1
        self._unsaid += 1

    def _append(self, text: str) -> bool:
        data = (("\n" if self._torn else "") + text).encode("utf-8")
        written = 0
        try:
            while written < len(data):
                written += os.write(self.fd, data[written:])
        except OSError:
            self._torn = self._torn or written > 0
            return False
        self._torn = False
        return True

    def close(self) -> None:
        """Close the file."""
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _pump(pipe: IO[bytes], stream: str, log: _Log, mask: list[str]) -> None:
    # Read a little past the limit so that a secret straddling it is still masked whole.
    limit = LINE_MAX_BYTES + max((len(m.encode()) for m in mask), default=0)
    while True:
        raw, cut = _read_line(pipe, limit)
        if not raw:
            break
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        for secret in mask:
            if secret in text:
                text = text.replace(secret, MASK)
        data = text.encode("utf-8", "surrogatepass")
        if len(data) > LINE_MAX_BYTES:
            cut += len(data) - LINE_MAX_BYTES
            text = data[:LINE_MAX_BYTES].decode("utf-8", "ignore")
        log.write(stream, text, cut)
    pipe.close()


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def _kill_if_alive(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        _signal_group(child.pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    """Run the command, relay its output into RUN_DIR/log.jsonl, record how it ended."""
    umask = os.umask(0o077)  # what it writes is for opsctl's user alone
    run_dir, channel, argv = Path(argv[0]), int(argv[1]), argv[3:]
    with os.fdopen(channel, encoding="utf-8") as f:
        given = json.load(f)
    mask: list[str] = given["mask"]
    _reserve(run_dir)
    log = _Log(run_dir / "log.jsonl")
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
            argv,
            env={**os.environ, **given["env"]},
            umask=umask,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as e:
        reason = f"cannot start {argv[0]!r}: {e.strerror}"
        log.write("stderr", reason)
        log.close()
        _write_json(run_dir / "exit.json", {"exit_code": None, "signal": None, "stopped_at": _now(), "reason": reason})
        return 0
    if stop_signal:
        forward(stop_signal[0], None)
    pumps = [
        threading.Thread(target=_pump, args=(child.stdout, "stdout", log, mask), daemon=True),
        threading.Thread(target=_pump, args=(child.stderr, "stderr", log, mask), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    code = child.wait()
    for pump in pumps:
        pump.join()
    log.close()
    dropped = {"dropped_lines": log.dropped} if log.dropped else {}
    if code < 0:
        name = signal.Signals(-code).name
        _write_json(
            run_dir / "exit.json",
            {
                "exit_code": None,
                "signal": -code,
                "stopped_at": _now(),
                "reason": f"killed by signal {-code} ({name})",
                **dropped,
            },
        )
    else:
        _write_json(run_dir / "exit.json", {"exit_code": code, "signal": None, "stopped_at": _now(), **dropped})
    os._exit(0)  # the SIGKILL timer thread may still be pending; don't wait for it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
