"""Nothing around opsctl makes it lose a run (issue 13), as real `python -m opsctl` processes on local runs:
closed pipes, a Ctrl-C at any moment of start-up, an unusable or full state directory, torn state files, a
stop whose bookkeeping fails, two launches at once, and a planted config."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from tests.reliability.conftest import Report

CONFIG = """\
[tasks.count]
help = "Prints a numbered line every 10 ms for a long time, its pid first; exits 3"
command = ["{python}", "-c", "import os, sys, time\\nprint('pid', os.getpid(), flush=True)\\nfor i in range(3000):\\n    print('line', i, flush=True); time.sleep(0.01)\\nsys.exit(3)"]

[tasks.quick]
command = ["{python}", "-c", "import sys; print('hello'); sys.exit(3)"]

[tasks.flood]
help = "More output than a 1 MiB disk holds"
command = ["{python}", "-c", "import sys\\nfor i in range(40000): print('x' * 100, i)\\nsys.exit(5)"]

[tasks.sleep]
command = ["{python}", "-c", "import time; time.sleep(60)"]

[tasks.ask]
command = ["{python}", "-c", "pass"]
env = { E = "{email}" }

[tasks.ask.params.email]
type = "email"

[tasks.many]
command = ["{python}", "-c", "pass"]
"""
# `opsctl tasks` with this many tasks prints far more than a pipe holds (64 KiB).
MANY_TASKS = "".join(f'\n[tasks.t{i}]\ncommand = ["x"]\nhelp = "{"h" * 100}"\n' for i in range(2000))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "opsctl.toml").write_text(CONFIG + MANY_TASKS, encoding="utf-8")
    return folder


def opsctl(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "opsctl", "--config", str(project / "opsctl.toml"), *args]


def runs_root(state: Path) -> Path:
    return state / "opsctl" / "local-runs"


def history(state: Path) -> list[dict[str, object]]:
    path = state / "opsctl" / "history.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def gone(pid: int, within_s: float = 10.0) -> bool:
    """Whether process `pid` has ended (bounded wait; a zombie counts as ended)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        except OSError:
            return True
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


# -- output that goes away -------------------------------------------------------------------------------------


def test_a_reader_that_leaves_mid_run_is_a_hangup(project: Path, isolated: Path, report: Report) -> None:
    """`opsctl run local count 2>&1 | head -3`: the task is stopped, history records it, exit 143."""
    proc = subprocess.Popen(
        opsctl(project, "run", "local", "count"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    task_pid = next(int(line.split()[1]) for line in lines if line.startswith(b"pid "))
    proc.stdout.close()  # head -3 has read its three lines and left
    code = proc.wait(timeout=60)
    entries = history(isolated)
    report(f"closed pipes: `run … 2>&1 | head -3` → exit {code}, history {[e['status'] for e in entries]}")
    assert code == 143
    assert [(e["task"], e["status"]) for e in entries] == [("count", "terminated")]
    assert gone(task_pid), "the task was left running"


def test_stdout_alone_leaving_mid_run_is_a_hangup_too(project: Path, isolated: Path) -> None:
    """`opsctl run local count | (read one line; exit)`: nothing is on stdout until the summary, yet a reader
    that has gone is noticed at the next status check."""
    proc = subprocess.Popen(
        opsctl(project, "run", "local", "count"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None and proc.stderr is not None
    while b"launched run" not in proc.stderr.readline():
        pass
    proc.stdout.close()
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    assert proc.wait(timeout=60) == 143
    assert [e["status"] for e in history(isolated)] == ["terminated"]


@pytest.mark.parametrize(
    ("redirect", "args", "code"),
    [
        (">&-", ("run", "local", "quick"), 3),
        ("2>&-", ("run", "local", "quick"), 3),
        (">&- 2>&-", ("run", "local", "quick"), 3),
        ("2>&-", ("run", "local", "nope"), 2),
        ("<&- 2>&-", ("run", "local", "ask", "--email", "-"), 2),
    ],
)
def test_streams_closed_from_the_start_lose_nothing(
    project: Path, isolated: Path, redirect: str, args: tuple[str, ...], code: int
) -> None:
    """A stream closed before opsctl starts is /dev/null: the run is recorded and its exit code stands."""
    command = " ".join(f"'{a}'" for a in opsctl(project, *args))
    proc = subprocess.run(["bash", "-c", f"exec {command} {redirect}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    if code == 3:
        assert [(e["status"], e["exit_code"]) for e in history(isolated)] == [("failed", 3)]


def read_only_command_into_head(argv: list[str]) -> tuple[int, bytes]:
    """`ARGV | head -1`: read one line, close the pipe, return (exit status, stderr)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    return proc.wait(timeout=60), err


def test_read_only_commands_piped_into_head_end_quietly(project: Path, report: Report) -> None:
    """`opsctl tasks | head -1` and `opsctl logs local RUN | head -1`: killed by SIGPIPE like `cat`, silently."""
    done = run_cli("--config", str(project / "opsctl.toml"), "run", "local", "flood", "--no-logs")  # 4 MB of log
    run = next(line.split()[-1] for line in done.stdout.splitlines() if line.startswith("Run "))
    answers = {
        "tasks": read_only_command_into_head(opsctl(project, "tasks")),
        "logs": read_only_command_into_head(opsctl(project, "logs", "local", run)),
    }
    report(f"closed pipes: read-only commands into `head -1` → { ({k: v[0] for k, v in answers.items()}) }")
    assert answers == {"tasks": (-signal.SIGPIPE, b""), "logs": (-signal.SIGPIPE, b"")}


# -- a signal at start-up ----------------------------------------------------------------------------------------


def test_ctrl_c_at_any_moment_of_start_up_is_one_line_and_130(project: Path, report: Report, seed: int) -> None:
    """SIGINT at a random moment after opsctl's first instruction ran (Python's own start-up, before it, is not
    opsctl's: `-X importtime` says when the package was imported). The command blocks reading stdin."""
    rng = random.Random(seed)
    trials, codes, problems = 12, [], []
    for _ in range(trials):
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", *opsctl(project, "run", "local", "ask", "--email", "-")[1:]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        lines = []
        while not (line := proc.stderr.readline()).rstrip().endswith("| opsctl"):
            lines.append(line)
            assert line, "".join(lines)
        time.sleep(rng.uniform(0, 0.3))
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.stdin is not None
        proc.stdin.close()
        code = proc.wait(timeout=30)
        codes.append(code)
        said = [line for line in rest.splitlines() if not line.startswith("import time:")]
        # Killed by SIGINT (-2) is what a shell shows as 130 too: Python ends that way when the interrupt lands
        # while the interpreter is already shutting down.
        if (
            code not in (130, -signal.SIGINT)
            or "Traceback" in rest
            or len(said) > 1
            or (said and "interrupted" not in said[0])
        ):
            problems.append(f"exit {code}: {said!r} {''.join(lines)[-300:]!r} {rest[-2000:]!r}")
    report(f"signal at start-up: {trials} SIGINTs within 300 ms of opsctl's first instruction → {sorted(codes)}")
    assert not problems, problems


# -- the state directory ---------------------------------------------------------------------------------------


def test_an_unusable_state_directory_is_one_line_before_launch(project: Path, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "state-file"
    not_a_dir.write_text("", encoding="utf-8")
    out = run_cli(
        "--config", str(project / "opsctl.toml"), "run", "local", "quick", env={"XDG_STATE_HOME": str(not_a_dir)}
    )
    assert out.code == 69, out.output
    assert out.stdout == ""
    assert out.stderr == (
        f"opsctl: error: the state directory {not_a_dir}/opsctl/local-runs is not usable (Not a directory): make it "
        "a writable directory with free space, or set XDG_STATE_HOME to one; nothing was launched\n"
    )


@pytest.fixture
def mount() -> Iterator[list[Path]]:
    """Mount points made by a test, unmounted after it."""
    mounted: list[Path] = []
    yield mounted
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


def tmpfs(point: Path, options: str, mounted: list[Path]) -> None:
    """Mount a tmpfs with `options` at `point`, or skip the test with the reason."""
    point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {done.stderr.strip()}")
    mounted.append(point)


def test_a_read_only_state_directory_is_one_line_before_launch(
    project: Path, tmp_path: Path, mount: list[Path]
) -> None:
    state = tmp_path / "ro"
    tmpfs(state, "ro,size=1m", mount)
    out = run_cli("--config", str(project / "opsctl.toml"), "run", "local", "quick", env={"XDG_STATE_HOME": str(state)})
    assert out.code == 69, out.output
    assert out.stderr.startswith(f"opsctl: error: the state directory {state}/opsctl/local-runs is not usable (")
    assert out.stderr.count("\n") == 1


def test_a_full_disk_never_blocks_the_task(project: Path, tmp_path: Path, mount: list[Path], report: Report) -> None:
    """A 1 MiB tmpfs as the state directory and a task that prints 4 MB: the supervisor keeps draining, counts
    what it could not write, and the exit code still arrives; the next run is not refused as "already running"."""
    state = tmp_path / "small"
    tmpfs(state, "size=1m", mount)
    env = {"XDG_STATE_HOME": str(state)}
    config = str(project / "opsctl.toml")
    first = run_cli("--config", config, "run", "local", "flood", "--no-logs", env=env, timeout=60)
    second = run_cli("--config", config, "run", "local", "quick", env=env, timeout=60)
    dropped = next(line for line in first.stdout.splitlines() if line.startswith("Log lines dropped"))
    report(
        f"full disk: 1 MiB tmpfs, 40,001 lines → exit {first.code}, {dropped.split(maxsplit=3)[-1]}; next run {second.code}"
    )
    assert first.code == 5, first.output
    assert dropped.endswith("(the disk was full)")
    assert second.code == 3, second.output


# -- torn and damaged state files ----------------------------------------------------------------------------------


def finished_run(project: Path) -> str:
    out = run_cli("--config", str(project / "opsctl.toml"), "run", "local", "quick")
    assert out.code == 3, out.output
    return next(line.split()[-1] for line in out.stdout.splitlines() if line.startswith("Run "))


def test_torn_state_files_are_skipped_with_a_warning(project: Path, isolated: Path) -> None:
    config = str(project / "opsctl.toml")
    torn, whole = finished_run(project), finished_run(project)
    meta = runs_root(isolated) / torn / "meta.json"
    meta.write_bytes(meta.read_bytes()[:20])  # a crash mid-write, as an older opsctl could leave
    with (isolated / "opsctl" / "history.jsonl").open("ab") as f:
        f.write(b'{"env": "local", "ta')
    out = run_cli("--config", config, "history", "local")
    assert out.code == 0, out.output
    assert whole in out.stdout and torn in out.stdout  # the torn run is still in the history file
    assert f"opsctl: warning: skipped run {torn}: {meta} is damaged (not a whole JSON object)\n" in out.stderr
    assert "Traceback" not in out.stderr

    exit_file = runs_root(isolated) / whole / "exit.json"
    exit_file.write_text('{"exit_code": 3, "sto', encoding="utf-8")
    waited = run_cli("--config", config, "wait", "local", whole)
    assert waited.code == 69, waited.output
    assert "its exit.json is damaged: the exit code is lost" in waited.output

    log = runs_root(isolated) / whole / "log.jsonl"
    log.write_bytes(b'{"t": "2026-01-01T00:00:00+00:00", "s": "stdout", "m": "ok"}\n{"t": "20\n')
    logs = run_cli("--config", config, "logs", "local", whole)
    assert logs.code == 0, logs.output
    assert logs.stdout == "ok\n[opsctl: skipped a damaged line of the run's log]\n"


def test_stop_signals_first_even_when_its_bookkeeping_fails(project: Path, isolated: Path) -> None:
    config = str(project / "opsctl.toml")
    detached = run_cli("--config", config, "run", "local", "sleep", "--detach", "-o", "json")
    run = json.loads(detached.stdout)["run"]
    run_dir = runs_root(isolated) / run
    (run_dir / "stop.json").mkdir()  # stop.json cannot be written now
    pid = int((run_dir / "pid").read_text(encoding="utf-8"))
    out = run_cli("--config", config, "stop", "local", run)
    assert out.code == 0, out.output
    assert gone(pid), "the run was not stopped"
    assert json.loads((run_dir / "exit.json").read_text(encoding="utf-8"))["signal"] == signal.SIGTERM


# -- two operators at once ------------------------------------------------------------------------------------------


def test_simultaneous_local_launches_start_one_run(project: Path, isolated: Path, report: Report) -> None:
    """Two `opsctl run local sleep --detach` started together behind a barrier, 8 times: one run each time."""
    trials, outcomes = 8, []
    for _ in range(trials):
        barrier = threading.Barrier(2)
        procs: list[subprocess.CompletedProcess[str]] = []

        def launch(barrier: threading.Barrier, procs: list[subprocess.CompletedProcess[str]]) -> None:
            barrier.wait()
            argv = opsctl(project, "run", "local", "sleep", "--detach")
            procs.append(subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False))

        threads = [threading.Thread(target=launch, args=(barrier, procs)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(p.returncode for p in procs)
        refused = next((p.stderr for p in procs if p.returncode == 77), "")
        live = [d for d in runs_root(isolated).iterdir() if d.is_dir() and not (d / "exit.json").exists()]
        outcomes.append((codes, len(live)))
        assert codes == [0, 77], [p.stderr for p in procs]
        assert "is already running in 'local'" in refused and "opsctl wait local" in refused
        assert len(live) == 1
        stopped = run_cli("--config", str(project / "opsctl.toml"), "stop", "local", live[0].name)
        assert stopped.code == 0 and gone(int((live[0] / "pid").read_text(encoding="utf-8")))
    report(f"concurrency: local, {trials} pairs of simultaneous launches → {trials} single runs ({outcomes[0]} each)")


# -- a planted config ----------------------------------------------------------------------------------------------

PLANTED = '[tasks.t]\ncommand = ["{python}", "-c", "print(1)"]\n'


def test_a_planted_config_is_refused_unless_named(tmp_path: Path) -> None:
    """An opsctl.toml owned by another user, or writable by others, found by walking up: 78 with the fix."""
    top = tmp_path / "shared"
    below = top / "work" / "here"
    below.mkdir(parents=True)
    planted = top / "opsctl.toml"
    planted.write_text(PLANTED, encoding="utf-8")
    os.chown(planted, 12345, 12345)
    out = run_cli("envs", cwd=below)
    assert out.code == 78
    assert out.stderr == (
        f"opsctl: error: {planted}: owned by another user (uid 12345), so opsctl will not run its commands; "
        f"if you trust it, name it: --config {planted} (or OPSCTL_CONFIG)\n"
    )
    assert run_cli("--config", str(planted), "envs", cwd=below).code == 0
    assert run_cli("envs", cwd=below, env={"OPSCTL_CONFIG": str(planted)}).code == 0

    os.chown(planted, 0, 0)
    planted.chmod(0o666)
    out = run_cli("envs", cwd=below)
    assert out.code == 78
    assert out.stderr == (
        f"opsctl: error: {planted}: writable by group or others, so anyone could change the commands it runs: "
        f"chmod go-w {planted} — or, if you trust it, name it: --config {planted}\n"
    )


def test_the_walk_stops_at_the_repository_root(tmp_path: Path) -> None:
    """A checkout's own [tool.opsctl] wins over an opsctl.toml above it (planted or not)."""
    planted = tmp_path / "opsctl.toml"
    planted.write_text(PLANTED, encoding="utf-8")
    os.chown(planted, 12345, 12345)
    repo = tmp_path / "checkout"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.opsctl.tasks.mine]\ncommand = ["true"]\n', encoding="utf-8"
    )
    out = run_cli("tasks", cwd=repo / "src")
    assert out.code == 0, out.output
    assert "mine" in out.stdout


def test_the_repository_checkout_has_a_trusted_config() -> None:
    """This repository's own opsctl.toml passes the check it asks of others."""
    assert run_cli("envs", cwd=REPO).code == 0
