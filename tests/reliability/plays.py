"""What the tasks of the reliability suite do, and how their runs are driven in-process.

Every run has a Plan: the lines its task writes (some of them carrying the run's secret, which the task
received in its env), the exit code it ends with, and the lines that reach the log store only after the
task stopped. The Cloud Run fake plays a Plan from the execution's env (the task reads its own env), the
ECS "agent" plays it on moto from the RunTask request, and a local run is a real Python process.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsctl.model import LogLine, RunRef, RunSpec, Status
from opsctl.runner import Observer, RetryPolicy
from tests.contract import RecordingObserver, make_spec
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.gcp import Line, Script
from tests.fakes.moto_ecs import EcsWorld, script_state, script_stop

EXIT_CODES = (0, 1, 3, 5, 42)
FOREVER = 1e9  # a Plan's run_s for a task that runs until it is stopped
SECRET_VAR = "ADMIN_PASSWORD"
SECRET_MARK = "@SECRET@"  # where the task prints the value of its SECRET_VAR
MASK = "***"  # what opsctl shows instead of a secret (DESIGN.md §6)

# Secret values with regex, markdown, HTML, shell and workflow-command syntax in them, and JSON syntax that
# a JSON string carries unescaped; values a JSON encoder must escape are exercised by test_secrets.py.
SECRETS = (
    "hunter2.*+?^$",
    "p|a*s_s[wo](rd)~#",
    "{json}:[1,2],{}",
    "<b>&amp;</b>-9f3",
    "%0A::stop-commands::x",
    "$(rm -rf)`id`;|&",
    "ünïcödé-秘密-🔑",
    "a1B2 c3D4 e5F6",
)

# Retries far faster than opsctl's defaults, and more of them: with opsctl's 12, 3 to 13 ECS launches in 100 run
# out of attempts under 30 % faults (a known bug: test_faults.py::test_an_ecs_launch_survives_failures_spread_…).
RETRY = RetryPolicy(base_s=0.01, max_wait_s=0.1, max_s=30.0, attempts=40)


@dataclass(frozen=True)
class Plan:
    """One run of a task: what it writes, how it ends."""

    run_id: str
    secret: str
    exit_code: int
    lines: tuple[str, ...]  # written while the task runs (SECRET_MARK stands for the secret it received)
    late: tuple[str, ...] = ()  # reach the log store after the task stopped
    start_after_s: float = 0.1  # pending this long
    run_s: float = 0.4  # then running this long (FOREVER: until stopped)

    @property
    def forever(self) -> bool:
        """The task runs until it is stopped."""
        return self.run_s >= FOREVER

    @property
    def pace_s(self) -> float:
        """Seconds between two of its lines."""
        return 0.05 if self.forever else self.run_s * 0.8 / max(len(self.lines), 1)

    def written(self, secret: str | None = None) -> list[str]:
        """Every line the task wrote, in order, as it wrote them."""
        value = self.secret if secret is None else secret
        return [line.replace(SECRET_MARK, value) for line in (*self.lines, *self.late)]

    def expected(self) -> list[str]:
        """The lines opsctl must relay: every written line, once, in order, the secret masked."""
        return [line.replace(self.secret, MASK) for line in self.written()]

    def result(self) -> dict[str, Any]:
        """The result line's object, as opsctl must report it (the secret masked)."""
        return {"ok": self.exit_code == 0, "code": self.exit_code, "echo": MASK}


def result_line(exit_code: int) -> str:
    """The task's result line (DESIGN.md §4), echoing its secret; canonical JSON (keys sorted, compact), the
    form Cloud Run's jsonPayload comes back in, so every provider relays it unchanged."""
    payload = {"ok": exit_code == 0, "code": exit_code, "echo": SECRET_MARK}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def make_plan(
    rng: random.Random, run_id: str, *, exit_code: int | None = None, lines: int | None = None, late: bool = True
) -> Plan:
    """A random task: 5–40 lines (two print the secret), a result line, and 0–3 late lines."""
    code = rng.choice(EXIT_CODES) if exit_code is None else exit_code
    n = rng.randint(5, 40) if lines is None else lines
    body = [f"{run_id} line {i:03d} " + "x" * rng.randint(0, 60) for i in range(n)]
    body.insert(rng.randint(0, len(body)), f"connecting with password {SECRET_MARK}")
    body.insert(rng.randint(0, len(body)), f"DEBUG env {SECRET_VAR}={SECRET_MARK} (a task that leaks its secret)")
    body.append(result_line(code))
    tail = tuple(f"{run_id} late {i}" for i in range(rng.randint(0, 3) if late else 0))
    return Plan(
        run_id=run_id,
        secret=rng.choice(SECRETS),
        exit_code=code,
        lines=tuple(body),
        late=tail,
        start_after_s=rng.uniform(0.05, 0.3),
        run_s=rng.uniform(0.2, 0.6),
    )


def run_id(seed: int, i: int) -> str:
    """A valid, unique run id (the idempotency key of the launch)."""
    return f"20260101T000000Z-{(seed * 7919 + i) % 2**32:08x}"


def plan_spec(
    plan: Plan,
    command: tuple[str, ...] = ("python", "-m", "admin_task"),
    *,
    env_name: str = "staging",
    task: str = "create-superadmin",
) -> RunSpec:
    """The RunSpec of a plan: the secret in the task's env, as build_spec puts a secret parameter there."""
    return make_spec(
        command,
        {"ADMIN_ACTION": task, SECRET_VAR: plan.secret},
        env_name=env_name,
        task=task,
        run_id=plan.run_id,
        secrets=frozenset({plan.secret}),
    )


@dataclass
class Tee:
    """Tells both a RecordingObserver (for the assertions) and opsctl's own observer (the real output)."""

    seen: RecordingObserver
    shown: Observer
    on_launched: Callable[[], None] | None = None
    on_first_line: Callable[[], None] | None = None

    def launched(self, ref: RunRef) -> None:
        self.seen.launched(ref)
        self.shown.launched(ref)
        if self.on_launched is not None:
            self.on_launched()

    def status(self, status: Status, elapsed_s: float) -> None:
        self.shown.status(status, elapsed_s)
        self.seen.status(status, elapsed_s)

    def log(self, line: LogLine) -> None:
        self.seen.log(line)
        self.shown.log(line)
        if self.on_first_line is not None and len(self.seen.lines) == 1:
            self.on_first_line()

    def notice(self, message: str) -> None:
        self.seen.notice(message)
        self.shown.notice(message)


# -- Cloud Run: the fake derives an execution's script from its env ------------------------------------------


def cloudrun_script(plans: Mapping[str, Plan]) -> Script:
    """The fake's default script: play the Plan of the execution's OPSCTL_RUN_ID (an unknown run: exit 0)."""

    def behaviour(env: Mapping[str, str]) -> Script:
        plan = plans.get(env.get("OPSCTL_RUN_ID", ""))
        if plan is None:
            return Script(start_after=0.05, run_for=0.05)
        written = plan.written(env.get(SECRET_VAR, "?"))
        body, late = written[: len(plan.lines)], written[len(plan.lines) :]
        lines = [Line(i * plan.pace_s, text) for i, text in enumerate(body)]
        # Late lines: printed at the very end, ingested by Cloud Logging (after its delay: GcpStack) once the
        # execution has completed.
        lines += [Line(plan.run_s, text) for text in late if not plan.forever]
        return Script(
            start_after=plan.start_after_s,
            run_for=None if plan.forever else plan.run_s,
            exit_codes=(plan.exit_code,),
            lines=lines,
            cancel_takes=0.1,
        )

    return Script(behaviour=behaviour)


# -- ECS: an agent plays each task moto starts -----------------------------------------------------------------


@dataclass
class EcsAgent:
    """Plays the ECS agent and the awslogs driver on moto, for every task RunTask starts (seen at the proxy).

    Pending for the plan's start_after_s, then running: writes its lines in a few batches, then stops with
    the plan's exit code; the late lines are written when DescribeTasks first reports it STOPPED (before
    opsctl hears it). A task stopped from outside (StopTask) writes nothing more.
    """

    world: EcsWorld
    proxy: FaultProxy
    plans: dict[str, Plan]
    errors: list[BaseException] = field(default_factory=list)
    started: dict[str, str] = field(default_factory=dict)  # task ARN → run id

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._late_done: set[str] = set()
        self._halt = threading.Event()
        self._threads: list[threading.Thread] = []
        self.proxy.after("RunTask", self._on_run_task)
        self.proxy.after("DescribeTasks", self._on_describe)

    def __enter__(self) -> EcsAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        for thread in list(self._threads):
            thread.join(timeout=30)

    def _on_run_task(self, request: bytes, response: bytes) -> None:
        try:
            env = {
                e["name"]: e["value"]
                for o in json.loads(request).get("overrides", {}).get("containerOverrides", [])
                for e in o.get("environment", [])
            }
            for task in json.loads(response).get("tasks") or []:
                plan = self.plans.get(env.get("OPSCTL_RUN_ID", ""))
                if plan is None:
                    continue
                with self._lock:
                    self.started[task["taskArn"]] = plan.run_id
                script_state(self.world.task(task["taskArn"]), "PENDING")
                worker = threading.Thread(target=self._play, args=(task["taskArn"], plan, env), daemon=True)
                self._threads.append(worker)
                worker.start()
        except BaseException as e:  # surfaced by the test
            self.errors.append(e)

    def _play(self, arn: str, plan: Plan, env: Mapping[str, str]) -> None:
        try:
            task = self.world.task(arn)
            if self._halt.wait(plan.start_after_s) or task.last_status == "STOPPED":
                return
            script_state(task, "RUNNING")
            written = plan.written(env.get(SECRET_VAR, "?"))[: len(plan.lines)]
            batches = max(1, min(4, len(written)))
            size = -(-len(written) // batches)
            for start in range(0, len(written), size):
                if task.last_status == "STOPPED":
                    return
                self.world.write_logs(arn, written[start : start + size])
                if self._halt.wait(plan.pace_s * size):
                    return
            if plan.forever:
                while not self._halt.wait(0.05) and task.last_status != "STOPPED":
                    pass
                return
            with self._lock:
                if task.last_status != "STOPPED":
                    script_stop(task, exit_code=plan.exit_code)
        except BaseException as e:
            self.errors.append(e)

    def _on_describe(self, request: bytes, response: bytes) -> None:
        try:
            for task in json.loads(response).get("tasks") or []:
                arn = task["taskArn"]
                with self._lock:
                    if task["lastStatus"] != "STOPPED" or arn in self._late_done:
                        continue
                    self._late_done.add(arn)
                    run = self.started.get(arn)
                plan = self.plans.get(run or "")
                if plan is not None and plan.late:
                    self.world.write_logs(arn, list(plan.late))
        except BaseException as e:
            self.errors.append(e)


# -- local: a real Python process ------------------------------------------------------------------------------

LOCAL_TASK = """\
import json, os, sys, time
plan = json.loads(sys.argv[1])
secret = os.environ["ADMIN_PASSWORD"]
if plan.get("pidfile"):
    with open(plan["pidfile"], "w") as f:
        f.write(str(os.getpid()))
time.sleep(plan["start_after_s"])
for i, line in enumerate(plan["lines"]):
    print(line.replace("@SECRET@", secret), flush=True)
    time.sleep(plan["every_s"])
if plan["forever"]:
    time.sleep(3600)
sys.exit(plan["exit_code"])
"""


def local_command(plan: Plan, pidfile: str | None = None) -> tuple[str, ...]:
    """The argv of a local task that plays `plan` (its lines, timing and exit code; late lines don't exist)."""
    data = {
        "lines": list(plan.lines),
        "start_after_s": plan.start_after_s,
        "every_s": plan.pace_s,
        "exit_code": plan.exit_code,
        "forever": plan.forever,
        "pidfile": pidfile,
    }
    return (sys.executable, "-c", LOCAL_TASK, json.dumps(data))


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def local_orphans(root: Path, pids: Path, grace_s: float = 10.0) -> list[str]:
    """Supervisors and tasks still alive once their runs are over (each gets a grace to finish exiting)."""
    found = {f"supervisor {p.parent.name}": int(p.read_text()) for p in root.glob("*/pid")}
    found |= {f"task {p.stem}": int(p.read_text()) for p in pids.glob("*.pid") if p.read_text().strip()}
    deadline = time.monotonic() + grace_s
    while any(alive(pid) for pid in found.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [f"{name} (pid {pid})" for name, pid in found.items() if alive(pid)]
