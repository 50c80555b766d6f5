"""`--tasks N` on the local provider, through real `python -m opsctl` processes: N copies under the one
supervisor, at most K at a time, one run for wait, logs, stop, history and the concurrency guard."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from opsctl.config import LocalEnv
from opsctl.providers.local import LocalProvider
from opsctl.runner import Runner
from tests.conftest import CliResult, run_cli
from tests.contract import RecordingObserver, make_spec
from tests.reliability.plays import local_orphans

# One script, several behaviours (argv[1]); every copy says who it is through OPSCTL_TASK_INDEX / _COUNT.
COPY = """\
import fcntl, json, os, subprocess, sys, time
index = os.environ.get("OPSCTL_TASK_INDEX")
i = int(index or 0)
n = int(os.environ.get("OPSCTL_TASK_COUNT") or 1)
mode = sys.argv[1]
os.makedirs("pids", exist_ok=True)
with open(f"pids/copy-{i}.pid", "w") as f:
    f.write(str(os.getpid()))

def event(kind):
    # Under a lock, so the file's order is the order things happened in; returns every event so far.
    with open("events", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(f"{kind} {i}\\n")
        f.flush()
        f.seek(0)
        return f.read().split()[0::2]

if mode == "lines":
    print(f"copy {index} of {os.environ.get('OPSCTL_TASK_COUNT')}", flush=True)
    for j in range(int(os.environ.get("LINES", "3"))):
        print(f"line {j}", flush=True)
        time.sleep(float(os.environ.get("PAUSE", "0")))
    print("to stderr", file=sys.stderr, flush=True)
    print(json.dumps({"ok": True, "copy": i}), flush=True)
    codes = dict(pair.split(":") for pair in os.environ.get("FAIL", "").split(",") if pair)
    sys.exit(int(codes.get(str(i), 0)))
elif mode == "slots":
    # Hold the slot until K copies hold one (or every copy has started): if the supervisor ran fewer than K at a
    # time this would never return, and if it ran more, the events would show it.
    k = int(os.environ["SLOTS"])
    event("start")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kinds = event("look")
        started, ended = kinds.count("start"), kinds.count("end")
        if started - ended >= k or started == n:
            break
        time.sleep(0.02)
    event("end")
elif mode == "forever":
    # A grandchild in the copy's process group: a stop must reach it too.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(f"pids/copy-{i}-child.pid", "w") as f:
        f.write(str(child.pid))
    print(f"up {i}", flush=True)
    time.sleep(120)
elif mode == "leak":
    pw = os.environ["PASSWORD"]
    print("password", pw, flush=True)
    print("long " + "y" * 70_000 + pw, flush=True)
elif mode == "flood":
    for j in range(20_000):
        sys.stdout.write(f"flood {j:06d} " + "z" * 40 + "\\n")
    sys.exit(5)
"""

CONFIG = """\
[environments.dev]
provider = "local"
workdir = "."

[tasks.lines]
command = ["{python}", "fanned.py", "lines"]

[tasks.failing]
command = ["{python}", "fanned.py", "lines"]
env = { FAIL = "1:3,3:5" }

[tasks.slow]
command = ["{python}", "fanned.py", "lines"]
env = { LINES = "5", PAUSE = "0.1", FAIL = "2:7" }

[tasks.slots]
command = ["{python}", "fanned.py", "slots"]
env = { SLOTS = "{slots}" }

[tasks.slots.params.slots]
type = "int"

[tasks.forever]
command = ["{python}", "fanned.py", "forever"]

[tasks.leak]
command = ["{python}", "fanned.py", "leak"]
env = { PASSWORD = "{password}" }

[tasks.leak.params.password]
type = "secret"

[tasks.flood]
command = ["{python}", "fanned.py", "flood"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "opsctl.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "fanned.py").write_text(COPY, encoding="utf-8")
    return tmp_path


def opsctl(project: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    return run_cli("--config", str(project / "opsctl.toml"), *args, cwd=project, env=env)


def pids(project: Path) -> dict[str, int]:
    """What each copy (and its grandchild) wrote: copy-0 → pid, copy-0-child → pid."""
    return {p.stem: int(p.read_text()) for p in (project / "pids").glob("*.pid") if p.read_text().strip()}


def runs_root(state: Path) -> Path:
    return state / "opsctl" / "local-runs"


def run_dirs(state: Path) -> list[Path]:
    """The local runs' directories (the launch lock files beside them are not runs)."""
    return [p for p in runs_root(state).iterdir() if p.is_dir()]


def relayed(text: str) -> list[str]:
    """The task's lines as opsctl relayed them (without opsctl's own `opsctl: …` notices)."""
    return [line for line in text.splitlines() if line.startswith("[")]


def expected_lines(n: int, lines: int) -> Counter[str]:
    want = Counter[str]()
    for i in range(n):
        want.update([f"[{i}] copy {i} of {n}", *(f"[{i}] line {j}" for j in range(lines)), f"[{i}] to stderr"])
        want[f'[{i}] {{"ok": true, "copy": {i}}}'] += 1
    return want


def test_every_copy_succeeds_each_with_its_index(project: Path) -> None:
    out = opsctl(project, "run", "dev", "lines", "--tasks", "4", "-o", "json")
    assert out.code == 0, out.output
    doc = json.loads(out.stdout)
    written = pids(project)
    assert doc["status"] == "succeeded" and doc["exit_code"] == 0 and doc["reason"] is None
    assert doc["tasks"] == [
        {
            "index": i,
            "run": str(written[f"copy-{i}"]),
            "status": "succeeded",
            "exit_code": 0,
            "reason": None,
            "result": {"ok": True, "copy": i},
        }
        for i in range(4)
    ]
    # Every line exactly once, with its copy's prefix, each copy's in its own order.
    lines = relayed(out.stderr)
    assert Counter(lines) == expected_lines(4, 3)
    for i in range(4):
        mine = [line for line in lines if line.startswith(f"[{i}] ")]
        assert mine[1:4] == [f"[{i}] line {j}" for j in range(3)]


def test_the_lowest_index_failed_copy_gives_the_exit_code(project: Path) -> None:
    out = opsctl(project, "run", "dev", "failing", "--tasks", "4")
    assert out.code == 3, out.output  # copy 1 exited 3, copy 3 exited 5
    summary = out.stdout.splitlines()
    assert summary[4:6] == ["Status         failed", "Exit code      3"]
    assert summary[7:10] == [
        "Reason         copy 1 of 4 failed (1 other copy failed too)",
        "Copies         4 (2 succeeded, 2 failed)",
        "Failed copies  1 (exit 3), 3 (exit 5)",
    ]
    as_json = json.loads(opsctl(project, "run", "dev", "failing", "--tasks", "4", "-o", "json").stdout)
    assert [(t["index"], t["status"], t["exit_code"]) for t in as_json["tasks"]] == [
        (0, "succeeded", 0),
        (1, "failed", 3),
        (2, "succeeded", 0),
        (3, "failed", 5),
    ]
    # history: one row per run, with its copies
    history = json.loads(opsctl(project, "history", "dev", "-o", "json").stdout)
    assert [(r["run"], r["tasks"], r["exit_code"]) for r in history][:1] == [(as_json["run"], 4, 3)]
    table = opsctl(project, "history", "dev").stdout.splitlines()
    assert table[0].split() == ["RUN", "TASK", "ACTOR", "STARTED", "STATUS", "EXIT", "COPIES"]
    assert table[1].split()[-3:] == ["failed", "3", "4"]


def test_at_most_k_copies_run_at_a_time(project: Path) -> None:
    out = opsctl(project, "run", "dev", "slots", "--slots", "2", "--tasks", "7", "--parallelism", "2")
    assert out.code == 0, out.output
    running = most = 0
    kinds = [line.split()[0] for line in (project / "events").read_text().splitlines()]
    for kind in (k for k in kinds if k != "look"):
        running += 1 if kind == "start" else -1
        most = max(most, running)
    assert most == 2  # the copies hold their slot until 2 run at once; never more than K did
    assert kinds.count("start") == kinds.count("end") == 7


def test_sigterm_stops_every_copy_and_starts_no_more(project: Path, isolated: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsctl", "run", "dev", "forever", "--tasks", "4", "--parallelism", "2", "-o", "json"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _until(lambda: len(pids(project)) == 4)  # copies 0 and 1, and their grandchildren
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert sorted(pids(project)) == ["copy-0", "copy-0-child", "copy-1", "copy-1-child"]
    assert not local_orphans(runs_root(isolated), project / "pids")
    tasks = json.loads(out)["tasks"]
    assert [(t["status"], t["reason"]) for t in tasks] == [
        ("failed", "killed by signal 15 (SIGTERM)"),
        ("failed", "killed by signal 15 (SIGTERM)"),
        ("failed", "stopped before it started"),
        ("failed", "stopped before it started"),
    ]


def test_timeout_stops_every_copy(project: Path, isolated: Path) -> None:
    out = opsctl(project, "run", "dev", "forever", "--tasks", "3", "--timeout", "2s", "-o", "json")
    assert out.code == 124, out.output
    assert not local_orphans(runs_root(isolated), project / "pids")
    assert all(t["status"] == "failed" for t in json.loads(out.stdout)["tasks"])


def test_a_reader_that_leaves_is_a_hangup_that_stops_every_copy(project: Path, isolated: Path) -> None:
    """`opsctl run dev forever --tasks 3 2>&1 | head -3`: every copy is stopped, history records it, exit 143."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsctl", "run", "dev", "forever", "--tasks", "3"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        ups = 0
        while ups < 3:
            ups += proc.stdout.readline().startswith(b"[")
        proc.stdout.close()  # head has read its lines and left
        assert proc.wait(timeout=60) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(pids(project)) == 6 and not local_orphans(runs_root(isolated), project / "pids")
    history = json.loads(opsctl(project, "history", "dev", "-o", "json").stdout)
    assert [(r["status"], r["tasks"]) for r in history] == [("terminated", 3)]


def test_wait_and_logs_reattach_to_the_whole_run(project: Path) -> None:
    detached = json.loads(opsctl(project, "run", "dev", "slow", "--tasks", "3", "--detach", "-o", "json").stdout)
    assert detached["status"] == "detached"
    run = detached["run"]
    waited = opsctl(project, "wait", "dev", run, "-o", "json")
    assert waited.code == 7, waited.output
    assert json.loads(waited.stdout)["reason"] == "copy 2 of 3 failed"
    assert Counter(relayed(waited.stderr)) == expected_lines(3, 5)
    logs = opsctl(project, "logs", "dev", run)
    assert logs.code == 0 and Counter(logs.stdout.splitlines()) == expected_lines(3, 5)
    again = opsctl(project, "wait", "dev", run)
    assert again.code == 7 and "Failed copies  2 (exit 7)" in again.stdout


def test_a_relaunch_of_the_same_run_never_starts_more_copies(project: Path) -> None:
    """What Launch does after an ambiguous failure: find_run adopts the run, and a launch of the same run id
    again is refused (its directory exists), so no second set of copies ever starts."""
    local = LocalProvider(LocalEnv(name="dev", provider="local", source="t", workdir=project))
    spec = replace(make_spec((sys.executable, "fanned.py", "lines"), task="lines"), tasks=3)
    ref = local.launch(spec)
    assert local.find_run(spec) == ref and local.duplicates(spec, ref) == []
    with pytest.raises(FileExistsError):
        local.launch(spec)
    result = Runner(local, spec, RecordingObserver(), timing=local.timing).watch(ref)
    assert result.exit_status == 0 and [c.index for c in result.tasks] == [0, 1, 2]
    assert sorted(pids(project)) == ["copy-0", "copy-1", "copy-2"]
    assert [(r.ref.id, r.tasks) for r in local.recent_runs("test", 10)] == [(ref.id, 3)]


def test_the_guard_sees_one_run_and_stop_ends_every_copy(project: Path, isolated: Path) -> None:
    run = json.loads(opsctl(project, "run", "dev", "forever", "--tasks", "3", "--detach", "-o", "json").stdout)["run"]
    try:
        _until(lambda: len(pids(project)) == 6)
        refused = opsctl(project, "run", "dev", "forever", "--tasks", "2")
        assert refused.code == 77, refused.output
        assert refused.stderr == (
            f"opsctl: error: task 'forever' is already running in 'dev' (run {run}); wait for it "
            f"with: opsctl wait dev {run} — or pass --allow-concurrent\n"
        )
        assert len(run_dirs(isolated)) == 1
    finally:
        stopped = opsctl(project, "stop", "dev", run)
    assert stopped.code == 0, stopped.output
    assert not local_orphans(runs_root(isolated), project / "pids")
    waited = opsctl(project, "wait", "dev", run, "-o", "json")
    assert waited.code == 69, waited.output  # stopped: no copy has an exit code of its own
    doc = json.loads(waited.stdout)
    assert doc["reason"].endswith("(opsctl stop)")
    assert [t["reason"] for t in doc["tasks"]] == ["killed by signal 15 (SIGTERM)"] * 3


def test_secrets_masked_and_long_lines_cut_in_every_copy(project: Path, isolated: Path) -> None:
    secret = "hunter2-fanout"
    out = opsctl(project, "run", "dev", "leak", "--tasks", "3", env={"OPSCTL_PARAM_PASSWORD": secret})
    assert out.code == 0, out.output
    assert secret not in out.output
    assert Counter(line for line in relayed(out.stderr) if "password" in line) == Counter(
        f"[{i}] password ***" for i in range(3)
    )
    assert "Lines cut    3 (longer than 64 KiB)" in out.stdout
    (run_dir,) = run_dirs(isolated)
    log = (run_dir / "log.jsonl").read_text()
    assert secret not in log
    cut = [json.loads(line) for line in log.splitlines() if '"c": ' in line]
    assert sorted(r["i"] for r in cut) == [0, 1, 2]


def test_one_copy_is_the_run_as_before(project: Path, isolated: Path) -> None:
    out = opsctl(project, "run", "dev", "lines", "-o", "json")
    assert out.code == 0, out.output
    doc = json.loads(out.stdout)
    assert "tasks" not in doc and doc["result"] == {"ok": True, "copy": 0}
    assert relayed(out.stderr) == []  # no prefix
    assert "copy None of None" in out.stderr  # no OPSCTL_TASK_INDEX / _COUNT
    (run_dir,) = run_dirs(isolated)
    assert sorted(p.name for p in run_dir.iterdir()) == ["exit.json", "log.jsonl", "meta.json", "pid"]
    assert list(json.loads((run_dir / "exit.json").read_text())) == ["exit_code", "signal", "stopped_at"]
    assert list(json.loads((run_dir / "meta.json").read_text())) == ["env", "task", "actor", "origin", "started_at"]
    assert all(list(json.loads(line)) == ["t", "s", "m"] for line in (run_dir / "log.jsonl").read_text().splitlines())
    history = json.loads(opsctl(project, "history", "dev", "-o", "json").stdout)
    assert history[0]["tasks"] == 1
    assert "COPIES" not in opsctl(project, "history", "dev").stdout


def test_dry_run_shows_the_copies(project: Path) -> None:
    out = opsctl(project, "run", "dev", "lines", "--tasks", "5", "--parallelism", "2", "--dry-run", "-o", "json")
    assert out.code == 0, out.output
    doc = json.loads(out.stdout)
    assert (doc["tasks"], doc["parallelism"]) == (5, 2)
    assert doc["request"]["copies"] == {"OPSCTL_TASK_INDEX": "0…4", "OPSCTL_TASK_COUNT": "5"}
    assert doc["request"]["parallelism"] == 2


@pytest.fixture
def mount() -> Iterator[list[Path]]:
    mounted: list[Path] = []
    yield mounted
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


def test_a_full_disk_drops_lines_per_copy_and_every_exit_code_arrives(
    project: Path, tmp_path: Path, mount: list[Path]
) -> None:
    state = tmp_path / "small"
    state.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(state)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {done.stderr.strip()}")
    mount.append(state)
    env = {"XDG_STATE_HOME": str(state)}
    first = opsctl(project, "run", "dev", "flood", "--tasks", "3", "--no-logs", "-o", "json", env=env)
    assert first.code == 5, first.output
    doc = json.loads(first.stdout)
    assert doc["details"]["log lines dropped"].endswith("(the disk was full)")
    assert [t["exit_code"] for t in doc["tasks"]] == [5, 5, 5]
    (run_dir,) = run_dirs(state)
    copies = json.loads((run_dir / "exit.json").read_text())["copies"]
    assert sum(c.get("dropped_lines", 0) for c in copies) == int(doc["details"]["log lines dropped"].split()[0])
    (run_dir / "log.jsonl").unlink()  # room again: the next run is not refused as "already running"
    second = opsctl(project, "run", "dev", "lines", "--tasks", "2", env=env)
    assert second.code == 0, second.output


def _until(ready: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Wait for a condition a real process brings about (fails the test if it never comes)."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, "the copies never started"
        time.sleep(0.05)
