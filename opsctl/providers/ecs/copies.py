"""A fanned-out ECS run (`--tasks N`, N > 1): N tasks, one RunTask each, known together by their run id.

The run id is the run's name (RunRef.id) wherever a user meets it: `opsctl wait/logs/stop ENV RUN_ID` find the
copies from it in a fresh process. A run of one task keeps its task ARN as its name, and its code paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from opsctl.errors import NotFound, OpsctlError
from opsctl.model import LogPage, RunInfo, RunRef, RunSpec, State, Status
from opsctl.providers.ecs.clients import EcsClients
from opsctl.providers.ecs.launch import run_copies, started_by, stop_task
from opsctl.providers.ecs.logs import read_copies
from opsctl.providers.ecs.resolve import Resolver, task_id
from opsctl.providers.ecs.status import copies_info, copies_status, copy_of, launched_with, members

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import TaskTypeDef

# spec.new_run_id's shape: no ECS task id looks like it (those are 32 hex digits, or a UUID).
RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


def is_run_id(text: str) -> bool:
    """Whether `text` names a run by its run id rather than a task."""
    return bool(RUN_ID.match(text))


@dataclass
class _Run:
    """What this process knows of a run: its copies' tasks, and what the last poll saw of them."""

    count: int
    arns: dict[int, str]  # index → task ARN (filled in while launching)
    ended: dict[int, datetime] = field(default_factory=dict)  # copies seen STOPPED → when their output ended
    waiting: frozenset[int] = frozenset()  # copies last seen before RUNNING: no log stream yet
    polled: bool = False  # watched (run, wait, logs --follow): log reads are paced; a one-off `logs` reads all
    seen: dict[int, TaskTypeDef] = field(default_factory=dict)  # each copy's last description
    misses: dict[int, int] = field(default_factory=dict)  # polls in a row in which ECS did not show a copy
    started_by: str | None = None  # found by a fresh process: where copies launched since then are listed
    others: set[str] = field(default_factory=set)  # tasks listed there that are not copies of this run


# ECS is eventually consistent (ECS API reference, RunTask): a task just started, or one that runs, can be
# answered MISSING for a while. A copy is taken for gone only after this many polls in a row without it.
MISSES = 3


def _stopped(task: TaskTypeDef | None) -> bool:
    return task is not None and task.get("lastStatus") in ("STOPPED", "DELETED")


class Copies:
    """The fanned-out runs of one environment: launch, find, poll, logs, stop, describe."""

    def __init__(self, clients: EcsClients, resolver: Resolver, notes: list[str]) -> None:
        self.clients = clients
        self.resolver = resolver
        self.notes = notes
        self._runs: dict[str, _Run] = {}

    def launch(self, spec: RunSpec) -> RunRef:
        """RunTask for every copy not started yet (each with its own token), then the run's ref."""
        run = self._launching(spec)
        run_copies(self.clients, self.resolver.target(), spec, run.arns, self.notes)
        return self.resolver.copies_ref(spec.run_id)

    def find(self, spec: RunSpec, tasks: list[TaskTypeDef]) -> RunRef | None:
        """After an ambiguous launch: adopt the copies found (`tasks`, by run id) and complete the set, each missing
        copy with its own token (ECS answers a token it has seen with the task it started, so a copy started but
        not listed yet is not started twice); None when no copy is known."""
        run = self._launching(spec)
        for index, task in members(tasks).items():
            run.arns.setdefault(index, task["taskArn"])
        return self.launch(spec) if run.arns else None

    def _launching(self, spec: RunSpec) -> _Run:
        """The run this process launches. Its startedBy is known, so a stop after a launch that gave up lists the
        tasks again and stops a copy whose RunTask answer was lost but which started all the same."""
        return self._runs.setdefault(spec.run_id, _Run(spec.tasks, {}, started_by=started_by(spec.env, spec.task)))

    def duplicates(self, spec: RunSpec, tasks: list[TaskTypeDef]) -> list[str]:
        """Tasks carrying this run id that are not one of its copies (a copy started twice)."""
        run = self._runs.get(spec.run_id)
        mine = set(run.arns.values()) if run else set()
        return [t["taskArn"] for t in tasks if t["taskArn"] not in mine]

    def single(self, run_id: str) -> str | None:
        """The task ARN when `run_id` names a run of one task (typed by a user), else None."""
        run = self._run(run_id)
        return run.arns[min(run.arns)] if run.count == 1 else None

    def poll(self, run_id: str) -> Status:
        """One DescribeTasks of the copies not seen stopped (≤ 20), folded into the run's status with what earlier
        polls saw of the others: ECS forgets a stopped task after about an hour, a long run's copy keeps its exit
        code. A copy ECS does not show for a poll or two is taken as last seen (or still starting)."""
        run = self._run(run_id)
        if run.started_by and len(run.arns) < run.count:
            self._look_again(run_id, run, run.started_by)  # copies its launcher started after this process looked
        live = {i: a for i, a in run.arns.items() if not _stopped(run.seen.get(i))}
        if live:
            ecs, cluster, arns = self.clients.ecs, self.clients.env.cluster, list(live.values())
            resp = self.clients.call("ecs", "DescribeTasks", lambda: ecs.describe_tasks(cluster=cluster, tasks=arns))
            found = {t.get("taskArn"): t for t in resp.get("tasks") or []}
            for index, arn in live.items():
                if arn in found:
                    run.seen[index], run.misses[index] = found[arn], 0
                else:
                    run.misses[index] = run.misses.get(index, 0) + 1
        tasks: dict[int, TaskTypeDef] = {}
        for index, arn in run.arns.items():
            if run.misses.get(index, 0) < MISSES:
                tasks[index] = run.seen.get(index) or {"taskArn": arn, "lastStatus": "PROVISIONING"}
        if run.started_by and len(run.arns) < run.count and not all(map(_stopped, tasks.values())):
            for index in set(range(run.count)) - set(run.arns):  # not listed yet: its launcher may be starting it
                tasks[index] = {"taskArn": "-", "lastStatus": "PROVISIONING"}
        target = self.resolver.cached
        status = copies_status(tasks, run.count, target.container if target else None, self.clients.env.name)
        now = datetime.now(UTC)
        for copy in status.copies:
            task = tasks.get(copy.index)
            if copy.state is State.STOPPED and task is not None and copy.index not in run.ended:
                run.ended[copy.index] = task.get("executionStoppedAt") or task.get("stoppedAt") or now
        run.waiting = frozenset(c.index for c in status.copies if c.state is State.PENDING)
        run.polled = True
        if status.state is State.STOPPED and target is not None and target.logs is None:
            return replace(status, details=(*status.details, ("Logs", "not streamed (no awslogs log configuration)")))
        return status

    def _look_again(self, run_id: str, run: _Run, by: str) -> None:
        """ListTasks by the run's startedBy (`by`), and DescribeTasks of the tasks not seen before: copies found
        join the run."""
        known = set(run.arns.values()) | run.others
        new = [a for a in self.clients.task_arns(started_by=by) if a not in known]
        for task in self.clients.describe(new) if new else []:
            copy = copy_of(task) if launched_with(task, "OPSCTL_RUN_ID") == run_id else None
            if copy is None or copy[0] in run.arns or copy[0] >= run.count:
                run.others.add(task["taskArn"])
            else:
                run.arns[copy[0]], run.seen[copy[0]] = task["taskArn"], task

    def read_logs(self, run_id: str, cursor: str | None) -> LogPage:
        """A page of every copy's awslogs stream (one GetLogEvents each, complete streams skipped)."""
        logs = self.resolver.target().logs
        if logs is None:
            return LogPage((), cursor)
        run = self._run(run_id)
        client = self.clients.logs_client(logs.region)
        tasks = {i: task_id(a) for i, a in run.arns.items()}
        return read_copies(client, logs, tasks, cursor, self.clients.call, run.ended, run.waiting, run.polled)

    def stop(self, run_id: str, reason: str) -> None:
        """StopTask for every copy not seen stopped (stopping a stopped task is harmless); the first error, if
        any, once every copy was asked."""
        run = self._run(run_id)
        if run.started_by and len(run.arns) < run.count:
            self._look_again(run_id, run, run.started_by)  # copies its launcher started since
        failed: OpsctlError | None = None
        for index, arn in sorted(run.arns.items()):
            if index in run.ended:
                continue
            try:
                stop_task(self.clients, arn, reason)
            except OpsctlError as e:
                failed = failed or e
        if failed is not None:
            raise failed

    def info(self, run_id: str) -> RunInfo:
        """Who launched the run, for which env and task, and how its copies are doing (DescribeTasks with tags)."""
        run = self._run(run_id)
        described = self.clients.describe(list(run.arns.values()))
        found = {t.get("taskArn"): t for t in described}
        tasks = {i: found[a] for i, a in run.arns.items() if a in found}
        if not tasks:
            raise self._not_found(run_id)
        return copies_info(tasks, run.count, self.resolver.copies_ref(run_id))

    def _run(self, run_id: str) -> _Run:
        """The run's copies: known from launching, else found among the cluster's tasks (running, and stopped
        ones ECS still shows) by OPSCTL_RUN_ID — a fresh process does not know the run's task name, which
        ListTasks' startedBy would need."""
        run = self._runs.get(run_id)
        if run is not None:
            return run
        arns = [*self.clients.task_arns(desired="RUNNING"), *self.clients.task_arns(desired="STOPPED")]
        # Only tasks opsctl started for this environment: another task given this OPSCTL_RUN_ID (by mistake or
        # not) is neither watched nor stopped as a copy of the run.
        prefix = started_by(self.clients.env.name, "")
        tasks = [
            t
            for t in self.clients.describe(arns)
            if (t.get("startedBy") or "").startswith(prefix) and launched_with(t, "OPSCTL_RUN_ID") == run_id
        ]
        if not tasks:
            raise self._not_found(run_id)
        oldest = min(tasks, key=lambda t: str(t.get("createdAt") or ""))
        tasks = [t for t in tasks if t.get("startedBy") == oldest.get("startedBy")]  # one run: one task's tasks
        copies = members(tasks)
        if copies:
            count = max(copy[1] for copy in map(copy_of, tasks) if copy is not None)
            arns_of = {i: t["taskArn"] for i, t in copies.items()}
            run = _Run(count, arns_of, seen=dict(copies), started_by=oldest.get("startedBy"))
        else:
            run = _Run(1, {0: oldest["taskArn"]})
        self._runs[run_id] = run
        return run

    def _not_found(self, run_id: str) -> NotFound:
        env = self.clients.env
        return NotFound(
            f"no ECS task of run {run_id} in cluster {env.cluster!r} ({self.clients.region}) — check the run id and "
            "the environment; ECS shows stopped tasks for about an hour only"
        )
