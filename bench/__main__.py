"""The benchmark suite: `python -m bench` (or `just bench`) runs every benchmark, prints a table and
writes bench/results.json. Each part runs in its own process so one's memory does not skew another's.

    python -m bench            # about 6 minutes on a 2-core machine
    python -m bench --quick    # smaller runs, for a smoke check
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"


def _run(module: str, *args: str) -> dict[str, Any]:
    """Run `python -m bench.<module>` and take the JSON document it prints last."""
    proc = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], cwd=HERE.parent, capture_output=True,
                          text=True, check=False, timeout=1200)
    if proc.returncode != 0:
        raise SystemExit(f"bench.{module} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    text = proc.stdout
    return dict(json.loads(text[text.rindex("\n{") + 1 if "\n{" in text else text.index("{"):]))


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(metric, opsctl, peer, target, verdict) for the table."""
    s, lo, lr = r["local"]["startup"], r["local"]["local_overhead"], r["local"]["local_relay"]
    ecs, cr = r["ecs"], r["cloudrun"]
    aws = s.get("aws_version_ms")
    out: list[tuple[str, str, str, str, str]] = []

    def add(metric: str, ours: float | str, peer: str, target: str, ok: bool | None) -> None:
        verdict = "-" if ok is None else ("met" if ok else "MISSED")
        out.append((metric, str(ours), peer, target, verdict))

    for name, key in (("opsctl --help", "opsctl_help_ms"), ("opsctl envs", "opsctl_envs_ms"),
                      ("opsctl run local … --dry-run", "opsctl_dry_run_ms")):
        ms = s[key]
        ratio = f" ({ms / aws:.2f}×)" if aws else ""
        add(f"start-up: {name} (ms, median)", f"{ms}{ratio}", f"aws --version {aws} ms" if aws else "awscli n/a",
            "≤150 ms and ≤0.3× awscli", ms <= 150 and (aws is None or ms <= 0.3 * aws))
    lat = ecs["latency_and_budget"]
    for kind in ("fargate_like", "abrupt"):
        if kind in lat:
            ours = lat[kind]["opsctl_exit_s"]["median"]
            peer = lat[kind].get("aws_wait_s", {}).get("median")
            add(f"ECS STOPPED→exit, logs drained ({kind}) (s, median)", ours,
                f"aws ecs wait tasks-stopped {peer} s" if peer is not None else "n/a",
                "≤2 s and ≤0.3× waiter", ours <= 2 and (peer is None or ours <= 0.3 * peer))
    budget = lat["calls_per_minute"]
    add("ECS + Logs calls per minute per run (steady)", budget["total"], "waiter: 10/min + logs: 12/min (aws logs tail)",
        "≤30", budget["total"] <= 30)
    calls = cr["logging_calls"]
    add("Cloud Logging list calls per minute (polling, worst minute)", calls["polling"]["max_per_minute"],
        "gcloud: no logs while waiting", "≤12", calls["polling"]["max_per_minute"] <= 12)
    add("Cloud Run completion→exit (s, median)", cr["completion_to_exit"]["median_s"], "gcloud --wait: no logs", "-",
        None)
    for name, relay in (("local", lr), ("ECS/CloudWatch", ecs["log_relay"]), ("Cloud Run/Logging (tail)",
                                                                               cr["relay_100k"]["tail"])):
        lossless = relay.get("zero_loss_in_order", relay.get("zero_loss"))
        rss = relay.get("opsctl_peak_rss_mb") or relay.get("child_peak_rss_mb") or relay.get("peak_rss_mb")
        add(f"100,000 lines via {name}: lines/s, peak RSS MB, lossless", f"{relay.get('lines_per_s')}, {rss}, "
            f"{lossless}", "-", "zero loss, ≤150 MB", bool(lossless) and rss is not None and rss <= 150)
    add("local run overhead vs the bare command (ms)", lo["overhead_ms"], f"bare command {lo['direct_ms']} ms", "-", None)
    return out


def table(r: dict[str, Any]) -> str:
    """The markdown table the README quotes."""
    lines = ["| metric | opsctl | peer, same run | target | |", "|---|---|---|---|---|"]
    lines += [f"| {m} | {o} | {p} | {t} | {v} |" for m, o, p, t, v in rows(r)]
    return "\n".join(lines)


def main() -> None:
    """Run everything, write bench/results.json, print the table."""
    parser = argparse.ArgumentParser(description="opsctl benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke check, not the README numbers)")
    args = parser.parse_args()
    started = time.monotonic()
    quick = ["--quick"] if args.quick else []
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}, Python {platform.python_version()}"
        f", {len(__import__('os').sched_getaffinity(0))} cores",
        "quick": args.quick,
        "local": _run("bench_local"),
        "ecs": _run("bench_ecs", *quick),
        "cloudrun": _run("bench_cloudrun", *quick),
    }
    results["table"] = table(results)
    results["seconds"] = round(time.monotonic() - started, 1)
    if not args.quick:
        RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(results["table"])
    print(f"\n{results['machine']}; {results['date']}; {results['seconds']} s"
          + ("" if args.quick else f"; written to {RESULTS.relative_to(HERE.parent)}"))


if __name__ == "__main__":
    main()
