"""The stdout sink: a finished run as the summary table or, with `--output json`, one JSON document."""

from __future__ import annotations

import json
from typing import IO, Any

from opsctl.actions import defuse
from opsctl.console import duration_text, labelled, use_color, width_of
from opsctl.errors import RESERVED_EXIT_CODES
from opsctl.model import Copy, Outcome, RunResult, State
from opsctl.untrusted import LINE_MAX_BYTES


def emit_result(result: RunResult, output: str, no_color: bool, out: IO[str]) -> None:
    """The summary table or the JSON document on `out` (stdout)."""
    if output == "json":
        out.write(json.dumps(result_json(result), indent=2, default=str) + "\n")
    else:
        print_summary(result, out, use_color(out, no_color))


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """{"user": {"email": …}} → [("user.email", …)]."""
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = []
        for key, item in value.items():
            items += flatten(item, f"{prefix}{key}.")
        return items
    return [(prefix[:-1], value)]


def result_rows(result: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The task's result fields as summary rows: `user.email` is shown as `Email` unless that is ambiguous."""
    if not result:
        return []
    flat = [(k, v) for k, v in flatten(result) if k != "ok"]
    leaves = [k.rsplit(".", 1)[-1] for k, _ in flat]
    rows = []
    for (key, value), leaf in zip(flat, leaves, strict=True):
        label = leaf if leaves.count(leaf) == 1 else key
        label = label[:1].upper() + label[1:]
        rows.append((label, _text(value)))
    return rows


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "-"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    return str(value)


def exit_code_text(result: RunResult) -> str:
    """The Exit code row; says when the task's own code equals one opsctl uses for itself."""
    if result.exit_code is None:
        return "-"
    meaning = RESERVED_EXIT_CODES.get(result.exit_code)
    if meaning:
        return f"{result.exit_code} (the task's own exit code, not opsctl's {meaning!r})"
    return str(result.exit_code)


def summary_rows(result: RunResult) -> list[tuple[str, str]]:
    """The summary table's rows, in order (also used for the GitHub step summary)."""
    rows = [
        ("Environment", result.env),
        ("Task", result.task),
        ("Actor", result.actor),
        ("Run", result.run.id),
        ("Status", result.outcome.value),
        ("Exit code", exit_code_text(result)),
        ("Duration", duration_text(result.duration_s)),
    ]
    if result.reason:
        rows.append(("Reason", result.reason))
    rows += copies_rows(result)
    rows += [(k[:1].upper() + k[1:], v) for k, v in result.details]
    if result.cut_lines:
        rows.append(("Lines cut", f"{result.cut_lines} (longer than {LINE_MAX_BYTES // 1024} KiB)"))
    rows += result_rows(result.result)
    if result.run.console_url:
        rows.append(("Console", result.run.console_url))
    if result.run.log_url:
        rows.append(("Logs", result.run.log_url))
    if result.outcome in (Outcome.DETACHED, Outcome.LEFT_RUNNING):
        rows.append(("Reattach", f"opsctl wait {result.env} {result.run.id}"))
    return rows


FAILED_SHOWN = 20  # failed copies named in the summary's row; the JSON and step summary list every copy


def copies_rows(result: RunResult) -> list[tuple[str, str]]:
    """A fanned-out run's rows: how many copies ended how, and which failed (lowest index first)."""
    if not result.tasks:
        return []
    counts: dict[str, int] = {}
    for c in result.tasks:
        word = c.state.value if c.state is not State.STOPPED else "failed" if c.failed else "succeeded"
        counts[word] = counts.get(word, 0) + 1
    order = ("succeeded", "failed", *(s.value for s in State if s is not State.STOPPED))
    told = ", ".join(f"{counts[w]} {w}" for w in order if w in counts)
    rows = [("Copies", f"{len(result.tasks)} ({told})")]
    failed = sorted((c for c in result.tasks if c.failed), key=lambda c: c.index)
    if failed:
        shown = [f"{c.index} (exit {'-' if c.exit_code is None else c.exit_code})" for c in failed[:FAILED_SHOWN]]
        more = f", … {len(failed) - FAILED_SHOWN} more" if len(failed) > FAILED_SHOWN else ""
        rows.append(("Failed copies", ", ".join(shown) + more))
    return rows


def copy_json(copy: Copy) -> dict[str, Any]:
    """One copy in `--output json`'s `tasks` list (DESIGN.md §6)."""
    return {
        "index": copy.index,
        "run": copy.run,
        "status": copy.state.value if copy.state is not State.STOPPED else "failed" if copy.failed else "succeeded",
        "exit_code": copy.exit_code,
        "reason": copy.reason,
        "result": copy.result,
    }


def result_json(result: RunResult) -> dict[str, Any]:
    """The `--output json` document (DESIGN.md §6)."""
    return {
        "env": result.env,
        "task": result.task,
        "provider": result.provider,
        "run": result.run.id,
        "status": result.outcome.value,
        "exit_code": result.exit_code,
        "opsctl_exit_code": result.exit_status,
        "reason": result.reason,
        "details": dict(result.details),
        "started_at": result.started_at.isoformat(),
        "stopped_at": result.stopped_at.isoformat() if result.stopped_at else None,
        "duration_s": result.duration_s,
        "actor": result.actor,
        "result": result.result,
        "lines_cut": result.cut_lines,
        "console_url": result.run.console_url,
        "log_url": result.run.log_url,
        **({"tasks": [copy_json(c) for c in result.tasks]} if result.tasks else {}),
    }


def print_summary(result: RunResult, out: IO[str], color: bool) -> None:
    """The summary table: rich on a colour terminal, aligned plain text elsewhere."""
    rows = summary_rows(result)
    if not color:
        out.write("".join(defuse(line) + "\n" for line in labelled(rows, width_of(out)).splitlines()))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    style = {Outcome.SUCCEEDED: "green", Outcome.DETACHED: "cyan"}.get(result.outcome, "red")
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        # Text, never markup: a result field such as `[link=https://evil.example]ok[/link]` stays text.
        table.add_row(Text(defuse(key)), Text(value, style=style if key in ("Status", "Exit code") else ""))
    Console(file=out, force_terminal=True, highlight=False).print(table)
