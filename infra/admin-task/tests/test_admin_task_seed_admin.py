"""seed-admin (seed 000): idempotent, race-safe, never elevates, audited."""

from __future__ import annotations

import pytest
from admin_task_harness import Backend, finish, run_task, start_task

CONCURRENT_RUNS = 20


def test_creates_admin_with_audit_row(backend: Backend) -> None:
    run = run_task(backend, "seed-admin", ADMIN_EMAIL="ada@example.com", OPSCTL_RUN_ID="run-42")

    assert run.code == 0, run.stderr
    result = run.result
    assert result["wasNew"] is True
    assert set(result["user"]) == {"id", "email", "role", "createdAt"}
    assert result["user"]["email"] == "ada@example.com"
    assert result["user"]["role"] == "admin"
    [user] = backend.query("SELECT * FROM users")
    assert (user["id"], user["role"], bool(user["is_active"]), bool(user["email_verified"])) == (
        result["user"]["id"],
        "admin",
        True,
        True,
    )
    [event] = backend.audit()
    assert (event["event_type"], event["resource_type"], event["resource_id"]) == (
        "admin_account_seeded",
        "users",
        user["id"],
    )
    assert (event["actor"], event["run_id"], event["origin"]) == ("tester@example.com", "run-42", "host:pytest")
    assert event["metadata"]["actor"] == "tester@example.com"
    assert event["metadata"]["run_id"] == "run-42"
    assert event["metadata"]["origin"] == "host:pytest"


def test_rerun_is_a_noop(backend: Backend) -> None:
    first = run_task(backend, "seed-admin", ADMIN_EMAIL="ada@example.com")
    again = run_task(backend, "seed-admin", ADMIN_EMAIL="ada@example.com")

    assert (first.code, again.code) == (0, 0)
    assert again.result["wasNew"] is False
    assert again.result["user"]["id"] == first.result["user"]["id"]
    assert backend.count("users") == 1
    assert backend.count("audit_events") == 1


def test_email_match_is_case_insensitive(backend: Backend) -> None:
    first = run_task(backend, "seed-admin", ADMIN_EMAIL="Ada@Example.com")
    again = run_task(backend, "seed-admin", ADMIN_EMAIL="ada@EXAMPLE.COM")

    assert again.code == 0
    assert again.result["wasNew"] is False
    assert again.result["user"]["email"] == first.result["user"]["email"] == "Ada@Example.com"
    assert backend.count("users") == 1


def test_refuses_to_elevate_active_non_admin(backend: Backend) -> None:
    backend.create_schema()
    backend.insert_user("Bob@example.com", role="user")

    run = run_task(backend, "seed-admin", ADMIN_EMAIL="bob@example.com")

    assert run.code == 3
    assert run.result["error"].startswith("refusing to elevate existing non-admin user Bob@example.com (role 'user')")
    assert "ERROR: refusing to elevate existing non-admin user" in run.stderr
    assert [u["role"] for u in backend.query("SELECT role FROM users")] == ["user"]
    assert backend.count("audit_events") == 0


def test_soft_deleted_user_frees_the_email(backend: Backend) -> None:
    first = run_task(backend, "seed-admin", ADMIN_EMAIL="ada@example.com")
    backend.execute(
        "UPDATE users SET deleted_at = CURRENT_TIMESTAMP WHERE lower(email) = lower(?)", ("ada@example.com",)
    )

    again = run_task(backend, "seed-admin", ADMIN_EMAIL="ada@example.com")

    assert again.code == 0
    assert again.result["wasNew"] is True
    assert again.result["user"]["id"] != first.result["user"]["id"]
    assert backend.count("users") == 2
    assert backend.count("users", "deleted_at IS NULL") == 1
    assert len(backend.audit("admin_account_seeded")) == 2


def test_failure_mid_transaction_rolls_back(backend: Backend, request: pytest.FixtureRequest) -> None:
    backend.create_schema()
    request.addfinalizer(backend.drop_tables)
    # An audit table that rejects every row: the user insert must not survive the failed audit insert.
    backend.execute("DROP TABLE audit_events")
    backend.execute(
        "CREATE TABLE audit_events (id TEXT, event_type TEXT, resource_type TEXT, resource_id TEXT, actor TEXT,"
        " run_id TEXT, origin TEXT, metadata TEXT CHECK (length(metadata) < 2), timestamp TEXT)"
    )

    run = run_task(backend, "seed-admin", ADMIN_EMAIL="ada@example.com")

    assert run.code == 1
    assert run.result["error"]
    assert "Traceback" not in run.stderr
    assert "nothing was committed" in run.stderr
    assert backend.count("users") == 0


def test_concurrent_runs_create_one_admin(backend: Backend) -> None:
    if backend.engine == "postgresql":
        # Start from no tables at all, so the runs also race to create the schema.
        backend.drop_tables()
    procs = [start_task(backend, "seed-admin", ADMIN_EMAIL="race@example.com") for _ in range(CONCURRENT_RUNS)]
    runs = [finish(p) for p in procs]

    assert [r.code for r in runs] == [0] * CONCURRENT_RUNS, [r.stderr for r in runs if r.code]
    assert sum(r.result["wasNew"] for r in runs) == 1
    assert len({r.result["user"]["id"] for r in runs}) == 1
    assert backend.count("users") == 1
    assert backend.count("audit_events") == 1
