"""Driving ECS runs deterministically: a virtual clock, and a "task" that reacts to what the runner did.

The task is scripted from the runner's own observations (the launch, the n-th status) or from what moto
answered through the proxy (the first STOPPED), never from wall-clock time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsctl.cancel import CancelToken
from opsctl.config import EcsEnv
from opsctl.model import LogLine, RunRef, RunResult, RunSpec, Status
from opsctl.providers.ecs import EcsProvider
from opsctl.runner import RetryPolicy, Runner
from tests.contract import FAST_RETRY, make_spec
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.moto_ecs import REGION, EcsWorld, script_state, script_stop

RUN_ID = "20260101T000000Z-0000abcd"
SEED_COMMAND = ("node", "node_modules/@clinloop/db/dist/seeds/admin-cli.js")


def ecs_env(world: EcsWorld, **fields: Any) -> EcsEnv:
    """seed 000's staging: only cluster, service and container."""
    base: dict[str, Any] = {
        "name": "staging",
        "provider": "ecs",
        "source": "opsctl.toml",
        "region": REGION,
        "cluster": world.cluster,
        "service": world.service,
        "container": world.container,
    }
    return EcsEnv(**{**base, **fields})


def seed_spec(**env: str) -> RunSpec:
    """seed-admin for ada@example.com, as build_spec would make it."""
    return make_spec(
        SEED_COMMAND, {"ADMIN_EMAIL": "ada@example.com", **env}, env_name="staging", task="seed-admin", run_id=RUN_ID
    )


@dataclass
class VirtualClock:
    """Time that moves only when the runner sleeps; `at` schedules an action at a virtual time."""

    now: float = 0.0
    pending: list[tuple[float, Callable[[], None]]] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def at(self, when: float, action: Callable[[], None]) -> None:
        self.pending.append((when, action))
        self.pending.sort(key=lambda p: p[0])

    def sleep(self, seconds: float) -> None:
        target = self.now + max(seconds, 0.001)
        while self.pending and self.pending[0][0] <= target:
            when, action = self.pending.pop(0)
            self.now = max(self.now, when)
            action()
        self.now = target


@dataclass
class Play:
    """What the task does, keyed to what the runner has done (n-th status seen, launch, STOPPED read)."""

    world: EcsWorld
    lines: Sequence[str] = ()  # written at the first status
    stop_at: int | None = 3  # end the task when the runner has seen this many statuses
    exit_code: int | None = 0
    stop_code: str | None = "EssentialContainerExited"
    stopped_reason: str | None = "Essential container in task exited"
    container_reason: str | None = None
    pending_first: bool = False
    on_status: Callable[[Status], None] | None = None
    arn: str = ""
    refs: list[RunRef] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    lines_seen: list[LogLine] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[str]:
        return [line.message for line in self.lines_seen]

    def launched(self, ref: RunRef) -> None:
        self.refs.append(ref)
        self.arn = ref.id
        if self.pending_first:
            script_state(self.world.task(ref.id), "PENDING")

    def status(self, status: Status, elapsed_s: float) -> None:
        self.statuses.append(status)
        if len(self.statuses) == 1 and self.lines:
            self.world.write_logs(self.arn, self.lines)
        if self.stop_at is not None and len(self.statuses) == self.stop_at:
            script_stop(
                self.world.task(self.arn),
                exit_code=self.exit_code,
                stop_code=self.stop_code,
                stopped_reason=self.stopped_reason,
                container_reason=self.container_reason,
            )
        if self.on_status is not None:
            self.on_status(status)

    def log(self, line: LogLine) -> None:
        self.lines_seen.append(line)

    def notice(self, message: str) -> None:
        self.notices.append(message)


def after_stopped_seen(proxy: FaultProxy, world: EcsWorld, late: Sequence[str], later: Sequence[str]) -> None:
    """Write `late` when DescribeTasks first answers STOPPED (before opsctl hears it), and `later` when the
    first GetLogEvents after that is answered: lines that arrive while opsctl drains."""
    done: set[str] = set()

    def on_describe(request: bytes, response: bytes) -> None:
        tasks = json.loads(response).get("tasks") or []
        if tasks and tasks[0]["lastStatus"] == "STOPPED" and "late" not in done:
            done.add("late")
            world.write_logs(tasks[0]["taskArn"], late)

    def on_logs(request: bytes, response: bytes) -> None:
        if "late" in done and "later" not in done:
            done.add("later")
            arn = next(t.task_arn for t in world.tasks())
            world.write_logs(arn, later)

    proxy.after("DescribeTasks", on_describe)
    proxy.after("GetLogEvents", on_logs)


def drive(
    provider: EcsProvider,
    spec: RunSpec,
    play: Play,
    *,
    timeout_s: float | None = None,
    clock: VirtualClock | None = None,
    cancel: CancelToken | None = None,
    retry: RetryPolicy = FAST_RETRY,
) -> RunResult:
    clock = clock or VirtualClock()
    runner = Runner(
        provider,
        spec,
        play,
        timeout_s=timeout_s,
        cancel=cancel or CancelToken(),
        retry=retry,
        clock=clock,
        sleep=clock.sleep,
    )
    return runner.run()
