"""One small interface over SQLite and PostgreSQL: `?` placeholders, dict rows, explicit transactions.

SQL is written once, in the common dialect plus `FOR UPDATE` where a SELECT must lock its rows until
commit; SQLite drops that clause (its BEGIN IMMEDIATE already holds the database write lock).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from admin_task import schema
from admin_task.errors import InvalidInput, NotFound, TaskError

Row = dict[str, Any]
Params = Sequence[object]

# Writers wait this long for each other (20 concurrent seed runs must queue, not fail).
BUSY_TIMEOUT_S = 60.0
# Any constant works; it only has to be the same in every admin-task process.
SCHEMA_LOCK_KEY = 7_140_382_019


class Db(Protocol):
    """What actions need from a database connection."""

    engine: str

    def execute(self, sql: str, params: Params = ()) -> None: ...

    def one(self, sql: str, params: Params = ()) -> Row | None: ...

    def all(self, sql: str, params: Params = ()) -> list[Row]: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def lock_schema(self) -> None: ...

    def has_table(self, name: str) -> bool: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Target:
    """A parsed DATABASE_URL."""

    engine: str
    dsn: str  # the file path for SQLite, the URL for PostgreSQL

    def describe(self) -> str:
        """Where this points, without credentials."""
        if self.engine == "sqlite":
            return f"sqlite {self.dsn}"
        parts = urlsplit(self.dsn)
        return f"postgresql {parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"

    def password(self) -> str:
        """The password embedded in the URL, if any (to mask it)."""
        return "" if self.engine == "sqlite" else urlsplit(self.dsn).password or ""


def parse_url(url: str) -> Target:
    """Validate DATABASE_URL: `sqlite:///path.db` (`sqlite:////abs.db`) or `postgresql://…`."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path or path.endswith("/"):
            raise InvalidInput("DATABASE_URL: sqlite URL needs a file path, e.g. sqlite:///.opsctl/local.db")
        return Target("sqlite", path)
    if url.startswith(("postgresql://", "postgres://")):
        return Target("postgresql", url)
    raise InvalidInput(
        f"DATABASE_URL must start with sqlite:///, postgresql:// or postgres:// (got scheme {url.partition(':')[0]!r})"
    )


def connect(target: Target, *, read_only: bool = False) -> Db:
    """Open a connection in autocommit mode; actions open transactions explicitly.

    `read_only` has the database itself refuse every write, and never creates a SQLite file.
    """
    if target.engine == "sqlite":
        return SqliteDb(target.dsn, read_only=read_only)
    return PostgresDb(target.dsn, read_only=read_only)


def new_id() -> str:
    """A fresh primary key."""
    return str(uuid.uuid4())


def ensure_schema(db: Db) -> None:
    """Create the tables if absent; safe when many runs start at once."""
    if db.has_table(schema.SENTINEL_TABLE):
        return
    with db.transaction():
        db.lock_schema()
        if db.has_table(schema.SENTINEL_TABLE):
            return
        for stmt in schema.statements(db.engine):
            db.execute(stmt)


def _plain(row: Row) -> Row:
    return {k: v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


class SqliteDb:
    """SQLite with BEGIN IMMEDIATE transactions, so concurrent writers queue on the busy timeout."""

    engine = "sqlite"

    def __init__(self, path: str, *, read_only: bool = False) -> None:
        if read_only:
            if not Path(path).is_file():
                raise NotFound(f"no SQLite database at {path}; check DATABASE_URL")
            # mode=ro: SQLite refuses writes itself ("attempt to write a readonly database").
            uri = f"{Path(path).absolute().as_uri()}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.removesuffix(" FOR UPDATE")

    def execute(self, sql: str, params: Params = ()) -> None:
        """Run one statement."""
        self._conn.execute(self._sql(sql), tuple(params))

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row, or None."""
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row."""
        return [dict(r) for r in self._conn.execute(self._sql(sql), tuple(params)).fetchall()]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit on success, roll back on any exception."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            # SQLite may already have rolled back by itself (e.g. disk full); don't mask the original error.
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def lock_schema(self) -> None:
        """Nothing to do: BEGIN IMMEDIATE serialises schema creation already."""

    def has_table(self, name: str) -> bool:
        """Whether table `name` exists."""
        row = self.one("SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return row is not None

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


class PostgresDb:
    """PostgreSQL through psycopg 3 (imported only here)."""

    engine = "postgresql"

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError as e:
            raise TaskError(
                "DATABASE_URL is PostgreSQL but psycopg is not installed: pip install 'psycopg[binary]>=3.1'"
            ) from e

        self._conn: psycopg.Connection[Row] = psycopg.connect(
            url, autocommit=True, row_factory=dict_row, application_name="opsctl-admin-task"
        )
        if read_only:
            # Every statement (autocommit) and transaction from here on is READ ONLY: the server refuses writes.
            self._conn.execute("SET default_transaction_read_only = on")

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def execute(self, sql: str, params: Params = ()) -> None:
        """Run one statement."""
        self._conn.execute(self._sql(sql), tuple(params))

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row, or None."""
        row = self._conn.execute(self._sql(sql), tuple(params)).fetchone()
        return None if row is None else _plain(row)

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row."""
        return [_plain(r) for r in self._conn.execute(self._sql(sql), tuple(params)).fetchall()]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit on success, roll back on any exception."""
        with self._conn.transaction():
            yield

    def lock_schema(self) -> None:
        """Serialise schema creation: concurrent CREATE TABLE IF NOT EXISTS can collide in PostgreSQL."""
        self.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_KEY,))

    def has_table(self, name: str) -> bool:
        """Whether table `name` exists on the search path."""
        row = self.one("SELECT to_regclass(?) AS present", (name,))
        return row is not None and row["present"] is not None

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
