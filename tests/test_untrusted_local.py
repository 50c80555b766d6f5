"""Untrusted output and secrets on the local provider, through real `python -m opsctl` processes (DESIGN.md §6):
a terminal that sees no control sequence, lines that cannot grow or hang opsctl, a result line that cannot
crash it, and secrets that reach neither the disk, a command line, nor `logs` / `wait`.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import re
import select
import signal
import stat
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from opsctl.providers.local.logs import read_page
from opsctl.redact import Redactor
from opsctl.untrusted import LINE_MAX_BYTES, parse_result_line, shown_line, visible
from tests.conftest import REPO, CliResult, run_cli
from tests.reliability import hostile_task

SECRET = "s3cr3t-'quoted'\\path"
SCRIPTS = {
    "flood.py": "import sys\nsys.stdout.write('x' * 10_000_000 + '\\n')\nsys.stdout.write('\\0' * 1_000_000)\n"
    "print()\nprint('after the flood')\n",
    "endless.py": "import os, sys\nopen('task.pid', 'w').write(str(os.getpid()))\n"
    "print('started', file=sys.stderr, flush=True)\n"
    "chunk = ('\\0' if sys.argv[1] == 'nul' else 'z') * 65536\n"
    "while True:\n    sys.stdout.write(chunk)\n",
    "deep.py": "print('{\"ok\": true, \"x\": ' + '[' * 5000 + ']' * 5000 + '}')\nprint('{\"ok\": tru}')\n"
    "print('still running')\nprint('{\"ok\": true, \"n\": 1}')\n",
    "leak.py": "import base64, json, os, sys, time, urllib.parse\n"
    "pw = os.environ['PASSWORD']\nprint('verbatim', pw)\nprint('repr', repr(pw))\nprint('json', json.dumps(pw))\n"
    "print('url', urllib.parse.quote(pw))\nprint('b64', base64.b64encode(pw.encode()).decode())\n"
    "open('umask.txt', 'w').write('x')\n"
    "print('ready', flush=True)\nif len(sys.argv) > 1: time.sleep(float(sys.argv[1]))\n",
}
CONFIG = """\
[environments.dev]
provider = "local"
workdir = "@WORKDIR@"

[tasks.hostile]
command = ["{python}", "@HOSTILE@"]

[tasks.flood]
command = ["{python}", "flood.py"]

[tasks.endless]
command = ["{python}", "endless.py", "text"]

[tasks.endless-nul]
command = ["{python}", "endless.py", "nul"]

[tasks.deep]
command = ["{python}", "deep.py"]

[tasks.leak]
command = ["{python}", "leak.py"]
env = { PASSWORD = "{password}" }

[tasks.leak.params.password]
type = "secret"

[tasks.linger]
command = ["{python}", "leak.py", "60"]
env = { PASSWORD = "{password}" }

[tasks.linger.params.password]
type = "secret"
"""
FAST = {"OPSCTL_TIMING_SCALE": "0.2", "GITHUB_ACTIONS": ""}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in SCRIPTS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    config = CONFIG.replace("@WORKDIR@", str(tmp_path)).replace("@HOSTILE@", hostile_task.__file__)
    (tmp_path / "opsctl.toml").write_text(config, encoding="utf-8")
    return tmp_path


def opsctl(project: Path, *args: str, **env: str) -> CliResult:
    return run_cli("--config", str(project / "opsctl.toml"), *args, env={**FAST, **env}, cwd=project)


def run_dirs(state: Path) -> list[Path]:
    # Directories only: local-runs also holds the launch locks (.launch-ENV-TASK.lock, issue 13).
    return sorted(p for p in (state / "opsctl" / "local-runs").iterdir() if p.is_dir())


# -- the terminal -------------------------------------------------------------------------------------------

# What opsctl itself writes on a colour terminal (rich): SGR colours, erase line, cursor up/column, cursor hide/show.
OWN_SEQUENCE = re.compile(r"\x1b\[(?:[0-9;]*m|2K|[0-9]*[AG]|\?25[lh])")


def test_nothing_from_a_task_reaches_a_terminal_as_a_control_sequence(project: Path) -> None:
    """On a pty (so opsctl colours and shows its status line), the hostile task's lines arrive escaped."""
    main, child = pty.openpty()
    env = {**os.environ, **FAST, "TERM": "xterm-256color", "COLUMNS": "400"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsctl", "--config", str(project / "opsctl.toml"), "run", "dev", "hostile", "--yes"],
        stdin=child,
        stdout=child,
        stderr=child,
        cwd=REPO,
        env=env,
    )
    os.close(child)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: every writer closed the pty
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert proc.wait(timeout=30) == 0
    screen = b"".join(chunks).decode("utf-8")
    assert "\x1b[" in screen  # opsctl did colour: this is a terminal session
    foreign = [m for m in re.finditer("\x1b", screen) if not OWN_SEQUENCE.match(screen, m.start())]
    assert [screen[m.start() : m.start() + 12] for m in foreign] == []
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e]", screen)
    plain = OWN_SEQUENCE.sub("", screen).replace("\r\n", "\n")
    for raw, shown in hostile_task.LINES:
        if "\t" in raw:  # a tab still works: rich expands it to spaces on a terminal
            assert any(re.fullmatch("tab +stays", line) for line in plain.splitlines())
        else:
            assert shown in plain.splitlines(), shown
    # The summary table (rich, on a terminal) shows a result field's markup as text, not as a link.
    assert "[link=https://evil.example/]https://good.example/[/link]" in plain


# -- bounded ------------------------------------------------------------------------------------------------


def test_a_10_mb_line_and_1_mb_of_nul_bytes_are_relayed_cut(project: Path, isolated: Path) -> None:
    cli = opsctl(project, "run", "dev", "flood", "--yes")
    assert cli.code == 0, cli.stderr[-2000:]
    lines = cli.stderr.splitlines()
    assert "x" * LINE_MAX_BYTES + f" … [cut: {10_000_000 - LINE_MAX_BYTES} more bytes]" in lines
    assert "\\x00" * LINE_MAX_BYTES + f" … [cut: {1_000_000 - LINE_MAX_BYTES} more bytes]" in lines
    assert "after the flood" in lines
    assert "Lines cut    2 (longer than 64 KiB)" in cli.stdout.splitlines()
    (run_dir,) = run_dirs(isolated)
    assert (run_dir / "log.jsonl").stat().st_size < 1_000_000  # what reached the disk was cut too


@pytest.mark.parametrize("task", ["endless", "endless-nul"])
def test_sigterm_during_an_endless_line_stops_the_run_with_143(project: Path, task: str) -> None:
    env = {**os.environ, **FAST}
    argv = [sys.executable, "-m", "opsctl", "--config", str(project / "opsctl.toml"), "run", "dev", task, "--yes"]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # bounded: the task prints "started" at once, and the test's timeout stands guard
        seen.append(line)
        if line.strip() == "started":
            break
    time.sleep(0.5)  # the supervisor is now reading the line that never ends
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, "".join(seen) + err[-2000:]
    assert "Status       terminated" in out.splitlines()
    task_pid = int((project / "task.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(task_pid, 0)


def test_a_record_larger_than_a_page_is_skipped_not_spun_on(tmp_path: Path) -> None:
    """A log.jsonl record over 4 MiB (an older supervisor wrote it): each read moves on."""
    log = tmp_path / "log.jsonl"
    record = json.dumps({"t": "2026-01-01T00:00:00+00:00", "s": "stdout", "m": "w" * 5_000_000})
    ok = json.dumps({"t": "2026-01-01T00:00:00+00:00", "s": "stdout", "m": "after"})
    log.write_text(record + "\n" + ok + "\n", encoding="utf-8")
    cursor, messages = None, []
    for _ in range(5):
        page = read_page(log, cursor)
        messages += [line.message for line in page.lines]
        if not page.more and page.cursor == cursor:
            break
        cursor = page.cursor
    assert messages == [
        "[opsctl: skipped a log record larger than 4 MiB]",
        "[opsctl: skipped a damaged line of the run's log]",
        "after",
    ]


def test_a_deep_or_malformed_result_line_is_ignored_with_a_notice(project: Path) -> None:
    cli = opsctl(project, "run", "dev", "deep", "--yes")
    assert cli.code == 0, cli.stderr[-2000:]
    assert "opsctl: ignored the task's result line: nested deeper than 32 levels" in cli.stderr.splitlines()
    assert "opsctl: ignored the task's result line: not valid JSON" in cli.stderr.splitlines()
    assert "still running" in cli.stderr.splitlines()
    assert "N            1" in cli.stdout.splitlines()  # the run went on to its real result line


# -- secrets at rest --------------------------------------------------------------------------------------


def test_state_is_private_whatever_the_umask(project: Path, isolated: Path) -> None:
    (isolated / "opsctl").mkdir(mode=0o755)  # made by an older opsctl
    old = os.umask(0o022)
    try:
        cli = opsctl(project, "run", "dev", "leak", "--yes", OPSCTL_PARAM_PASSWORD=SECRET)
    finally:
        os.umask(old)
    assert cli.code == 0, cli.stderr
    (run_dir,) = run_dirs(isolated)
    modes = {p.relative_to(isolated).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in isolated.rglob("*")}
    assert modes == {
        "opsctl": 0o700,
        "opsctl/history.jsonl": 0o600,
        "opsctl/local-runs": 0o700,
        "opsctl/local-runs/.launch-dev-leak.lock": 0o600,  # issue 13's launch lock, private too
        f"opsctl/local-runs/{run_dir.name}": 0o700,
        f"opsctl/local-runs/{run_dir.name}/meta.json": 0o600,
        f"opsctl/local-runs/{run_dir.name}/pid": 0o600,
        f"opsctl/local-runs/{run_dir.name}/log.jsonl": 0o600,
        f"opsctl/local-runs/{run_dir.name}/exit.json": 0o600,
    }
    # The task itself keeps the umask opsctl was started with.
    assert stat.S_IMODE((project / "umask.txt").stat().st_mode) == 0o644


def secret_forms() -> list[str]:
    raw = SECRET.encode()
    return [
        SECRET,
        repr(SECRET)[1:-1],
        json.dumps(SECRET)[1:-1],
        urllib.parse.quote(SECRET),
        base64.b64encode(raw).decode(),
    ]


def test_a_secret_never_reaches_the_disk_nor_logs_nor_wait(project: Path, isolated: Path) -> None:
    cli = opsctl(project, "run", "dev", "leak", "--yes", OPSCTL_PARAM_PASSWORD=SECRET)
    assert cli.code == 0, cli.stderr
    masked = ["verbatim ***", 'repr "***"', 'json "***"', "url ***", "b64 ***", "ready"]
    assert [line for line in cli.stderr.splitlines() if not line.startswith("opsctl:")] == masked
    (run_dir,) = run_dirs(isolated)
    on_disk = b"".join(p.read_bytes() for p in isolated.rglob("*") if p.is_file())
    assert [form for form in secret_forms() if form.encode() in on_disk] == []
    logs = opsctl(project, "logs", "dev", run_dir.name)
    assert logs.code == 0 and logs.stdout.splitlines() == masked
    wait = opsctl(project, "wait", "dev", run_dir.name)
    assert wait.code == 0 and [x for x in wait.stderr.splitlines() if not x.startswith("opsctl:")] == masked


def test_no_secret_on_a_command_line_or_in_the_supervisors_environment(project: Path, isolated: Path) -> None:
    cli = opsctl(project, "run", "dev", "linger", "--yes", "--detach", OPSCTL_PARAM_PASSWORD=SECRET)
    assert cli.code == 0, cli.stderr
    (run_dir,) = run_dirs(isolated)
    try:
        deadline = time.monotonic() + 30
        log = run_dir / "log.jsonl"
        while not (log.exists() and b"ready" in log.read_bytes()) and time.monotonic() < deadline:
            time.sleep(0.05)
        supervisor = int((run_dir / "pid").read_text())
        task = int(Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()[0])
        assert SECRET.encode() not in Path(f"/proc/{supervisor}/cmdline").read_bytes()
        assert SECRET.encode() not in Path(f"/proc/{supervisor}/environ").read_bytes()
        assert SECRET.encode() not in Path(f"/proc/{task}/cmdline").read_bytes()
        assert f"PASSWORD={SECRET}".encode() in Path(f"/proc/{task}/environ").read_bytes()  # where it belongs
    finally:
        assert opsctl(project, "stop", "dev", run_dir.name).code == 0


# -- refused before anything runs ---------------------------------------------------------------------------


def test_a_secret_in_the_command_is_a_configuration_error(project: Path) -> None:
    config = project / "opsctl.toml"
    config.write_text(
        config.read_text() + '\n[tasks.bad]\ncommand = ["{python}", "x.py", "--pw={password}"]\n'
        '[tasks.bad.params.password]\ntype = "secret"\n'
    )
    cli = opsctl(project, "run", "dev", "bad", "--yes", OPSCTL_PARAM_PASSWORD=SECRET)
    assert cli.code == 78
    assert cli.stderr == (
        "opsctl: error: opsctl.toml: tasks.bad.command[2]: the secret parameter {password} cannot be part of the "
        "command: a command line is visible in ps, in ECS DescribeTasks and in the Cloud Run console; pass it "
        "through env instead\n"
    )


@pytest.mark.parametrize("value", ["a", "12345", "      ", " \t  \t "])
def test_a_short_or_blank_secret_is_refused(project: Path, value: str, isolated: Path) -> None:
    cli = opsctl(project, "run", "dev", "leak", "--yes", OPSCTL_PARAM_PASSWORD=value)
    assert cli.code == 2
    assert cli.stderr == (
        "opsctl: error: --password: a secret must be at least 6 characters and not blank: a shorter one would be "
        "masked inside opsctl's own words\n"
    )
    assert not (isolated / "opsctl" / "local-runs").exists()


# -- the sanitiser and the masks, as functions ------------------------------------------------------------


def test_visible_rendering() -> None:
    assert visible("a\x1b[2Jb\x07\x00\x7f\x9b\u202e\n\r\tz") == "a\\x1b[2Jb\\x07\\x00\\x7f\\x9b\\u202e\\n\\r\tz"
    assert visible("plain ünïcödé 秘密 🔑") == "plain ünïcödé 秘密 🔑"
    assert shown_line("é" * LINE_MAX_BYTES) == ("é" * (LINE_MAX_BYTES // 2) + " … [cut: 65536 more bytes]", 65536)
    assert shown_line("ok", already_cut=10) == ("ok … [cut: 10 more bytes]", 10)


def test_every_encoding_of_a_secret_is_masked() -> None:
    redact = Redactor([SECRET])
    for form in secret_forms():
        assert redact(f"[{form}]") == "[***]", form
    assert redact(urllib.parse.quote_plus("a b c d")) == urllib.parse.quote_plus("a b c d")  # not a secret
    assert Redactor(["secret value"])(urllib.parse.quote_plus("secret value")) == "***"
    assert Redactor(["secret value"])(base64.urlsafe_b64encode(b"secret value").decode().rstrip("=")) == "***"


def test_logs_under_actions_prints_no_line_that_reads_as_a_workflow_command(project: Path, isolated: Path) -> None:
    """`opsctl logs` writes the task's lines to stdout, outside any stop-commands block: each is defused."""
    assert opsctl(project, "run", "dev", "hostile", "--yes").code == 0
    (run_dir,) = run_dirs(isolated)
    logs = opsctl(project, "logs", "dev", run_dir.name, GITHUB_ACTIONS="true")
    assert logs.code == 0, logs.stderr
    assert "\\::error title=forged::from the task" in logs.stdout.splitlines()
    assert [line for line in logs.stdout.splitlines() if line.lstrip().startswith(("::", "##["))] == []


def test_an_error_message_from_a_cloud_is_one_visible_line() -> None:
    import io

    from opsctl.console import print_error

    err = io.StringIO()
    print_error("job 'x\x1b]0;pwned\x07' not found\n::error::forged", err)
    assert err.getvalue() == "opsctl: error: job 'x\\x1b]0;pwned\\x07' not found\\n::error::forged\n"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"ok": true, "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested deeper than 32 levels"),
        ('{"ok": true, "x": ' + "{" * 33 + "}" * 33 + "}", "nested deeper than 32 levels"),
        ('{"ok": tru}', "not valid JSON"),
        ('{"ok": true, "n": ' + "9" * 5000 + "}", "not valid JSON"),  # past Python's int-digits limit
    ],
)
def test_an_unusable_result_line_says_why(line: str, why: str) -> None:
    with pytest.raises(ValueError, match=f"^{why}$"):
        parse_result_line(line)
    nested = '{"ok": true, "x": ' + "[" * 31 + '"[{in a string}]"' + "]" * 31 + "}"
    assert parse_result_line(nested) is not None  # 32 levels, brackets inside strings not counted
