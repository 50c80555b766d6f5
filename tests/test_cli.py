"""`opsctl` as a user runs it: a real process, the reference admin task, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

SLEEPER = """
[tasks.sleep]
help = "Print, then sleep"
command = ["{python}", "-c", "import os, time; open(os.environ['PIDFILE'], 'w').write(str(os.getpid())); print('up', flush=True); time.sleep(60)"]
env = { PIDFILE = "@PIDFILE@" }

[tasks.leak]
help = "Prints its secret (opsctl must mask it)"
command = ["{python}", "-c", "import os; print('pw=' + os.environ['PW']); print('{{\\"ok\\": true, \\"pw\\": \\"' + os.environ['PW'] + '\\"}}')"]
env = { PW = "{password}" }

[tasks.leak.params.password]
type = "secret"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The repo's own opsctl.toml, its local env pointed at a fresh SQLite database, plus two test tasks."""
    text = (REPO / "opsctl.toml").read_text(encoding="utf-8")
    text = text.replace('workdir = "infra/admin-task"', f'workdir = "{REPO / "infra" / "admin-task"}"')
    text = text.replace("sqlite:///.opsctl/local.db", f"sqlite:///{tmp_path / 'local.db'}")
    sleeper = SLEEPER.replace("@PIDFILE@", str(tmp_path / "task.pid"))
    (tmp_path / "opsctl.toml").write_text(text + sleeper, encoding="utf-8")
    return tmp_path


def rows(stdout: str) -> dict[str, str]:
    """The plain summary table as {key: value}."""
    return {k: v.strip() for k, _, v in (line.partition("  ") for line in stdout.splitlines())}


def test_seed_admin_then_again_is_a_no_op(project: Path) -> None:
    first = run_cli("run", "local", "seed-admin", "--email", "ada@example.com", cwd=project)
    assert first.code == 0, first.output
    summary = rows(first.stdout)
    assert summary["Environment"] == "local" and summary["Task"] == "seed-admin"
    assert summary["Status"] == "succeeded" and summary["Exit code"] == "0"
    assert summary["Email"] == "ada@example.com" and summary["WasNew"] == "true" and summary["Role"] == "admin"
    assert "opsctl: launched run" in first.stderr and '"wasNew": true' in first.stderr
    again = run_cli("run", "local", "sa", "--email", "ADA@example.com", cwd=project)
    assert again.code == 0 and rows(again.stdout)["WasNew"] == "false"


def test_json_output(project: Path) -> None:
    out = run_cli("run", "local", "seed-admin", "--email", "bob@example.com", "--output", "json", cwd=project)
    doc = json.loads(out.stdout)
    assert doc["status"] == "succeeded" and doc["exit_code"] == 0 and doc["provider"] == "local"
    assert doc["result"]["user"]["email"] == "bob@example.com" and doc["result"]["wasNew"] is True
    assert set(doc) >= {
        "env",
        "task",
        "provider",
        "run",
        "status",
        "exit_code",
        "reason",
        "started_at",
        "stopped_at",
        "duration_s",
        "actor",
        "result",
        "log_url",
    }


def test_task_failure_exit_code_passes_through_with_its_message(project: Path) -> None:
    ok = run_cli("run", "local", "up", "--username", "ghost", "--level", "admin", cwd=project)
    assert ok.code == 4, ok.output  # the admin task's "not found"
    assert rows(ok.stdout)["Status"] == "failed" and rows(ok.stdout)["Exit code"] == "4"
    assert "ghost" in ok.stderr


def test_invalid_email_is_one_line_exit_2_and_nothing_launched(project: Path, isolated: Path) -> None:
    out = run_cli("run", "local", "seed-admin", "--email", "not-an-email", cwd=project)
    assert out.code == 2
    assert out.stderr == "opsctl: error: --email: 'not-an-email' is not a valid email address\n"
    assert out.stdout == ""
    assert not (isolated / "opsctl" / "local-runs").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "nowhere", "seed-admin"], 2, "unknown environment 'nowhere'"),
        (["run", "local", "seed-admn", "--email", "a@b.co"], 2, "did you mean 'seed-admin'?"),
        (["run", "local", "seed-admin", "--emial", "a@b.co"], 2, "task 'seed-admin' has no parameter 'emial'"),
        (["run", "local", "seed-admin"], 2, "missing --email (no terminal to prompt on: pass --email VALUE)"),
        (
            ["run", "local", "seed-admin", "--email", "a@b.co", "--timeout", "soon"],
            2,
            "--timeout: 'soon' is not a duration",
        ),
        (["run", "local", "seed-admin", "--email", "a@b.co", "--output", "yaml"], 2, "--output: 'yaml' is not one of"),
        (["run", "local"], 2, "Missing argument 'TASK'"),
        (["frobnicate"], 2, "No such command 'frobnicate'"),
    ],
)
def test_usage_errors_are_one_line(project: Path, args: list[str], code: int, message: str) -> None:
    out = run_cli(*args, cwd=project)
    assert out.code == code
    assert message in out.stderr and out.stderr.count("\n") == 1 and "Traceback" not in out.output


def test_broken_config_is_one_line_naming_the_key_exit_78(tmp_path: Path) -> None:
    (tmp_path / "opsctl.toml").write_text(
        '[environments.staging]\nprovider = "ecs"\nsubnet = ["a"]\n', encoding="utf-8"
    )
    out = run_cli("run", "staging", "seed-admin", cwd=tmp_path)
    assert out.code == 78
    assert out.stderr == (
        'opsctl: error: opsctl.toml: environments.staging.subnet: unknown key for provider = "ecs"; '
        "did you mean 'subnets'?\n"
    )
    (tmp_path / "opsctl.toml").write_text("[environments\n", encoding="utf-8")
    out = run_cli("envs", cwd=tmp_path)
    assert out.code == 78 and out.stderr.startswith("opsctl: error: opsctl.toml: invalid TOML:")


def test_dry_run_prints_the_request_with_secrets_masked(project: Path) -> None:
    out = run_cli(
        "run", "local", "leak", "--dry-run", env={"OPSCTL_PARAM_PASSWORD": "hunter2-very-secret"}, cwd=project
    )
    assert out.code == 0
    plan = json.loads(out.stdout)
    assert plan["request"]["env"]["PW"] == "***" and plan["provider"] == "local"
    assert "hunter2-very-secret" not in out.output


def test_secret_appears_in_no_output(project: Path) -> None:
    secret = "hunter2-very-secret"
    for fmt in ("text", "json"):
        out = run_cli("run", "local", "leak", "-o", fmt, env={"OPSCTL_PARAM_PASSWORD": secret}, cwd=project)
        assert out.code == 0, out.output
        assert secret not in out.output
        assert "pw=***" in out.stderr
    stdin = run_cli("run", "local", "leak", "--password", "-", input=secret + "\n", cwd=project)
    assert stdin.code == 0 and secret not in stdin.output


def spawn(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "opsctl", *args],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def wait_for_task(project: Path) -> int:
    pid_file = project / "task.pid"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if pid_file.exists() and pid_file.read_text():
            return int(pid_file.read_text())
        time.sleep(0.05)
    raise AssertionError("task did not start")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_local_task(project: Path, signum: int, code: int) -> None:
    proc = spawn(project, "run", "local", "sleep")
    try:
        task_pid = wait_for_task(project)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert "stopping run" in stderr
    assert rows(stdout)["Status"] == ("interrupted" if code == 130 else "terminated")
    assert gone(task_pid)


def test_a_ctrl_c_while_a_lazy_import_defines_its_dataclasses_is_an_interrupt_not_an_internal_error(
    project: Path,
) -> None:
    # A real SIGINT, placed at the worst moment by a profile hook: while the config module, imported on first use,
    # sets up a dataclass field. Python wraps that KeyboardInterrupt in "RuntimeError: Error calling
    # __set_name__", which opsctl took for a bug of its own (exit 70, seen once in 12 random signals at start-up).
    probe = (
        "import os, signal, sys\n"
        "sys.argv = ['opsctl', 'envs']\n"
        "from opsctl import cli\n"
        "def hook(frame, event, arg):\n"
        "    if event == 'call' and frame.f_code.co_name == '__set_name__':\n"
        "        sys.setprofile(None)\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "sys.setprofile(hook)\n"
        "cli.main()\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stderr) == (130, "opsctl: error: interrupted; nothing was launched\n")


def test_timeout_stops_the_task_and_exits_124(project: Path) -> None:
    out = run_cli("run", "local", "sleep", "--timeout", "1s", cwd=project)
    task_pid = int((project / "task.pid").read_text())
    assert out.code == 124
    assert "timeout of 1s expired" in out.stderr and rows(out.stdout)["Status"] == "timed out"
    assert gone(task_pid)


def gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_heavy_sdks_are_not_imported_for_help_envs_tasks_or_local_runs(project: Path) -> None:
    probe = (
        "import sys\nfrom opsctl.cli import _main\n"
        "code = _main(sys.argv[1:])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'grpc') "
        "or m.startswith('google.cloud') or m.startswith('google.api_core'))\n"
        "print('HEAVY', heavy, code, file=sys.stderr)\n"
    )
    for args in (
        ["--help"],
        ["envs"],
        ["tasks"],
        ["run", "local", "seed-admin", "--email", "c@d.io"],
        ["run", "--help"],
    ):
        out = subprocess.run(
            [sys.executable, "-c", probe, *args], cwd=project, capture_output=True, text=True, check=False, timeout=60
        )
        assert "HEAVY [] 0" in out.stderr, (args, out.stderr[-2000:])


def test_version_and_every_command_has_help(project: Path) -> None:
    assert run_cli("--version").stdout.startswith("opsctl ")
    top = run_cli("--help", cwd=project)
    assert top.code == 0 and "Exit codes" in top.stdout
    for command in ("run", "envs", "tasks"):
        out = run_cli(command, "--help", cwd=project)
        assert out.code == 0 and "Usage: opsctl " + command in out.stdout
