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
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
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


def main() -> dict[str, Any]:
    """Run every benchmark; print and return the numbers."""
    numbers = {
        "completion_to_exit": completion_latency(),
        "logging_calls": calls_per_minute(),
        "relay_100k": relay(),
    }
    print(json.dumps(numbers, indent=2))
    return numbers


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "tail")
    elif sys.argv[1:2] == ["--completion-only"]:
        print(json.dumps({"completion_to_exit": completion_latency()}, indent=2))
    else:
        main()
