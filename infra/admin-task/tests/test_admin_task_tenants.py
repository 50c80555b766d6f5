"""bootstrap-tenant (seed 003): the first user of an empty tenant becomes its admin, once."""

from __future__ import annotations

from admin_task_harness import Backend, TaskRun, run_task

CHAIN = ["bootstrap_user", "bootstrap_staff_admin", "bootstrap_tenant"]


def bootstrap(backend: Backend, email: str, **env: str) -> TaskRun:
    """Run bootstrap-tenant for tenant `acme`."""
    return run_task(backend, "bootstrap-tenant", **({"TENANT_SLUG": "acme", "ADMIN_EMAIL": email} | env))


def test_empty_tenant_gets_user_staff_admin_and_audit_chain(backend: Backend) -> None:
    run = run_task(
        backend,
        "bootstrap-tenant",
        TENANT_SLUG="acme",
        TENANT_NAME="Acme Casino",
        ADMIN_EMAIL="first@example.com",
        OPSCTL_RUN_ID="run-boot",
    )

    assert run.code == 0, run.stderr
    result = run.result
    assert result["wasNew"] is True
    assert result["tenant"]["slug"] == "acme"
    assert result["tenant"]["name"] == "Acme Casino"
    assert result["tenant"]["wasNew"] is True
    assert result["staff"]["role"] == "admin"
    [staff] = backend.query("SELECT * FROM staff")
    assert (staff["user_id"], staff["tenant_id"], staff["role"]) == (
        result["user"]["id"],
        result["tenant"]["id"],
        "admin",
    )
    events = backend.audit()
    assert [e["event_type"] for e in events] == CHAIN
    assert [e["resource_id"] for e in events] == [result["user"]["id"], staff["id"], result["tenant"]["id"]]
    assert {e["run_id"] for e in events} == {"run-boot"}
    assert len({e["metadata"]["chain"] for e in events}) == 1
    assert [e["metadata"]["step"] for e in events] == [1, 2, 3]


def test_existing_user_and_empty_tenant(backend: Backend) -> None:
    backend.create_schema()
    user_id = backend.insert_user("First@example.com")
    backend.execute(
        "INSERT INTO tenants (id, slug, name, created_at) VALUES ('t-1', 'acme', 'Acme', CURRENT_TIMESTAMP)"
    )

    run = bootstrap(backend, "first@example.com")

    assert run.code == 0, run.stderr
    assert run.result["user"]["id"] == user_id
    assert run.result["tenant"] == {"id": "t-1", "slug": "acme", "name": "Acme", "wasNew": False}
    events = backend.audit()
    assert [e["event_type"] for e in events] == CHAIN
    assert [e["metadata"]["was_new"] for e in (events[0], events[2])] == [False, False]


def test_same_user_again_is_a_noop(backend: Backend) -> None:
    first = bootstrap(backend, "first@example.com")
    again = bootstrap(backend, "FIRST@example.com")

    assert (first.code, again.code) == (0, 0)
    assert again.result["wasNew"] is False
    assert again.result["staff"] == first.result["staff"]
    assert backend.count("staff") == 1
    assert backend.count("audit_events") == 3


def test_second_user_is_refused_and_rolled_back(backend: Backend) -> None:
    bootstrap(backend, "first@example.com")

    run = bootstrap(backend, "second@example.com")

    assert run.code == 3
    assert run.result["error"] == (
        "tenant 'acme' already has staff; bootstrap admin is a one-time privilege — "
        "add second@example.com with an invitation or an admin-created account"
    )
    assert backend.count("users", "email = ?", ("second@example.com",)) == 0
    assert backend.count("staff") == 1
    assert backend.count("audit_events") == 3


def test_invalid_slug(sqlite_backend: Backend) -> None:
    run = bootstrap(sqlite_backend, "first@example.com", TENANT_SLUG="Acme Casino")

    assert run.code == 64
    assert run.result["error"].startswith("TENANT_SLUG must be")
