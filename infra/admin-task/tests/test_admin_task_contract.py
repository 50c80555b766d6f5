"""The env-var contract: validation before any database work, exit codes, docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from admin_task import EMAIL_MAX_LEN, EMAIL_RE
from admin_task.cli import ACTIONS
from admin_task_harness import ADMIN_TASK_DIR, Backend, run_task


def test_missing_action_exits_64_with_the_seed_message(sqlite_backend: Backend) -> None:
    run = run_task(sqlite_backend, None)

    assert run.code == 64
    assert run.stderr == "ERROR: ADMIN_ACTION environment variable is required\n"
    assert run.result == {"ok": False, "error": "ADMIN_ACTION environment variable is required"}
    assert not Path(sqlite_backend.dsn).exists()


def test_unknown_action(sqlite_backend: Backend) -> None:
    run = run_task(sqlite_backend, "drop-everything")

    assert run.code == 64
    assert run.result["error"] == (
        "unknown ADMIN_ACTION 'drop-everything'; expected one of: seed-admin, create-superadmin, "
        "update-permissions, add-role, seed-roles, bootstrap-tenant, audit-users"
    )


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@c.io", "a@b.io\n", "x" * 250 + "@b.io", ""])
def test_invalid_email_exits_64_before_touching_the_database(sqlite_backend: Backend, email: str) -> None:
    run = run_task(sqlite_backend, "seed-admin", ADMIN_EMAIL=email)

    assert run.code == 64
    assert run.result["error"].startswith("ADMIN_EMAIL")
    assert not Path(sqlite_backend.dsn).exists()


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("ada@example.com", True),
        ("a.b+tag@sub.example.co.uk", True),
        ("ada@example", False),
        ("@example.com", False),
        ("ada@@example.com", False),
        ("ada @example.com", False),
        ("ada@example.com\n", False),
        ("a" * (EMAIL_MAX_LEN - len("@b.io")) + "@b.io", True),
    ],
)
def test_email_re(email: str, valid: bool) -> None:
    assert (EMAIL_RE.fullmatch(email) is not None and len(email) <= EMAIL_MAX_LEN) is valid


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("", "DATABASE_URL environment variable is required"),
        ("mysql://db/x", "DATABASE_URL must start with sqlite:///, postgresql:// or postgres:// (got scheme 'mysql')"),
        ("sqlite:///", "DATABASE_URL: sqlite URL needs a file path, e.g. sqlite:///.opsctl/local.db"),
    ],
)
def test_bad_database_url(sqlite_backend: Backend, url: str, error: str) -> None:
    run = run_task(sqlite_backend, "seed-admin", ADMIN_EMAIL="ada@example.com", DATABASE_URL=url)

    assert run.code == 64
    assert run.result["error"] == error


def test_unexpected_error_exits_1_and_traceback_only_with_debug(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()  # a directory where the database file should be
    backend = Backend("sqlite", f"sqlite:///{tmp_path / 'dir.db'}", str(tmp_path / "dir.db"))

    quiet = run_task(backend, "seed-roles")
    debug = run_task(backend, "seed-roles", ADMIN_DEBUG="1")

    assert (quiet.code, debug.code) == (1, 1)
    assert quiet.result["error"] == "OperationalError: unable to open database file"
    assert "Traceback" not in quiet.stderr
    assert "Traceback" in debug.stderr


def test_database_password_is_masked(pg_database: str) -> None:
    url = re.sub(r"//([^@/]+)@", r"//\1:pw-sekrit-123@", pg_database)

    run = run_task(Backend("postgresql", url, url), "seed-roles")

    assert run.code == 0, run.stderr  # trust auth ignores the password
    assert "pw-sekrit-123" not in run.stdout + run.stderr


def test_readme_documents_every_action_and_exit_code() -> None:
    readme = (ADMIN_TASK_DIR / "README.md").read_text()

    for action in ACTIONS:
        assert f"`{action}`" in readme, action
    for code in ("0", "1", "3", "4", "5", "64"):
        assert re.search(rf"^\| {code} \|", readme, re.MULTILINE), code
