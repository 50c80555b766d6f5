"""Start-up time, local-run overhead and local log throughput, measured with real processes.

python -m bench.bench_local            # about 1 minute; prints a JSON document
python -m bench.bench_local --fanout-only   # only `--tasks 10` × 10,000 lines
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OPSCTL = [sys.executable, "-m", "opsctl"]
CONFIG = """
[environments.local]
provider = "local"
workdir = "."

[tasks.noop]
command = ["{python}", "-c", "pass"]

[tasks.chatty]
command = ["{python}", "-c", "import sys\\nw = sys.stdout.write\\nfor i in range(int(sys.argv[1])): w(f'line {{i:06d}}\\\\n')", "{lines}"]

[tasks.chatty.params.lines]
type = "int"

[tasks.seed-admin]
command = ["{python}", "-c", "pass"]

[tasks.seed-admin.params.email]
type = "email"
"""


def _median_ms(argv: list[str], runs: int, cwd: Path, env: dict[str, str]) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        samples.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(samples), 1)


def aws_cli() -> list[str] | None:
    """The awscli peer, from a private venv (awscli pins a botocore that boto3 may not accept)."""
    peers = REPO / "bench" / ".peers"
    aws = peers / "bin" / "aws"
    if not aws.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(peers)], check=True, capture_output=True)
            subprocess.run(
                [str(peers / "bin" / "pip"), "install", "--quiet", "awscli"],
                check=True,
                capture_output=True,
                timeout=300,
            )
        except (subprocess.SubprocessError, OSError):
            return None
    return [str(aws)] if aws.exists() else None


def startup(workdir: Path, env: dict[str, str], runs: int = 15) -> dict[str, Any]:
    """Median wall time of the commands people run most, and of the aws CLI's own start-up."""
    out: dict[str, Any] = {"runs": runs, "method": f"median of {runs} wall-clock runs of a fresh process"}
    for name, args in (
        ("help", ["--help"]),
        ("envs", ["envs"]),
        ("dry_run", ["run", "local", "seed-admin", "--email", "a@b.co", "--dry-run"]),
    ):
        out[f"opsctl_{name}_ms"] = _median_ms([*OPSCTL, *args], runs, workdir, env)
    aws = aws_cli()
    out["aws_version_ms"] = _median_ms([*aws, "--version"], runs, workdir, env) if aws else None
    out["python_startup_ms"] = _median_ms([sys.executable, "-c", "pass"], runs, workdir, env)
    return out


def local_overhead(workdir: Path, env: dict[str, str], runs: int = 10) -> dict[str, Any]:
    """`opsctl run local noop` against the same command run directly."""
    direct = _median_ms([sys.executable, "-c", "pass"], runs, workdir, env)
    via = _median_ms([*OPSCTL, "run", "local", "noop"], runs, workdir, env)
    return {"runs": runs, "direct_ms": direct, "opsctl_ms": via, "overhead_ms": round(via - direct, 1)}


def relay(workdir: Path, env: dict[str, str], lines: int = 100_000) -> dict[str, Any]:
    """A task printing `lines` lines: all relayed once and in order; time and opsctl's peak RSS."""
    timer = shutil.which("time") or "/usr/bin/time"
    rss_file = workdir / "rss"
    start = time.perf_counter()
    proc = subprocess.run(
        [timer, "-f", "%M", "-o", str(rss_file), *OPSCTL, "run", "local", "chatty", "--lines", str(lines)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    relayed = [line for line in proc.stderr.splitlines() if line.startswith("line ")]
    expected = [f"line {i:06d}" for i in range(lines)]
    return {
        "lines": lines,
        "exit_code": proc.returncode,
        "relayed": len(relayed),
        "zero_loss_in_order": relayed == expected,
        "seconds": round(seconds, 2),
        "lines_per_s": round(lines / seconds),
        "opsctl_peak_rss_mb": round(int(rss_file.read_text().split()[-1]) / 1024, 1) if rss_file.exists() else None,
    }


def fanout(workdir: Path, env: dict[str, str], copies: int = 10, lines: int = 10_000) -> dict[str, Any]:
    """`--tasks 10`, each copy printing `lines` lines: every copy's lines relayed once, in its own order, with its
    prefix; time and opsctl's peak RSS. A local run's log is a file: reading it costs no API call."""
    timer = shutil.which("time") or "/usr/bin/time"
    rss_file = workdir / "rss-fanout"
    argv = [*OPSCTL, "run", "local", "chatty", "--lines", str(lines), "--tasks", str(copies)]
    start = time.perf_counter()
    proc = subprocess.run(
        [timer, "-f", "%M", "-o", str(rss_file), *argv],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    per_copy: dict[int, list[str]] = {i: [] for i in range(copies)}
    for line in proc.stderr.splitlines():
        index, _, message = line.partition("] ")
        if index.startswith("[") and message.startswith("line "):
            per_copy.setdefault(int(index[1:]), []).append(message)
    expected = [f"line {i:06d}" for i in range(lines)]
    return {
        "copies": copies,
        "lines_per_copy": lines,
        "exit_code": proc.returncode,
        "relayed": sum(len(v) for v in per_copy.values()),
        "zero_loss_in_order_per_copy": all(per_copy[i] == expected for i in range(copies)),
        "seconds": round(seconds, 2),
        "lines_per_s": round(copies * lines / seconds),
        "opsctl_peak_rss_mb": round(int(rss_file.read_text().split()[-1]) / 1024, 1) if rss_file.exists() else None,
        "api_calls_per_minute": 0,
    }


def main() -> dict[str, Any]:
    """Run the local benchmarks in a scratch project (`--fanout-only`: only that part); print and return them."""
    # A user's pip install compiles the package; an editable checkout with PYTHONDONTWRITEBYTECODE does not.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "opsctl")], check=False)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "opsctl.toml").write_text(CONFIG, encoding="utf-8")
        env["XDG_STATE_HOME"] = str(workdir / "state")
        if "--fanout-only" in sys.argv[1:]:
            report = {"local_fanout": fanout(workdir, env)}
        else:
            report = {
                "startup": startup(workdir, env),
                "local_overhead": local_overhead(workdir, env),
                "local_relay": relay(workdir, env),
                "local_fanout": fanout(workdir, env),
            }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
