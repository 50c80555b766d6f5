"""Supervises one local run so it outlives opsctl: logs to a file, exit code to `exit.json`.

`python -I supervisor.py RUN_DIR FD -- ARGV…`: launch.py starts it as a plain script, never imports it.
Stdlib only: it starts on every local run. FD is an inherited pipe carrying `{"env": …, "mask": […]}`: the
task's env overrides and the secret forms to mask, so no secret is on its command line or in its own
environment. Each line is redacted, and cut at LINE_MAX_BYTES, before it reaches log.jsonl; every file
it creates is 0600 (its umask is 077; the task gets the umask opsctl had).

With `--tasks N` (N > 1) the pipe also carries `"copies"` (each copy's own env vars: OPSCTL_TASK_INDEX/COUNT)
and `"parallelism"` (K, or null: all at once). The supervisor then runs the N copies, at most K at a time, each
in its own process group; each log record names its copy (`"i"`), copies.json follows them while they run, and
exit.json records how every copy ended. A stop reaches every copy started, and starts no more.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

STOP_GRACE_S = 5.0
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}  # as launch.STOP_SIGNALS: what opsctl sends, what is handled
TICK_S = 0.1  # how often the main thread looks for a copy to SIGKILL after its grace
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
    that cannot be written are counted, and once space is back a line says how many were dropped.

    `copy` is the index of the copy a line came from in a fanned-out run (`"i"` in its record), None otherwise.
    """

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.lock = threading.Lock()
        self.dropped: dict[int | None, int] = {}  # in all, per copy
        self._unsaid: dict[int | None, int] = {}  # dropped since the copy's last line that made it
        self._torn = False  # a line was half written: the next one starts on a fresh line

    def write(self, stream: str, message: str, cut: int = 0, copy: int | None = None) -> None:
        """Append one record (`cut`: bytes cut off the end of the line); never raises."""
        with self.lock:
            unsaid = self._unsaid.get(copy, 0)
            if unsaid:
                note = f"[opsctl: {unsaid} log lines dropped: the disk was full]"
                if not self._append(_record("stderr", note, 0, copy)):
                    self._drop(copy)
                    return
                self._unsaid[copy] = 0
            if not self._append(_record(stream, message, cut, copy)):
                self._drop(copy)

    def _drop(self, copy: int | None) -> None:
        self.dropped[copy] = self.dropped.get(copy, 0) + 1
        self._unsaid[copy] = self._unsaid.get(copy, 0) + 1

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


def _record(stream: str, message: str, cut: int, copy: int | None) -> str:
    data: dict[str, Any] = {"t": _now(), "s": stream, "m": message}
    if cut:
        data["c"] = cut
    if copy is not None:
        data["i"] = copy
    return json.dumps(data) + "\n"


def _pump(pipe: IO[bytes], stream: str, log: _Log, mask: list[str], copy: int | None) -> None:
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
        log.write(stream, text, cut, copy)
    pipe.close()


def _signal_group(copy: _Copy, signum: int) -> None:
    """Signal the copy's process group (its pid is the group's id); never group 0, which is the supervisor's."""
    if copy.child is not None and copy.child.pid > 0:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(copy.child.pid, signum)


def _signal_name(signum: int) -> str:
    """SIGTERM, SIGRTMIN+6 …: signal.Signals names only the classic signals and SIGRTMIN/SIGRTMAX."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        if signal.SIGRTMIN < signum < signal.SIGRTMAX:
            return f"SIGRTMIN+{signum - signal.SIGRTMIN}"
        return f"signal {signum}"


def _ending(code: int) -> dict[str, Any]:
    """How a process that exited with `code` (negative: by that signal) ended, as exit.json says it."""
    if code < 0:
        reason = f"killed by signal {-code} ({_signal_name(-code)})"
        return {"exit_code": None, "signal": -code, "stopped_at": _now(), "reason": reason}
    return {"exit_code": code, "signal": None, "stopped_at": _now()}


def _never_started(reason: str) -> dict[str, Any]:
    """How a process that could not start, or a copy that a stop kept from starting, ended (no pid, no code)."""
    return {"exit_code": None, "signal": None, "stopped_at": _now(), "reason": reason}


class _Copy:
    """One process of the run: copy `index` of a fanned-out run (`--tasks N`), or the run's only one (None)."""

    def __init__(self, index: int | None, env: dict[str, str]) -> None:
        self.index = index
        self.env = env
        self.child: subprocess.Popen[bytes] | None = None
        self.watcher: threading.Thread | None = None
        # Until its output closes, not when its own process exits: a grandchild may still hold its stdout.
        self.ended = False
        self.kill_at: float | None = None  # when a stop's grace runs out: SIGKILL then, unless it has ended
        self.record: dict[str, Any] = {} if index is None else {"index": index}


class _Run:
    """The run's copies, at most `limit` at a time, each in its own process group; a stop reaches every one."""

    def __init__(self, run_dir: Path, argv: list[str], given: dict[str, Any], umask: int, log: _Log) -> None:
        self.run_dir, self.argv, self.umask, self.log = run_dir, argv, umask, log
        self.mask: list[str] = given["mask"]
        base = {**os.environ, **given["env"]}
        # "copies" (each copy's own env vars) and "parallelism" come only with --tasks N > 1.
        fanned: list[dict[str, str]] | None = given.get("copies")
        self.fanned = fanned is not None
        if fanned is None:
            self.copies = [_Copy(None, base)]
        else:
            self.copies = [_Copy(i, {**base, **extra}) for i, extra in enumerate(fanned)]
        self.limit: int = given.get("parallelism") or len(self.copies)
        self.running = 0
        self.slots = threading.Condition()
        self.stop_signal: list[int] = []
        self.saving = threading.Lock()

    def forward(self, signum: int, _frame: object) -> None:
        """A stop: to every copy started (its whole process group); none starts after it.

        A signal handler: it runs in the main thread between two bytecodes, maybe while that thread holds a lock,
        so it takes none (no thread start, no Event): it records, signals, and leaves the SIGKILL to `_tick`."""
        self.stop_signal.append(signum)
        self._signal([c for c in self.copies if c.child is not None], signum)

    def _signal(self, copies: list[_Copy], signum: int) -> None:
        # Ask nicely, then insist: a copy that ignores SIGTERM is killed after STOP_GRACE_S. The group, not the
        # process: a copy that exited leaving a grandchild on its output has not ended, and only the group
        # reaches that grandchild (its pid, the group's id, is not reused while the group has a member).
        deadline = time.monotonic() + STOP_GRACE_S
        for copy in copies:
            if copy.child is not None and not copy.ended:
                _signal_group(copy, signum)
                if copy.kill_at is None:
                    copy.kill_at = deadline

    def _tick(self) -> None:
        """SIGKILL each copy whose stop grace ran out and that has not ended (main thread, every TICK_S)."""
        now = time.monotonic()
        for copy in self.copies:
            if copy.kill_at is not None and now >= copy.kill_at and not copy.ended:
                _signal_group(copy, signal.SIGKILL)
                copy.kill_at = float("inf")  # once

    def run(self) -> None:
        """Start the copies as slots free up (a copy's end frees one), then wait for every one to end."""
        for copy in self.copies:
            with self.slots:
                # Every copy holding a slot is started, so a stop ends one of them, and that wakes this wait.
                while self.running >= self.limit and not self.stop_signal:
                    self.slots.wait(TICK_S)
                    self._tick()
                if self.stop_signal:
                    break
                self.running += 1
            self._start(copy)
        for copy in self.copies:
            if copy.watcher is not None:
                while copy.watcher.is_alive():
                    copy.watcher.join(TICK_S)
                    self._tick()
            elif "stopped_at" not in copy.record:  # a stop came first
                self._update(copy, _never_started("stopped before it started"))
        self.log.close()

    def _start(self, copy: _Copy) -> None:
        try:
            # Its own process group, so a stop reaches whatever the task spawned (a shell's children too).
            child = subprocess.Popen(
                self.argv,
                env=copy.env,
                umask=self.umask,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as e:
            reason = f"cannot start {self.argv[0]!r}: {e.strerror}"
            self.log.write("stderr", reason, copy=copy.index)
            self._update(copy, _never_started(reason))
            self._ended()
            return
        copy.child = child
        if self.stop_signal:  # a stop that arrived while it was being started must still reach it
            self._signal([copy], self.stop_signal[0])
        if self.fanned:
            self._update(copy, {"pid": child.pid, "started_at": _now()})
        copy.watcher = threading.Thread(target=self._watch, args=(copy, child))
        # The watcher (and the pumps it starts) inherit this mask: with the stop signals blocked in every other
        # thread, the kernel hands them to the main thread, whose waits they interrupt so the handler runs now.
        # (One taken by a pump thread would wait, unhandled, until the main thread next woke up.)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            copy.watcher.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def _watch(self, copy: _Copy, child: subprocess.Popen[bytes]) -> None:
        pumps = [
            threading.Thread(target=_pump, args=(child.stdout, "stdout", self.log, self.mask, copy.index), daemon=True),
            threading.Thread(target=_pump, args=(child.stderr, "stderr", self.log, self.mask, copy.index), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        code = child.wait()
        try:
            for pump in pumps:
                pump.join()
            self._update(copy, _ending(code))
        finally:
            # Whatever happened above, the copy's slot is freed: else the next copy, and the run's end, wait forever.
            copy.ended = True
            self._ended()

    def _ended(self) -> None:
        with self.slots:
            self.running -= 1
            self.slots.notify_all()

    def _update(self, copy: _Copy, fields: dict[str, Any]) -> None:
        """Record what became of a copy; fanned out, in copies.json too, for opsctl to poll (a full disk skips
        that file: exit.json, with its reserve, still says how every copy ended)."""
        with self.saving:
            copy.record.update(fields)
            if not self.fanned:
                return
            with contextlib.suppress(OSError):
                path = self.run_dir / "copies.json"
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"copies": [c.record for c in self.copies]}), encoding="utf-8")
                tmp.replace(path)

    def exit_record(self) -> dict[str, Any]:
        """exit.json: the one copy's ending; or, fanned out, every copy's and the time the last one ended."""
        if not self.fanned:
            (copy,) = self.copies
            dropped = self.log.dropped.get(None, 0)
            return {**copy.record, **({"dropped_lines": dropped} if dropped else {})}
        for copy in self.copies:
            if self.log.dropped.get(copy.index):
                copy.record["dropped_lines"] = self.log.dropped[copy.index]
        total = sum(self.log.dropped.values())
        return {
            "copies": [c.record for c in self.copies],
            "stopped_at": _now(),
            **({"dropped_lines": total} if total else {}),
        }


def main(argv: list[str]) -> int:
    """Run the command (or its N copies), relay their output into RUN_DIR/log.jsonl, record how each ended."""
    umask = os.umask(0o077)  # what it writes is for opsctl's user alone
    run_dir, channel, argv = Path(argv[0]), int(argv[1]), argv[3:]
    with os.fdopen(channel, encoding="utf-8") as f:
        given = json.load(f)
    _reserve(run_dir)
    run = _Run(run_dir, argv, given, umask, _Log(run_dir / "log.jsonl"))
    # Handlers first: a stop that arrives while a copy is being started must still reach it. launch.py started
    # this process with both signals blocked, so one sent while it was starting is pending: delivered now.
    signal.signal(signal.SIGTERM, run.forward)
    signal.signal(signal.SIGINT, run.forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    run.run()
    _write_json(run_dir / "exit.json", run.exit_record())
    os._exit(0)  # every copy has ended and been recorded: skip the interpreter's teardown


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
