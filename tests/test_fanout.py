"""`--tasks N`: the checks before any cloud call, the fold of the copies' outcomes, and how a fanned-out run is
reported (summary rows, JSON `tasks`, the step summary's per-copy table). The providers' own fan-out is tested
against their stand-ins in tests/providers/test_*_fanout.py."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opsctl import fanout
from opsctl.errors import UsageError
from opsctl.model import Copy, LogLine, LogPage, Outcome, RunRef, RunResult, State, Status, fold_copies
from opsctl.runner import RetryPolicy, Runner
from opsctl.sinks.github import COPY_ROWS_MAX, step_summary
from opsctl.sinks.stdout import FAILED_SHOWN, print_summary, result_json, summary_rows
from tests.conftest import run_cli
from tests.contract import RecordingObserver, make_spec
from tests.fakes.scripted import FakeClock, ScriptedProvider

S, R, P = State.STOPPED, State.RUNNING, State.PENDING


def copies(*spec: tuple[State, int | None]) -> tuple[Copy, ...]:
    return tuple(Copy(index=i, run=f"task-{i}", state=s, exit_code=c) for i, (s, c) in enumerate(spec))


@pytest.mark.parametrize(
    ("spec", "state", "code"),
    [
        (((S, 0),), S, 0),
        (((S, 0), (S, 0), (S, 0)), S, 0),
        (((S, 0), (S, 3), (S, 0)), S, 3),
        (((S, 0), (S, 4), (S, 2)), S, 4),  # the lowest index that failed, not the lowest code
        (((S, 7), (S, 0), (S, 2)), S, 7),
        (((S, 0), (S, None), (S, 2)), S, None),  # copy 1 has no exit code: 69 for the run
        (((S, 0), (S, 0), (R, None)), R, None),  # not stopped until every copy stopped
        (((S, 1), (P, None)), P, None),
        (((R, None), (P, None)), R, None),
        (((S, 0), (State.STOPPING, None)), State.STOPPING, None),
        ((), P, None),
    ],
)
def test_the_run_ends_when_every_copy_ended_with_the_lowest_failed_copys_code(
    spec: tuple[tuple[State, int | None], ...], state: State, code: int | None
) -> None:
    got_state, got_code, reason = fold_copies(copies(*spec))
    assert (got_state, got_code) == (state, code)
    assert (reason is not None) == (state is S and code != 0)


def test_the_reason_names_the_copy_and_counts_the_others() -> None:
    cs = copies((S, 0), (S, 5), (S, 2), (S, 9))
    cs = (cs[0], replace(cs[1], reason="Essential container in task exited"), *cs[2:])
    _, code, reason = fold_copies(cs)
    assert code == 5
    assert reason == "copy 1 of 4 failed: Essential container in task exited (2 other copies failed too)"
    assert fold_copies(copies((S, 0), (S, 1)))[2] == "copy 1 of 2 failed"


@pytest.mark.parametrize(
    ("provider", "tasks", "parallelism", "message"),
    [
        ("local", "0", None, "--tasks: 0 is not a positive number of copies"),
        ("local", "-3", None, "--tasks: -3 is not a positive number of copies"),
        ("local", "three", None, "--tasks: 'three' is not a whole number"),
        ("local", "2.5", None, "--tasks: '2.5' is not a whole number"),
        ("local", "101", None, "--tasks: at most 100 copies on local (got 101)"),
        ("ecs", "21", None, "--tasks: at most 20 copies on ecs (got 21)"),
        ("cloudrun", "10001", None, "--tasks: at most 10,000 copies on cloudrun (got 10,001)"),
        ("local", None, "2", "--parallelism only means something with --tasks N"),
        ("local", "3", "4", "--parallelism: 4 is more than the 3 copies of --tasks"),
        ("local", "3", "0", "--parallelism: 0 is not a positive number of copies"),
        ("ecs", "3", "2", "--parallelism: ecs has no parallelism of its own"),
        # int() takes all of these; none is what an operator types as a count.
        ("local", "+3", None, "--tasks: '+3' is not a whole number (digits 0-9 only)"),
        ("local", " 3 ", None, "--tasks: ' 3 ' is not a whole number (digits 0-9 only)"),
        ("local", "3_0", None, "--tasks: '3_0' is not a whole number (digits 0-9 only)"),
        ("local", "\u0663", None, "--tasks: '\u0663' is not a whole number (digits 0-9 only)"),  # Arabic-Indic 3
        ("local", "\uff13", None, "--tasks: '\uff13' is not a whole number (digits 0-9 only)"),  # fullwidth 3
        ("local", "0x10", None, "--tasks: '0x10' is not a whole number (digits 0-9 only)"),
        ("local", "", None, "--tasks: '' is not a whole number (digits 0-9 only)"),
        ("local", "3", "+2", "--parallelism: '+2' is not a whole number (digits 0-9 only)"),
        ("local", "9" * 5000, None, "--tasks: a number of 5,000 digits is more copies than any provider runs"),
        ("local", "x" * 5000, None, "--tasks: 'xxxxxxxxxxxxxxxxxxxx…' is not a whole number"),
        ("local", "99999999999", None, "--tasks: a number of 11 digits is more copies than any provider runs"),
        ("local", "1000000000", None, "--tasks: a number of 10 digits is more copies than any provider runs"),
    ],
)
def test_bad_counts_are_refused(provider: str, tasks: str | None, parallelism: str | None, message: str) -> None:
    with pytest.raises(UsageError) as e:
        fanout.parse(provider, tasks, parallelism)
    assert str(e.value).startswith(message)


def test_good_counts_pass() -> None:
    assert fanout.parse("local", None, None) == fanout.Fanout(1, None)
    assert fanout.parse("ecs", "20", None) == fanout.Fanout(20, None)
    assert fanout.parse("cloudrun", "10000", "10") == fanout.Fanout(10000, 10)
    assert fanout.parse("local", "004", "4") == fanout.Fanout(4, 4)
    assert fanout.parse("local", "0" * 50 + "100", None) == fanout.Fanout(100, None)
    assert fanout.copy_env(3, 8) == {"OPSCTL_TASK_INDEX": "3", "OPSCTL_TASK_COUNT": "8"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "staging", "seed-admin", "--tasks", "21"), "--tasks: at most 20 copies on ecs (got 21)"),
        (("run", "prod", "seed-admin", "--tasks", "0"), "--tasks: 0 is not a positive number of copies"),
        (("run", "staging", "seed-admin", "--tasks", "2", "--parallelism", "1"), "ecs has no parallelism"),
        (("run", "local", "seed-admin", "--parallelism", "2"), "--parallelism only means something with --tasks N"),
        (("run", "local", "seed-admin", "--tasks", "\u0663"), "--tasks: '\u0663' is not a whole number"),
        (("run", "local", "seed-admin", "--tasks", "9" * 5000), "--tasks: a number of 5,000 digits is more copies"),
        (("run", "local", "seed-admin", "--tasks", "4", "--parallelism", ""), "--parallelism: '' is not a whole"),
    ],
)
def test_the_cli_refuses_bad_counts_with_one_line_and_exit_2_before_any_cloud_call(
    args: tuple[str, ...], message: str
) -> None:
    # Endpoints that answer nothing: a cloud call would show as retries and a different exit code.
    result = run_cli(
        *args,
        "--email",
        "ada@example.com",
        "--yes",
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "OPSCTL_GCP_ENDPOINT": "127.0.0.1:9"},
        timeout=30,
    )
    assert result.code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output


def test_dry_run_shows_the_fan_out() -> None:
    result = run_cli("run", "local", "seed-admin", "--email", "ada@example.com", "--tasks", "3", "--dry-run")
    assert result.code == 0, result.output
    plan = json.loads(result.stdout)
    assert (plan["tasks"], plan["parallelism"]) == (3, None)
    single = json.loads(run_cli("run", "local", "seed-admin", "--email", "ada@example.com", "--dry-run").stdout)
    assert "tasks" not in single


def fanned(*spec: tuple[State, int | None]) -> RunResult:
    cs = tuple(
        replace(c, result={"ok": c.exit_code == 0, "shard": c.index}) if c.state is S else c for c in copies(*spec)
    )
    _, code, reason = fold_copies(cs)
    outcome = Outcome.SUCCEEDED if code == 0 else Outcome.FAILED if code is not None else Outcome.NO_EXIT_CODE
    return RunResult(
        env="local",
        task="audit-users",
        provider="local",
        run=RunRef(id="20261201T000000Z-0123abcd"),
        outcome=outcome,
        exit_code=code,
        reason=reason,
        started_at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        stopped_at=datetime(2026, 12, 1, 10, 1, tzinfo=UTC),
        actor="ada",
        result=None,
        tasks=cs,
    )


def test_summary_counts_copies_and_names_the_failed_ones() -> None:
    rows = dict(summary_rows(fanned((S, 0), (S, 5), (S, 0), (S, None), (R, None), (P, None))))
    assert rows["Copies"] == "6 (2 succeeded, 2 failed, 1 pending, 1 running)"
    assert rows["Failed copies"] == "1 (exit 5), 3 (exit -)"
    ok = dict(summary_rows(fanned((S, 0), (S, 0))))
    assert ok["Copies"] == "2 (2 succeeded)"
    assert "Failed copies" not in ok
    single = dict(summary_rows(replace(fanned((S, 0)), tasks=())))
    assert "Copies" not in single


def test_many_failed_copies_are_counted_not_all_named() -> None:
    result = fanned(*[(S, 1)] * (FAILED_SHOWN + 5))
    row = dict(summary_rows(result))["Failed copies"]
    assert row.endswith(", … 5 more")
    assert row.count("(exit 1)") == FAILED_SHOWN
    out = io.StringIO()
    print_summary(result, out, color=False)
    assert "Failed copies" in out.getvalue()


def test_json_lists_every_copy() -> None:
    doc = result_json(fanned((S, 0), (S, 3), (R, None)))
    assert doc["tasks"] == [
        {
            "index": 0,
            "run": "task-0",
            "status": "succeeded",
            "exit_code": 0,
            "reason": None,
            "result": {"ok": True, "shard": 0},
        },
        {
            "index": 1,
            "run": "task-1",
            "status": "failed",
            "exit_code": 3,
            "reason": None,
            "result": {"ok": False, "shard": 1},
        },
        {"index": 2, "run": "task-2", "status": "running", "exit_code": None, "reason": None, "result": None},
    ]
    assert "tasks" not in result_json(replace(fanned((S, 0)), tasks=()))


def test_step_summary_table_puts_failed_copies_first_and_is_capped() -> None:
    n = COPY_ROWS_MAX + 30
    spec = [(S, 0)] * n
    spec[7] = (S, 4)
    spec[n - 1] = (S, 9)
    text = step_summary(fanned(*spec))
    rows = [line for line in text.splitlines() if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    assert rows[0] == "| 7 | failed | 4 |  |"
    assert rows[1] == f"| {n - 1} | failed | 9 |  |"
    assert len(rows) == COPY_ROWS_MAX
    assert "| … | 30 more copies (every copy: --output json) | | |" in text


def test_copy_reasons_are_cell_safe_in_the_step_summary() -> None:
    result = fanned((S, 0), (S, 1))
    cs = (result.tasks[0], replace(result.tasks[1], reason="bad | pipe <b>x</b>\nnext"))
    text = step_summary(replace(result, tasks=cs))
    row = next(line for line in text.splitlines() if line.startswith("| 1 | failed"))
    assert "<b>" not in row and "\\|" in row


def test_every_run_option_is_reserved_so_no_task_parameter_can_shadow_it() -> None:
    import typer.main

    from opsctl.cli import app
    from opsctl.config.tasks import RUN_OPTIONS

    command = typer.main.get_command(app)
    run = command.commands["run"]  # type: ignore[attr-defined]
    flags = {opt[2:] for p in run.params for opt in p.opts if opt.startswith("--")}
    assert {"tasks", "parallelism"} <= flags
    assert flags <= RUN_OPTIONS, flags - RUN_OPTIONS


def test_a_task_parameter_named_tasks_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "opsctl.toml"
    config.write_text(
        '[environments.dev]\nprovider = "local"\n\n[tasks.t]\ncommand = ["true"]\n\n'
        '[tasks.t.params.tasks]\ntype = "int"\n'
    )
    result = run_cli("--config", str(config), "run", "dev", "t", "--tasks", "2")
    assert result.code == 78, result.output
    assert "'tasks' is reserved" in result.stderr


def test_the_action_output_names_the_failed_copies(tmp_path: Path) -> None:
    from opsctl.sinks.github import output_values

    assert output_values(fanned((S, 0), (S, 0)))["failed-copies"] == ""
    assert output_values(fanned((S, 3), (S, 0), (S, None), (S, 1)))["failed-copies"] == "0,2,3"


def test_copy_reasons_and_tags_from_the_cloud_are_redacted_and_made_visible_once() -> None:
    """The copies' words (a stop reason, a task name) come from the cloud: the runner masks secrets in them and
    shows escapes as text, like any status reason; each copy's result line is kept by its index."""

    @dataclass
    class TwoCopies(ScriptedProvider):
        """The scripted run, seen as two copies: copy 1 stops with a hostile reason."""

        def poll(self, ref: RunRef) -> Status:
            status = super().poll(ref)
            if status.state is not S:
                return status
            cs = (
                Copy(0, "task-0", S, 0),
                Copy(1, "task-1\x1b[2J", S, 4, reason="OOM hunter2 \x1b]8;;https://evil.example\x07x"),
            )
            _, code, reason = fold_copies(cs)
            return replace(status, exit_code=code, reason=reason, copies=cs)

        def read_logs(self, ref: RunRef, cursor: str | None) -> LogPage:
            page = super().read_logs(ref, cursor)
            return replace(page, lines=tuple(replace(ln, copy=i % 2) for i, ln in enumerate(page.lines)))

    clock = FakeClock()
    lines = [(0.6, '{"ok": true, "copy": 0}'), (0.7, '{"ok": false, "copy": 1, "pw": "hunter2"}')]
    provider = TwoCopies(clock, finish_at=2.0, exit_code=4, lines=lines)
    observer = RecordingObserver()
    spec = make_spec(("task",), secrets=frozenset({"hunter2"}))
    retry = RetryPolicy(base_s=0.1, max_wait_s=1.0, max_s=100.0, attempts=3)
    result = Runner(provider, spec, observer, clock=clock, sleep=clock.sleep, retry=retry).run()  # type: ignore[arg-type]
    assert result.exit_status == 4
    one = result.tasks[1]
    assert "hunter2" not in (one.reason or "") and "\x1b" not in (one.reason or "") and "\x1b" not in one.run
    assert "\\x1b" in (one.reason or "")
    assert [c.result for c in result.tasks] == [{"ok": True, "copy": 0}, {"ok": False, "copy": 1, "pw": "***"}]
    assert result.result == {"ok": False, "copy": 1, "pw": "***"}
    assert "hunter2" not in (result.reason or "")
    assert [ln.message[:4] for ln in observer.lines] == ["[0] ", "[1] "]
    assert all(isinstance(ln, LogLine) for ln in observer.lines)
