"""The account actions: seed-admin, create-superadmin, update-permissions, add-role, seed-roles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from admin_task import inputs
from admin_task.context import Context
from admin_task.db import Db, Row, new_id
from admin_task.errors import NotFound, Refused
from admin_task.passwords import hash_password

Result = dict[str, object]

SUPERADMIN_ROLE = "System Administrator"


class Action(Protocol):
    """A validated request; `run` performs it and returns the result line."""

    def run(self, db: Db, ctx: Context) -> Result: ...


def public_user(user: Row, *, detailed: bool = False) -> Result:
    """The user fields that go in a result line (never the password hash)."""
    summary: Result = {"id": user["id"], "email": user["email"], "role": user["role"]}
    if detailed:
        summary |= {"username": user["username"], "permissionLevel": user["permission_level"]}
    return summary | {"createdAt": user["created_at"]}


def insert_user(
    db: Db,
    ctx: Context,
    *,
    email: str,
    role: str,
    level: str,
    username: str | None = None,
    password_hash: str | None = None,
    base_profession: str | None = None,
) -> Row | None:
    """Insert an active, verified user; None if an active user already holds the email or username."""
    now = ctx.now()
    # ON CONFLICT against the partial unique indexes is what makes concurrent runs create one row, not two.
    return db.one(
        "INSERT INTO users (id, email, username, role, permission_level, base_profession, password_hash,"
        " is_active, email_verified, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING"
        " RETURNING id, email, username, role, permission_level, is_active, created_at",
        (new_id(), email, username, role, level, base_profession, password_hash, True, True, now, now),
    )


def active_user_by_email(db: Db, email: str) -> Row | None:
    """The active (not soft-deleted) user with this email, case-insensitively."""
    return db.one(
        "SELECT id, email, username, role, permission_level, is_active, created_at FROM users"
        " WHERE lower(email) = lower(?) AND deleted_at IS NULL FOR UPDATE",
        (email,),
    )


def active_user_by_username(db: Db, username: str) -> Row:
    """The active user with this username, case-insensitively; NotFound otherwise."""
    user = db.one(
        "SELECT id, email, username, role, permission_level, is_active, created_at FROM users"
        " WHERE lower(username) = lower(?) AND deleted_at IS NULL FOR UPDATE",
        (username,),
    )
    if user is None:
        raise NotFound(f"no active user with username {username!r}")
    return user


def ensure_user(db: Db, ctx: Context, email: str, role: str, level: str) -> tuple[Row, bool]:
    """The active user with this email, created if absent; and whether it was created."""
    created = insert_user(db, ctx, email=email, role=role, level=level)
    if created is not None:
        return created, True
    existing = active_user_by_email(db, email)
    if existing is None:
        raise RuntimeError(f"user insert for {email} conflicted but no active user holds that email")
    return existing, False


@dataclass(frozen=True)
class SeedAdmin:
    """Create an admin for ADMIN_EMAIL unless one exists; never elevate another role."""

    email: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SeedAdmin:
        """Validate ADMIN_EMAIL."""
        return cls(inputs.email(env))

    def run(self, db: Db, ctx: Context) -> Result:
        """Seed the admin in one transaction."""
        with db.transaction():
            user, was_new = ensure_user(db, ctx, self.email, role="admin", level="admin")
            if not was_new and user["role"] != "admin":
                raise Refused(
                    f"refusing to elevate existing non-admin user {user['email']} (role {user['role']!r}); "
                    "seed-admin only creates new admins — change an existing account's role deliberately"
                )
            if was_new:
                ctx.audit(db, "admin_account_seeded", "users", user["id"], email=user["email"], role="admin")
        result: Result = {"ok": True, "wasNew": was_new, "user": public_user(user)}
        if was_new:
            ctx.say(f"created admin {user['email']} (id {user['id']})")
        else:
            ctx.say(f"admin {user['email']} already exists (id {user['id']}); nothing to do")
            if not user["is_active"]:
                result["warnings"] = [
                    "the existing admin is deactivated (is_active = false); seed-admin does not reactivate it"
                ]
        return result


@dataclass(frozen=True)
class CreateSuperadmin:
    """Create or update a superadmin (consultant, System Administrator role) with a password."""

    username: str
    email: str
    password: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CreateSuperadmin:
        """Validate ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD."""
        return cls(inputs.username(env), inputs.email(env), inputs.password(env))

    def _matches(self, db: Db) -> list[Row]:
        users = db.all(
            "SELECT id, email, username, role, permission_level, is_active, created_at FROM users"
            " WHERE deleted_at IS NULL AND (lower(username) = lower(?) OR lower(email) = lower(?))"
            " FOR UPDATE",
            (self.username, self.email),
        )
        if len(users) > 1:
            raise Refused(
                f"username {self.username!r} and email {self.email} belong to two different users "
                f"({', '.join(u['id'] for u in users)}); pass the username and email of one account"
            )
        return users

    def run(self, db: Db, ctx: Context) -> Result:
        """Upsert the user and assign the role in one transaction."""
        # Hash before the transaction: scrypt takes a while and must not hold locks.
        password_hash = hash_password(self.password)
        ctx.out.hide(password_hash)
        warnings: list[str] = []
        with db.transaction():
            matches = self._matches(db)
            user = None
            if not matches:
                user = insert_user(
                    db,
                    ctx,
                    email=self.email,
                    username=self.username,
                    role="admin",
                    level="superadmin",
                    password_hash=password_hash,
                    base_profession="consultant",
                )
            was_new = user is not None
            if user is None:
                # Either it existed, or a concurrent run created it between our SELECT and INSERT.
                existing = matches[0] if matches else self._matches(db)[0]
                user = db.one(
                    "UPDATE users SET username = ?, email = ?, role = 'admin',"
                    " permission_level = 'superadmin', base_profession = 'consultant', password_hash = ?,"
                    " is_active = ?, updated_at = ? WHERE id = ?"
                    " RETURNING id, email, username, role, permission_level, is_active, created_at",
                    (self.username, self.email, password_hash, True, ctx.now(), existing["id"]),
                )
                assert user is not None
            role = db.one("SELECT id FROM roles WHERE name = ?", (SUPERADMIN_ROLE,))
            if role is None:
                warnings.append(
                    f"role '{SUPERADMIN_ROLE}' not found — run seed-roles (or deploy the app) and then add-role"
                )
            else:
                db.execute(
                    "INSERT INTO user_roles (user_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (user["id"], role["id"]),
                )
            ctx.audit(
                db,
                "superadmin_created" if was_new else "superadmin_updated",
                "users",
                user["id"],
                username=self.username,
                email=self.email,
                role_assigned=role is not None,
            )
        verb = "created" if was_new else "updated"
        ctx.say(f"{verb} superadmin {self.username} <{self.email}> (id {user['id']})")
        for warning in warnings:
            ctx.say(f"WARNING: {warning}")
        result: Result = {"ok": True, "wasNew": was_new, "user": public_user(user, detailed=True)}
        if warnings:
            result["warnings"] = warnings
        return result


@dataclass(frozen=True)
class UpdatePermissions:
    """Set an existing user's permission level."""

    username: str
    level: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> UpdatePermissions:
        """Validate ADMIN_USERNAME and ADMIN_PERMISSION_LEVEL."""
        return cls(inputs.username(env), inputs.level(env))

    def run(self, db: Db, ctx: Context) -> Result:
        """Update the level (a no-op when unchanged) in one transaction."""
        with db.transaction():
            user = active_user_by_username(db, self.username)
            old = user["permission_level"]
            if old != self.level:
                updated = db.one(
                    "UPDATE users SET permission_level = ?, updated_at = ? WHERE id = ?"
                    " RETURNING id, email, username, role, permission_level, is_active, created_at",
                    (self.level, ctx.now(), user["id"]),
                )
                assert updated is not None
                user = updated
                ctx.audit(
                    db,
                    "permission_level_updated",
                    "users",
                    user["id"],
                    username=user["username"],
                    old_level=old,
                    new_level=self.level,
                )
        if old == self.level:
            ctx.say(f"{self.username} already has permission level {old}; nothing to do")
        else:
            ctx.say(f"{self.username}: permission level {old} -> {self.level}")
        return {
            "ok": True,
            "changed": old != self.level,
            "user": public_user(user, detailed=True),
            "permissionLevel": {"old": old, "new": self.level},
        }


@dataclass(frozen=True)
class AddRole:
    """Assign one of the six roles to an existing user."""

    username: str
    role: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AddRole:
        """Validate ADMIN_USERNAME and ADMIN_ROLE."""
        return cls(inputs.username(env), inputs.role(env))

    def run(self, db: Db, ctx: Context) -> Result:
        """Assign the role (a no-op when already assigned) in one transaction."""
        with db.transaction():
            user = active_user_by_username(db, self.username)
            role = db.one("SELECT id FROM roles WHERE name = ?", (self.role,))
            if role is None:
                warning = f"role {self.role!r} not found — run seed-roles (or deploy the app) and then add-role again"
                ctx.say(f"WARNING: {warning}")
                return {
                    "ok": True,
                    "changed": False,
                    "user": public_user(user, detailed=True),
                    "role": self.role,
                    "warnings": [warning],
                }
            added = db.one(
                "INSERT INTO user_roles (user_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING user_id",
                (user["id"], role["id"]),
            )
            if added is not None:
                ctx.audit(db, "role_assigned", "users", user["id"], username=user["username"], role=self.role)
        ctx.say(f"{self.username}: {'assigned' if added else 'already has'} role {self.role!r}")
        return {
            "ok": True,
            "changed": added is not None,
            "user": public_user(user, detailed=True),
            "role": self.role,
        }


@dataclass(frozen=True)
class SeedRoles:
    """Insert the six roles that are missing."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SeedRoles:
        """Nothing to validate."""
        return cls()

    def run(self, db: Db, ctx: Context) -> Result:
        """Insert missing roles in one transaction."""
        created: list[str] = []
        with db.transaction():
            for name in inputs.ROLES:
                inserted = db.one(
                    "INSERT INTO roles (id, name) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING id",
                    (new_id(), name),
                )
                if inserted is not None:
                    created.append(name)
            if created:
                ctx.audit(db, "roles_seeded", "roles", None, created=created)
        existing = [name for name in inputs.ROLES if name not in created]
        ctx.say(f"roles created: {', '.join(created) or 'none'}; present: {', '.join(existing) or 'none'}")
        return {"ok": True, "created": created, "existing": existing}
