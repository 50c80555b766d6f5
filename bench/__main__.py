"""The benchmark suite: `python -m bench` (or `just bench`) runs every benchmark, prints a table and
writes bench/results.json. Each part runs in its own process so one's memory does not skew another's.

    python -m bench            # about 3 minutes on a 2-core machine
    python -m bench --quick    # smaller runs, for a smoke check
    python -m bench --only cloudrun-exit,ecs-stop   # rerun those parts; merged into results.json, each part
                                                    # with its own date under "updated"
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
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench.{module} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    text = proc.stdout
    return dict(json.loads(text[text.rindex("\n{") + 1 if "\n{" in text else text.index("{") :]))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else round((ordered[mid - 1] + ordered[mid]) / 2, 2)


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(metric, opsctl, peer, target, verdict) for the table."""
    s, lo, lr = r["local"]["startup"], r["local"]["local_overhead"], r["local"]["local_relay"]
    lat, cr = r["ecs"]["latency_and_budget"], r["cloudrun"]
    aws = s.get("aws_version_ms")
    out: list[tuple[str, str, str, str, str]] = []

    def add(metric: str, ours: object, peer: str, target: str, ok: bool | None) -> None:
        verdict = "-" if ok is None else ("met" if ok else "**missed**")
        out.append((metric, str(ours), peer, target, verdict))

    for name, key in (
        ("`opsctl --help`", "opsctl_help_ms"),
        ("`opsctl envs`", "opsctl_envs_ms"),
        ("`opsctl run local … --dry-run`", "opsctl_dry_run_ms"),
    ):
        ms = s[key]
        ratio = f" ({ms / aws:.2f}× awscli)" if aws else ""
        add(
            f"start-up: {name}, ms",
            f"{ms}{ratio}",
            f"`aws --version` {aws} ms" if aws else "awscli n/a",
            "≤ 150 ms, ≤ 0.3× awscli",
            ms <= 150 and (aws is None or ms <= 0.3 * aws),
        )
    for kind, label in (("fargate_like_stop", "via DEACTIVATING…DEPROVISIONING"), ("abrupt_stop", "abrupt")):
        ours = lat[kind]["opsctl_exit_s"]["median"]
        peer = lat[kind]["aws_wait_exit_s"]["median"]
        add(
            f"ECS: STOPPED → exited with logs drained ({label}), s",
            ours,
            f"`aws ecs wait tasks-stopped` {peer} s",
            "≤ 2 s, ≤ 0.3× waiter",
            ours <= 2 and ours <= 0.3 * peer,
        )
    calls = lat["steady_calls_per_min_per_run"]
    add(
        "ECS: DescribeTasks + GetLogEvents per minute, steady run",
        f"{calls['mean']} (max {calls['max']})",
        "waiter 10/min, no logs",
        "≤ 30",
        calls["max"] <= 30,
    )
    polling = cr["logging_calls"]["polling"]["max_list_calls_per_minute"]
    tail = cr["logging_calls"]["live tail"]["max_list_calls_per_minute"]
    add(
        "Cloud Logging list calls in the busiest minute (polling / live tail)",
        f"{polling} / {tail}",
        "`gcloud … --wait`: no logs",
        "≤ 12",
        polling <= 12,
    )
    cx = cr["completion_to_exit"]
    if "ingestion_delay_s" in cx:
        median = _median(cx["seconds"])
        add(
            f"Cloud Run: completion → exited with logs drained, s (median of {cx['runs']}; lines lost; "
            f"ingestion delay {cx['ingestion_delay_s']:g} s)",
            f"{median}; {cx['lines_lost']} lost",
            "`gcloud run jobs execute --wait`: at completion, no logs",
            "≤ 2 s, 0 lost",
            median <= 2 and cx["lines_lost"] == 0,
        )
    else:  # a results.json from before ingestion delay was modelled
        add("Cloud Run: completion → exited with logs drained, s (median)", _median(cx["seconds"]), "-", "-", None)
    ecs_relay, cr_relay = r["ecs"]["log_relay"], cr["relay_100k"]["live tail"]
    for name, lines, seconds, rss, lossless in (
        ("local", lr["lines"], lr["seconds"], lr["opsctl_peak_rss_mb"], lr["zero_loss_in_order"]),
        (
            "ECS / CloudWatch",
            ecs_relay["lines"],
            ecs_relay["seconds"],
            ecs_relay["child_peak_rss_mb"],
            ecs_relay["zero_loss_in_order"],
        ),
        (
            "Cloud Run / Cloud Logging",
            cr_relay["lines"],
            cr_relay["seconds"],
            cr_relay["peak_rss_mb"],
            cr_relay["zero_loss"],
        ),
    ):
        add(
            f"{lines:,} lines via {name}: lines/s · peak RSS MB · lossless",
            f"{round(lines / seconds):,} · {rss} · {'yes' if lossless else 'NO'}",
            "-",
            "zero loss, ≤ 150 MB",
            bool(lossless) and rss <= 150,
        )
    fo = r["local"].get("local_fanout")
    if fo:  # a results.json from before fan-out has no such part
        total = fo["copies"] * fo["lines_per_copy"]
        add(
            f"`--tasks {fo['copies']}` × {fo['lines_per_copy']:,} lines via local: lines/s · peak RSS MB · lossless",
            f"{round(total / fo['seconds']):,} · {fo['opsctl_peak_rss_mb']} · "
            f"{'yes' if fo['zero_loss_in_order_per_copy'] else 'NO'}",
            "-",
            "zero loss, ≤ 150 MB",
            bool(fo["zero_loss_in_order_per_copy"]) and fo["opsctl_peak_rss_mb"] <= 150,
        )
    fan = r["ecs"].get("fanout")
    if fan:
        add(
            f"ECS `--tasks {fan['copies']}` × {fan['lines_per_copy']:,} lines: lossless · peak RSS MB · "
            "DescribeTasks / GetLogEvents per min",
            f"{'yes' if fan['lossless_in_order'] else 'NO'} · {fan['opsctl_peak_rss_mb']} · "
            f"{fan['describe_tasks']['per_minute']} / {fan['get_log_events']['per_minute']}",
            "-",
            "zero loss, ≤ 150 MB",
            bool(fan["lossless_in_order"]) and fan["opsctl_peak_rss_mb"] <= 150,
        )
    fan = cr.get("fanout")
    if fan:  # absent from a results.json from before #17
        add(
            f"Cloud Run `--tasks {fan['copies']}` × {fan['lines_per_copy']:,} lines: lossless · peak RSS MB · "
            "list calls in the busiest minute",
            f"{'yes' if fan['lossless_in_order'] else 'NO'} · {fan['opsctl_peak_rss_mb']} · "
            f"{fan['max_list_calls_per_minute']}",
            "-",
            "zero loss, ≤ 150 MB, ≤ 12",
            fan["lossless_in_order"] and fan["opsctl_peak_rss_mb"] <= 150 and fan["max_list_calls_per_minute"] <= 12,
        )
    add("`opsctl run local` of a no-op, ms", lo["opsctl_ms"], f"the bare command {lo['direct_ms']} ms", "-", None)
    return out


def table(r: dict[str, Any]) -> str:
    """The markdown table the README quotes."""
    lines = ["| metric | opsctl | peer, same run | target | |", "|---|---|---|---|---|"]
    lines += [f"| {m} | {o} | {p} | {t} | {v} |" for m, o, p, t, v in rows(r)]
    return "\n".join(lines)


def _machine() -> str:
    return (
        f"{platform.machine()}, {platform.system()} {platform.release()}, Python {platform.python_version()}"
        f", {len(__import__('os').sched_getaffinity(0))} cores"
    )


# part → (module and its arguments, where its numbers go in results.json)
PARTS: dict[str, tuple[tuple[str, ...], tuple[str, str]]] = {
    "cloudrun-exit": (("bench_cloudrun", "--completion-only"), ("cloudrun", "completion_to_exit")),
    "cloudrun-fanout": (("bench_cloudrun", "--fanout-only"), ("cloudrun", "fanout")),
    "ecs-stop": (("bench_ecs", "--latency-only"), ("ecs", "latency_and_budget")),
    "local-fanout": (("bench_local", "--fanout-only"), ("local", "local_fanout")),
    "ecs-fanout": (("bench_ecs", "--fanout-only"), ("ecs", "fanout")),
}


def only(parts: list[str]) -> None:
    """Rerun some parts and merge them into results.json (the rest keeps its own run's numbers and date)."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"unknown part(s) {', '.join(unknown)}; one of: {', '.join(PARTS)}")
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    for part in parts:
        (module, *args), (section, key) = PARTS[part]
        results[section][key] = _run(module, *args)[key]
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        results.setdefault("updated", {})[f"{section}.{key}"] = f"{stamp} ({_machine()})"
    results["table"] = table(results)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(results["table"])
    print(f"\nmerged {', '.join(parts)} into {RESULTS.relative_to(HERE.parent)}: {json.dumps(results['updated'])}")


def main() -> None:
    """Run everything, write bench/results.json, print the table."""
    parser = argparse.ArgumentParser(description="opsctl benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke check, not the README numbers)")
    parser.add_argument(
        "--only", help=f"comma-separated parts to rerun and merge into results.json: {', '.join(PARTS)}"
    )
    args = parser.parse_args()
    if args.only:
        only(args.only.split(","))
        return
    started = time.monotonic()
    quick = ["--quick"] if args.quick else []
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
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
    print(
        f"\n{results['machine']}; {results['date']}; {results['seconds']} s"
        + ("" if args.quick else f"; written to {RESULTS.relative_to(HERE.parent)}")
    )


if __name__ == "__main__":
    main()
