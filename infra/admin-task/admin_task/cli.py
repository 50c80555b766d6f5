"""Read the environment, run one action, print one result line, exit with its code."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Mapping

from admin_task import actions, audit, db, inputs, tenants
from admin_task.context import Context, Output
from admin_task.errors import InvalidInput, TaskError

ACTIONS: dict[str, Callable[[Mapping[str, str]], actions.Action]] = {
    "seed-admin": actions.SeedAdmin.from_env,
    "create-superadmin": actions.CreateSuperadmin.from_env,
    "update-permissions": actions.UpdatePermissions.from_env,
    "add-role": actions.AddRole.from_env,
    "seed-roles": actions.SeedRoles.from_env,
    "bootstrap-tenant": tenants.BootstrapTenant.from_env,
    "audit-users": audit.AuditUsers.from_env,
}
# Actions that only read: the connection refuses writes, and the schema is never created for them.
READ_ONLY = frozenset({"audit-users"})


def run(env: Mapping[str, str], out: Output) -> actions.Result:
    """Validate every input, then connect, create the schema if needed and run the action."""
    out.hide(env.get("ADMIN_PASSWORD", ""))
    name = inputs.required(env, "ADMIN_ACTION")
    if name not in ACTIONS:
        raise InvalidInput(f"unknown ADMIN_ACTION {name!r}; expected one of: {', '.join(ACTIONS)}")
    action = ACTIONS[name](env)
    target = db.parse_url(inputs.required(env, "DATABASE_URL"))
    out.hide(target.password())
    ctx = Context.from_env(env, name, out)
    out.say(
        f"admin-task {name} on {target.describe()} (env={ctx.env} task={ctx.task} actor={ctx.actor} run={ctx.run_id})"
    )
    read_only = name in READ_ONLY
    conn = db.connect(target, read_only=read_only)
    try:
        if not read_only:
            db.ensure_schema(conn)
        return action.run(conn, ctx)
    finally:
        conn.close()


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the action named by ADMIN_ACTION; the only place errors become exit codes."""
    env = os.environ if env is None else env
    out = Output()
    try:
        result = run(env, out)
    except TaskError as e:
        out.say(f"ERROR: {e}")
        out.result({"ok": False, "error": str(e), **e.fields})
        return e.exit_code
    except Exception as e:
        if env.get("ADMIN_DEBUG") == "1":
            out.say(traceback.format_exc())
        summary = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else 'no details'}"
        out.say(f"ERROR: {summary} (nothing was committed; set ADMIN_DEBUG=1 for the traceback)")
        out.result({"ok": False, "error": summary})
        return 1
    out.result(result)
    return 0
