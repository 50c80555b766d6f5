"""Cancellation: SIGINT and SIGTERM at random moments of a run, on every provider.

The signal reaches the runner as opsctl's signal handler delivers it: CancelToken.request(signum), here
from a timer thread or from the fake's side while a call is in flight. Each trial picks a moment, and
the moment fixes the outcome:

- before launch: the token was set before run() — nothing is launched; opsctl says so (an error, no stop).
- launching: the signal comes while the launch call is in flight — one run is launched, then stopped:
  130 (SIGINT) / 143 (SIGTERM). (Local runs launch in a few milliseconds, so their signal comes from a
  timer 0–10 ms after run() starts: either nothing was launched, as above, or it was launched and stopped.)
- pending: after the launch returned, before the task runs (prints) — stopped: 130 / 143.
- running: while the task runs (it would never end by itself) — stopped: 130 / 143.
- draining (clouds): after opsctl saw the run stop by itself, while it drains the last lines — the task's
  own exit code; no stop is issued.
- ending (local, whose drain is a single read): around the moment the task exits by itself — if opsctl
  issued a stop, 130 / 143; if it had seen the exit first, the task's own code.

Every stopped run: the remote stop (CancelExecution, StopTask, the supervisor's SIGTERM) measured on the
fake's side within 3 s of the signal. At the end: no execution, task or process left running.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from opsctl.cancel import CancelToken
from opsctl.config import LocalEnv
from opsctl.errors import OpsctlError
from opsctl.model import Outcome, RunResult, State, Status
from opsctl.progress import observer_for
from opsctl.providers import Provider
from opsctl.redact import Redactor
from opsctl.runner import Runner
from opsctl.sinks import finish
from tests.contract import RecordingObserver
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.gcp import FakeGcp
from tests.fakes.moto_ecs import EcsWorld
from tests.reliability.conftest import GcpStack, Report
from tests.reliability.leaks import Channels, describe
from tests.reliability.plays import (
    FOREVER,
    RETRY,
    EcsAgent,
    Plan,
    Tee,
    cloudrun_script,
    local_command,
    local_orphans,
    make_plan,
    plan_spec,
    run_id,
)

TRIALS = 20  # per signal and provider (x --soak)
WORKERS = 4
STOP_BOUND_S = 3.0  # the bound: the remote stop within 3 s of the signal
CLOCK_GRAIN_S = 0.05  # a file's mtime (the local stop's time) can read a few ms before time.time() said
CLOUD_MOMENTS = ("before launch", "launching", "pending", "running", "draining")
LOCAL_MOMENTS = ("before launch", "launching", "pending", "running", "ending")
SIGNALS: dict[int, tuple[Outcome, int]] = {
    signal.SIGINT: (Outcome.INTERRUPTED, 130),
    signal.SIGTERM: (Outcome.TERMINATED, 143),
}
NOTHING_STARTED = "interrupted before launch; nothing was started"


@dataclass
class Trial:
    """One signal at one moment of one run, and what came of it."""

    provider: str
    signum: int
    moment: str
    plan: Plan
    rng: random.Random
    clock: Callable[[], float]  # the clock the fake's stop time is measured on
    cancel: CancelToken = field(default_factory=CancelToken)
    seen: RecordingObserver = field(default_factory=RecordingObserver)
    requested_at: float | None = None
    lines_before: int | None = None  # task lines relayed when the signal came
    ended_at: float | None = None
    result: RunResult | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        self._fired = threading.Event()
        self._timers: list[threading.Timer] = []

    def fire(self) -> None:
        """Deliver the signal now (once)."""
        if not self._fired.is_set():
            self._fired.set()
            self.lines_before = len(self.seen.lines)
            self.requested_at = self.clock()
            self.cancel.request(self.signum)

    def fire_within(self, low: float, high: float) -> None:
        """Deliver the signal after a random delay in [low, high] s (once)."""
        if not self._fired.is_set() and not self._timers:
            timer = threading.Timer(self.rng.uniform(low, high), self.fire)
            timer.daemon = True
            self._timers.append(timer)
            timer.start()

    def join(self) -> None:
        for timer in self._timers:
            timer.join(timeout=30)

    # The moments the runner's own observations mark (the others are marked on the fake's side).

    def on_status(self, status: Status) -> None:
        # A pending moment the runner never observed (its first poll came after the task had started, as on a
        # loaded machine) fires at the first RUNNING instead: the task runs until stopped, so a trial whose
        # moment never came would otherwise wait forever. Either way the signal must stop the task.
        pending = self.moment == "pending" and status.state in (State.PENDING, State.RUNNING)
        if pending or (self.moment == "running" and status.state is State.RUNNING and self.provider != "local"):
            self.fire_within(0.0, 0.25)

    def on_launched(self) -> None:
        """Local runs have no pending state: pending is the moment after the launch, before the task printed;
        ending is around the moment it exits by itself (after its start-up, pause and lines)."""
        if self.provider != "local":
            return
        if self.moment == "pending":
            self.fire_within(0.0, 0.05)
        elif self.moment == "ending":
            end = self.plan.start_after_s + self.plan.run_s  # plus a Python start-up or two
            self.fire_within(end - 0.1, end + 0.5)

    def on_first_line(self) -> None:
        if self.moment == "running" and self.provider == "local":
            self.fire_within(0.0, 0.25)

    @property
    def stopped_by_signal(self) -> tuple[Outcome, int]:
        return SIGNALS[self.signum]

    def late_interrupt(self, stop_at: float | None) -> bool:
        """The task exited by itself between opsctl's last look (it polls once more before stopping) and its
        stop, which then found nothing to stop: the run is reported interrupted/terminated. A race no look can
        close; tolerated, and counted."""
        got = (self.result.outcome, self.result.exit_status) if self.result else None
        return self.moment == "ending" and stop_at is None and got == self.stopped_by_signal

    def judge(self, launched: int, stop_at: float | None) -> list[str]:
        """What is wrong with the trial's outcome for its moment (nothing, if it is right)."""
        name = f"{self.plan.run_id} {signal.Signals(self.signum).name} {self.moment}"
        if self.result is None:
            early = self.moment == "before launch" or (self.moment == "launching" and self.provider == "local")
            if early and self.error and NOTHING_STARTED in self.error and launched == 0 and stop_at is None:
                return []
            return [f"{name}: error {self.error!r} with {launched} launched"]
        got = (self.result.outcome, self.result.exit_status)
        delay = None if stop_at is None or self.requested_at is None else stop_at - self.requested_at
        wrong = []
        if launched != 1:
            wrong.append(f"{name}: {launched} runs launched")
        if self.late_interrupt(stop_at):
            return wrong
        if self.moment == "draining" or (self.moment == "ending" and stop_at is None):
            own = (Outcome.SUCCEEDED if self.plan.exit_code == 0 else Outcome.FAILED, self.plan.exit_code)
            if got != own or stop_at is not None:
                wrong.append(f"{name}: {got}, stop issued: {stop_at is not None}; expected the task's own {own}")
            return wrong
        if got != self.stopped_by_signal:
            wrong.append(f"{name}: {got}, expected {self.stopped_by_signal}; notices {self.seen.notices[-3:]}")
        if delay is None:
            wrong.append(f"{name}: no stop was issued")
        elif not -CLOCK_GRAIN_S <= delay <= STOP_BOUND_S:
            wrong.append(f"{name}: the stop came {delay:.2f}s after the signal")
        return wrong


def drive(provider: Provider, trial: Trial, scale: float, command: tuple[str, ...] | None = None) -> None:
    """Run the trial's plan through the real Runner with the signal wired to its moment, and finish() it as
    opsctl does."""
    spec = plan_spec(trial.plan, command) if command else plan_spec(trial.plan)
    shown = observer_for(spec.env, spec.task, no_color=True)
    trial.seen.on_status = trial.on_status
    tee = Tee(trial.seen, shown, on_launched=trial.on_launched, on_first_line=trial.on_first_line)
    runner = Runner(provider, spec, tee, cancel=trial.cancel, retry=RETRY, timing=provider.timing.scaled(scale))
    if trial.moment == "before launch":
        trial.fire()
    elif trial.moment == "launching" and trial.provider == "local":
        trial.fire_within(0.0, 0.01)
    try:
        trial.result = runner.run()
    except OpsctlError as e:
        trial.error = f"{type(e).__name__}: {e}"
    finally:
        trial.ended_at = trial.clock()
        shown.close()
    if trial.result is not None:
        finish(trial.result, Redactor(spec.secret_values), spec.origin, "text", no_color=True)


def make_trials(
    provider: str, rng: random.Random, seed: int, n: int, moments: tuple[str, ...], clock: Callable[[], float]
) -> list[Trial]:
    """`n` SIGINT and `n` SIGTERM trials, the moments taken in turn; a task ends by itself only when the moment
    needs it to (draining, ending), else it runs until stopped."""
    trials = []
    for i in range(2 * n):
        signum = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
        moment = moments[(i // 2) % len(moments)]
        plan = replace(
            make_plan(rng, run_id(seed, 1000 + i), lines=rng.randint(3, 12), late=False),
            start_after_s=rng.uniform(0.4, 0.7) if moment == "pending" else rng.uniform(0.05, 0.2),
            run_s=rng.uniform(0.2, 0.4) if moment in ("draining", "ending") else FOREVER,
        )
        trials.append(Trial(provider, signum, moment, plan, random.Random(rng.random()), clock))
    return trials


def run_trials(trials: list[Trial], one: Callable[[Trial], None]) -> None:
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, trials))
    for trial in trials:
        trial.join()


def summary(provider: str, trials: list[Trial], problems: list[str], delays: list[float], extra: str) -> str:
    by = Counter(f"{signal.Signals(t.signum).name} {t.moment}" for t in trials)
    worst = f"{max(delays):.2f}s" if delays else "-"
    median = f"{sorted(delays)[len(delays) // 2]:.3f}s" if delays else "-"
    n = Counter(t.signum for t in trials)
    pending = [t for t in trials if t.moment == "pending"]
    quiet = sum(t.lines_before == 0 for t in pending)
    return (
        f"cancellation: {provider} {n[signal.SIGINT]} SIGINT + {n[signal.SIGTERM]} SIGTERM trials "
        f"({len(by)} signal × moment cases), {len(problems)} wrong outcomes, {len(delays)} stops issued "
        f"(median {median}, max {worst} after the signal; bound {STOP_BOUND_S:g}s){extra}; "
        f"{quiet} of {len(pending)} pending signals came before the task's first line"
    )


def scan_outputs(capsys: pytest.CaptureFixture[str], state: Path, trials: list[Trial]) -> int:
    out = capsys.readouterr()
    channels = Channels()
    channels.add("stdout", out.out)
    channels.add("stderr", out.err)
    channels.add_state(state)
    for t in trials:
        channels.add("relayed log lines", "\n".join(t.seen.messages + t.seen.notices))
    leaks = channels.leaks({t.plan.secret for t in trials})
    assert not leaks, describe(leaks)
    return channels.size


def judge_cloudrun(fake: FakeGcp, trials: list[Trial]) -> tuple[list[str], list[float], list[str]]:
    """Each trial's problems, the stop delays (on the fake's clock: when the cancel took effect), the orphans."""
    problems, delays = [], []
    for trial in trials:
        mine = [e for e in fake.executions if e.env.get("OPSCTL_RUN_ID") == trial.plan.run_id]
        stop_at = next((e.cancelled_at for e in mine if e.cancelled_at is not None), None)
        problems += trial.judge(len(mine), stop_at)
        if stop_at is not None and trial.requested_at is not None:
            delays.append(stop_at - trial.requested_at)
    now = fake.clock()
    orphans = [e.short for e in fake.executions if (e.done_at()[0] or float("inf")) > now]
    return problems, delays, orphans


def judge_ecs(world: EcsWorld, proxy: FaultProxy, trials: list[Trial]) -> tuple[list[str], list[float], list[str]]:
    """The same for ECS: the stop is the first StopTask that reached moto, as the proxy in front of it saw it."""
    from tests.fakes.moto_ecs import override_env

    stops: dict[str, list[float]] = {}
    for call in proxy.calls:
        if call.operation == "StopTask" and not {"throttle", "error500", "drop_before"} & set(call.faults):
            stops.setdefault(json.loads(call.body)["task"], []).append(call.at)
    problems, delays = [], []
    for trial in trials:
        mine = [t for t in world.tasks() if override_env(t).get("OPSCTL_RUN_ID") == trial.plan.run_id]
        times = [at for t in mine for at in stops.get(t.task_arn, [])]
        stop_at = min(times) if times else None
        problems += trial.judge(len(mine), stop_at)
        if stop_at is not None and trial.requested_at is not None:
            delays.append(stop_at - trial.requested_at)
    orphans = [t.task_arn for t in world.tasks() if t.last_status != "STOPPED"]
    return problems, delays, orphans


# -- Cloud Run -------------------------------------------------------------------------------------------------


def test_cloudrun_cancellation(
    gcp_stack: Callable[..., GcpStack],
    seed: int,
    soak: int,
    report: Report,
    capsys: pytest.CaptureFixture[str],
    isolated: Path,
) -> None:
    from google.cloud import run_v2

    from opsctl.providers.cloudrun import CloudRunProvider
    from opsctl.providers.cloudrun.clients import connect
    from tests.fakes.gcp.harness import staging

    rng = random.Random(seed)
    stack = gcp_stack()
    fake = stack.fake
    trials = make_trials("cloudrun", rng, seed, TRIALS * soak, CLOUD_MOMENTS, fake.clock)
    by_run = {t.plan.run_id: t for t in trials}
    fake.world.default_script = cloudrun_script({t.plan.run_id: t.plan for t in trials})

    def launching(request: bytes) -> None:  # RunJob on its way to the fake
        overrides = run_v2.RunJobRequest.pb().FromString(request).overrides.container_overrides
        trial = by_run.get(next((e.value for o in overrides for e in o.env if e.name == "OPSCTL_RUN_ID"), ""))
        if trial is not None and trial.moment == "launching":
            time.sleep(trial.rng.uniform(0, 0.05))
            trial.fire()

    def completed(request: bytes) -> None:  # ListTasks: opsctl reads the exit code of a completed execution
        parent = run_v2.ListTasksRequest.pb().FromString(request).parent
        execution = fake.world.executions.get(parent)
        trial = by_run.get(execution.env.get("OPSCTL_RUN_ID", "")) if execution else None
        if trial is not None and trial.moment == "draining":
            trial.fire_within(0.0, 0.3)

    stack.proxy.before.update(RunJob=launching, ListTasks=completed)

    def one(trial: Trial) -> None:
        provider = CloudRunProvider(staging(fake), connect(stack.address))
        try:
            drive(provider, trial, 0.05)
        finally:
            provider.close()

    run_trials(trials, one)

    problems, delays, orphans = judge_cloudrun(fake, trials)
    size = scan_outputs(capsys, isolated, trials)
    drained = sum(
        t.moment == "draining" and t.requested_at is not None and t.requested_at < (t.ended_at or 0) for t in trials
    )
    report(
        summary("cloudrun", trials, problems, delays, f", {len(orphans)} orphans")
        + f"; {drained} draining signals landed before opsctl finished; 0 secret leaks in {size:,} chars"
    )
    assert not problems, "\n".join(problems[:20])
    assert not orphans, f"executions still running: {orphans}"


# -- ECS ---------------------------------------------------------------------------------------------------------


def test_ecs_cancellation(
    ecs_world: EcsWorld,
    moto_proxy: FaultProxy,
    moto_clients: tuple[Any, Any],
    seed: int,
    soak: int,
    report: Report,
    capsys: pytest.CaptureFixture[str],
    isolated: Path,
) -> None:
    from opsctl.providers.ecs import EcsProvider
    from tests.fakes.ecs_play import ecs_env
    from tests.fakes.moto_ecs import REGION, client

    rng = random.Random(seed)
    trials = make_trials("ecs", rng, seed, TRIALS * soak, CLOUD_MOMENTS, time.monotonic)
    by_run = {t.plan.run_id: t for t in trials}
    agent = EcsAgent(ecs_world, moto_proxy, {t.plan.run_id: t.plan for t in trials})

    def launching(request: bytes, response: bytes) -> None:  # RunTask answered by moto, not yet heard by opsctl
        env = {
            e["name"]: e["value"]
            for o in json.loads(request).get("overrides", {}).get("containerOverrides", [])
            for e in o.get("environment", [])
        }
        trial = by_run.get(env.get("OPSCTL_RUN_ID", ""))
        if trial is not None and trial.moment == "launching":
            time.sleep(trial.rng.uniform(0, 0.05))
            trial.fire()

    def described(request: bytes, response: bytes) -> None:  # DescribeTasks: opsctl learns the task stopped
        for task in json.loads(response).get("tasks") or []:
            trial = by_run.get(agent.started.get(task["taskArn"], ""))
            if trial is not None and trial.moment == "draining" and task["lastStatus"] == "STOPPED":
                trial.fire_within(0.0, 0.15)

    moto_proxy.after("RunTask", launching)
    moto_proxy.after("DescribeTasks", described)

    def one(trial: Trial) -> None:
        provider = EcsProvider(
            ecs_env(ecs_world), *moto_clients, REGION, lambda service, region: client(service, moto_proxy.url)
        )
        drive(provider, trial, 0.1)

    with agent:
        run_trials(trials, one)
    assert agent.errors == []

    problems, delays, orphans = judge_ecs(ecs_world, moto_proxy, trials)
    size = scan_outputs(capsys, isolated, trials)
    report(
        summary("ecs", trials, problems, delays, f", {len(orphans)} orphans") + f"; 0 secret leaks in {size:,} chars"
    )
    assert not problems, "\n".join(problems[:20])
    assert not orphans, f"tasks still running: {orphans}"


# -- local: the in-process runner, real processes (real `opsctl run` processes: test_cancellation_cli.py) -------


def test_local_cancellation(
    tmp_path: Path,
    seed: int,
    soak: int,
    report: Report,
    capsys: pytest.CaptureFixture[str],
    isolated: Path,
) -> None:
    from opsctl.providers.local import LocalProvider

    rng = random.Random(seed)
    trials = make_trials("local", rng, seed, TRIALS * soak, LOCAL_MOMENTS, time.time)
    env = LocalEnv(name="staging", provider="local", source="opsctl.toml", workdir=tmp_path)
    root = isolated / "opsctl" / "local-runs"

    def one(trial: Trial) -> None:
        drive(LocalProvider(env), trial, 1.0, local_command(trial.plan, str(tmp_path / f"{trial.plan.run_id}.pid")))

    run_trials(trials, one)

    problems, delays = [], []
    for trial in trials:
        run_dir = root / trial.plan.run_id
        launched = int((run_dir / "pid").exists())
        stop_file = run_dir / "stop.json"
        stop_at = stop_file.stat().st_mtime if stop_file.exists() else None
        problems += trial.judge(launched, stop_at)
        if stop_at is not None and trial.requested_at is not None:
            delays.append(stop_at - trial.requested_at)
    orphans = local_orphans(root, tmp_path)
    size = scan_outputs(capsys, isolated, trials)
    ended = Counter(
        "stopped"
        if (root / t.plan.run_id / "stop.json").exists()
        else "reported interrupted after exiting by itself"
        if t.late_interrupt(None)
        else "exited first"
        for t in trials
        if t.moment == "ending"
    )
    report(
        summary("local", trials, problems, delays, f", {len(orphans)} orphan processes")
        + f"; ending: {dict(ended)}; 0 secret leaks in {size:,} chars"
    )
    assert not problems, "\n".join(problems[:20])
    assert not orphans, f"processes still alive: {orphans}"


def test_waiting_for_the_remote_stop_does_not_spin(gcp_stack: Callable[..., GcpStack], seed: int) -> None:
    """Cloud Run takes a while to cancel an execution (here 1.5 s): opsctl waits for it, polling now and then.

    The runner's clock is counted (the Runner takes its clock as a parameter): each turn of its loop reads it
    a few times. Polling every 0.1 s for 1.5 s takes a few dozen turns; spinning takes hundreds of thousands."""
    from opsctl.providers.cloudrun import CloudRunProvider
    from opsctl.providers.cloudrun.clients import connect
    from tests.fakes.gcp import Script
    from tests.fakes.gcp.harness import staging

    stack = gcp_stack()
    stack.fake.script(Script(start_after=0.05, run_for=None, cancel_takes=1.5))
    cancel = CancelToken()
    reads = Counter[str]()

    def clock() -> float:
        reads["after the signal" if cancel.requested else "before"] += 1
        return time.monotonic()

    def on_status(status: Status) -> None:
        if status.state is State.RUNNING and not cancel.requested:
            cancel.request(signal.SIGINT)

    provider = CloudRunProvider(staging(stack.fake), connect(stack.address))
    spec = plan_spec(make_plan(random.Random(seed), run_id(seed, 0)))
    try:
        timing = provider.timing.scaled(0.05)
        seen = RecordingObserver(on_status=on_status)
        result = Runner(provider, spec, seen, cancel=cancel, clock=clock, retry=RETRY, timing=timing).run()
    finally:
        provider.close()
    assert result.exit_status == 130
    assert reads["after the signal"] < 2000, f"{reads['after the signal']} clock reads while waiting for the stop"


def test_a_signal_after_the_task_exited_by_itself_keeps_its_exit_code(tmp_path: Path, isolated: Path) -> None:
    """The task has exited with 3 by the time the signal comes, and opsctl has not polled since."""
    from opsctl.providers.local import LocalProvider

    provider = LocalProvider(LocalEnv(name="staging", provider="local", source="opsctl.toml", workdir=tmp_path))
    plan = replace(make_plan(random.Random(0), run_id(0, 0), exit_code=3, lines=1), start_after_s=0.0, run_s=0.01)
    spec = plan_spec(plan, local_command(plan))
    ref = provider.launch(spec)
    run_dir = isolated / "opsctl" / "local-runs" / plan.run_id
    deadline = time.monotonic() + 30
    while not (run_dir / "exit.json").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    cancel = CancelToken()
    cancel.request(signal.SIGINT)
    result = Runner(provider, spec, RecordingObserver(), cancel=cancel, retry=RETRY, timing=provider.timing).watch(ref)
    assert not (run_dir / "stop.json").exists()  # nothing was left to stop
    assert (result.outcome, result.exit_status) == (Outcome.FAILED, 3)


# -- a signal while calls are failing ---------------------------------------------------------------------------

FAULTY_TRIALS = 10  # per signal and cloud (x --soak)


def test_cloudrun_cancellation_while_calls_fail(
    gcp_stack: Callable[..., GcpStack], seed: int, soak: int, report: Report
) -> None:
    """SIGINT / SIGTERM while the run is running, and about 30 % of the calls fail as in test_faults.py."""
    from opsctl.providers.cloudrun import CloudRunProvider
    from opsctl.providers.cloudrun.clients import connect
    from tests.fakes.gcp.harness import staging
    from tests.reliability.test_faults import GCP_CALL_FAULTS, GCP_DROPS

    stack = gcp_stack(call_faults=GCP_CALL_FAULTS, drops=GCP_DROPS)
    trials = make_trials("cloudrun", random.Random(seed), seed, FAULTY_TRIALS * soak, ("running",), stack.fake.clock)
    stack.fake.world.default_script = cloudrun_script({t.plan.run_id: t.plan for t in trials})

    def one(trial: Trial) -> None:
        provider = CloudRunProvider(staging(stack.fake), connect(stack.address))
        try:
            drive(provider, trial, 0.05)
        finally:
            provider.close()

    run_trials(trials, one)
    problems, _, orphans = judge_cloudrun(stack.fake, trials)
    gave_up = sum(t.result is None for t in trials)
    report(
        f"cancellation (known bug): cloudrun {len(trials)} trials while 30 % of calls fail: {len(problems)} wrong "
        f"outcomes ({gave_up} gave up with exit 75), {len(orphans)} executions left running"
    )
    assert not problems and not orphans, "\n".join(problems[:5])


def test_ecs_cancellation_while_calls_fail(
    ecs_world: EcsWorld,
    moto_proxy: FaultProxy,
    moto_clients: tuple[Any, Any],
    seed: int,
    soak: int,
    report: Report,
) -> None:
    from opsctl.providers.ecs import EcsProvider
    from tests.fakes.ecs_play import ecs_env
    from tests.fakes.moto_ecs import REGION, client
    from tests.reliability.test_faults import ECS_FAULTS

    for i, (kind, probability) in enumerate(ECS_FAULTS.items()):
        moto_proxy.arm("*", kind, probability=probability, seed=seed + i)
    trials = make_trials("ecs", random.Random(seed), seed, FAULTY_TRIALS * soak, ("running",), time.monotonic)

    def one(trial: Trial) -> None:
        provider = EcsProvider(
            ecs_env(ecs_world), *moto_clients, REGION, lambda service, region: client(service, moto_proxy.url)
        )
        drive(provider, trial, 0.1)

    with EcsAgent(ecs_world, moto_proxy, {t.plan.run_id: t.plan for t in trials}) as agent:
        run_trials(trials, one)
    assert agent.errors == []
    problems, _, orphans = judge_ecs(ecs_world, moto_proxy, trials)
    gave_up = sum(t.result is None for t in trials)
    report(
        f"cancellation (known bug): ecs {len(trials)} trials while 30 % of calls fail: {len(problems)} wrong "
        f"outcomes ({gave_up} gave up with exit 75), {len(orphans)} tasks left running"
    )
    assert not problems and not orphans, "\n".join(problems[:5])
