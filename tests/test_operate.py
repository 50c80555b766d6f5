"""wait, logs, stop, history, doctor and build against the local provider, as real processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

CONFIG = """
[environments.dev]
provider = "local"
workdir = "."

[tasks.slow]
help = "Three lines over a second, then exit 5"
command = ["{python}", "-c", "import time\\nfor i in range(3):\\n    print(f'tick {{i}}', flush=True); time.sleep(0.4)\\nprint('{{\\"ok\\": true, \\"n\\": 3}}'); raise SystemExit(5)"]

[tasks.forever]
command = ["{python}", "-c", "import time; print('up', flush=True); time.sleep(60)"]

[tasks.quick]
command = ["{python}", "-c", "print('hello')"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "opsctl.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def detach(project: Path, task: str) -> str:
    out = run_cli("run", "dev", task, "--detach", "-o", "json", cwd=project)
    assert out.code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["status"] == "detached"
    return str(doc["run"])


def test_detach_prints_how_to_reattach(project: Path) -> None:
    out = run_cli("run", "dev", "quick", "--detach", cwd=project)
    assert out.code == 0
    run = next(line.split()[-1] for line in out.stdout.splitlines() if line.startswith("Run "))
    assert f"Reattach     opsctl wait dev {run}" in out.stdout


def test_wait_on_a_run_started_by_another_process(project: Path) -> None:
    run = detach(project, "slow")
    out = run_cli("wait", "dev", run, cwd=project)
    assert out.code == 5, out.output
    assert "tick 0\ntick 1\ntick 2\n" in out.stderr
    assert "Exit code    5" in out.stdout and "N            3" in out.stdout
    # and again once it has stopped: same lines, same exit code
    again = run_cli("wait", "dev", run, "-o", "json", cwd=project)
    assert again.code == 5 and json.loads(again.stdout)["exit_code"] == 5
    assert "tick 0\ntick 1\ntick 2\n" in again.stderr


def test_logs_and_follow(project: Path) -> None:
    run = detach(project, "slow")
    followed = run_cli("logs", "dev", run, "--follow", cwd=project)
    assert followed.code == 0
    assert followed.stdout == 'tick 0\ntick 1\ntick 2\n{"ok": true, "n": 3}\n'
    assert run_cli("logs", "dev", run, cwd=project).stdout == followed.stdout
    assert run_cli("logs", "dev", run, "--since", "1h", cwd=project).stdout == followed.stdout


def test_stop_a_detached_run(project: Path) -> None:
    run = detach(project, "forever")
    out = run_cli("stop", "dev", run, cwd=project)
    assert out.code == 0 and f"stop requested for run {run}" in out.stderr
    waited = run_cli("wait", "dev", run, "-o", "json", cwd=project)
    doc = json.loads(waited.stdout)
    assert doc["reason"].startswith("stopped by ") and doc["reason"].endswith("(opsctl stop)")
    assert waited.code == 69  # it stopped without an exit code of its own


def test_concurrent_run_is_refused_then_allowed(project: Path) -> None:
    run = detach(project, "forever")
    try:
        refused = run_cli("run", "dev", "forever", cwd=project)
        assert refused.code == 77
        assert refused.stderr == (
            f"opsctl: error: task 'forever' is already running in 'dev' (run {run}); wait for it "
            f"with: opsctl wait dev {run} — or pass --allow-concurrent\n"
        )
        allowed = run_cli("run", "dev", "forever", "--allow-concurrent", "--timeout", "1s", cwd=project)
        assert allowed.code == 124
    finally:
        run_cli("stop", "dev", run, cwd=project)


def test_history_lists_local_runs(project: Path) -> None:
    first = detach(project, "quick")
    second = json.loads(run_cli("run", "dev", "slow", "-o", "json", cwd=project).stdout)["run"]
    out = run_cli("history", "dev", "-o", "json", cwd=project)
    rows = json.loads(out.stdout)
    assert [r["run"] for r in rows][:2] == [second, first]
    assert rows[0]["task"] == "slow" and rows[0]["exit_code"] == 5
    text = run_cli("history", "dev", "--limit", "1", cwd=project).stdout.splitlines()
    assert text[0].split() == ["RUN", "TASK", "ACTOR", "STARTED", "STATUS", "EXIT"] and len(text) == 2


def test_unknown_run(project: Path) -> None:
    out = run_cli("wait", "dev", "nope", cwd=project)
    assert out.code == 69 and out.stderr.startswith("opsctl: error: no local run 'nope'")


def test_doctor_passes_and_fails_with_the_fix(project: Path) -> None:
    ok = run_cli("doctor", "dev", cwd=project)
    assert ok.code == 0, ok.output
    assert ok.stdout.splitlines()[0].startswith("✓ config ")
    (project / "opsctl.toml").write_text(
        CONFIG.replace('workdir = "."', 'workdir = "missing"')
        + '\n[tasks.broken]\ncommand = ["no-such-program-xyz"]\n',
        encoding="utf-8",
    )
    bad = run_cli("doctor", "dev", cwd=project)
    assert bad.code == 1
    assert (
        f"✗ workdir {project.resolve() / 'missing'}\n    fix: create it or fix environments.dev.workdir" in bad.stdout
    )
    assert "✗ task broken: no-such-program-xyz — not found\n    fix: install 'no-such-program-xyz'" in bad.stdout


def test_build_refuses_a_local_environment(project: Path) -> None:
    out = run_cli("build", "dev", "--dry-run", cwd=project)
    assert out.code == 2
    assert out.stderr == "opsctl: error: environment 'dev' runs tasks as local processes: there is no image to build\n"


def test_completion_offers_envs_and_tasks(project: Path) -> None:
    env = {"_OPSCTL_COMPLETE": "complete_bash", "COMP_WORDS": "opsctl run ", "COMP_CWORD": "2"}
    out = run_cli(cwd=project, env=env)
    assert {"dev", "local"} <= set(out.stdout.split())
    env = {"_OPSCTL_COMPLETE": "complete_bash", "COMP_WORDS": "opsctl run dev ", "COMP_CWORD": "3"}
    assert {"slow", "forever", "quick"} <= set(run_cli(cwd=project, env=env).stdout.split())


def test_completion_scripts_for_each_shell_as_the_readme_says(project: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for shell, marker in (("bash", "complete -o"), ("zsh", "#compdef opsctl"), ("fish", "complete --command opsctl")):
        assert f"_OPSCTL_COMPLETE=source_{shell} opsctl" in readme
        out = run_cli(cwd=project, env={"_OPSCTL_COMPLETE": f"source_{shell}"})
        assert marker in out.stdout, (shell, out.output)
