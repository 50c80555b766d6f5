"""The admin task's tables, written once for both SQLite and PostgreSQL."""

# Only the column types differ; everything else (partial and expression indexes, ON CONFLICT) is common SQL.
_TYPES = {
    "sqlite": {"ts": "TEXT", "bool": "INTEGER"},
    "postgresql": {"ts": "TIMESTAMPTZ", "bool": "BOOLEAN"},
}

_DDL = (
    """CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    username TEXT,
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    permission_level TEXT NOT NULL DEFAULT 'patient'
        CHECK (permission_level IN ('patient', 'staff', 'admin', 'superadmin')),
    base_profession TEXT,
    password_hash TEXT,
    is_active {bool} NOT NULL DEFAULT TRUE,
    email_verified {bool} NOT NULL DEFAULT FALSE,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    deleted_at {ts}
)""",
    # Partial: soft-deleting a user frees its email and username for a new account.
    "CREATE UNIQUE INDEX IF NOT EXISTS users_email_active_uq ON users (lower(email)) WHERE deleted_at IS NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS users_username_active_uq ON users (lower(username)) WHERE deleted_at IS NULL",
    """CREATE TABLE IF NOT EXISTS roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
)""",
    """CREATE TABLE IF NOT EXISTS user_roles (
    user_id TEXT NOT NULL REFERENCES users (id),
    role_id TEXT NOT NULL REFERENCES roles (id),
    PRIMARY KEY (user_id, role_id)
)""",
    """CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at {ts} NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS staff (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    created_at {ts} NOT NULL,
    UNIQUE (tenant_id, user_id)
)""",
    """CREATE TABLE IF NOT EXISTS audit_events (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT,
    actor TEXT NOT NULL,
    run_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    metadata TEXT NOT NULL,
    timestamp {ts} NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS audit_events_lookup_idx ON audit_events (resource_type, event_type, timestamp)",
)

# All of the DDL runs in one transaction (both engines have transactional DDL): if this table exists,
# so does the rest.
SENTINEL_TABLE = "audit_events"


def statements(engine: str) -> list[str]:
    """The DDL statements for `engine` ("sqlite" or "postgresql"), in creation order."""
    types = _TYPES[engine]
    return [stmt.format(**types) for stmt in _DDL]
