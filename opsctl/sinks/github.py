"""The GitHub Actions sink (DESIGN.md §6): the error annotation, the step summary, the step outputs."""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from opsctl.actions import append, error_command, format_output, new_delimiter
from opsctl.model import Outcome, RunResult
from opsctl.redact import Redactor
from opsctl.sinks.stdout import copy_json, exit_code_text, summary_rows

SUMMARY_MAX_BYTES = 1_000_000  # GitHub rejects a step summary over 1 MiB (1,048,576 bytes)
LOG_LINE_MAX = 2_000  # characters of one log line in the step summary
CELL_MAX = 2_000  # characters of one table cell in the step summary
COPY_ROWS_MAX = 100  # copies listed in the step summary's per-copy table (failed ones first)
_RUN_LABEL = {"ecs": "Task ARN", "cloudrun": "Execution"}
_URL_SAFE = ":/?#@!$&'*+,;=%-._~"
_LINK_ROWS = {"Console": "open in console", "Logs": "open logs"}
_MD = {
    "\\": "\\\\",
    "|": "\\|",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "~": "\\~",
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
}


def error_annotation(result: RunResult, redact: Redactor | None = None) -> str | None:
    """`::error title=opsctl ENV/TASK STATUS::…` when the run did not succeed, else None."""
    if result.outcome in (Outcome.SUCCEEDED, Outcome.DETACHED):
        return None
    parts = [f"run {result.run.id}"]
    if result.exit_code is not None:
        parts.append(f"exit code {exit_code_text(result)}")
    if result.reason:
        parts.append(result.reason)
    if result.run.log_url:
        parts.append(f"logs: {result.run.log_url}")
    clean = _cleaner(redact)
    title = f"opsctl {result.env}/{result.task} {result.outcome.value}"
    return error_command(clean(title), clean("; ".join(parts)))


def _cleaner(redact: Redactor | None) -> Redactor:
    return redact if redact is not None else Redactor(())


def md_cell(text: str) -> str:
    """Text for a GFM table cell: markdown and HTML syntax escaped, line breaks as <br>."""
    escaped = "".join(_MD.get(c, c) for c in text)
    return re.sub(r"\r\n|\r|\n", "<br>", escaped)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … [{len(text) - limit} more characters cut]"


def _link(url: str, text: str) -> str | None:
    if not url.startswith(("https://", "http://")):
        return None
    # Percent-encode whatever could end the link or the table cell early.
    return f"[{text}]({urllib.parse.quote(url, safe=_URL_SAFE)})"


def _fence(lines: Sequence[str]) -> str:
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _table(result: RunResult, clean: Redactor) -> list[str]:
    rows = []
    for label, value in summary_rows(result):
        if label == "Run":
            label = _RUN_LABEL.get(result.provider, "Run")
        cell = _link(clean(value), _LINK_ROWS[label]) if label in _LINK_ROWS else None
        rows.append(f"| {md_cell(label)} | {cell or md_cell(_cut(clean(value), CELL_MAX))} |")
    return rows


def _copies_table(result: RunResult, clean: Redactor) -> list[str]:
    """A fanned-out run's copies, failed ones first, at most COPY_ROWS_MAX rows."""
    if not result.tasks:
        return []
    ordered = sorted(result.tasks, key=lambda c: (not c.failed, c.index))
    rows = ["", "| Copy | Status | Exit code | Reason |", "|---|---|---|---|"]
    for c in ordered[:COPY_ROWS_MAX]:
        status = copy_json(c)["status"]
        code = "-" if c.exit_code is None else str(c.exit_code)
        rows.append(f"| {c.index} | {status} | {code} | {md_cell(_cut(clean(c.reason or ''), CELL_MAX))} |")
    if len(ordered) > COPY_ROWS_MAX:
        rows.append(f"| … | {len(ordered) - COPY_ROWS_MAX} more copies (every copy: --output json) | | |")
    return rows


def step_summary(result: RunResult, last_lines: Sequence[str] | None = None, redact: Redactor | None = None) -> str:
    """The step summary: a heading, the summary table, the last log lines; under SUMMARY_MAX_BYTES."""
    clean = _cleaner(redact)
    lines = [
        _cut(part, LOG_LINE_MAX)
        for line in (result.last_lines if last_lines is None else last_lines)
        for part in clean(line).splitlines() or [""]
    ]
    heading = f"### opsctl run {md_cell(result.env)} {md_cell(result.task)}: {md_cell(result.outcome.value)}"
    table = _table(result, clean) + _copies_table(result, clean)
    head = [heading, "", "| | |", "|---|---|", *table]
    # Room for the <details> wrapper, the notes and two fences of up to LOG_LINE_MAX + 1 backticks.
    budget = SUMMARY_MAX_BYTES - 2 * (LOG_LINE_MAX + 1) - 512
    size = sum(len(x.encode()) + 1 for x in head)
    cut_rows = 0
    while size > budget and len(head) > 5:
        size -= len(head.pop().encode()) + 1
        cut_rows += 1
    if cut_rows:
        head.append(f"| … | {cut_rows} more rows cut to keep the summary under 1 MiB |")
        size += len(head[-1].encode()) + 1
    kept: list[str] = []
    for line in [] if cut_rows else reversed(lines):
        cost = len(line.encode()) + 1
        if size + cost > budget:
            break
        kept.append(line)
        size += cost
    kept.reverse()
    doc = "\n".join(head) + "\n"
    if not lines:
        return doc
    if not kept:
        return f"{doc}\nThe last {len(lines)} log lines were cut to keep the summary under 1 MiB.\n"
    if len(kept) == len(lines):
        title = f"Last {len(lines)} log lines"
    else:
        title = f"Last {len(kept)} of {len(lines)} log lines (earlier ones cut to keep the summary under 1 MiB)"
    fence = _fence(kept)
    body = "".join(line + "\n" for line in kept)
    return f"{doc}\n<details><summary>{title}</summary>\n\n{fence}text\n{body}{fence}\n\n</details>\n"


def append_summary(path: Path, text: str) -> None:
    """Append markdown to the step summary file ($GITHUB_STEP_SUMMARY)."""
    append(path, text if text.endswith("\n") else text + "\n")


def output_values(result: RunResult, redact: Redactor | None = None) -> dict[str, str]:
    """The step outputs: exit-code (opsctl's, DESIGN.md §5), run, status, result (JSON) and failed-copies."""
    clean = _cleaner(redact)
    return {
        "exit-code": str(result.exit_status),
        "run": result.run.id,
        "status": result.outcome.value,
        "result": json.dumps(clean.value(result.result), separators=(",", ":"), default=str),
        "failed-copies": ",".join(str(c.index) for c in sorted(result.tasks, key=lambda c: c.index) if c.failed),
    }


def write_outputs(result: RunResult, path: Path, redact: Redactor | None = None) -> None:
    """Append the step outputs to $GITHUB_OUTPUT in one write."""
    text = "".join(format_output(name, value, new_delimiter()) for name, value in output_values(result, redact).items())
    append(path, text)


def publish(
    result: RunResult, out: IO[str], redact: Redactor | None = None, environ: Mapping[str, str] | None = None
) -> None:
    """After a run in GitHub Actions: the error annotation on `out`, the step summary, the step outputs."""
    env = os.environ if environ is None else environ
    annotation = error_annotation(result, redact)
    if annotation is not None:
        out.write(annotation + "\n")
        out.flush()
    writes: list[tuple[str, str, Callable[[Path], None]]] = [
        ("GITHUB_STEP_SUMMARY", "step summary", lambda p: append_summary(p, step_summary(result, redact=redact))),
        ("GITHUB_OUTPUT", "step outputs", lambda p: write_outputs(result, p, redact)),
    ]
    for var, what, write in writes:
        if not env.get(var):
            continue
        try:
            write(Path(env[var]))
        except OSError as e:
            # The task already ran: a summary that cannot be written must not change opsctl's exit code.
            out.write(f"opsctl: could not write the {what} to ${var}: {e.strerror or e}\n")
            out.flush()
