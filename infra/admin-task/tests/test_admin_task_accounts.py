"""create-superadmin, update-permissions, add-role and seed-roles (seed 002)."""

from __future__ import annotations

import secrets

import pytest
from admin_task.passwords import verify_password
from admin_task_harness import Backend, TaskRun, run_task

ROLES = [
    "System Administrator",
    "Clinical Administrator",
    "Clinician",
    "Clinical Support Staff",
    "Patient",
    "Patient Advocate",
]
MISSING_ROLE_WARNING = "role 'System Administrator' not found — run seed-roles (or deploy the app) and then add-role"


def new_password() -> str:
    """A password unique to one test, so finding it in any output is meaningful."""
    return f"pw-{secrets.token_urlsafe(16)}"


def superadmin(
    backend: Backend, password: str, username: str = "steve.jones", email: str = "steve@example.com"
) -> TaskRun:
    """Run create-superadmin."""
    return run_task(backend, "create-superadmin", ADMIN_USERNAME=username, ADMIN_EMAIL=email, ADMIN_PASSWORD=password)


def assert_secret_never_printed(run: TaskRun, *secret_values: str) -> None:
    """Neither the password nor its hash appear anywhere the task writes."""
    for value in secret_values:
        assert value not in run.stdout
        assert value not in run.stderr


def test_seed_roles_is_idempotent(backend: Backend) -> None:
    first = run_task(backend, "seed-roles")
    again = run_task(backend, "seed-roles")

    assert (first.code, again.code) == (0, 0)
    assert first.result == {"ok": True, "created": ROLES, "existing": []}
    assert again.result == {"ok": True, "created": [], "existing": ROLES}
    assert sorted(r["name"] for r in backend.query("SELECT name FROM roles")) == sorted(ROLES)
    assert len(backend.audit("roles_seeded")) == 1


def test_create_superadmin_with_role(backend: Backend) -> None:
    run_task(backend, "seed-roles")
    password = new_password()

    run = superadmin(backend, password)

    assert run.code == 0, run.stderr
    result = run.result
    assert result["wasNew"] is True
    assert "warnings" not in result
    assert result["user"]["username"] == "steve.jones"
    assert result["user"]["permissionLevel"] == "superadmin"
    [user] = backend.query("SELECT * FROM users")
    assert (user["permission_level"], user["base_profession"]) == ("superadmin", "consultant")
    assert user["password_hash"].startswith("scrypt$")
    assert verify_password(password, user["password_hash"])
    assert not verify_password(password + "x", user["password_hash"])
    assert_secret_never_printed(run, password, user["password_hash"])
    roles = backend.query(
        "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ?", (user["id"],)
    )
    assert [r["name"] for r in roles] == ["System Administrator"]
    [event] = backend.audit("superadmin_created")
    assert event["resource_id"] == user["id"]
    assert password not in str(event) and user["password_hash"] not in str(event)


def test_create_superadmin_without_role_row_warns(backend: Backend) -> None:
    password = new_password()

    run = superadmin(backend, password)

    assert run.code == 0
    assert run.result["warnings"] == [MISSING_ROLE_WARNING]
    assert f"WARNING: {MISSING_ROLE_WARNING}" in run.stderr
    assert backend.count("users") == 1
    assert backend.count("user_roles") == 0
    assert_secret_never_printed(run, password)


def test_create_superadmin_updates_existing_user(backend: Backend) -> None:
    backend.create_schema()
    user_id = backend.insert_user("Steve@Example.com", role="user", username="steve.jones")
    password = new_password()

    run = superadmin(backend, password)

    assert run.code == 0, run.stderr
    assert run.result["wasNew"] is False
    assert run.result["user"]["id"] == user_id
    [user] = backend.query("SELECT * FROM users")
    assert (user["role"], user["permission_level"], user["email"]) == ("admin", "superadmin", "steve@example.com")
    assert verify_password(password, user["password_hash"])
    assert_secret_never_printed(run, password, user["password_hash"])
    assert len(backend.audit("superadmin_updated")) == 1


def test_create_superadmin_refuses_username_and_email_of_two_users(backend: Backend) -> None:
    backend.create_schema()
    backend.insert_user("other@example.com", username="steve.jones")
    backend.insert_user("steve@example.com", username="someone.else")
    password = new_password()

    run = superadmin(backend, password)

    assert run.code == 3
    assert "belong to two different users" in run.result["error"]
    assert_secret_never_printed(run, password)
    assert backend.count("users", "password_hash IS NOT NULL") == 0


def test_create_superadmin_rejects_short_password_without_echoing_it(sqlite_backend: Backend) -> None:
    run = superadmin(sqlite_backend, "pw-123")

    assert run.code == 64
    assert run.result["error"] == "ADMIN_PASSWORD must be at least 8 characters"
    assert_secret_never_printed(run, "pw-123")


@pytest.mark.parametrize("missing", ["ADMIN_USERNAME", "ADMIN_EMAIL", "ADMIN_PASSWORD"])
def test_create_superadmin_requires_each_input(sqlite_backend: Backend, missing: str) -> None:
    env = {"ADMIN_USERNAME": "steve.jones", "ADMIN_EMAIL": "steve@example.com", "ADMIN_PASSWORD": new_password()}
    del env[missing]

    run = run_task(sqlite_backend, "create-superadmin", **env)

    assert run.code == 64
    assert run.result["error"] == f"{missing} environment variable is required"


def test_update_permissions_changes_level(backend: Backend) -> None:
    backend.create_schema()
    backend.insert_user("nurse@example.com", username="Nurse.Joy")

    up = run_task(backend, "update-permissions", ADMIN_USERNAME="nurse.joy", ADMIN_PERMISSION_LEVEL="admin")
    same = run_task(backend, "update-permissions", ADMIN_USERNAME="nurse.joy", ADMIN_PERMISSION_LEVEL="admin")

    assert (up.code, same.code) == (0, 0)
    assert up.result["permissionLevel"] == {"old": "staff", "new": "admin"}
    assert up.result["changed"] is True
    assert same.result["permissionLevel"] == {"old": "admin", "new": "admin"}
    assert same.result["changed"] is False
    assert [u["permission_level"] for u in backend.query("SELECT permission_level FROM users")] == ["admin"]
    [event] = backend.audit("permission_level_updated")
    assert (event["metadata"]["old_level"], event["metadata"]["new_level"]) == ("staff", "admin")


def test_update_permissions_rejects_unknown_level(sqlite_backend: Backend) -> None:
    run = run_task(sqlite_backend, "update-permissions", ADMIN_USERNAME="x", ADMIN_PERMISSION_LEVEL="root")

    assert run.code == 64
    assert run.result["error"] == (
        "ADMIN_PERMISSION_LEVEL must be one of patient, staff, admin, superadmin (lowest to highest); got 'root'"
    )


def test_update_permissions_user_not_found(backend: Backend) -> None:
    run = run_task(backend, "update-permissions", ADMIN_USERNAME="ghost", ADMIN_PERMISSION_LEVEL="staff")

    assert run.code == 4
    assert run.result["error"] == "no active user with username 'ghost'"


def test_add_role_assigns_once(backend: Backend) -> None:
    run_task(backend, "seed-roles")
    backend.insert_user("doc@example.com", username="dr.who")

    first = run_task(backend, "add-role", ADMIN_USERNAME="dr.who", ADMIN_ROLE="Clinician")
    again = run_task(backend, "add-role", ADMIN_USERNAME="dr.who", ADMIN_ROLE="Clinician")

    assert (first.code, again.code) == (0, 0)
    assert (first.result["changed"], again.result["changed"]) == (True, False)
    assert backend.count("user_roles") == 1
    assert len(backend.audit("role_assigned")) == 1


def test_add_role_rejects_unknown_role(sqlite_backend: Backend) -> None:
    run = run_task(sqlite_backend, "add-role", ADMIN_USERNAME="dr.who", ADMIN_ROLE="Wizard")

    assert run.code == 64
    assert run.result["error"] == f"ADMIN_ROLE must be one of: {', '.join(ROLES)}; got 'Wizard'"


def test_add_role_without_role_row_warns(backend: Backend) -> None:
    backend.create_schema()
    backend.insert_user("doc@example.com", username="dr.who")

    run = run_task(backend, "add-role", ADMIN_USERNAME="dr.who", ADMIN_ROLE="Clinician")

    assert run.code == 0
    assert run.result["changed"] is False
    assert run.result["warnings"] == [
        "role 'Clinician' not found — run seed-roles (or deploy the app) and then add-role again"
    ]
    assert backend.count("user_roles") == 0


def test_add_role_user_not_found(backend: Backend) -> None:
    run_task(backend, "seed-roles")

    run = run_task(backend, "add-role", ADMIN_USERNAME="ghost", ADMIN_ROLE="Patient")

    assert run.code == 4
    assert run.result["error"] == "no active user with username 'ghost'"
