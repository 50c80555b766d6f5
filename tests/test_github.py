"""GitHub Actions output: masks, the command-proof log group, annotation, step summary, step outputs.

`ActionsRunner` below models how actions/runner reads a step's stdout/stderr (ActionCommandManager
and ActionCommand.TryParseV2/TryParse): what it would execute as a workflow command and what it
would show. It is a stand-in for GitHub, not for any opsctl code.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from opsctl.actions import format_output, mask_secrets
from opsctl.model import LogLine, Outcome, RunRef, RunResult, State, Status
from opsctl.progress import GitHubObserver, TextObserver
from opsctl.providers import Provider
from opsctl.redact import Redactor
from opsctl.runner import RetryPolicy, Runner
from opsctl.sinks import history
from opsctl.sinks.github import SUMMARY_MAX_BYTES, error_annotation, md_cell, publish, step_summary, write_outputs
from opsctl.sinks.stdout import print_summary, result_json
from tests.contract import make_spec
from tests.fakes.scripted import FakeClock, ScriptedProvider

TOKEN = "0123456789abcdef0123456789abcdef"
ARN = "arn:aws:ecs:eu-west-2:123456789012:task/clinloop-staging/0f1e2d3c"
CONSOLE = "https://eu-west-2.console.aws.amazon.com/ecs/v2/clusters/clinloop-staging/tasks/0f1e2d3c"
LOGS = "https://eu-west-2.console.aws.amazon.com/cloudwatch/home?region=eu-west-2#logsV2:log-groups/log-group/$252Fecs"
RETRY = RetryPolicy(base_s=0.1, max_wait_s=1.0, max_s=1000.0, attempts=6)
_COMMANDS = {
    "add-mask",
    "add-matcher",
    "add-path",
    "debug",
    "echo",
    "endgroup",
    "error",
    "group",
    "notice",
    "remove-matcher",
    "save-state",
    "set-env",
    "set-output",
    "stop-commands",
    "warning",
}
INJECTIONS = [
    "::add-mask::ada@example.com",
    "::set-output name=exit-code::0",
    "::error::boom",
    "::error title=fake::annotation",
    "::endgroup::",
    "::group::a group of the task's own",
    "::stop-commands::t2",
    "::t2::",
    "   ::warning::indented",
    "##[set-output name=status]succeeded",
    "text before ##[add-mask]ada",
    "::0123456789abcdef0123456789abcdee::",
]


@dataclass
class ActionsRunner:
    """How actions/runner treats a step's output lines: runs commands, shows the rest, masked."""

    commands: list[tuple[str, str]] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)
    stop_token: str | None = None

    def feed(self, text: str) -> ActionsRunner:
        for line in text.splitlines():
            self._line(line)
        return self

    def _parse(self, line: str) -> tuple[str, str] | None:
        known = {c.lower() for c in _COMMANDS} | ({self.stop_token.lower()} if self.stop_token else set())
        v2 = line.lstrip()
        end = v2.find("::", 2)
        if v2.startswith("::") and end >= 0:
            name = v2[2:end].split(" ", 1)[0]
            if name.lower() in known:
                data = v2[end + 2 :].replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")
                return name, data
        start = line.find("##[")
        close = line.find("]", start)
        if start >= 0 and close >= 0:
            name = line[start + 3 : close].split(" ", 1)[0]
            if name.lower() in known:
                return name, line[close + 1 :]
        return None

    def _line(self, line: str) -> None:
        command = self._parse(line)
        if command is None or (self.stop_token is not None and command[0].lower() != self.stop_token.lower()):
            for mask in self.masks:
                line = line.replace(mask, "***")
            self.shown.append(line)
            return
        name, data = command
        self.commands.append((name, data))
        if self.stop_token is not None:
            self.stop_token = None
            self.shown.append(line)  # the runner echoes the stop and resume lines
        elif name == "stop-commands":
            self.stop_token = data
            self.shown.append(line)
        elif name == "add-mask":
            self.masks.append(data)


def sample(**changes: object) -> RunResult:
    base = RunResult(
        env="staging",
        task="seed-admin",
        provider="ecs",
        run=RunRef(id=ARN, console_url=CONSOLE, log_url=LOGS),
        outcome=Outcome.SUCCEEDED,
        exit_code=0,
        reason=None,
        started_at=datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC),
        stopped_at=datetime(2026, 11, 22, 10, 0, 42, 500000, tzinfo=UTC),
        actor="octocat",
        result={"ok": True, "wasNew": True, "user": {"id": "u-1", "email": "ada@example.com", "role": "admin"}},
        last_lines=("Seeding admin ada@example.com", "```", '{"ok": true}'),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def run_scripted(
    lines: list[str], err: io.StringIO, secrets: frozenset[str] = frozenset(), exit_code: int = 0
) -> RunResult:
    """A whole run through the real runner, with the GitHub observer around the text observer."""
    clock = FakeClock()
    provider = ScriptedProvider(clock, exit_code=exit_code, lines=[(0.6 + i * 0.01, m) for i, m in enumerate(lines)])
    spec = make_spec(("task",), env_name="staging", task="seed-admin", secrets=secrets)
    observer = GitHubObserver(TextObserver(err, False), err, "staging", "seed-admin", token=TOKEN)
    mask_secrets(spec.secret_values, err)
    try:
        return Runner(cast("Provider", provider), spec, observer, clock=clock, sleep=clock.sleep, retry=RETRY).run()
    finally:
        observer.close()


def test_masks_come_escaped_one_per_value_and_per_line() -> None:
    out = io.StringIO()
    mask_secrets(["hunter2", "50%\nsecond line\n", "", "  ", "hunter2"], out)
    assert out.getvalue() == (
        "::add-mask::50%25%0Asecond line%0A\n::add-mask::50%25\n::add-mask::second line\n::add-mask::hunter2\n"
    )
    assert ActionsRunner().feed(out.getvalue()).masks == ["50%\nsecond line\n", "50%", "second line", "hunter2"]


def test_log_lines_are_framed_by_group_and_stop_commands() -> None:
    err = io.StringIO()
    observer = GitHubObserver(TextObserver(err, False), err, "staging", "seed-admin", token=TOKEN)
    observer.launched(RunRef(ARN, console_url=CONSOLE))
    observer.status(Status(State.RUNNING, "RUNNING"), 1.0)
    observer.log(LogLine("::add-mask::x"))
    observer.notice("stopping run")
    observer.status(Status(State.STOPPED, "STOPPED", exit_code=0), 3.0)
    observer.close()
    assert err.getvalue() == (
        f"opsctl: launched run {ARN}\n"
        f"opsctl: console {CONSOLE}\n"
        f"::group::staging/seed-admin run {ARN} logs\n"
        f"::stop-commands::{TOKEN}\n"
        "opsctl: RUNNING (1.0s)\n"
        "::add-mask::x\n"
        "opsctl: stopping run\n"
        f"::{TOKEN}::\n"
        "::endgroup::\n"
        "opsctl: STOPPED (3.0s)\n"
    )


def test_a_task_cannot_issue_workflow_commands(tmp_path: Path) -> None:
    err = io.StringIO()
    result = run_scripted(["starting", *INJECTIONS, "done"], err, frozenset({"hunter2"}), exit_code=3)
    publish(result, err, environ={})
    github = ActionsRunner().feed(err.getvalue())
    assert github.commands == [
        ("add-mask", "hunter2"),
        ("group", "staging/seed-admin run run-1 logs"),
        ("stop-commands", TOKEN),
        (TOKEN, ""),
        ("endgroup", ""),
        ("error", "run run-1; exit code 3"),
    ]
    assert github.masks == ["hunter2"]
    # Every task line is shown as-is, and only between opsctl's own stop and resume lines.
    stop, resume = github.shown.index(f"::stop-commands::{TOKEN}"), github.shown.index(f"::{TOKEN}::")
    inside = github.shown[stop + 1 : resume]
    assert [line for line in inside if not line.startswith("opsctl: ")] == ["starting", *INJECTIONS, "done"]
    assert not {"starting", *INJECTIONS, "done"} & set(github.shown[:stop] + github.shown[resume:])


def test_stop_tokens_are_random_and_well_formed() -> None:
    err = io.StringIO()
    tokens = set()
    for _ in range(3):
        observer = GitHubObserver(TextObserver(err, False), err, "staging", "seed-admin")
        observer.log(LogLine("x"))
        observer.close()
        tokens |= {name for name, _ in ActionsRunner().feed(err.getvalue()).commands if name not in _COMMANDS}
    assert len(tokens) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", t) for t in tokens)
    with pytest.raises(ValueError, match="16 or more"):
        GitHubObserver(TextObserver(err, False), err, "staging", "seed-admin", token="error")


def test_lines_outside_a_run_are_guarded_too() -> None:
    err = io.StringIO()
    observer = GitHubObserver(TextObserver(err, False), err, "staging", "seed-admin")
    observer.notice("launch: ##[set-output name=run]x — retrying in 1.0s")  # before launch: no group yet
    observer.notice("plain notice")
    observer.log(LogLine("::error::from a reattached run"))  # `opsctl wait` relays without launched()
    observer.close()
    github = ActionsRunner().feed(err.getvalue())
    assert [name for name, _ in github.commands if name in _COMMANDS] == [
        "stop-commands",
        "group",
        "stop-commands",
        "endgroup",
    ]
    assert "opsctl: launch: ##[set-output name=run]x — retrying in 1.0s" in github.shown
    assert "opsctl: plain notice" in github.shown and "::error::from a reattached run" in github.shown
    assert ("group", "staging/seed-admin run logs") in github.commands


def test_launch_writes_the_run_output_at_once(tmp_path: Path) -> None:
    outputs = tmp_path / "output"
    observer = GitHubObserver(
        TextObserver(io.StringIO(), False), io.StringIO(), "staging", "seed-admin", outputs=outputs
    )
    observer.launched(RunRef(ARN))
    assert re.sub(r"ghadelimiter_[0-9a-f-]{36}", "D", outputs.read_text()) == f"run<<D\n{ARN}\nD\n"


def test_error_annotation_escapes_properties_and_data() -> None:
    assert error_annotation(sample()) is None
    assert error_annotation(sample(outcome=Outcome.DETACHED)) is None
    failed = sample(outcome=Outcome.FAILED, exit_code=3, reason="Essential container exited: 100%, done\nbye")
    assert error_annotation(failed) == (
        "::error title=opsctl staging/seed-admin failed::"
        f"run {ARN}; exit code 3; Essential container exited: 100%25, done%0Abye; logs: {LOGS}"
    )
    odd = sample(env="a:b,c", outcome=Outcome.NO_EXIT_CODE, exit_code=None, reason=None, run=RunRef("r-1"))
    assert error_annotation(odd) == "::error title=opsctl a%3Ab%2Cc/seed-admin stopped without exit code::run r-1"
    timed_out = sample(outcome=Outcome.TIMED_OUT, exit_code=None, reason="hunter2 leaked", run=RunRef("r-2"))
    assert error_annotation(timed_out, Redactor({"hunter2"})) == (
        "::error title=opsctl staging/seed-admin timed out::run r-2; *** leaked"
    )


def test_step_summary_exact_text_with_the_seed_000_columns() -> None:
    assert (
        step_summary(sample())
        == f"""### opsctl run staging seed-admin: succeeded

| | |
|---|---|
| Environment | staging |
| Task | seed-admin |
| Actor | octocat |
| Task ARN | {ARN} |
| Status | succeeded |
| Exit code | 0 |
| Duration | 42.5s |
| WasNew | true |
| Id | u-1 |
| Email | ada@example.com |
| Role | admin |
| Console | [open in console]({CONSOLE}) |
| Logs | [open logs]({LOGS}) |

<details><summary>Last 3 log lines</summary>

````text
Seeding admin ada@example.com
```
{{"ok": true}}
````

</details>
"""
    )


def test_step_summary_labels_and_links_per_provider() -> None:
    cloudrun = sample(provider="cloudrun", run=RunRef("quill-admin-prod-x7k2p", log_url="https://x.test/a b|(c)"))
    text = step_summary(cloudrun, last_lines=[])
    assert "| Execution | quill-admin-prod-x7k2p |" in text
    assert "| Logs | [open logs](https://x.test/a%20b%7C%28c%29) |" in text
    local = sample(provider="local", run=RunRef("20260101T000000Z-00000000", log_url="/state/run/log.jsonl"))
    assert "| Run | 20260101T000000Z-00000000 |\n" in step_summary(local)
    assert "| Logs | /state/run/log.jsonl |\n" in step_summary(local)


def test_markdown_is_escaped_in_cells() -> None:
    assert md_cell("a|b`c<d>e&f\n*g*_h_[i](j)~k\\\r\nl") == (
        "a\\|b\\`c&lt;d&gt;e&amp;f<br>\\*g\\*\\_h\\_\\[i\\](j)\\~k\\\\<br>l"
    )
    hostile = sample(result={"ok": False, "error": "bad | row\n| Status | succeeded |", "html": "<img src=x>"})
    rows = [line for line in step_summary(hostile).splitlines() if line.startswith("| ")]
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 3 for row in rows)
    assert "| Error | bad \\| row<br>\\| Status \\| succeeded \\| |" in rows
    assert "| Html | &lt;img src=x&gt; |" in rows


def test_step_summary_stays_under_1_mib_cutting_the_log_first() -> None:
    huge = [f"line {i:05d} " + "x" * 990 for i in range(2000)]  # ~2 MB of log
    text = step_summary(sample(), last_lines=huge)
    assert len(text.encode()) <= SUMMARY_MAX_BYTES
    assert "| Email | ada@example.com |" in text and "| Logs | [open logs]" in text
    kept = [line for line in text.splitlines() if line.startswith("line ")]
    assert kept[-1] == huge[-1] and huge[0] not in kept and len(kept) > 900
    assert (
        f"<details><summary>Last {len(kept)} of 2000 log lines (earlier ones cut to keep the summary under 1 MiB)"
        in text
    )
    long_line = step_summary(sample(), last_lines=["y" * 10_000])
    assert "y" * 2000 + " … [8000 more characters cut]\n" in long_line


def test_step_summary_cuts_table_rows_only_when_they_alone_are_too_big() -> None:
    result = {"ok": True, **{f"k{i:04d}": "v" * 1500 for i in range(1000)}}  # ~1.5 MB of rows
    text = step_summary(sample(result=result))
    assert len(text.encode()) <= SUMMARY_MAX_BYTES
    assert "| Environment | staging |" in text
    assert re.search(r"\| … \| \d+ more rows cut to keep the summary under 1 MiB \|", text)
    assert text.endswith("The last 3 log lines were cut to keep the summary under 1 MiB.\n")


def parse_outputs(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT as the runner reads it (the multi-line form only)."""
    values, lines = {}, text.split("\n")
    i = 0
    while i < len(lines) - 1:
        name, delimiter = lines[i].split("<<", 1)
        end = lines.index(delimiter, i + 1)
        values[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return values


def test_outputs_use_the_multiline_form_with_fresh_delimiters(tmp_path: Path) -> None:
    path = tmp_path / "output"
    path.write_text("earlier<<EOF\nkept\nEOF\n")
    write_outputs(sample(), path)
    text = path.read_text()
    delimiters = re.findall(r"<<(ghadelimiter_([0-9a-f-]{36}))\n", text)
    assert len({d for d, _ in delimiters}) == 5 and all(uuid.UUID(u).version == 4 for _, u in delimiters)
    result = '{"ok":true,"wasNew":true,"user":{"id":"u-1","email":"ada@example.com","role":"admin"}}'
    assert re.sub(r"ghadelimiter_[0-9a-f-]{36}", "D", text) == (
        "earlier<<EOF\nkept\nEOF\n"
        f"exit-code<<D\n0\nD\nrun<<D\n{ARN}\nD\nstatus<<D\nsucceeded\nD\nresult<<D\n{result}\nD\n"
        "failed-copies<<D\n\nD\n"
    )
    assert parse_outputs(text) == {
        "earlier": "kept",
        "exit-code": "0",
        "run": ARN,
        "status": "succeeded",
        "result": result,
        "failed-copies": "",
    }
    timed_out = tmp_path / "timed-out"
    write_outputs(sample(outcome=Outcome.TIMED_OUT, exit_code=None, result=None), timed_out)
    assert parse_outputs(timed_out.read_text())["exit-code"] == "124"
    assert parse_outputs(timed_out.read_text())["result"] == "null"


def test_an_output_containing_its_delimiter_is_refused() -> None:
    assert format_output("run", "a\nb", "ghadelimiter_1") == "run<<ghadelimiter_1\na\nb\nghadelimiter_1\n"
    with pytest.raises(ValueError, match="contains the delimiter"):
        format_output("result", "x\nghadelimiter_1\nexit-code=0", "ghadelimiter_1")


def test_a_secret_reaches_no_output(tmp_path: Path) -> None:
    secret = "hunter2"
    err, out = io.StringIO(), io.StringIO()
    lines = [f"password is {secret}", json.dumps({"ok": True, "password": secret, secret: 1})]
    result = run_scripted(lines, err, frozenset({secret}), exit_code=1)
    summary, outputs = tmp_path / "summary.md", tmp_path / "output"
    publish(result, err, Redactor({secret}), {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)})
    print_summary(result, out, color=False)
    out.write(json.dumps(result_json(result)))
    history.record(result)
    # The one place it is printed is the mask, which the runner consumes without showing it.
    assert [line for line in err.getvalue().splitlines() if secret in line] == [f"::add-mask::{secret}"]
    assert not [line for line in ActionsRunner().feed(err.getvalue()).shown if secret in line]
    for text in (out.getvalue(), summary.read_text(), outputs.read_text(), history.history_path().read_text()):
        assert secret not in text
    assert "password is ***" in summary.read_text()
    assert '"password":"***"' in outputs.read_text()


def test_publish_reports_an_unwritable_file_without_failing(tmp_path: Path) -> None:
    err = io.StringIO()
    missing = tmp_path / "no-such-dir" / "summary.md"
    publish(sample(), err, environ={"GITHUB_STEP_SUMMARY": str(missing)})
    assert err.getvalue().startswith("opsctl: could not write the step summary to $GITHUB_STEP_SUMMARY: ")
