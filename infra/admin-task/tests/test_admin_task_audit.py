"""audit-users: a read-only sweep of the users table, split between copies by crc32(id) % count."""

from __future__ import annotations

import hashlib
import random
import re
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from admin_task import db, shard
from admin_task.audit import AuditUsers
from admin_task.context import Context, Output
from admin_task.errors import InvalidInput
from admin_task_harness import TABLES, Backend, TaskRun, finish, run_task, start_task

USERS = 200
FINDING_RE = re.compile(r"^FINDING (\S+) user=(\S+) ", re.MULTILINE)
Found = list[tuple[str, str]]  # (kind, user id), sorted


@dataclass(frozen=True)
class Seeded:
    """The users written and the findings an audit of all of them must print."""

    ids: list[str]
    expected: Found


def seed(backend: Backend, rng: random.Random) -> Seeded:
    """USERS users, most of them with exactly the problems audit-users looks for, a few clean."""
    backend.create_schema()
    backend.execute_many(
        "INSERT INTO roles (id, name) VALUES (?, ?)", [("r-sys", "System Administrator"), ("r-clin", "Clinician")]
    )
    backend.execute("INSERT INTO tenants (id, slug, name, created_at) VALUES ('t-1', 'acme', 'Acme', '2024-01-01')")
    users, roles, staff, events = [], [], [], []
    expected: Found = []
    for i in range(USERS):
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        email, role, level, active, deleted = f"user{i}@example.com", "user", "patient", True, None
        kind = i % 8
        if kind == 0 and i % 16 == 8:  # deactivated but holding nothing: clean
            active = False
        elif kind == 1:
            email = f"user{i}-at-example.com"
            expected.append(("invalid_email", uid))
            if i % 16 == 9:  # two findings on one user
                role = "admin"
                expected.append(("privileged_unaudited", uid))
        elif kind in (2, 3):  # an admin; only the seeded one has its grant on record
            role, level = "admin", "admin"
            if kind == 2:
                events.append((uid, "admin_account_seeded"))
            else:
                expected.append(("privileged_unaudited", uid))
        elif kind in (4, 5):  # a superadmin on record; only the first holds the role
            role, level = "admin", "superadmin"
            events.append((uid, "superadmin_created"))
            if kind == 4:
                roles.append((uid, "r-sys"))
            else:
                expected.append(("superadmin_without_role", uid))
        elif kind == 6:
            deleted = "2024-06-01"
            roles.append((uid, "r-clin"))
            expected.append(("inactive_with_roles", uid))
        elif kind == 7:
            active = False
            staff.append((f"s-{i}", "t-1", uid, "admin", "2024-01-01"))
            expected.append(("inactive_with_roles", uid))
        users.append((uid, email, role, level, active, deleted))
    backend.execute_many(
        "INSERT INTO users (id, email, role, permission_level, is_active, email_verified, created_at, updated_at,"
        " deleted_at) VALUES (?, ?, ?, ?, ?, TRUE, '2024-01-01', '2024-01-01', ?)",
        users,
    )
    backend.execute_many("INSERT INTO user_roles (user_id, role_id) VALUES (?, ?)", roles)
    backend.execute_many("INSERT INTO staff (id, tenant_id, user_id, role, created_at) VALUES (?, ?, ?, ?, ?)", staff)
    backend.execute_many(
        "INSERT INTO audit_events (id, event_type, resource_type, resource_id, actor, run_id, origin, metadata,"
        " timestamp) VALUES (?, ?, 'users', ?, 'seed', 'run-seed', 'test', '{}', '2024-01-01')",
        [(f"e-{n}", event, uid) for n, (uid, event) in enumerate(events)],
    )
    return Seeded([u[0] for u in users], sorted(expected))


@pytest.fixture
def rng() -> random.Random:
    """A fresh seed per test, printed so a failure can be replayed."""
    value = random.SystemRandom().getrandbits(32)
    print(f"audit test seed: {value}")
    return random.Random(value)


def copy_env(index: int, count: int, prefix: str = "OPSCTL") -> dict[str, str]:
    """The variables that make a run copy `index` of `count`."""
    return {f"{prefix}_TASK_INDEX": str(index), f"{prefix}_TASK_COUNT": str(count)}


def fan_out(backend: Backend, count: int, prefix: str = "OPSCTL") -> list[TaskRun]:
    """Run `count` copies at once, as `opsctl run ENV audit-users --tasks N` does."""
    procs = [start_task(backend, "audit-users", **copy_env(i, count, prefix)) for i in range(count)]
    return [finish(p) for p in procs]


def findings(run: TaskRun) -> Found:
    """The (kind, user id) of every FINDING line the run printed."""
    return sorted((m[1], m[2]) for m in FINDING_RE.finditer(run.stderr))


def owner(user_id: str, count: int) -> int:
    """The copy that owns a user, computed here independently of the task."""
    return zlib.crc32(user_id.encode()) % count


def snapshot(backend: Backend) -> dict[str, list[str]]:
    """Every row of every table, comparable before and after."""
    return {t: sorted(repr(sorted(r.items())) for r in backend.query(f"SELECT * FROM {t}")) for t in TABLES}  # noqa: S608


def test_copies_split_the_table_exactly_once_each(backend: Backend, rng: random.Random) -> None:
    seeded = seed(backend, rng)

    whole = run_task(backend, "audit-users")

    assert whole.code == 0, whole.stderr
    assert whole.result == {"ok": True, "shard": 0, "shards": 1, "checked": USERS, "findings": len(seeded.expected)}
    assert findings(whole) == seeded.expected
    for count in (1, 3, 7):
        runs = fan_out(backend, count)
        sizes = Counter(owner(uid, count) for uid in seeded.ids)
        for index, run in enumerate(runs):
            assert run.code == 0, run.stderr
            assert run.result == {
                "ok": True,
                "shard": index,
                "shards": count,
                "checked": sizes[index],
                "findings": len(findings(run)),
            }
            assert {owner(uid, count) for _, uid in findings(run)} <= {index}
        assert sum(r.result["checked"] for r in runs) == USERS
        # No finding lost, none printed twice: the copies' findings add up to the single run's.
        assert sorted(f for r in runs for f in findings(r)) == seeded.expected


def test_audit_changes_nothing(backend: Backend, rng: random.Random) -> None:
    seed(backend, rng)
    before = snapshot(backend)
    file_before = hashlib.sha256(Path(backend.dsn).read_bytes()).hexdigest() if backend.engine == "sqlite" else ""

    runs = [*fan_out(backend, 3), run_task(backend, "audit-users", AUDIT_FAIL_ON_FINDINGS="1")]

    assert [r.code for r in runs] == [0, 0, 0, 5]
    assert snapshot(backend) == before
    if backend.engine == "sqlite":
        assert hashlib.sha256(Path(backend.dsn).read_bytes()).hexdigest() == file_before


def test_the_connection_refuses_writes(backend: Backend) -> None:
    backend.create_schema()
    conn = db.connect(db.parse_url(backend.url), read_only=True)
    try:
        with pytest.raises(Exception, match=r"read-only|readonly"):
            conn.execute("INSERT INTO roles (id, name) VALUES ('r', 'Clinician')")
    finally:
        conn.close()
    assert backend.count("roles") == 0


def test_pages_of_any_size_give_the_same_findings(
    backend: Backend, rng: random.Random, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = seed(backend, rng)
    outputs = []
    for batch_size in (7, 200, 500):
        conn = db.connect(db.parse_url(backend.url), read_only=True)
        try:
            result = AuditUsers(shard.Shard(1, 3), False, batch_size).run(conn, Context.from_env({}, "a", Output()))
        finally:
            conn.close()
        outputs.append((result, FINDING_RE.findall(capsys.readouterr().err)))

    assert outputs[0] == outputs[1] == outputs[2]
    result, lines = outputs[0]
    assert result["checked"] == sum(owner(uid, 3) == 1 for uid in seeded.ids)
    assert sorted(lines) == [f for f in seeded.expected if owner(f[1], 3) == 1]


def test_cloud_run_variables_when_opsctl_sets_none(backend: Backend, rng: random.Random) -> None:
    seeded = seed(backend, rng)
    sizes = Counter(owner(uid, 3) for uid in seeded.ids)

    runs = fan_out(backend, 3, prefix="CLOUD_RUN")
    both = run_task(backend, "audit-users", **copy_env(2, 3), **copy_env(2, 3, "CLOUD_RUN"))

    assert [(r.code, r.result["shard"], r.result["shards"], r.result["checked"]) for r in runs] == [
        (0, i, 3, sizes[i]) for i in range(3)
    ]
    assert (both.code, both.result["shard"], both.result["checked"]) == (0, 2, sizes[2])


def test_disagreeing_sources_are_refused_before_the_database(sqlite_backend: Backend) -> None:
    # What a Cloud Run override would produce: the same OPSCTL_TASK_INDEX in every copy.
    run = run_task(sqlite_backend, "audit-users", **copy_env(0, 3), **copy_env(1, 3, "CLOUD_RUN"))

    assert run.code == 64
    assert run.result["error"] == (
        "OPSCTL_TASK_INDEX/OPSCTL_TASK_COUNT say copy 0 of 3 but CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT "
        "say copy 1 of 3; refusing to guess which users this copy owns"
    )
    assert not Path(sqlite_backend.dsn).exists()


def ops(index: str, count: str) -> dict[str, str]:
    """OPSCTL_TASK_INDEX and OPSCTL_TASK_COUNT as given (not necessarily valid)."""
    return {"OPSCTL_TASK_INDEX": index, "OPSCTL_TASK_COUNT": count}


WHOLE = "must be a whole number of 0 or more"


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"OPSCTL_TASK_INDEX": "1"}, "OPSCTL_TASK_INDEX is set but OPSCTL_TASK_COUNT is not; set both or neither"),
        (
            {"CLOUD_RUN_TASK_COUNT": "3"},
            "CLOUD_RUN_TASK_COUNT is set but CLOUD_RUN_TASK_INDEX is not; set both or neither",
        ),
        (ops("x", "3"), f"OPSCTL_TASK_INDEX {WHOLE} (got 'x')"),
        (ops("-1", "3"), f"OPSCTL_TASK_INDEX {WHOLE} (got '-1')"),
        (ops(" 1", "3"), f"OPSCTL_TASK_INDEX {WHOLE} (got ' 1')"),
        (ops("0", "1.5"), f"OPSCTL_TASK_COUNT {WHOLE} (got '1.5')"),
        (ops("0", "0"), "OPSCTL_TASK_COUNT must be at least 1 (got 0)"),
        (ops("3", "3"), "OPSCTL_TASK_INDEX must be below OPSCTL_TASK_COUNT (3): 0 to 2 (got 3)"),
        (
            {"CLOUD_RUN_TASK_INDEX": "5", "CLOUD_RUN_TASK_COUNT": "2"},
            "CLOUD_RUN_TASK_INDEX must be below CLOUD_RUN_TASK_COUNT (2): 0 to 1 (got 5)",
        ),
        (
            {**ops("0", "2"), "CLOUD_RUN_TASK_INDEX": "0", "CLOUD_RUN_TASK_COUNT": "3"},
            "OPSCTL_TASK_INDEX/OPSCTL_TASK_COUNT say copy 0 of 2 but CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT "
            "say copy 0 of 3; refusing to guess which users this copy owns",
        ),
    ],
)
def test_bad_index_or_count(env: dict[str, str], error: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        shard.from_env(env)
    assert str(caught.value) == error


@pytest.mark.parametrize(
    ("env", "copy"),
    [
        ({}, shard.Shard(0, 1)),
        ({"OPSCTL_TASK_INDEX": "", "OPSCTL_TASK_COUNT": ""}, shard.Shard(0, 1)),  # empty counts as missing
        ({"OPSCTL_TASK_INDEX": "06", "OPSCTL_TASK_COUNT": "7"}, shard.Shard(6, 7)),
        ({"CLOUD_RUN_TASK_INDEX": "2", "CLOUD_RUN_TASK_COUNT": "3"}, shard.Shard(2, 3)),
        ({**copy_env(1, 4), **copy_env(1, 4, "CLOUD_RUN")}, shard.Shard(1, 4)),
    ],
)
def test_index_and_count(env: dict[str, str], copy: shard.Shard) -> None:
    assert shard.from_env(env) == copy


def test_shard_rule_is_pinned() -> None:
    # crc32 of the id's UTF-8 bytes: changing the rule would split a fleet of mixed-version copies wrongly.
    user_id = "00000000-0000-4000-8000-000000000000"
    assert zlib.crc32(user_id.encode()) == 0x3BE00617
    assert [i for i in range(7) if shard.Shard(i, 7).owns(user_id)] == [0x3BE00617 % 7] == [1]


def test_bad_index_exits_64_before_the_database(sqlite_backend: Backend) -> None:
    run = run_task(sqlite_backend, "audit-users", OPSCTL_TASK_INDEX="7", OPSCTL_TASK_COUNT="7")

    assert run.code == 64
    assert run.result == {
        "ok": False,
        "error": "OPSCTL_TASK_INDEX must be below OPSCTL_TASK_COUNT (7): 0 to 6 (got 7)",
    }
    assert not Path(sqlite_backend.dsn).exists()


def test_fail_on_findings(backend: Backend, rng: random.Random) -> None:
    backend.create_schema()
    backend.insert_user("clean@example.com")

    clean = run_task(backend, "audit-users", AUDIT_FAIL_ON_FINDINGS="1")
    backend.insert_user("not-an-email")
    dirty = run_task(backend, "audit-users", AUDIT_FAIL_ON_FINDINGS="true")
    lenient = run_task(backend, "audit-users", AUDIT_FAIL_ON_FINDINGS="0")

    assert clean.code == 0, clean.stderr
    assert clean.result == {"ok": True, "shard": 0, "shards": 1, "checked": 1, "findings": 0}
    assert dirty.code == 5
    assert dirty.result == {
        "ok": False,
        "error": "1 findings in copy 0 of 1 (AUDIT_FAIL_ON_FINDINGS is set)",
        "shard": 0,
        "shards": 1,
        "checked": 2,
        "findings": 1,
    }
    assert "FINDING invalid_email user=" in dirty.stderr
    assert "email 'not-an-email' is not a valid address" in dirty.stderr
    assert lenient.code == 0
    assert lenient.result["findings"] == 1


def test_bad_fail_flag(sqlite_backend: Backend) -> None:
    run = run_task(sqlite_backend, "audit-users", AUDIT_FAIL_ON_FINDINGS="yes")

    assert run.code == 64
    assert run.result["error"] == "AUDIT_FAIL_ON_FINDINGS must be 1 or 0 (true or false); got 'yes'"


def test_no_tables_is_not_found_and_creates_nothing(backend: Backend) -> None:
    if backend.engine == "postgresql":
        backend.drop_tables()

    run = run_task(backend, "audit-users")

    assert run.code == 4
    if backend.engine == "sqlite":
        assert run.result["error"] == f"no SQLite database at {backend.dsn}; check DATABASE_URL"
        assert not Path(backend.dsn).parent.exists()
    else:
        assert run.result["error"] == ("no admin-task tables in this database (nothing to audit); check DATABASE_URL")
        assert backend.query("SELECT to_regclass('users') AS t")[0]["t"] is None


def test_findings_print_no_secrets(backend: Backend, rng: random.Random) -> None:
    seed(backend, rng)
    backend.execute("UPDATE users SET password_hash = 'scrypt$hash-sekrit-123'")

    run = run_task(backend, "audit-users")

    assert run.code == 0
    assert "hash-sekrit-123" not in run.stdout + run.stderr
