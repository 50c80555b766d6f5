"""`opsctl run ENV TASK --help` and shell completion know the task: its flags, choice values, recent runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

CONFIG = """
[environments.dev]
provider = "local"
workdir = "."

[tasks.seed-admin]
help = "Create an admin account."
aliases = ["sa"]
command = ["{python}", "-c", "print('ok')"]

[tasks.seed-admin.params.email]
type = "email"
help = "Email of the admin to create"

[tasks.seed-admin.params.level]
type = "choice"
choices = ["patient", "staff", "admin"]
default = "staff"
help = "Permission level"

[tasks.seed-admin.params.dry]
type = "bool"
default = false
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "opsctl.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def test_run_help_lists_the_tasks_parameters(project: Path) -> None:
    out = run_cli("run", "dev", "sa", "--help", cwd=project, env={"COLUMNS": "200"})
    assert out.code == 0, out.output
    assert out.stdout.startswith("Usage: opsctl run [OPTIONS] {ENV} {TASK}")
    assert out.stdout.endswith(
        "\nTask 'seed-admin' in 'dev': Create an admin account.\n"
        "  --email EMAIL                Email of the admin to create (required)\n"
        "  --level patient|staff|admin  Permission level (default: staff)\n"
        "  --dry BOOL                   dry (default: false)\n"
    )
    # Options with values before ENV TASK do not confuse it; an unknown task adds nothing.
    same = run_cli("run", "-o", "json", "dev", "seed-admin", "-h", cwd=project, env={"COLUMNS": "200"})
    assert same.stdout == out.stdout
    unknown = run_cli("run", "dev", "nope", "--help", cwd=project)
    assert unknown.code == 0 and "Task '" not in unknown.stdout


def complete(project: Path, words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {"_OPSCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    out = run_cli(cwd=project, env=env)
    assert out.code == 0, out.output
    return out.stdout.split()


def test_completion_offers_parameter_flags_choice_values_and_recent_runs(project: Path) -> None:
    flags = complete(project, "opsctl run dev sa --")
    assert flags[:3] == ["--email", "--level", "--dry"] and "--dry-run" in flags
    assert complete(project, "opsctl run dev sa --e") == ["--email"]
    assert complete(project, "opsctl run dev sa --email a@b.co --level ") == ["patient", "staff", "admin"]
    assert complete(project, "opsctl run dev sa --level ST") == ["staff"]
    assert complete(project, "opsctl run dev sa --dry ") == ["true", "false"]
    runs = [
        json.loads(run_cli("run", "dev", "sa", "--email", "a@b.co", "-o", "json", cwd=project).stdout)["run"]
        for _ in range(2)
    ]
    assert complete(project, "opsctl wait dev ") == runs[::-1]
    assert complete(project, "opsctl logs dev ") == runs[::-1]
    assert complete(project, f"opsctl stop dev {runs[0][:-2]}") == [runs[0]]
