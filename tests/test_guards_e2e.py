"""The guardrails and the GitHub Actions integration, end to end through a real `opsctl` process."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

CONFIG = f"""
[environments.local]
provider = "local"
workdir = "{REPO / "infra" / "admin-task"}"
env = {{ DATABASE_URL = "sqlite:///@DB@" }}

[environments.prod]
provider = "local"
workdir = "{REPO / "infra" / "admin-task"}"
env = {{ DATABASE_URL = "sqlite:///@DB@" }}
protected = true
allowed_refs = ["refs/heads/main"]

[tasks.create-superadmin]
command = ["{{python}}", "-m", "admin_task"]
env = {{ ADMIN_ACTION = "create-superadmin", ADMIN_USERNAME = "{{username}}", ADMIN_EMAIL = "{{email}}", ADMIN_PASSWORD = "{{password}}" }}
aliases = ["cs"]

[tasks.create-superadmin.params.username]
[tasks.create-superadmin.params.email]
type = "email"
[tasks.create-superadmin.params.password]
type = "secret"

[tasks.inject]
help = "A task that tries to issue workflow commands"
command = ["{{python}}", "-c", "print('::add-mask::oops'); print('::set-output name=exit-code::0'); print('::error::fake'); print('::stop-commands::mine'); print('::endgroup::'); print('{{{{\\"ok\\": true}}}}')"]
"""
SECRET = "correct-horse-battery-staple"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "opsctl.toml").write_text(CONFIG.replace("@DB@", str(tmp_path / "db.sqlite")), encoding="utf-8")
    return tmp_path


def gha_env(project: Path, ref: str = "refs/heads/main") -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_REF": ref,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_RUN_ID": "42",
        "GITHUB_STEP_SUMMARY": str(project / "summary.md"),
        "GITHUB_OUTPUT": str(project / "output.txt"),
        "OPSCTL_PARAM_PASSWORD": SECRET,
    }


def test_create_superadmin_in_github_actions(project: Path, isolated: Path) -> None:
    out = run_cli(
        "run", "local", "cs", "--username", "ada", "--email", "ada@example.com", cwd=project, env=gha_env(project)
    )
    assert out.code == 0, out.output
    assert out.stderr.startswith(f"::add-mask::{SECRET}\n")
    summary = (project / "summary.md").read_text()
    outputs = (project / "output.txt").read_text()
    history = (isolated / "opsctl" / "history.jsonl").read_text()
    assert SECRET not in out.stdout + out.stderr.replace(f"::add-mask::{SECRET}", "") + summary + outputs + history
    assert (
        "| Actor | octocat |" in summary and "| Exit code | 0 |" in summary and "| Email | ada@example.com |" in summary
    )
    assert re.search(r"^exit-code<<ghadelimiter_[0-9a-f-]+\n0\n", outputs, re.M)
    assert "::group::local/create-superadmin run " in out.stderr
    run_line = json.loads(history.splitlines()[-1])
    assert run_line["actor"] == "octocat" and run_line["origin"] == "https://github.com/acme/app/actions/runs/42"


def test_task_output_cannot_issue_workflow_commands(project: Path) -> None:
    out = run_cli("run", "local", "inject", cwd=project, env=gha_env(project))
    assert out.code == 0, out.output
    token = re.search(r"^::stop-commands::([0-9a-f]{32})$", out.stderr, re.M)
    assert token is not None
    start, end = out.stderr.index(token.group(0)), out.stderr.index(f"::{token.group(1)}::")
    for line in ("::add-mask::oops", "::set-output name=exit-code::0", "::error::fake", "::stop-commands::mine"):
        assert start < out.stderr.index(line) < end


def test_branch_lock(project: Path) -> None:
    out = run_cli(
        "run",
        "prod",
        "cs",
        "--username",
        "a",
        "--email",
        "a@b.co",
        "--yes",
        "--confirm",
        "prod",
        cwd=project,
        env=gha_env(project, ref="refs/heads/feature"),
    )
    assert out.code == 77
    assert out.stderr.splitlines()[-2] == (
        "opsctl: error: environment 'prod' only runs from refs/heads/main; this "
        "workflow runs on refs/heads/feature (environments.prod.allowed_refs)"
    )
    assert out.stderr.splitlines()[-1].startswith("::error title=opsctl::")


def test_protected_environment_off_a_tty(project: Path) -> None:
    args = ("run", "prod", "cs", "--username", "ada", "--email", "ada@example.com")
    env = {"OPSCTL_PARAM_PASSWORD": SECRET}
    refused = run_cli(*args, cwd=project, env=env)
    assert refused.code == 77
    assert refused.stderr == (
        "opsctl: error: environment 'prod' is protected: confirm with --yes --confirm prod (no terminal to ask on)\n"
    )
    wrong = run_cli(*args, "--yes", "--confirm", "staging", cwd=project, env=env)
    assert wrong.code == 77 and "does not name environment 'prod'" in wrong.stderr
    accepted = run_cli(*args, "--yes", "--confirm", "prod", cwd=project, env=env)
    assert accepted.code == 0, accepted.output
