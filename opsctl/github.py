"""GitHub Actions output (DESIGN.md §6): masks, a command-proof log group, the error annotation, the
step summary and the step outputs.

The runner reads workflow commands from both stdout and stderr (one command processor per step, so
`::stop-commands::` read on one stream pauses both), but each stream is read on its own thread. Every
command opsctl prints therefore goes to the stream the task's lines are relayed on (stderr): only
then is it ordered with respect to them. stdout stays clean for the summary or `--output json`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from opsctl.model import LogLine, Outcome, RunRef, RunResult, State, Status
from opsctl.redact import Redactor
from opsctl.report import exit_code_text, summary_rows

if TYPE_CHECKING:
    from opsctl.runner import Observer

SUMMARY_MAX_BYTES = 1_000_000  # GitHub rejects a step summary over 1 MiB (1,048,576 bytes)
LOG_LINE_MAX = 2_000  # characters of one log line in the step summary
CELL_MAX = 2_000  # characters of one table cell in the step summary
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}")
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


def active(environ: Mapping[str, str] | None = None) -> bool:
    """Whether opsctl runs as a GitHub Actions step."""
    env = os.environ if environ is None else environ
    return env.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """A workflow command's data, escaped as @actions/core does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value, escaped as @actions/core does."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def mask_secrets(values: Iterable[str], out: IO[str]) -> None:
    """`::add-mask::` for every secret value, and for each line of a multi-line one."""
    masks: list[str] = []
    for value in sorted(set(values)):
        for part in (value, *value.splitlines()):
            # The runner refuses to mask a blank value (and warns).
            if part.strip() and part not in masks:
                masks.append(part)
    out.write("".join(f"::add-mask::{escape_data(m)}\n" for m in masks))
    out.flush()


def error_command(title: str, message: str) -> str:
    """An `::error` workflow command (an annotation on the run page)."""
    return f"::error title={escape_property(title)}::{escape_data(message)}"


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


class GitHubObserver:
    """Wraps the text observer: the task's lines go inside a log group that no line can break out of.

    `out` must be the stream the inner observer writes to. On launch it opens `::group::` and then
    `::stop-commands::TOKEN` (TOKEN random, never shown to the task), so the runner ignores every
    command in the relayed lines — `::add-mask::`, `::set-output`, `::error::`, `::endgroup::`,
    another `::stop-commands::` — until opsctl itself prints `::TOKEN::`, then `::endgroup::`.
    """

    def __init__(
        self,
        inner: Observer,
        out: IO[str],
        env: str,
        task: str,
        token: str | None = None,
        outputs: Path | None = None,
    ) -> None:
        if token is not None and not _TOKEN.fullmatch(token):
            raise ValueError("a stop-commands token is 16 or more characters of [A-Za-z0-9_-]")
        self.inner = inner
        self.out = out
        self.outputs = outputs
        self._title = f"{env}/{task} run logs"
        self._prefix = f"{env}/{task}"
        self._next_token = token
        self._token: str | None = None  # the open block's token, None when no block is open

    def _new_token(self) -> str:
        # A fresh token per block: the runner echoes the token into the job log when a block ends.
        token, self._next_token = self._next_token or secrets.token_hex(16), None
        return token

    def _emit(self, *lines: str) -> None:
        self.out.write("".join(line + "\n" for line in lines))
        self.out.flush()

    def _begin(self) -> None:
        if self._token is None:
            self._token = self._new_token()
            self._emit(f"::group::{escape_data(self._title)}", f"::stop-commands::{self._token}")

    def _end(self) -> None:
        if self._token is not None:
            self.out.flush()
            self._emit(f"::{self._token}::", "::endgroup::")
            self._token = None

    def _guarded(self, text: str, say: Callable[[], None]) -> None:
        """Outside the group, a line that could read as a command is printed inside its own stop block."""
        if self._token is not None or ("::" not in text and "##[" not in text):
            say()
            return
        token = self._new_token()
        self._emit(f"::stop-commands::{token}")
        say()
        self.out.flush()
        self._emit(f"::{token}::")

    def launched(self, ref: RunRef) -> None:
        """Record the run as a step output at once (for an `if: cancelled()` step), then open the group."""
        if self.outputs is not None:
            write_output(self.outputs, "run", ref.id)
        self._guarded(f"{ref.id} {ref.console_url or ''}", lambda: self.inner.launched(ref))
        self._title = f"{self._prefix} run {ref.id} logs"
        self._begin()

    def status(self, status: Status, elapsed_s: float) -> None:
        """Close the group when the run stopped (its late lines came before this), then relay."""
        if status.state is State.STOPPED:
            self._end()
        self._guarded(status.raw, lambda: self.inner.status(status, elapsed_s))

    def log(self, line: LogLine) -> None:
        """Relay one (already redacted) task line, always inside a stop-commands block."""
        self._begin()
        self.inner.log(line)

    def notice(self, message: str) -> None:
        """Relay a notice; plain text inside the block, guarded outside it."""
        self._guarded(message, lambda: self.inner.notice(message))

    def close(self) -> None:
        """Resume command processing and close the group, then close the inner observer."""
        self._end()
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


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


def step_summary(result: RunResult, last_lines: Sequence[str] | None = None, redact: Redactor | None = None) -> str:
    """The step summary: a heading, the summary table, the last log lines; under SUMMARY_MAX_BYTES."""
    clean = _cleaner(redact)
    lines = [
        _cut(part, LOG_LINE_MAX)
        for line in (result.last_lines if last_lines is None else last_lines)
        for part in clean(line).splitlines() or [""]
    ]
    heading = f"### opsctl run {md_cell(result.env)} {md_cell(result.task)}: {md_cell(result.outcome.value)}"
    table = _table(result, clean)
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
    _append(path, text if text.endswith("\n") else text + "\n")


def format_output(name: str, value: str, delimiter: str) -> str:
    """One step output in the multi-line `NAME<<DELIMITER` form; refuses a delimiter found inside."""
    if delimiter in name or delimiter in value:
        raise ValueError(f"step output {name!r}: the value contains the delimiter {delimiter!r}")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def write_output(path: Path, name: str, value: str) -> None:
    """Append one step output to $GITHUB_OUTPUT, with a fresh `ghadelimiter_<uuid4>` delimiter."""
    _append(path, format_output(name, value, f"ghadelimiter_{uuid.uuid4()}"))


def output_values(result: RunResult, redact: Redactor | None = None) -> dict[str, str]:
    """The step outputs: exit-code (opsctl's, DESIGN.md §5), run, status and result (JSON)."""
    clean = _cleaner(redact)
    return {
        "exit-code": str(result.exit_status),
        "run": result.run.id,
        "status": result.outcome.value,
        "result": json.dumps(clean.value(result.result), separators=(",", ":"), default=str),
    }


def write_outputs(result: RunResult, path: Path, redact: Redactor | None = None) -> None:
    """Append exit-code, run, status and result to $GITHUB_OUTPUT in one write."""
    text = "".join(
        format_output(name, value, f"ghadelimiter_{uuid.uuid4()}")
        for name, value in output_values(result, redact).items()
    )
    _append(path, text)


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


def _append(path: Path, text: str) -> None:
    """One write with O_APPEND, so concurrent writers never interleave within it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        data = text.encode()
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)
