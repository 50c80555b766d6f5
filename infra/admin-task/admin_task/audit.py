"""audit-users: a read-only sweep over the users table; with `--tasks N`, each copy checks its own shard."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from admin_task import EMAIL_MAX_LEN, EMAIL_RE, inputs, schema, shard
from admin_task.actions import SUPERADMIN_ROLE, Result
from admin_task.context import Context
from admin_task.db import Db, Row
from admin_task.errors import FindingsFound, NotFound

# Rows per keyset page: the table is streamed, never held in memory whole.
BATCH_SIZE = 500
PRIVILEGED_LEVELS = ("admin", "superadmin")
# The audit events that record an account becoming privileged (written by actions.py).
GRANT_EVENTS = ("admin_account_seeded", "superadmin_created", "superadmin_updated", "permission_level_updated")
_COLUMNS = "id, email, role, permission_level, is_active, deleted_at"  # never password_hash


@dataclass(frozen=True)
class Finding:
    """One problem with one user; printed as one line, with no secret in it."""

    kind: str
    user_id: str
    detail: str

    def __str__(self) -> str:
        return f"FINDING {self.kind} user={self.user_id} {self.detail}"


@dataclass(frozen=True)
class AuditUsers:
    """Check every user of this copy's shard; change nothing."""

    shard: shard.Shard
    fail_on_findings: bool
    batch_size: int = BATCH_SIZE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuditUsers:
        """Validate the copy's index and count and AUDIT_FAIL_ON_FINDINGS."""
        return cls(shard.from_env(env), inputs.flag(env, "AUDIT_FAIL_ON_FINDINGS"))

    def run(self, db: Db, ctx: Context) -> Result:
        """Stream the shard's users in id order and print each finding."""
        # The schema is created in one transaction, so its sentinel table stands for all of it.
        if not db.has_table(schema.SENTINEL_TABLE):
            raise NotFound("no admin-task tables in this database (nothing to audit); check DATABASE_URL")
        n = self.shard.count
        ctx.say(f"auditing users, copy {self.shard}: users with crc32(id) % {n} == {self.shard.index}; read-only")
        checked = found = 0
        for users in self._pages(db):
            for finding in _check(db, users):
                ctx.say(str(finding))
                found += 1
            checked += len(users)
        ctx.say(f"checked {checked} users, {found} findings")
        counts: dict[str, object] = {"shard": self.shard.index, "shards": n, "checked": checked, "findings": found}
        if found and self.fail_on_findings:
            raise FindingsFound(f"{found} findings in copy {self.shard} (AUDIT_FAIL_ON_FINDINGS is set)", **counts)
        return {"ok": True, **counts}

    def _pages(self, db: Db) -> Iterator[list[Row]]:
        """This shard's users, one keyset page (id > the last id seen) at a time, in id order."""
        # Every copy reads every id (crc32 is not SQL on both engines); only its own users are examined.
        page = db.all(f"SELECT {_COLUMNS} FROM users ORDER BY id LIMIT ?", (self.batch_size,))  # noqa: S608
        while page:
            mine = [u for u in page if self.shard.owns(u["id"])]
            if mine:
                yield mine
            if len(page) < self.batch_size:
                return
            page = db.all(
                f"SELECT {_COLUMNS} FROM users WHERE id > ? ORDER BY id LIMIT ?",  # noqa: S608
                (page[-1]["id"], self.batch_size),
            )


def _check(db: Db, users: list[Row]) -> Iterator[Finding]:
    """The findings for one page of users, in id order."""
    ids = [u["id"] for u in users]
    marks = ", ".join("?" * len(ids))
    roles: dict[str, list[str]] = {}
    for row in db.all(
        f"SELECT ur.user_id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id"  # noqa: S608
        f" WHERE ur.user_id IN ({marks}) ORDER BY r.name",
        ids,
    ):
        roles.setdefault(row["user_id"], []).append(row["name"])
    for row in db.all(
        f"SELECT s.user_id, t.slug, s.role FROM staff s JOIN tenants t ON t.id = s.tenant_id"  # noqa: S608
        f" WHERE s.user_id IN ({marks}) ORDER BY t.slug",
        ids,
    ):
        roles.setdefault(row["user_id"], []).append(f"{row['role']} of tenant {row['slug']}")
    privileged = [u["id"] for u in users if u["role"] == "admin" or u["permission_level"] in PRIVILEGED_LEVELS]
    granted: set[str] = set()
    if privileged:
        granted = {
            row["resource_id"]
            for row in db.all(
                "SELECT DISTINCT resource_id FROM audit_events WHERE resource_type = 'users'"  # noqa: S608
                f" AND event_type IN ({', '.join('?' * len(GRANT_EVENTS))})"
                f" AND resource_id IN ({', '.join('?' * len(privileged))})",
                [*GRANT_EVENTS, *privileged],
            )
        }
    for user in users:
        yield from _findings(user, roles.get(user["id"], []), granted)


def _findings(user: Row, held: list[str], granted: set[str]) -> Iterator[Finding]:
    uid, live = user["id"], user["deleted_at"] is None
    email = user["email"]
    if len(email) > EMAIL_MAX_LEN or not EMAIL_RE.fullmatch(email):
        yield Finding("invalid_email", uid, f"email {email!r} is not a valid address")
    level = user["permission_level"]
    if live and (user["role"] == "admin" or level in PRIVILEGED_LEVELS) and uid not in granted:
        yield Finding(
            "privileged_unaudited",
            uid,
            f"role {user['role']}, permission level {level}, and no audit event records the grant",
        )
    if live and level == "superadmin" and SUPERADMIN_ROLE not in held:
        yield Finding("superadmin_without_role", uid, f"permission level superadmin but no {SUPERADMIN_ROLE!r} role")
    if held and not (live and user["is_active"]):
        state = "soft-deleted" if not live else "deactivated"
        yield Finding("inactive_with_roles", uid, f"{state} but still holds: {', '.join(held)}")
