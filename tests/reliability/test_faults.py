"""Faults: runs on each cloud while about 30 % of the calls fail — throttled, 5xx/UNAVAILABLE, connections
dropped before or after the request reached the server (the ambiguous case), latency spikes.

Every run must end with its task's exit code, start exactly one task/execution, and relay exactly the
lines the task wrote, once each and in order (its secret masked); no output channel may show a secret.
Runs go through the real Runner and opsctl's own observer and finish() (summary or JSON, step summary,
step outputs, history), in-process, a few at a time, with the providers' timing scaled down.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from opsctl.config import TaskConfig
from opsctl.errors import OpsctlError
from opsctl.guards import check_concurrency
from opsctl.model import Outcome, RunResult
from opsctl.progress import observer_for
from opsctl.providers import Provider
from opsctl.redact import Redactor
from opsctl.retry import Retrying
from opsctl.runner import RetryPolicy, Runner
from opsctl.sinks import finish
from tests.contract import RecordingObserver
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.moto_ecs import EcsWorld
from tests.reliability.conftest import GcpStack, Report
from tests.reliability.leaks import Channels, describe
from tests.reliability.plays import (
    EXIT_CODES,
    RETRY,
    EcsAgent,
    Plan,
    Tee,
    cloudrun_script,
    make_plan,
    plan_spec,
    run_id,
)

RUNS = 50  # per cloud (x --soak)
WORKERS = 4  # runs at a time
SCALE = 0.05  # the providers' timing, scaled
# Cloud Run: share of gRPC calls failed by the proxy, and of client chunks under which the connection drops.
# (The proxy's draws include latency spikes, which slow a call without failing it.)
GCP_CALL_FAULTS, GCP_DROPS = 0.33, 0.01
# ECS: each kind's probability per call at the HTTP proxy (together about 30 % of calls fail).
ECS_FAULTS = {"throttle": 0.09, "error500": 0.09, "drop_before": 0.07, "drop_after": 0.09}
ECS_LATENCY = 0.05  # and this share of calls waits 0.3 s first
# opsctl's own retry budget (12 attempts within 60 s), its waits shortened as RETRY's are.
DEFAULT_BUDGET = replace(RetryPolicy(), base_s=RETRY.base_s, max_wait_s=RETRY.max_wait_s)


@dataclass
class Verdict:
    """How one run went."""

    plan: Plan
    result: RunResult | None
    seen: RecordingObserver
    error: str | None = None
    took_s: float = 0.0

    def problems(self, launches: int) -> dict[str, str]:
        """What is wrong with this run, by kind (nothing, if it went right)."""
        plan, result = self.plan, self.result
        if result is None:
            return {
                "failed": f"{plan.run_id}: opsctl gave up after {self.took_s:.1f}s: {self.error}; {self.seen.notices}"
            }
        wrong = {}
        outcome = Outcome.SUCCEEDED if plan.exit_code == 0 else Outcome.FAILED
        if (result.exit_status, result.exit_code, result.outcome) != (plan.exit_code, plan.exit_code, outcome):
            wrong["exit code"] = (
                f"{plan.run_id}: exit code {result.exit_status} ({result.outcome.value}, task {result.exit_code}), "
                f"expected {plan.exit_code}; reason {result.reason!r}"
            )
        if launches != 1:
            wrong["duplicate"] = f"{plan.run_id}: {launches} tasks/executions; notices {self.seen.notices}"
        if self.seen.messages != plan.expected():
            wrong["logs"] = f"{plan.run_id}: logs differ: {_diff(plan.expected(), self.seen.messages)}"
        if result.result != plan.result():
            wrong["result"] = f"{plan.run_id}: result {result.result!r}, expected {plan.result()!r}"
        return wrong


def _diff(expected: list[str], got: list[str]) -> str:
    missing = [line for line in expected if line not in got]
    extra = Counter(got) - Counter(expected)
    dupes = [line for line, n in Counter(got).items() if n > 1]
    order = "out of order" if sorted(got) == sorted(expected) else "content differs"
    return f"{order}; {len(missing)} missing {missing[:2]}, {sum(extra.values())} extra, {len(dupes)} duplicated"


def drive(provider: Provider, plan: Plan, output: str, retry: RetryPolicy = RETRY) -> Verdict:
    """One run through the real Runner and opsctl's observer, then finish() as `opsctl run` does it (summary
    or JSON on stdout, step summary and outputs, history)."""
    # A task per run: the concurrency guard (a pre-launch lookup, faulted like every call) must let it through.
    spec = plan_spec(plan, task=f"seed-{plan.run_id.rsplit('-', 1)[-1]}")
    seen = RecordingObserver()
    shown = observer_for(spec.env, spec.task, no_color=True)
    tee = Tee(seen, shown)
    runner = Runner(provider, spec, tee, retry=retry, timing=provider.timing.scaled(SCALE))
    start = time.monotonic()
    try:
        env = provider.env  # type: ignore[attr-defined]  # both cloud providers keep their EnvConfig
        check_concurrency(provider, env, TaskConfig(spec.task), Retrying(retry, tee.notice, time.sleep))
        result = runner.run()
    except OpsctlError as e:
        return Verdict(plan, None, seen, f"{type(e).__name__}: {e}", time.monotonic() - start)
    finally:
        shown.close()
    finish(result, Redactor(spec.secret_values), spec.origin, output, no_color=True)
    return Verdict(plan, result, seen)


def run_all(runs: range, one: Callable[[int], Verdict]) -> list[Verdict]:
    """The runs, WORKERS at a time."""
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, runs))


def scan(
    capsys: pytest.CaptureFixture[str], state: Path, files: tuple[Path, Path], verdicts: list[Verdict]
) -> tuple[Channels, int]:
    """Every channel the runs wrote to, and how many secret occurrences were found in them."""
    out = capsys.readouterr()
    channels = Channels()
    channels.add("stdout (summaries and JSON)", out.out)
    channels.add("stderr (progress, relayed lines, workflow commands)", out.err)
    channels.add_file("GITHUB_STEP_SUMMARY", files[0])
    channels.add_file("GITHUB_OUTPUT", files[1])
    channels.add_state(state)
    for v in verdicts:
        channels.add("relayed log lines", "\n".join(v.seen.messages + v.seen.notices))
        if v.result is not None:
            channels.add("run result", repr(v.result))
    leaks = channels.leaks({v.plan.secret for v in verdicts})
    assert not leaks, describe(leaks)
    return channels, len(leaks)


def tally(cloud: str, verdicts: list[Verdict], launches: Callable[[Plan], int]) -> tuple[str, list[str]]:
    """The counts line and every problem found."""
    found = [v.problems(launches(v.plan)) for v in verdicts]
    kinds = Counter(kind for problems in found for kind in problems)
    line = (
        f"faults: {cloud} {len(verdicts)} runs, {kinds['exit code']} wrong exit codes, {kinds['duplicate']} "
        f"duplicate executions, {kinds['logs']} log mismatches, {kinds['result']} wrong results, "
        f"{kinds['failed']} runs opsctl gave up on"
    )
    return line, [message for problems in found for message in problems.values()]


def test_cloudrun_runs_under_faults(
    gcp_stack: Callable[..., GcpStack],
    seed: int,
    soak: int,
    report: Report,
    capsys: pytest.CaptureFixture[str],
    github_actions: tuple[Path, Path],
    isolated: Path,
) -> None:
    from opsctl.providers.cloudrun import CloudRunProvider
    from opsctl.providers.cloudrun.clients import connect
    from tests.fakes.gcp.harness import staging

    rng = random.Random(seed)
    stack = gcp_stack(call_faults=GCP_CALL_FAULTS, drops=GCP_DROPS)
    plans = [make_plan(rng, run_id(seed, i), exit_code=EXIT_CODES[i % len(EXIT_CODES)]) for i in range(RUNS * soak)]
    stack.fake.world.default_script = cloudrun_script({p.run_id: p for p in plans})

    def one(i: int) -> Verdict:
        provider = CloudRunProvider(staging(stack.fake), connect(stack.address))
        try:
            return drive(provider, plans[i], "json" if i % 2 else "text")
        finally:
            provider.close()

    verdicts = run_all(range(len(plans)), one)

    def executions(plan: Plan) -> int:
        return sum(e.env.get("OPSCTL_RUN_ID") == plan.run_id for e in stack.fake.executions)

    channels, leaks = scan(capsys, isolated, github_actions, verdicts)
    line, problems = tally("cloudrun", verdicts, executions)
    calls, faults = sum(stack.proxy.counts().values()), stack.proxy.faults()
    slowed = faults.pop("latency", 0)
    failed, drops = sum(faults.values()), sum(stack.dropper.drops.values())
    ambiguous = sum(
        c.method == "RunJob" and c.fault in ("lost answer", "deadline after effect") for c in stack.proxy.calls
    )
    lookups = sum(c.method == "ListExecutions" for c in stack.proxy.calls)
    lookups_faulted = sum(c.method == "ListExecutions" and c.fault not in (None, "latency") for c in stack.proxy.calls)
    report(
        f"{line}, {leaks} secret leaks in {channels.size:,} chars; {calls} gRPC calls, {failed} failed "
        f"({failed / max(calls, 1):.0%}: {_kinds(faults)}), {slowed} slowed, {drops} connections dropped "
        f"({stack.dropper.drops['after']} after the request went through), {ambiguous} ambiguous launches; "
        f"{lookups} ListExecutions lookups before and after launching (the guard, finding a run, duplicates), "
        f"{lookups_faulted} of them faulted"
    )
    assert not problems, "\n".join(problems[:20])
    assert (failed + drops) / calls >= 0.2, "the faults were not injected"
    assert lookups_faulted > 0, "the lookups before and after launching were not faulted"


def test_ecs_runs_under_faults(
    ecs_world: EcsWorld,
    moto_proxy: FaultProxy,
    moto_clients: tuple[Any, Any],
    seed: int,
    soak: int,
    report: Report,
    capsys: pytest.CaptureFixture[str],
    github_actions: tuple[Path, Path],
    isolated: Path,
) -> None:
    from opsctl.providers.ecs import EcsProvider
    from tests.fakes.ecs_play import ecs_env
    from tests.fakes.moto_ecs import REGION, client, override_env

    rng = random.Random(seed)
    plans = [make_plan(rng, run_id(seed, i), exit_code=EXIT_CODES[i % len(EXIT_CODES)]) for i in range(RUNS * soak)]
    for i, (kind, probability) in enumerate(ECS_FAULTS.items()):
        moto_proxy.arm("*", kind, probability=probability, seed=seed + i)
    moto_proxy.arm("*", "latency", probability=ECS_LATENCY, seed=seed + 99, delay_s=0.3)

    def one(i: int) -> Verdict:
        provider = EcsProvider(
            ecs_env(ecs_world), *moto_clients, REGION, lambda service, region: client(service, moto_proxy.url)
        )
        return drive(provider, plans[i], "json" if i % 2 else "text")

    verdicts: list[Verdict] = []
    tasks: Counter[str] = Counter()  # run id → tasks started for it
    counted: set[str] = set()
    with EcsAgent(ecs_world, moto_proxy, {p.run_id: p for p in plans}) as agent:
        for start in range(0, len(plans), RUNS):
            verdicts += run_all(range(start, min(start + RUNS, len(plans))), one)
            fresh = [t for t in ecs_world.tasks() if t.task_arn not in counted]
            counted.update(t.task_arn for t in fresh)
            tasks.update(override_env(t).get("OPSCTL_RUN_ID", "?") for t in fresh)
            # ECS lists a stopped task for about an hour, and a soak's batches stand for hours: forget them. (moto
            # ignores RunTask's clientToken, so it takes opsctl's find_run to adopt the task of an ambiguous launch,
            # and find_run looks at 100 tasks only: in a cluster with 100+ recent runs of the task it misses some.)
            _forget_stopped_tasks(ecs_world)
    assert agent.errors == []

    channels, leaks = scan(capsys, isolated, github_actions, verdicts)
    line, problems = tally("ecs", verdicts, lambda plan: tasks[plan.run_id])
    calls, injected = len(moto_proxy.calls), moto_proxy.injected()
    failed = sum(1 for c in moto_proxy.calls if set(c.faults) - {"latency"})
    kinds = Counter(k for (_, k) in injected.elements())
    slowed = kinds.pop("latency", 0)
    ambiguous = sum(n for (op, kind), n in injected.items() if op == "RunTask" and kind == "drop_after")
    lookups = sum(c.operation == "ListTasks" for c in moto_proxy.calls)
    lookups_faulted = sum(c.operation == "ListTasks" and bool(set(c.faults) - {"latency"}) for c in moto_proxy.calls)
    report(
        f"{line}, {leaks} secret leaks in {channels.size:,} chars; {calls} HTTP calls, {failed} failed "
        f"({failed / max(calls, 1):.0%}: {_kinds(kinds)}), {slowed} slowed, {ambiguous} ambiguous launches; "
        f"{lookups} ListTasks lookups before and after launching (the guard, finding a task), {lookups_faulted} "
        "of them faulted"
    )
    assert not problems, "\n".join(problems[:20])
    assert failed / calls >= 0.2, "the faults were not injected"
    assert lookups_faulted > 0, "the lookups before and after launching were not faulted"


def test_an_ecs_launch_survives_failures_spread_over_its_calls(
    ecs_world: EcsWorld, moto_proxy: FaultProxy, moto_clients: tuple[Any, Any], seed: int
) -> None:
    """The first RunTask's answer is lost (the task exists); then the calls opsctl makes to look for it fail: six
    ListTasks, then six DescribeTasks. No call fails more than 6 times in a row, well within opsctl's own retry
    budget (12 attempts), but each of the launch's 12 attempts meets one of those failures."""
    from opsctl.providers.ecs import EcsProvider
    from tests.fakes.ecs_play import ecs_env
    from tests.fakes.moto_ecs import REGION, client

    moto_proxy.arm("RunTask", "drop_after")
    moto_proxy.arm("ListTasks", "throttle", count=6)
    moto_proxy.arm("DescribeTasks", "error500", count=6)
    plan = make_plan(random.Random(seed), run_id(seed, 0), exit_code=0, lines=3, late=False)
    provider = EcsProvider(
        ecs_env(ecs_world), *moto_clients, REGION, lambda service, region: client(service, moto_proxy.url)
    )
    with EcsAgent(ecs_world, moto_proxy, {plan.run_id: plan}):
        verdict = drive(provider, plan, "text", DEFAULT_BUDGET)
    assert verdict.result is not None, verdict.error
    assert verdict.result.exit_status == 0


def _forget_stopped_tasks(world: EcsWorld) -> None:
    from moto.ecs.models import ecs_backends

    from tests.fakes.moto_ecs import ACCOUNT, REGION

    tasks = ecs_backends[ACCOUNT][REGION].tasks.get(world.cluster, {})
    for arn in [arn for arn, task in tasks.items() if task.last_status == "STOPPED"]:
        del tasks[arn]


def _kinds(counts: Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.most_common())


def test_cloudrun_launch_whose_effect_lands_late_starts_one_execution(
    gcp_stack: Callable[..., GcpStack], seed: int
) -> None:
    """The connection drops while Cloud Run is still creating the execution (RunJob takes a moment server-side):
    opsctl sees UNAVAILABLE, and the execution appears half a second later."""
    from opsctl.providers.cloudrun import CloudRunProvider
    from opsctl.providers.cloudrun.clients import connect
    from tests.fakes.gcp.harness import staging

    stack = gcp_stack()
    plan = make_plan(random.Random(seed), run_id(seed, 0), exit_code=0)
    stack.fake.world.default_script = cloudrun_script({plan.run_id: plan})
    stack.proxy.late["RunJob"] = 0.5
    provider = CloudRunProvider(staging(stack.fake), connect(stack.address))
    try:
        verdict = drive(provider, plan, "text")
    finally:
        provider.close()
    stack.proxy.settle()
    assert verdict.result is not None and verdict.result.exit_status == 0
    assert [e.env.get("OPSCTL_RUN_ID") for e in stack.fake.executions] == [plan.run_id]


FANNED_RUNS, COPIES = 8, 4


def test_cloudrun_fanned_runs_under_faults(gcp_stack: Callable[..., GcpStack], seed: int, report: Report) -> None:
    """`--tasks 4` runs through the faulted network: one execution each, every copy's lines once with its prefix
    (each task's lines listed a little later than the one before: they run on different instances), and the
    lowest-index failed copy's exit code."""
    from collections.abc import Mapping

    from opsctl.providers.cloudrun import CloudRunProvider
    from opsctl.providers.cloudrun.clients import connect
    from tests.fakes.gcp import Script, lines
    from tests.fakes.gcp.harness import staging

    rng = random.Random(seed)
    stack = gcp_stack(call_faults=GCP_CALL_FAULTS, drops=GCP_DROPS)
    codes = {run_id(seed, i): [rng.choice([0, 0, 3, 7]) for _ in range(COPIES)] for i in range(FANNED_RUNS)}

    def task(env: Mapping[str, str]) -> Script:
        i = int(env["CLOUD_RUN_TASK_INDEX"])
        said = [f"copy {i} line {k}" for k in range(30)]
        code = codes[env["OPSCTL_RUN_ID"]][i]
        return Script(start_after=0.1, run_for=1.0, exit_codes=(code,), lines=lines(said, every=0.01, delay=0.2 * i))

    stack.fake.world.default_script = Script(behaviour=task)
    problems: list[str] = []
    for name, want in codes.items():
        provider = CloudRunProvider(staging(stack.fake), connect(stack.address))
        seen = RecordingObserver()
        spec = replace(plan_spec(make_plan(rng, name, exit_code=0), task="fanned"), tasks=COPIES)
        try:
            result = Runner(provider, spec, seen, retry=RETRY, timing=provider.timing.scaled(SCALE)).run()
        except OpsctlError as e:
            problems.append(f"{name}: opsctl gave up: {e}")
            continue
        finally:
            provider.close()
        failed = [c for c in want if c]
        if result.exit_status != (failed[0] if failed else 0):
            problems.append(f"{name}: exit {result.exit_status}, copies exited {want}")
        expected = Counter(f"[{i}] copy {i} line {k}" for i in range(COPIES) for k in range(30))
        if Counter(seen.messages) != expected:
            problems.append(f"{name}: logs differ: {_diff(sorted(expected), seen.messages)}")
        if [t.exit_code for t in result.tasks] != want:
            problems.append(f"{name}: copies {[t.exit_code for t in result.tasks]}, expected {want}")
    executions = Counter(e.env.get("OPSCTL_RUN_ID") for e in stack.fake.executions)
    problems += [f"{name}: {n} executions" for name, n in executions.items() if n != 1]
    calls, faults = sum(stack.proxy.counts().values()), stack.proxy.faults()
    faults.pop("latency", 0)
    report(
        f"faults: cloudrun fan-out {FANNED_RUNS} runs x {COPIES} copies, {len(problems)} problems; {calls} gRPC "
        f"calls, {sum(faults.values())} failed"
    )
    assert not problems, "\n".join(problems)
