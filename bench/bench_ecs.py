"""ECS provider benchmarks against moto (the README quotes these numbers).

    .venv/bin/python bench/bench_ecs.py            # about 2 minutes
    .venv/bin/python bench/bench_ecs.py --quick    # about 40 s: fewer runs, shorter steady state

1. STOPPED → exit: several runs at once, each watched by opsctl's Runner (real timing) and by
   `aws ecs wait tasks-stopped` (when the AWS CLI is installed). Half the tasks stop the way Fargate does
   (DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED, 2 s apart), half jump straight to STOPPED.
   Reported: when opsctl's DescribeTasks first saw STOPPED, when opsctl returned (logs drained), when
   the waiter returned, each relative to the moment the task became STOPPED.
2. API calls per minute per run in steady state (after the 20 s start phase), counted by the proxy.
3. Log relay: a child process runs the Runner on a task that prints N lines (100,000 by default) and
   prints every relayed line; the parent checks every line arrived once, in order, and reads the child's
   peak RSS (also for a 10,000-line run, to show memory does not grow with the log).
4. Fan-out (`--fanout-only`): `opsctl run staging seed-admin --tasks 10` as a subprocess with real timing; each
   copy prints 10,000 lines over about a minute. Every `[i] ` line must arrive once, in order per copy; reported:
   the opsctl process's peak RSS, DescribeTasks and GetLogEvents calls per minute (whole run and busiest 60 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from opsctl.config import EcsEnv  # noqa: E402
from opsctl.model import LogLine, RunRef, RunSpec, Status  # noqa: E402
from opsctl.providers.ecs import build  # noqa: E402
from opsctl.runner import Runner  # noqa: E402

ENV_FIELDS: dict[str, Any] = {
    "name": "staging",
    "provider": "ecs",
    "source": "bench",
    "region": "us-east-1",
    "cluster": "clinloop-staging",
    "service": "clinloop-staging-api",
    "container": "api",
}


def spec(run_id: str) -> RunSpec:
    """A seed-admin RunSpec."""
    env = {"ADMIN_EMAIL": "ada@example.com", "OPSCTL_RUN_ID": run_id, "OPSCTL_ENV": "staging"}
    return RunSpec(
        env="staging",
        task="seed-admin",
        run_id=run_id,
        command=("node", "admin-cli.js"),
        env_vars=tuple(env.items()),
        actor="bench",
    )


class Quiet:
    """An observer that keeps nothing but a line count."""

    def __init__(self, out: Any = None) -> None:
        self.lines = 0
        self.out = out
        self.refs: list[RunRef] = []
        self.started = threading.Event()

    def launched(self, ref: RunRef) -> None:
        """Remember the run."""
        self.refs.append(ref)
        self.started.set()

    def status(self, status: Status, elapsed_s: float) -> None:
        """Ignored."""

    def log(self, line: LogLine) -> None:
        """Count (and, in the relay child, print) a line."""
        self.lines += 1
        if self.out is not None:
            self.out.write(line.message + "\n")

    def notice(self, message: str) -> None:
        """Shown on stderr."""
        sys.stderr.write(f"bench: notice: {message}\n")


def _pct(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 2), "max": round(ordered[-1], 2), "n": len(ordered)}


def aws_cli() -> str | None:
    """The AWS CLI, if installed (PATH or this venv)."""
    return shutil.which("aws") or shutil.which("aws", path=str(Path(sys.executable).parent))


def latency_and_budget(moto: Any, world: Any, proxy: Any, runs: int, steady_s: float) -> dict[str, Any]:
    """Part 1 and 2: concurrent runs, each stopped after `steady_s` (see the module docstring)."""
    from tests.fakes.moto_ecs import CREDENTIALS, script_state, script_stop

    aws = aws_cli()
    seen: dict[str, float] = {}
    lock = threading.Lock()

    def on_describe(request: bytes, response: bytes) -> None:
        for task in json.loads(response).get("tasks") or []:
            if task.get("lastStatus") == "STOPPED":
                with lock:
                    seen.setdefault(task["taskArn"], time.monotonic())

    proxy.after("DescribeTasks", on_describe)
    results: list[dict[str, Any]] = []

    def one(i: int) -> None:
        record: dict[str, Any] = {"abrupt": i % 2 == 1}
        observer = Quiet()
        runner = Runner(build(EcsEnv(**ENV_FIELDS)), spec(f"bench-{i}-{time.time_ns()}"), observer)
        done = threading.Thread(target=lambda: record.update(result=runner.run(), returned=time.monotonic()))
        done.start()
        if not observer.started.wait(60):
            raise RuntimeError("the run was not launched within 60 s")
        arn = {"id": observer.refs[0].id}
        start = time.monotonic()
        waiter = None
        if aws:
            env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": moto.url, "AWS_DEFAULT_REGION": "us-east-1"}
            cmd = [aws, "ecs", "wait", "tasks-stopped", "--cluster", world.cluster, "--tasks", arn["id"]]
            waiter = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        task = world.task(arn["id"])
        writer_stop = threading.Event()

        def chatter() -> None:  # 5 lines a second, as a working task would print
            n = 0
            while not writer_stop.wait(0.2):
                world.write_logs(arn["id"], [f"working {n}"])
                n += 1

        threading.Thread(target=chatter, daemon=True).start()
        time.sleep(max(0.0, start + steady_s + i * 0.37 - time.monotonic()))  # spread phases across polls
        if not record["abrupt"]:
            for state in ("DEACTIVATING", "STOPPING", "DEPROVISIONING"):
                script_state(task, state)
                time.sleep(2.0)
        writer_stop.set()
        script_stop(task, exit_code=0)
        stopped = time.monotonic()
        record.update(arn=arn["id"], launched=start, stopped=stopped)
        if waiter is not None:
            waiter.wait(timeout=120)
            record["waiter"] = time.monotonic() - stopped
        done.join(timeout=120)
        with lock:
            results.append(record)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    out: dict[str, Any] = {"runs": runs, "steady_s": steady_s, "aws_cli": aws or "not installed: waiter skipped"}
    for label, group in (("fargate_like_stop", False), ("abrupt_stop", True)):
        rs = [r for r in results if r["abrupt"] is group]
        if not rs:
            continue
        out[label] = {
            "opsctl_detect_s": _pct([seen[r["arn"]] - r["stopped"] for r in rs if r["arn"] in seen]),
            "opsctl_exit_s": _pct([r["returned"] - r["stopped"] for r in rs]),
        }
        if aws:
            out[label]["aws_wait_exit_s"] = _pct([r["waiter"] for r in rs if "waiter" in r])
    per_minute: dict[str, list[float]] = {"all": [], "DescribeTasks": [], "GetLogEvents": []}
    for r in results:  # steady window: after the start phase, before the stop began
        lo, hi = r["launched"] + 22.0, r["launched"] + steady_s
        task_id = r["arn"].rsplit("/", 1)[-1].encode()
        calls = [c.operation for c in proxy.calls if lo <= c.at < hi and task_id in c.body]
        for key, values in per_minute.items():
            values.append(sum(1 for op in calls if key in ("all", op)) / ((hi - lo) / 60))
    out["steady_calls_per_min_per_run"] = {
        "mean": round(statistics.mean(per_minute["all"]), 1),
        "max": round(max(per_minute["all"]), 1),
        "describe_tasks": round(statistics.mean(per_minute["DescribeTasks"]), 1),
        "get_log_events": round(statistics.mean(per_minute["GetLogEvents"]), 1),
        "budget": 30,
    }
    out["exit_codes"] = sorted({r["result"].exit_status for r in results})
    return out


def relay(moto: Any, world: Any, lines: int) -> dict[str, Any]:
    """Part 3: a child process relays `lines` lines; every one must arrive once, in order."""
    from tests.fakes.moto_ecs import CREDENTIALS, FakeAgent

    expected = [f"line {i:06d} {'x' * (i % 80)}" for i in range(lines)]
    env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": moto.url, "AWS_DEFAULT_REGION": "us-east-1"}
    with FakeAgent(
        world,
        lines=expected,
        exit_code=0,
        start_after_s=1.0,
        lines_per_batch=5_000,
        interval_s=0.1,
        late_lines=["late line"],
    ):
        started = time.monotonic()
        child = subprocess.run(
            [sys.executable, __file__, "--relay-child"], env=env, capture_output=True, text=True, check=False
        )
    got = child.stdout.splitlines()
    memory = json.loads(child.stderr.strip().splitlines()[-1])
    return {
        "lines": lines,
        "relayed": len(got) - 1,
        "zero_loss_in_order": got == [*expected, "late line"],
        "seconds": round(time.monotonic() - started, 1),
        "exit_code": child.returncode,
        **memory,
    }


FANOUT_TOML = """\
[environments.staging]
provider = "ecs"
cluster = "clinloop-staging"
service = "clinloop-staging-api"
container = "api"

[tasks.seed-admin]
command = ["node", "admin-cli.js"]
"""


def fanout(moto: Any, world: Any, proxy: Any, copies: int, lines: int, seconds: float) -> dict[str, Any]:
    """Part 4: N copies × `lines` lines each through `opsctl run --tasks N` (a subprocess, real timing)."""
    import tempfile

    from tests.fakes.moto_ecs import CREDENTIALS, FakeAgent, override_env

    def printed(task: Any) -> list[str]:
        i = override_env(task).get("OPSCTL_TASK_INDEX", "?")
        return [f"copy {i} line {k:05d}" for k in range(lines)]

    batches = 50
    env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": proxy.url, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("OPSCTL_TIMING_SCALE", None)
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeAgent(
            world,
            lines=printed,
            start_after_s=1.0,
            lines_per_batch=max(1, lines // batches),
            interval_s=seconds / batches,
        ) as agent,
    ):
        Path(tmp, "opsctl.toml").write_text(FANOUT_TOML)
        first = len(proxy.calls)
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsctl", "run", "staging", "seed-admin", "--yes", "--tasks", str(copies)],
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # The child's own peak (VmHWM counts from exec; ru_maxrss of a child counts the fork of this big process).
        peak = [0.0]
        watcher = threading.Thread(target=_watch_peak, args=(proc.pid, peak), daemon=True)
        watcher.start()
        _, err = proc.communicate()
        watcher.join()
        took = time.monotonic() - started
    calls = proxy.calls[first:]
    relayed: dict[str, list[str]] = {}
    for line in err.splitlines():
        if line.startswith("["):
            prefix, _, rest = line.partition("] ")
            relayed.setdefault(prefix[1:], []).append(rest)
    expected = {str(i): [f"copy {i} line {k:05d}" for k in range(lines)] for i in range(copies)}

    def per_minute(operation: str) -> dict[str, float]:
        times = [c.at for c in calls if c.operation == operation]
        busiest = max((sum(1 for t in times if s <= t < s + 60) for s in times), default=0)
        return {"calls": len(times), "per_minute": round(len(times) / (took / 60), 1), "busiest_60s": busiest}

    return {
        "copies": copies,
        "lines_per_copy": lines,
        "exit_code": proc.returncode,
        "seconds": round(took, 1),
        "lossless_in_order": relayed == expected,
        "lines_relayed": sum(len(v) for v in relayed.values()),
        "opsctl_peak_rss_mb": peak[0],
        "describe_tasks": per_minute("DescribeTasks"),
        "get_log_events": per_minute("GetLogEvents"),
        "run_task_calls": sum(1 for c in calls if c.operation == "RunTask"),
        "agent_errors": len(agent.errors),
    }


def _watch_peak(pid: int, peak: list[float]) -> None:
    """Keep peak[0] at the process's VmHWM (MB) until it exits."""
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            text = status.read_text()
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                peak[0] = max(peak[0], round(int(line.split()[1]) / 1024, 1))
            if line.startswith("State:") and "Z" in line.split()[1]:
                return
        time.sleep(0.1)


def _vm(field: str) -> float:
    """VmHWM / VmRSS of this process in MB (counted from exec, unlike ru_maxrss, which a fork inherits)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def relay_child() -> int:
    """Runs in the child: one seed-admin run, every log line to stdout."""
    provider = build(EcsEnv(**ENV_FIELDS))
    ready = _vm("VmRSS")
    result = Runner(provider, spec(f"relay-{time.time_ns()}"), Quiet(sys.stdout)).run()
    sys.stdout.flush()
    sys.stderr.write(json.dumps({"child_rss_before_run_mb": ready, "child_peak_rss_mb": _vm("VmHWM")}) + "\n")
    return result.exit_status


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmarks, print and return the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="concurrent runs for latency and budget")
    parser.add_argument("--steady", type=float, default=60.0, help="seconds each run stays RUNNING")
    parser.add_argument("--lines", type=int, default=100_000, help="log lines to relay")
    parser.add_argument("--quick", action="store_true", help="4 runs, 35 s steady, 20,000 lines")
    parser.add_argument("--relay-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--latency-only", action="store_true", help="parts 1 and 2 only (no log relay)")
    parser.add_argument("--fanout-only", action="store_true", help="part 4 only: --tasks 10 × 10,000 lines")
    args = parser.parse_args(argv)
    if args.relay_child:
        sys.exit(relay_child())
    if args.quick:
        args.runs, args.steady, args.lines = 4, 35.0, 20_000

    from tests.fakes.faultproxy import FaultProxy
    from tests.fakes.moto_ecs import CREDENTIALS, MotoServer, build_world, hold_tasks, release_tasks

    moto = MotoServer()
    proxy = FaultProxy(moto.url).start()
    os.environ.update(CREDENTIALS, AWS_ENDPOINT_URL=proxy.url, AWS_DEFAULT_REGION="us-east-1")
    hold_tasks()
    try:
        world = build_world(moto.url)
        if args.fanout_only:
            print(json.dumps({"fanout": fanout(moto, world, proxy, 10, 10_000, 60.0)}, indent=2))
            return {}
        report: dict[str, Any] = {"latency_and_budget": latency_and_budget(moto, world, proxy, args.runs, args.steady)}
        if not args.latency_only:
            small = relay(moto, world, min(10_000, args.lines))
            big = relay(moto, world, args.lines)
            report["log_relay"] = {**big, f"child_peak_rss_mb_{small['lines']}_lines": small["child_peak_rss_mb"]}
            report["fanout"] = fanout(moto, world, proxy, 10, 10_000 if not args.quick else 2_000, 60.0)
    finally:
        release_tasks()
        proxy.stop()
        moto.stop()
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
