"""The local run history: order, limit, tolerance of bad lines, concurrent appends, no secrets."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from opsctl.model import Outcome, RunRef, RunResult
from opsctl.sinks import history
from opsctl.sinks.history import HistoryEntry

T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def result(run: str, minute: int, env: str = "staging", **changes: object) -> RunResult:
    base = RunResult(
        env=env,
        task="seed-admin",
        provider="ecs",
        run=RunRef(id=run),
        outcome=Outcome.SUCCEEDED,
        exit_code=0,
        reason=None,
        started_at=T0 + timedelta(minutes=minute),
        stopped_at=T0 + timedelta(minutes=minute, seconds=30),
        actor="octocat",
        result=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_records_come_back_newest_first_per_env_with_a_limit() -> None:
    history.record(result("b", 2), origin="https://github.com/o/r/actions/runs/1")
    history.record(result("a", 1))
    history.record(result("c", 3, outcome=Outcome.FAILED, exit_code=3))
    history.record(result("p", 4, env="prod"))
    assert [e.run for e in history.recent("staging", 10)] == ["c", "b", "a"]
    assert [e.run for e in history.recent("staging", 2)] == ["c", "b"]
    assert history.recent("staging", 0) == []
    assert history.recent("staging", 1) == [
        HistoryEntry(
            env="staging",
            task="seed-admin",
            provider="ecs",
            run="c",
            actor="octocat",
            origin=None,
            started_at="2026-11-22T10:03:00+00:00",
            stopped_at="2026-11-22T10:03:30+00:00",
            status="failed",
            exit_code=3,
        )
    ]
    assert history.recent("staging", 10)[1].origin == "https://github.com/o/r/actions/runs/1"
    assert [e.run for e in history.recent("prod", 10)] == ["p"]
    assert history.recent("dev", 10) == []


def test_no_file_means_no_history() -> None:
    assert history.recent("staging", 5) == []


def test_times_are_stored_in_utc_so_they_sort_across_offsets() -> None:
    plus_two = timezone(timedelta(hours=2))
    history.record(result("earlier", 0, started_at=datetime(2026, 11, 22, 11, 30, tzinfo=plus_two)))  # 09:30Z
    history.record(result("later", 0))  # 10:00Z
    entries = history.recent("staging", 5)
    assert [e.run for e in entries] == ["later", "earlier"]
    assert entries[1].started_at == "2026-11-22T09:30:00+00:00"


def test_a_run_recorded_twice_keeps_its_last_record() -> None:
    history.record(result("a", 1, outcome=Outcome.DETACHED, stopped_at=None))
    history.record(result("a", 1))
    (entry,) = history.recent("staging", 5)
    assert (entry.status, entry.stopped_at) == ("succeeded", "2026-11-22T10:01:30+00:00")


def test_corrupt_lines_are_skipped() -> None:
    history.record(result("good", 1))
    path = history.history_path()
    with path.open("ab") as f:
        f.write(b"not json\n[1, 2]\n{}\n\xff\xfe\n")
        f.write(json.dumps({"env": "staging", "run": "x", "exit_code": "3"}).encode() + b"\n")
        bad_time = {
            **json.loads(path.read_text(encoding="utf-8").splitlines()[0]),
            "run": "t",
            "started_at": "yesterday",
        }
        f.write(json.dumps(bad_time).encode() + b"\n")
        f.write(b'{"env": "staging", "run": "torn')  # a crash mid-write: no newline
    history.record(result("after", 2))
    assert [e.run for e in history.recent("staging", 10)] == ["after", "good"]


def test_nothing_task_controlled_is_stored() -> None:
    secret = "hunter2"
    history.record(
        result(
            "a",
            1,
            outcome=Outcome.FAILED,
            exit_code=1,
            reason=f"container said {secret}",
            result={"ok": False, "password": secret},
            details=(("stopCode", secret),),
            last_lines=(f"password is {secret}",),
        )
    )
    text = history.history_path().read_text(encoding="utf-8")
    assert secret not in text
    assert set(json.loads(text)) == {
        "env",
        "task",
        "provider",
        "run",
        "actor",
        "origin",
        "started_at",
        "stopped_at",
        "status",
        "exit_code",
    }
    assert stat.S_IMODE(history.history_path().stat().st_mode) == 0o600


def test_concurrent_appends_from_many_processes_stay_whole_lines() -> None:
    script = textwrap.dedent(
        """
        import sys
        from datetime import UTC, datetime
        from opsctl.sinks import history
        from opsctl.model import Outcome, RunRef, RunResult

        for i in range(100):
            history.record(RunResult(
                env="staging", task="seed-admin", provider="local", run=RunRef(f"{sys.argv[1]}-{i}"),
                outcome=Outcome.SUCCEEDED, exit_code=0, reason=None, started_at=datetime.now(UTC),
                stopped_at=None, actor="x" * 500, result=None,
            ))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, f"p{n}"]) for n in range(8)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    lines = history.history_path().read_text(encoding="utf-8").splitlines()
    assert len(lines) == 800 and all(json.loads(line)["actor"] == "x" * 500 for line in lines)
    assert len(history.recent("staging", 1000)) == 800
