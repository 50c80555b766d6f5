"""bootstrap-tenant: make the first user of an empty tenant its admin, exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from admin_task import inputs
from admin_task.actions import Result, ensure_user, public_user
from admin_task.context import Context
from admin_task.db import Db, Row, new_id
from admin_task.errors import Refused


@dataclass(frozen=True)
class BootstrapTenant:
    """Create user, tenant and admin staff while the tenant has no staff; refuse afterwards."""

    slug: str
    name: str
    email: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BootstrapTenant:
        """Validate TENANT_SLUG, TENANT_NAME (default: the slug) and ADMIN_EMAIL."""
        slug = inputs.slug(env)
        return cls(slug, env.get("TENANT_NAME") or slug, inputs.email(env))

    def _tenant(self, db: Db, ctx: Context) -> tuple[Row, bool]:
        created = db.one(
            "INSERT INTO tenants (id, slug, name, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING id, slug, name, created_at",
            (new_id(), self.slug, self.name, ctx.now()),
        )
        if created is not None:
            return created, True
        # Locking the tenant row serialises concurrent bootstraps of one tenant, so only one sees it empty.
        existing = db.one("SELECT id, slug, name, created_at FROM tenants WHERE slug = ? FOR UPDATE", (self.slug,))
        if existing is None:
            raise RuntimeError(f"tenant insert for {self.slug!r} conflicted but no such tenant exists")
        return existing, False

    def run(self, db: Db, ctx: Context) -> Result:
        """Bootstrap in one transaction; a refusal rolls back the user it may have created."""
        with db.transaction():
            # The tenant-scoped admin lives in staff.role; the account itself stays an ordinary user.
            user, user_new = ensure_user(db, ctx, self.email, role="user", level="staff")
            tenant, tenant_new = self._tenant(db, ctx)
            staff = db.all("SELECT id, user_id, role FROM staff WHERE tenant_id = ?", (tenant["id"],))
            if staff:
                mine = next((s for s in staff if s["user_id"] == user["id"] and s["role"] == "admin"), None)
                if mine is None:
                    raise Refused(
                        f"tenant {self.slug!r} already has staff; bootstrap admin is a one-time privilege — "
                        f"add {self.email} with an invitation or an admin-created account"
                    )
                ctx.say(f"{self.email} is already the admin of tenant {self.slug!r}; nothing to do")
                return self._result(user, tenant, mine, was_new=False, tenant_new=False)
            member = {"id": new_id(), "user_id": user["id"], "role": "admin"}
            db.execute(
                "INSERT INTO staff (id, tenant_id, user_id, role, created_at) VALUES (?, ?, ?, ?, ?)",
                (member["id"], tenant["id"], user["id"], "admin", ctx.now()),
            )
            # One chain id ties the three rows together; they are written in the documented order.
            chain = new_id()
            ctx.audit(
                db,
                "bootstrap_user",
                "users",
                user["id"],
                chain=chain,
                step=1,
                email=user["email"],
                was_new=user_new,
            )
            ctx.audit(
                db,
                "bootstrap_staff_admin",
                "staff",
                member["id"],
                chain=chain,
                step=2,
                tenant_id=tenant["id"],
                user_id=user["id"],
                role="admin",
            )
            ctx.audit(
                db,
                "bootstrap_tenant",
                "tenants",
                tenant["id"],
                chain=chain,
                step=3,
                slug=self.slug,
                was_new=tenant_new,
            )
        ctx.say(
            f"bootstrapped tenant {self.slug!r} ({'created' if tenant_new else 'existing, empty'}): "
            f"{self.email} ({'new' if user_new else 'existing'} user) is its admin"
        )
        return self._result(user, tenant, member, was_new=True, tenant_new=tenant_new)

    @staticmethod
    def _result(user: Row, tenant: Row, member: Row, *, was_new: bool, tenant_new: bool) -> Result:
        return {
            "ok": True,
            "wasNew": was_new,
            "user": public_user(user),
            "tenant": {
                "id": tenant["id"],
                "slug": tenant["slug"],
                "name": tenant["name"],
                "wasNew": tenant_new,
            },
            "staff": {"id": member["id"], "role": member["role"]},
        }
