"""`provider = "local"`: the task runs as a supervised subprocess. The reference Provider, and its factory."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from opsctl.config import LocalEnv, TaskConfig
from opsctl.errors import NotFound, UsageError
from opsctl.model import Check, LogPage, RunInfo, RunRef, RunSpec, Status, Timing
from opsctl.providers.local.admin import checks
from opsctl.providers.local.launch import argv, check_size, child_env, start, supervisor_argv
from opsctl.providers.local.logs import read_page
from opsctl.providers.local.status import alive, status_of
from opsctl.state import state_dir

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

    def target(self) -> list[tuple[str, str]]:
        """The working directory the task runs in."""
        return [("workdir", str(self.env.workdir))]

    def plan(self, spec: RunSpec) -> dict[str, Any]:
        """The process that launch would start (UsageError when the OS could not start it: E2BIG)."""
        check_size(supervisor_argv(self.root / spec.run_id, argv(spec)), child_env(spec))
        return {"argv": list(argv(spec)), "cwd": str(self.env.workdir), "env": spec.env_dict()}

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
        """STOPPED once exit.json exists; RUNNING while the supervisor lives."""
        run_dir = self.root / ref.id
        if ref.id in self._children:
            self._children[ref.id].poll()
        return status_of(run_dir)

    def read_logs(self, ref: RunRef, cursor: str | None) -> LogPage:
        """Lines after byte offset `cursor` of the run's log file."""
        return read_page(self.root / ref.id / "log.jsonl", cursor)

    def stop(self, ref: RunRef, reason: str) -> None:
        """SIGTERM the supervisor, which stops the task's process group (SIGKILL after a grace)."""
        run_dir = self.root / ref.id
        if (run_dir / "exit.json").exists():
            return
        (run_dir / "stop.json").write_text(json.dumps({"reason": reason}), encoding="utf-8")
        pid = int((run_dir / "pid").read_text(encoding="utf-8"))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)

    def active_runs(self, env: str, task: str) -> list[RunRef]:
        """Local runs of this task in this env whose supervisor is still alive."""
        if not self.root.is_dir():
            return []
        found = []
        for run_dir in sorted(self.root.iterdir()):
            meta_file = run_dir / "meta.json"
            if not meta_file.exists() or (run_dir / "exit.json").exists() or not alive(run_dir):
                continue
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            if meta["env"] == env and meta["task"] == task:
                found.append(self.ref(run_dir.name))
        return found

    def info(self, ref: RunRef) -> RunInfo:
        """What meta.json and exit.json say about a local run."""
        meta = json.loads((self.root / ref.id / "meta.json").read_text(encoding="utf-8"))
        status = self.poll(ref)
        return RunInfo(
            ref=ref,
            env=meta["env"],
            task=meta["task"],
            actor=meta["actor"],
            started_at=datetime.fromisoformat(meta["started_at"]),
            stopped_at=status.stopped_at,
            state=status.state,
            exit_code=status.exit_code,
        )

    def recent_runs(self, env: str, limit: int) -> list[RunInfo]:
        """Local runs of this env, newest first (run ids sort by start time)."""
        if not self.root.is_dir():
            return []
        found: list[RunInfo] = []
        for run_dir in sorted(self.root.iterdir(), reverse=True):
            if len(found) >= limit:
                break
            meta_file = run_dir / "meta.json"
            if meta_file.exists() and json.loads(meta_file.read_text(encoding="utf-8"))["env"] == env:
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
        """A local run has nothing to warn about."""
        return ()

    def set_image(self, image: str) -> str:
        """Local runs have no image."""
        raise UsageError(f"environment {self.env.name!r} runs tasks as local processes: there is no image to build")


def build(env: LocalEnv) -> LocalProvider:
    """The provider for a `local` environment (no clients: the state directory is the only resource)."""
    return LocalProvider(env)
