"""Benchmarks of the Cloud Run provider against the gRPC fake (tests/fakes/gcp), with the real clients.

    python -m bench.bench_cloudrun            # about 2 minutes; prints a JSON document

1. completion → exit: how long `opsctl run` takes to return after the execution completed, with the
   provider's real timing and the live tail, while Cloud Logging lists every entry 1.5 s after it was
   written (the fake's ingestion delay); and how many of the task's lines were lost (none may be).
   `gcloud run jobs execute --wait` returns at completion, with no logs at all.
2. Cloud Logging list calls per minute (counted by the fake): 5 minutes of a chatty task on the
   fake's manual clock, polling only and with the live tail.
3. 100,000 lines relayed: every line exactly once and in order, and the peak RSS of the process
   running opsctl (a child process, so the fake's own memory is not counted).
4. Fan-out (`--fanout-only`, bench part `cloudrun-fanout`): `opsctl run --tasks 10` as a real process, each of
   the execution's 10 tasks printing 10,000 lines over 10 s: every copy's lines exactly once and in order,
   the peak RSS of the opsctl process, and Cloud Logging list calls in the busiest minute (real timing).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opsctl.config import CloudRunEnv
from opsctl.model import LogLine, RunRef, Status
from opsctl.providers.cloudrun import CloudRunProvider
from opsctl.providers.cloudrun.clients import connect
from opsctl.runner import Runner
from tests.contract import FAST_RETRY, RecordingObserver, make_spec
from tests.fakes.gcp import FakeGcp, ManualClock, Script, lines

JOB = "quill-admin-staging"


def _env(fake: FakeGcp) -> CloudRunEnv:
    return CloudRunEnv(
        name="staging",
        provider="cloudrun",
        source="bench",
        project=fake.world.project,
        region=fake.world.region,
        job=JOB,
    )


def _numbered(n: int, seconds: float) -> list[Any]:
    return lines([f"line {i:06d}" for i in range(n)], every=seconds / max(n, 1))


def completion_latency(runs: int = 9, ingestion_delay_s: float = 1.5) -> dict[str, Any]:
    """Seconds from the execution's completion to the runner's return, real timing, live tail, ingestion delay."""
    fake = FakeGcp()
    fake.world.add_job(JOB)
    fake.world.ingestion_delay_s = ingestion_delay_s
    samples, lost = [], 0
    try:
        for i in range(runs):
            # Run lengths spread over the 2 s status poll, so completions fall at every phase of it.
            fake.script(Script(start_after=1.0, run_for=3.0 + i * 0.23, lines=_numbered(200, 3.0)))
            provider = CloudRunProvider(_env(fake), connect(fake.address))
            seen = RecordingObserver()
            Runner(provider, make_spec(None, run_id=f"latency-{i}"), seen, retry=FAST_RETRY).run()
            returned = fake.clock()
            provider.close()
            done, _ = fake.executions[-1].done_at()
            assert done is not None
            lost += len({f"line {n:06d}" for n in range(200)} - set(seen.messages))
            samples.append(round(returned - done, 2))
    finally:
        fake.stop()
    return {
        "runs": runs,
        "ingestion_delay_s": ingestion_delay_s,
        "seconds": samples,
        "median_s": round(statistics.median(samples), 2),
        "max_s": max(samples),
        "lines_lost": lost,
    }


def calls_per_minute(minutes: float = 5.0) -> dict[str, Any]:
    """Cloud Logging calls of a run printing 10 lines a second for `minutes` (fake time)."""
    out: dict[str, Any] = {}
    for mode, tail in (("polling", False), ("live tail", True)):
        clock = ManualClock()
        fake = FakeGcp(clock)
        fake.world.add_job(JOB)
        n = int(minutes * 600)
        fake.script(Script(start_after=5, run_for=minutes * 60, lines=_numbered(n, minutes * 60)))
        provider = CloudRunProvider(_env(fake), connect(fake.address), tail=tail)
        seen = RecordingObserver()
        try:
            Runner(provider, make_spec(None), seen, clock=clock, sleep=clock.sleep, retry=FAST_RETRY).run()
        finally:
            provider.close()
            fake.stop()
        assert seen.messages == [f"line {i:06d}" for i in range(n)]
        out[mode] = {
            "list_calls": fake.calls["ListLogEntries"],
            "max_list_calls_per_minute": fake.per_minute("ListLogEntries"),
            "tail_sessions": fake.calls["TailLogEntries"],
            "minutes": minutes,
            "lines": n,
        }
    return out


class _Checker:
    """An observer that checks order and uniqueness without keeping the lines."""

    def __init__(self) -> None:
        self.count = 0
        self.out_of_order = 0

    def launched(self, ref: RunRef) -> None:
        """Not needed."""

    def status(self, status: Status, elapsed_s: float) -> None:
        """Not needed."""

    def notice(self, message: str) -> None:
        """Not needed."""

    def log(self, line: LogLine) -> None:
        """Count the line; it must be the next one."""
        if line.message != f"line {self.count:06d}":
            self.out_of_order += 1
        self.count += 1


def _rss_kb() -> int:
    """This process's resident set size now."""
    with Path("/proc/self/status").open(encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _child(address: str, project: str, region: str, tail: bool) -> None:
    """Run opsctl's runner and provider in this process; report on stdout."""
    baseline = _rss_kb()
    env = CloudRunEnv(name="staging", provider="cloudrun", source="bench", project=project, region=region, job=JOB)
    provider = CloudRunProvider(env, connect(address), tail=tail)
    checker = _Checker()
    started = time.monotonic()
    result = Runner(
        provider,
        make_spec(None),
        checker,
        retry=FAST_RETRY,
        timing=provider.timing.scaled(float(os.environ.get("BENCH_SCALE", "0.2"))),
    ).run()
    provider.close()
    print(
        json.dumps(
            {
                "lines": checker.count,
                "out_of_order": checker.out_of_order,
                "exit_code": result.exit_code,
                "seconds": round(time.monotonic() - started, 1),
                "rss_before_run_mb": round(baseline / 1024, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


def relay(n: int = 100_000, seconds: float = 10.0) -> dict[str, Any]:
    """`n` lines over `seconds`, relayed by a child process; zero loss means count == n, in order."""
    out: dict[str, Any] = {}
    for mode, tail in (("live tail", True), ("polling", False)):
        fake = FakeGcp()
        fake.world.add_job(JOB)
        fake.script(Script(start_after=0.5, run_for=seconds, lines=_numbered(n, seconds)))
        try:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.bench_cloudrun",
                    "--child",
                    fake.address,
                    fake.world.project,
                    fake.world.region,
                    "tail" if tail else "list",
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=300,
            )
        finally:
            fake.stop()
        report = json.loads(proc.stdout)
        report.update(
            zero_loss=report["lines"] == n and report["out_of_order"] == 0, list_calls=fake.calls["ListLogEntries"]
        )
        out[mode] = report
    return out


FANOUT_TOML = f"""\
[environments.staging]
provider = "cloudrun"
project = "{{project}}"
region = "{{region}}"
job = "{JOB}"

[tasks.shard]
command = ["python", "-m", "shard"]
"""


def fanout(copies: int = 10, n: int = 10_000, seconds: float = 10.0) -> dict[str, Any]:
    """`opsctl run staging shard --tasks COPIES` as a child process; each task prints `n` lines over `seconds`."""
    fake = FakeGcp()
    fake.world.add_job(JOB, max_retries=0)  # as the Terraform module makes it; parallelism 0: all at once

    def task(env: Mapping[str, str]) -> Script:
        i = int(env["CLOUD_RUN_TASK_INDEX"])
        said = [f"copy {i} line {k:06d}" for k in range(n)]
        # Cloud Run takes seconds to start a task (image pull, instance start), and the fake's RunJob spends about
        # a second building the execution's 100,000 entries: a task that started sooner would have printed
        # lines before opsctl could open its tail, and list reads catch up on those at 1,000 a call.
        return Script(start_after=3.0, run_for=seconds, lines=lines(said, every=seconds / n))

    fake.script(Script(behaviour=task))
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "opsctl.toml").write_text(
            FANOUT_TOML.format(project=fake.world.project, region=fake.world.region), encoding="utf-8"
        )
        env = {**os.environ, "OPSCTL_GCP_ENDPOINT": fake.address}
        env.pop("OPSCTL_TIMING_SCALE", None)  # the provider's real timing: the list-call budget is measured
        started = time.monotonic()
        with (project / "stderr").open("w+", encoding="utf-8") as err, (project / "stdout").open("w+") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "opsctl", "run", "staging", "shard", "--tasks", str(copies), "-o", "json"],
                cwd=project,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            elapsed = time.monotonic() - started
            fake.stop()
            err.seek(0)
            per_copy: dict[int, list[str]] = {i: [] for i in range(copies)}
            for line in err:
                if line.startswith("["):
                    index, _, message = line.rstrip("\n").partition("] ")
                    per_copy.setdefault(int(index[1:]), []).append(message)
            out.seek(0)
            doc = json.loads(out.read())
    wanted = {i: [f"copy {i} line {k:06d}" for k in range(n)] for i in range(copies)}
    return {
        "copies": copies,
        "lines_per_copy": n,
        "task_seconds": seconds,
        "exit_code": proc.returncode,
        "copies_reported": len(doc.get("tasks", [])),
        "lines": sum(len(v) for v in per_copy.values()),
        "lossless_in_order": per_copy == wanted,
        "lost": sum(len(set(wanted[i]) - set(per_copy.get(i, []))) for i in wanted),
        "duplicated": sum(len(v) - len(set(v)) for v in per_copy.values()),
        "seconds": round(elapsed, 1),
        "opsctl_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "list_calls": fake.calls["ListLogEntries"],
        "max_list_calls_per_minute": fake.per_minute("ListLogEntries"),
        "tail_sessions": fake.calls["TailLogEntries"],
        "list_tasks_calls": fake.calls["ListTasks"],
        "get_execution_calls": fake.calls["GetExecution"],
    }


def main() -> dict[str, Any]:
    """Run every benchmark; print and return the numbers."""
    numbers = {
        "completion_to_exit": completion_latency(),
        "logging_calls": calls_per_minute(),
        "relay_100k": relay(),
        "fanout": fanout(),
    }
    print(json.dumps(numbers, indent=2))
    return numbers


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "tail")
    elif sys.argv[1:2] == ["--completion-only"]:
        print(json.dumps({"completion_to_exit": completion_latency()}, indent=2))
    elif sys.argv[1:2] == ["--fanout-only"]:
        print(json.dumps({"fanout": fanout()}, indent=2))
    else:
        main()
