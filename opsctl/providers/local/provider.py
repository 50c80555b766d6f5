"""`provider = "local"`: the task runs as a supervised subprocess. The reference Provider, and its factory."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opsctl.config import LocalEnv, TaskConfig
from opsctl.errors import NotFound, UsageError
from opsctl.model import Check, LogPage, RunInfo, RunRef, RunSpec, Status, Timing
from opsctl.providers.local.admin import checks
from opsctl.providers.local.launch import argv, check_size, child_env, start, supervisor_argv
from opsctl.providers.local.logs import read_page
from opsctl.providers.local.status import alive, copy_count, status_of, supervisor_pid
from opsctl.state import Damaged, private_dir, read_json, state_dir, write_private

# What a local run id can be: a directory name of letters, digits, - and _ (opsctl makes 20261201T081500Z-1a2b3c4d).
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def runs_dir() -> Path:
    """Where local runs keep their log, pid and exit code (under the XDG state dir)."""
    return state_dir() / "local-runs"


class LocalProvider:
    """Runs the task's command in `workdir` under the stdlib-only `supervisor.py`."""

    kind = "local"
    # Reading a local file is free: poll often so a local run feels instant.
    timing = Timing(
        fast_poll_s=0.05,
        slow_poll_s=0.25,
        fast_phase_s=5.0,
        log_fast_poll_s=0.05,
        log_poll_s=0.1,
        drain_settle_s=0.0,
        drain_quiet_reads=1,
        drain_max_s=5.0,
        stop_wait_s=15.0,
    )

    def __init__(self, env: LocalEnv, root: Path | None = None) -> None:
        self.env = env
        self.root = root or runs_dir()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._warnings: list[str] = []

    def target(self) -> list[tuple[str, str]]:
        """The working directory the task runs in."""
        return [("workdir", str(self.env.workdir))]

    def plan(self, spec: RunSpec) -> dict[str, Any]:
        """The process that launch would start, and with --tasks N how its copies differ (UsageError when the
        OS could not start it: E2BIG)."""
        check_size(supervisor_argv(self.root / spec.run_id, argv(spec)), child_env(spec))
        request: dict[str, Any] = {"argv": list(argv(spec)), "cwd": str(self.env.workdir), "env": spec.env_dict()}
        if spec.tasks > 1:
            n = spec.tasks
            request["copies"] = {"OPSCTL_TASK_INDEX": f"0…{n - 1}", "OPSCTL_TASK_COUNT": str(n)}
            request["parallelism"] = spec.parallelism or n
        return request

    def launch(self, spec: RunSpec) -> RunRef:
        """Start the supervisor, detached from this process so the run survives opsctl."""
        proc = start(self.env, self.root, spec)
        self._children[spec.run_id] = proc  # kept to reap it: an unreaped supervisor lingers as a zombie
        return self.ref(spec.run_id)

    def find_run(self, spec: RunSpec) -> RunRef | None:
        """The run with this spec's run id, if it was started."""
        return self.ref(spec.run_id) if (self.root / spec.run_id / "pid").exists() else None

    def duplicates(self, spec: RunSpec, ref: RunRef) -> list[RunRef]:
        """None: a local run's directory is its run id, so a second launch cannot make another."""
        return []

    def ref(self, run: str) -> RunRef:
        """A local run id → its RunRef (UsageError for what cannot be one, NotFound for an unknown one)."""
        if not RUN_ID.fullmatch(run):
            shown = run if len(run) <= 80 else f"{run[:80]}… ({len(run)} characters)"
            raise UsageError(
                f"{shown!r} is not a local run id (like 20261201T081500Z-1a2b3c4d: letters, digits, - and _)"
            )
        run_dir = self.root / run
        if not (run_dir / "meta.json").exists():
            raise NotFound(f"no local run {run!r} in {self.root} (see: opsctl history {self.env.name})")
        return RunRef(id=run, log_url=str(run_dir / "log.jsonl"))

    def poll(self, ref: RunRef) -> Status:
        """STOPPED once exit.json exists; RUNNING while the supervisor lives; with --tasks N, every copy."""
        run_dir = self.root / ref.id
        if ref.id in self._children:
            self._children[ref.id].poll()
        return status_of(run_dir)

    def read_logs(self, ref: RunRef, cursor: str | None) -> LogPage:
        """Lines after byte offset `cursor` of the run's log file."""
        return read_page(self.root / ref.id / "log.jsonl", cursor)

    def stop(self, ref: RunRef, reason: str) -> None:
        """SIGTERM the supervisor, which stops the task's process group, each copy's with --tasks N (SIGKILL after
        a grace), and starts no more copies; then record why.

        The signal comes first: bookkeeping that fails (a full disk, a read-only state directory) must never
        keep a run from stopping.
        """
        run_dir = self.root / ref.id
        if (run_dir / "exit.json").exists() or not alive(run_dir):
            return
        pid = supervisor_pid(run_dir)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            write_private(run_dir / "stop.json", json.dumps({"reason": reason}))
        except OSError as e:
            self._warnings.append(f"run {ref.id} was stopped, but its stop reason could not be recorded: {e.strerror}")

    def _runs(self, newest_first: bool = False) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Each run directory with its meta.json; a damaged one is skipped with a warning (see `warnings`)."""
        if not self.root.is_dir():
            return
        for run_dir in sorted(self.root.iterdir(), reverse=newest_first):
            if not RUN_ID.fullmatch(run_dir.name) or not run_dir.is_dir():
                continue
            try:
                meta = read_json(run_dir / "meta.json")
                if meta is not None and not all(isinstance(meta.get(k), str) for k in ("env", "task")):
                    raise Damaged(f"{run_dir / 'meta.json'} is damaged (no env or task)")
            except (Damaged, OSError) as e:
                self._warnings.append(f"skipped run {run_dir.name}: {e}")
                continue
            if meta is not None:
                yield run_dir, meta

    @contextlib.contextmanager
    def launch_lock(self, env: str, task: str) -> Iterator[None]:
        """Held from the concurrency check until the run exists: two launches at once take turns (flock), so
        the second one sees the first one's run. Released when the process ends, however it ends."""
        try:
            private_dir(self.root)
            fd = os.open(self.root / f".launch-{env}-{task}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            yield  # an unusable state directory: the launch itself says so, with the fix
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def active_runs(self, env: str, task: str) -> list[RunRef]:
        """Local runs of this task in this env whose supervisor is still alive."""
        return [
            self.ref(run_dir.name)
            for run_dir, meta in self._runs()
            if meta["env"] == env and meta["task"] == task and not (run_dir / "exit.json").exists() and alive(run_dir)
        ]

    def info(self, ref: RunRef) -> RunInfo:
        """What meta.json and exit.json say about a local run (what is damaged stays unknown)."""
        try:
            meta = read_json(self.root / ref.id / "meta.json") or {}
        except Damaged as e:
            self._warnings.append(str(e))
            meta = {}
        status = self.poll(ref)

        def text(key: str) -> str | None:
            value = meta.get(key)
            return value if isinstance(value, str) else None

        return RunInfo(
            ref=ref,
            env=text("env"),
            task=text("task"),
            actor=text("actor"),
            started_at=status.started_at,
            stopped_at=status.stopped_at,
            state=status.state,
            exit_code=status.exit_code,
            run_id=ref.id,
            created_at=status.started_at,
            tasks=copy_count(self.root / ref.id),
        )

    def recent_runs(self, env: str, limit: int) -> list[RunInfo]:
        """Local runs of this env, newest first (run ids sort by start time)."""
        found: list[RunInfo] = []
        for run_dir, meta in self._runs(newest_first=True):
            if len(found) >= limit:
                break
            if meta["env"] == env:
                found.append(self.info(self.ref(run_dir.name)))
        return found

    def checks(self, tasks: list[TaskConfig]) -> list[Check]:
        """The workdir exists and every task's program can be found."""
        return checks(self.env, self.root, tasks)

    def registry_login(self, image: str) -> tuple[str, str]:
        """Local runs have no registry."""
        raise UsageError(f"environment {self.env.name!r} runs tasks as local processes: there is no registry")

    def close(self) -> None:
        """Nothing to release: the supervisor runs on without us."""

    def warnings(self) -> tuple[str, ...]:
        """Damaged run directories skipped, bookkeeping that failed; each said once."""
        said, self._warnings = tuple(self._warnings), []
        return said

    def set_image(self, image: str) -> str:
        """Local runs have no image."""
        raise UsageError(f"environment {self.env.name!r} runs tasks as local processes: there is no image to build")


def build(env: LocalEnv) -> LocalProvider:
    """The provider for a `local` environment (no clients: the state directory is the only resource)."""
    return LocalProvider(env)
