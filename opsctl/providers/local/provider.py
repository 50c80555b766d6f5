"""`provider = "local"`: the task runs as a supervised subprocess. The reference Provider."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from opsctl.config import LocalEnv, TaskConfig
from opsctl.errors import LaunchError, NotFound, UsageError
from opsctl.model import Check, LogLine, LogPage, RunInfo, RunRef, RunSpec, State, Status, Timing
from opsctl.state import state_dir

PAGE_BYTES = 4 * 1024 * 1024
SUPERVISOR = Path(__file__).with_name("supervisor.py")


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
        """The process that launch would start."""
        return {"argv": list(self._argv(spec)), "cwd": str(self.env.workdir), "env": spec.env_dict()}

    def _argv(self, spec: RunSpec) -> tuple[str, ...]:
        if not spec.command:
            raise LaunchError(
                f"task {spec.task!r} has no command, and a local run has no image to fall back on: set "
                f"tasks.{spec.task}.command or environments.{spec.env}.tasks.{spec.task}.command"
            )
        return spec.command

    def launch(self, spec: RunSpec) -> RunRef:
        """Start the supervisor, detached from this process so the run survives opsctl."""
        argv = self._argv(spec)
        if not self.env.workdir.is_dir():
            raise LaunchError(f"environments.{spec.env}.workdir {str(self.env.workdir)!r} is not a directory")
        exe = argv[0] if os.sep in argv[0] else shutil.which(argv[0])
        if exe is None or not Path(self.env.workdir, exe).exists():
            raise LaunchError(f"command {argv[0]!r} not found (PATH, or relative to {self.env.workdir})")
        run_dir = self.root / spec.run_id
        run_dir.mkdir(parents=True, exist_ok=False)
        meta = {
            "env": spec.env,
            "task": spec.task,
            "actor": spec.actor,
            "origin": spec.origin,
            "started_at": datetime.now().astimezone().isoformat(),
        }
        (run_dir / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        # Python tasks block-buffer a piped stdout; unbuffered, their lines stream as they are printed.
        child_env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env_dict()}
        proc = subprocess.Popen(
            # -I: the supervisor is stdlib-only, so skip site-packages and start ~3x faster.
            [sys.executable, "-I", str(SUPERVISOR), str(run_dir), "--", *argv],
            cwd=self.env.workdir,
            env=child_env,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        (run_dir / "pid").write_text(str(proc.pid), encoding="utf-8")
        self._children[spec.run_id] = proc  # kept to reap it: an unreaped supervisor lingers as a zombie
        return self.ref(spec.run_id)

    def find_run(self, spec: RunSpec) -> RunRef | None:
        """The run with this spec's run id, if it was started."""
        return self.ref(spec.run_id) if (self.root / spec.run_id / "pid").exists() else None

    def ref(self, run: str) -> RunRef:
        """A local run id → its RunRef."""
        run_dir = self.root / run
        if not run.strip() or "/" in run or not (run_dir / "meta.json").exists():
            raise NotFound(f"no local run {run!r} in {self.root} (see: opsctl history {self.env.name})")
        return RunRef(id=run, log_url=str(run_dir / "log.jsonl"))

    def poll(self, ref: RunRef) -> Status:
        """STOPPED once exit.json exists; RUNNING while the supervisor lives."""
        run_dir = self.root / ref.id
        if ref.id in self._children:
            self._children[ref.id].poll()
        meta = json.loads((run_dir / "meta.json").read_text(encoding="utf-8"))
        started = datetime.fromisoformat(meta["started_at"])
        exit_file = run_dir / "exit.json"
        if exit_file.exists():
            done = json.loads(exit_file.read_text(encoding="utf-8"))
            stop = run_dir / "stop.json"
            reason = done.get("reason")
            if stop.exists():
                reason = json.loads(stop.read_text(encoding="utf-8"))["reason"]
            details = (("signal", str(done["signal"])),) if done.get("signal") else ()
            return Status(
                State.STOPPED,
                "exited",
                exit_code=done["exit_code"],
                reason=reason,
                details=details,
                started_at=started,
                stopped_at=datetime.fromisoformat(done["stopped_at"]),
            )
        if _alive(run_dir):
            return Status(State.RUNNING, "running", started_at=started)
        if exit_file.exists():  # it finished between the two checks
            return self.poll(ref)
        return Status(
            State.STOPPED,
            "lost",
            reason="the supervisor process died without recording an exit code",
            started_at=started,
        )

    def read_logs(self, ref: RunRef, cursor: str | None) -> LogPage:
        """Lines after byte offset `cursor` of the run's log file."""
        offset = int(cursor or 0)
        path = self.root / ref.id / "log.jsonl"
        if not path.exists():
            return LogPage((), cursor)
        with path.open("rb") as f:
            f.seek(offset)
            chunk = f.read(PAGE_BYTES)
        end = chunk.rfind(b"\n") + 1  # only whole lines: the supervisor may be mid-write
        lines = []
        for raw in chunk[:end].splitlines():
            record = json.loads(raw)
            lines.append(LogLine(record["m"], datetime.fromisoformat(record["t"]), record["s"]))
        return LogPage(tuple(lines), str(offset + end) if end else cursor, more=len(chunk) == PAGE_BYTES)

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
            if not meta_file.exists() or (run_dir / "exit.json").exists() or not _alive(run_dir):
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
        workdir = self.env.workdir
        results = [
            Check(f"workdir {workdir}", workdir.is_dir(), fix=f"create it or fix environments.{self.env.name}.workdir")
        ]
        for task in tasks:
            if not task.command:
                results.append(
                    Check(
                        f"task {task.name}: command",
                        False,
                        "no command (a local run has no image)",
                        f"set environments.{self.env.name}.tasks.{task.name}.command",
                    )
                )
                continue
            program = sys.executable if task.command[0] == "{python}" else task.command[0]
            found = shutil.which(program) if os.sep not in program else str(workdir / program)
            ok = found is not None and Path(found).exists()
            results.append(
                Check(
                    f"task {task.name}: {task.command[0]}",
                    ok,
                    found or "not found",
                    "" if ok else f"install {program!r} or fix the task's command",
                )
            )
        root = self.root
        root.mkdir(parents=True, exist_ok=True)
        results.append(
            Check(f"state dir {root}", os.access(root, os.W_OK), fix="make it writable or set XDG_STATE_HOME")
        )
        return results

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


def _alive(run_dir: Path) -> bool:
    try:
        pid = int((run_dir / "pid").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent opsctl) is not alive.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def build(env: LocalEnv) -> LocalProvider:
    """The provider for a `local` environment (no clients: the state directory is the only resource)."""
    return LocalProvider(env)
