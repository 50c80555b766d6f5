"""history, wait, stop and global options as real processes: what each says, exactly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli

CONFIG = """
[environments.dev]
provider = "local"
workdir = "."

[tasks.ok]
command = ["{python}", "-c", "print('fine')"]

[tasks.fail]
command = ["{python}", "-c", "raise SystemExit(3)"]

[tasks.slow]
command = ["{python}", "-c", "import time; time.sleep(30)"]

[tasks.brief]
command = ["{python}", "-c", "import time; time.sleep(0.5); raise SystemExit(4)"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "opsctl.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def run(project: Path, *args: str) -> str:
    out = run_cli("run", "dev", *args, "-o", "json", cwd=project)
    return str(json.loads(out.stdout)["run"])


def test_history_shows_each_run_as_it_ended_for_every_limit(project: Path) -> None:
    expected = [
        (run(project, "ok"), "succeeded", 0),
        (run(project, "fail"), "failed", 3),
        (run(project, "slow", "--timeout", "1s"), "timed out", None),
        (run(project, "ok"), "succeeded", 0),
    ]
    detached = run(project, "brief", "--detach")  # recorded as detached; ends with 4 after we look away
    deadline = time.monotonic() + 30
    while run_cli("wait", "dev", detached, cwd=project).code != 4 and time.monotonic() < deadline:
        pass
    expected.append((detached, "failed", 4))
    expected.reverse()  # newest first
    full = json.loads(run_cli("history", "dev", "-o", "json", cwd=project).stdout)
    assert [(r["run"], r["status"], r["exit_code"]) for r in full] == expected
    for limit in range(1, len(expected) + 2):
        out = run_cli("history", "dev", "--limit", str(limit), "-o", "json", cwd=project)
        rows = [(r["run"], r["status"], r["exit_code"]) for r in json.loads(out.stdout)]
        assert rows == expected[:limit], f"--limit {limit}"


def test_a_detached_run_shows_what_it_did_once_it_ended(project: Path) -> None:
    detached = run(project, "brief", "--detach")
    deadline = time.monotonic() + 30
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        rows = json.loads(run_cli("history", "dev", "-o", "json", cwd=project).stdout)
        if rows and rows[0]["status"] != "running":
            break
        time.sleep(0.2)
    assert [(r["run"], r["status"], r["exit_code"]) for r in rows] == [(detached, "failed", 4)]


def test_wait_says_it_reattached_and_stop_on_a_stopped_run_says_so(project: Path) -> None:
    done = run(project, "fail")
    waited = run_cli("wait", "dev", done, cwd=project)
    assert waited.code == 3 and waited.stderr.startswith(f"opsctl: reattached to run {done}\n")
    out = run_cli("stop", "dev", done, cwd=project)
    assert (out.code, out.stderr) == (
        0,
        f"opsctl: run {done} had already stopped (exit code 3); nothing to stop. See it with: opsctl wait dev {done}\n",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--no-color", "--verbose", "run", "dev", "ok"],
        ["run", "dev", "ok", "--no-color", "--verbose"],
        ["run", "--verbose", "dev", "ok", "--no-color"],
    ],
)
def test_global_options_before_or_after_the_command(project: Path, argv: list[str]) -> None:
    out = run_cli(*argv, "--config", str(project / "opsctl.toml"), cwd=project.parent)
    assert out.code == 0, out.output
    assert "fine\n" in out.stderr


def test_config_and_version_after_the_command(project: Path) -> None:
    elsewhere = project / "sub"
    elsewhere.mkdir()
    (elsewhere / "opsctl.toml").write_text('[environments.other]\nprovider = "local"\n')
    out = run_cli("envs", "-o", "json", f"--config={project / 'opsctl.toml'}", cwd=elsewhere)
    assert out.code == 0, out.output
    assert [e["name"] for e in json.loads(out.stdout)] == ["dev", "local"]
    version = run_cli("envs", "--version", cwd=project)
    assert version.code == 0 and version.stdout.startswith("opsctl ")
