"""envs, tasks, history and the run summary at 60 and 200 columns ($COLUMNS), and piped with no width."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import run_cli

CONFIG = """
[environments.dev]
provider = "local"
workdir = "."

[environments.staging]
provider = "ecs"
region = "eu-west-2"
cluster = "clinloop-staging"
service = "clinloop-staging-api"
protected = true
allowed_refs = ["refs/heads/main", "refs/heads/release"]

[tasks.seed-admin]
help = "Create an admin account, or confirm it exists (idempotent); safe to run twice."
aliases = ["sa"]
command = ["{python}", "-c", "print('{{\\"ok\\": true, \\"note\\": \\"a rather long note that will need to wrap on a narrow terminal\\"}}')"]

[tasks.seed-admin.params.email]
type = "email"
help = "Email of the admin to create"

[tasks.seed-admin.params.level]
type = "choice"
choices = ["patient", "staff", "admin", "superadmin"]
default = "staff"
help = "Permission level of the new admin, lowest to highest"
"""
# git's own environment configuration: the actor opsctl records is this user.email, on any machine.
GIT_ACTOR = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "user.email", "GIT_CONFIG_VALUE_0": "ada@example.com"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "opsctl.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def at(columns: int | None, *args: str, cwd: Path) -> str:
    env = {**GIT_ACTOR, **({"COLUMNS": str(columns)} if columns else {})}
    out = run_cli(*args, cwd=cwd, env=env)
    assert out.code == 0, out.output
    return out.stdout


def test_envs(project: Path) -> None:
    assert at(60, "envs", cwd=project) == (
        "ENV           dev\n"
        "PROVIDER      local\n"
        "TARGET        workdir=.\n"
        "PROTECTED     no\n"
        "ALLOWED REFS  -\n"
        "\n"
        "ENV           staging\n"
        "PROVIDER      ecs\n"
        "TARGET        region=eu-west-2, cluster=clinloop-staging,\n"
        "              service=clinloop-staging-api\n"
        "PROTECTED     yes\n"
        "ALLOWED REFS  refs/heads/main, refs/heads/release\n"
        "\n"
        "ENV           local (built in)\n"
        "PROVIDER      local\n"
        "TARGET        workdir=.\n"
        "PROTECTED     no\n"
        "ALLOWED REFS  -\n"
    )
    wide = (
        "ENV               PROVIDER  TARGET                                                                    "
        "PROTECTED  ALLOWED REFS\n"
        "dev               local     workdir=.                                                                 "
        "no         -\n"
        "staging           ecs       region=eu-west-2, cluster=clinloop-staging, service=clinloop-staging-api  "
        "yes        refs/heads/main, refs/heads/release\n"
        "local (built in)  local     workdir=.                                                                 "
        "no         -\n"
    )
    assert at(200, "envs", cwd=project) == wide
    assert at(None, "envs", cwd=project) == wide  # piped: whole lines, whatever the terminal


def test_envs_wrap_long_columns_when_the_others_fit(project: Path) -> None:
    assert at(100, "envs", cwd=project) == (
        "ENV               PROVIDER  TARGET                          PROTECTED  ALLOWED REFS\n"
        "dev               local     workdir=.                       no         -\n"
        "staging           ecs       region=eu-west-2,               yes        refs/heads/main,\n"
        "                            cluster=clinloop-staging,                  refs/heads/release\n"
        "                            service=clinloop-staging-api\n"
        "local (built in)  local     workdir=.                       no         -\n"
    )


def test_tasks_show_each_parameter_with_type_default_and_help(project: Path) -> None:
    assert at(60, "tasks", "dev", cwd=project) == (
        "TASK           seed-admin\n"
        "ALIASES        sa\n"
        "OVERRIDDEN IN  -\n"
        "HELP           Create an admin account, or confirm it exists\n"
        "               (idempotent); safe to run twice.\n"
        "\n"
        "TASK       seed-admin\n"
        "PARAMETER  --email\n"
        "TYPE       email\n"
        "DEFAULT    (required)\n"
        "HELP       Email of the admin to create\n"
        "\n"
        "TASK       seed-admin\n"
        "PARAMETER  --level\n"
        "TYPE       choice: patient | staff | admin | superadmin\n"
        "DEFAULT    staff\n"
        "HELP       Permission level of the new admin, lowest to\n"
        "           highest\n"
    )
    assert at(200, "tasks", "dev", cwd=project) == (
        "TASK           seed-admin\n"  # a single item reads vertically
        "ALIASES        sa\n"
        "OVERRIDDEN IN  -\n"
        "HELP           Create an admin account, or confirm it exists (idempotent); safe to run twice.\n"
        "\n"
        "TASK        PARAMETER  TYPE                                          DEFAULT     HELP\n"
        "seed-admin  --email    email                                         (required)  Email of the admin to create\n"
        "seed-admin  --level    choice: patient | staff | admin | superadmin  staff       Permission level of the new"
        " admin, lowest to highest\n"
    )


def _stable(text: str, project: Path) -> str:
    text = re.sub(r"\d{8}T\d{6}Z-[0-9a-f]{8}", "RUN-ID", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", "STARTED", text)
    return re.sub(r"Duration     [0-9.]+s", "Duration     D", text)


def test_summary(project: Path, isolated: Path) -> None:
    logs = f"{isolated}/opsctl/local-runs/RUN-ID/log.jsonl"
    narrow = _stable(at(60, "run", "dev", "sa", "--email", "ada@example.com", cwd=project), project)
    assert narrow == (
        "Environment  dev\n"
        "Task         seed-admin\n"
        "Actor        ada@example.com\n"
        "Run          RUN-ID\n"
        "Status       succeeded\n"
        "Exit code    0\n"
        "Duration     D\n"
        "Note         a rather long note that will need to wrap on a\n"
        "             narrow terminal\n"
        f"Logs         {logs}\n"  # a path is never cut: it stays whole, to copy
    )
    wide = _stable(at(200, "run", "dev", "sa", "--email", "ada@example.com", cwd=project), project)
    assert wide == narrow.replace("a\n             narrow", "a narrow")


def test_history(project: Path) -> None:
    for _ in range(2):
        at(None, "run", "dev", "sa", "--email", "ada@example.com", cwd=project)
    block = (
        "RUN      RUN-ID\nTASK     seed-admin\nACTOR    ada@example.com\n"
        "STARTED  STARTED\nSTATUS   succeeded\nEXIT     0\n"
    )
    assert _stable(at(60, "history", "dev", cwd=project), project) == block + "\n" + block
    row = "RUN-ID  seed-admin  ada@example.com  STARTED  succeeded  0\n"
    header = "RUN                        TASK        ACTOR            STARTED              STATUS     EXIT\n"
    assert _stable(at(200, "history", "dev", cwd=project), project) == header + row + row
    # A single item reads vertically wherever a width is known.
    assert _stable(at(200, "history", "dev", "--limit", "1", cwd=project), project) == block
