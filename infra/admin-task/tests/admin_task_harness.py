"""Helpers to run the admin task as a real subprocess and inspect the database it wrote."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

ADMIN_TASK_DIR = Path(__file__).resolve().parents[1]
# The tests import EMAIL_RE and verify_password from the package under test, which is not installed.
sys.path.insert(0, str(ADMIN_TASK_DIR))

PG_SERVER_URLS = ("postgresql://postgres@127.0.0.1:5432/postgres", "postgresql://root@127.0.0.1:5432/postgres")
TABLES = ("audit_events", "staff", "tenants", "user_roles", "roles", "users")
TASK_TIMEOUT_S = 60


@dataclass(frozen=True)
class TaskRun:
    """One finished run of `python -m admin_task`."""

    code: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        """The single JSON result line, checked against the output contract."""
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"expected exactly one stdout line, got {lines!r}\nstderr:\n{self.stderr}"
        payload: dict[str, Any] = json.loads(lines[0])
        assert payload["ok"] is (self.code == 0), payload
        return payload


@dataclass(frozen=True)
class Backend:
    """A database the task runs against, plus direct access for the assertions."""

    engine: str
    url: str
    dsn: str

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, Any]]:
        """Rows of a `?`-placeholder query, read outside the task."""
        if self.engine == "sqlite":
            conn = sqlite3.connect(self.dsn)
            conn.row_factory = sqlite3.Row
            try:
                with conn:
                    return [dict(r) for r in conn.execute(sql, params).fetchall()]
            finally:
                conn.close()
        with psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row) as pg:
            cur = pg.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> None:
        """Run one statement outside the task."""
        self.query(sql, params)

    def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement per row of parameters, in one transaction outside the task."""
        if self.engine == "sqlite":
            conn = sqlite3.connect(self.dsn)
            try:
                with conn:
                    conn.executemany(sql, rows)
            finally:
                conn.close()
            return
        with psycopg.connect(self.dsn) as pg, pg.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)

    def count(self, table: str, where: str = "1 = 1", params: tuple[object, ...] = ()) -> int:
        """Rows in `table` matching `where`."""
        return int(self.query(f"SELECT count(*) AS n FROM {table} WHERE {where}", params)[0]["n"])  # noqa: S608

    def audit(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Audit rows (optionally of one type) in write order, metadata decoded."""
        rows = self.query("SELECT * FROM audit_events ORDER BY timestamp")
        for row in rows:
            row["metadata"] = json.loads(row["metadata"])
        return [r for r in rows if event_type is None or r["event_type"] == event_type]

    def insert_user(self, email: str, role: str = "user", username: str | None = None) -> str:
        """Create a user directly, as the application would."""
        user_id = str(uuid.uuid4())
        self.execute(
            "INSERT INTO users (id, email, username, role, permission_level, is_active, email_verified,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, 'staff', ?, ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            (user_id, email, username, role, True, True),
        )
        return user_id

    def drop_tables(self) -> None:
        """Remove every table, so the next run starts from nothing."""
        for table in TABLES:
            self.execute(f"DROP TABLE IF EXISTS {table}")

    def create_schema(self) -> None:
        """Create the task's tables, with the task's own code."""
        from admin_task import db

        conn = db.connect(db.parse_url(self.url))
        try:
            db.ensure_schema(conn)
        finally:
            conn.close()


def task_env(backend: Backend, action: str | None, **env: str) -> dict[str, str]:
    """The subprocess environment: ours minus any admin-task variables, plus the given ones."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ADMIN_", "AUDIT_", "CLOUD_RUN_", "OPSCTL_", "TENANT_")) and k != "DATABASE_URL"
    }
    audit = {
        "OPSCTL_ACTOR": "tester@example.com",
        "OPSCTL_RUN_ID": f"run-{secrets.token_hex(6)}",
        "OPSCTL_ORIGIN": "host:pytest",
        "OPSCTL_ENV": "test",
        "OPSCTL_TASK": action or "none",
    }
    extra = {"ADMIN_ACTION": action} if action is not None else {}
    return base | audit | {"DATABASE_URL": backend.url} | extra | env


def start_task(backend: Backend, action: str | None, **env: str) -> subprocess.Popen[str]:
    """Start `python -m admin_task` without waiting for it."""
    return subprocess.Popen(
        [sys.executable, "-m", "admin_task"],
        cwd=ADMIN_TASK_DIR,
        env=task_env(backend, action, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> TaskRun:
    """Wait for a started task."""
    stdout, stderr = proc.communicate(timeout=TASK_TIMEOUT_S)
    return TaskRun(proc.returncode, stdout, stderr)


def run_task(backend: Backend, action: str | None, **env: str) -> TaskRun:
    """Run `python -m admin_task` to completion."""
    return finish(start_task(backend, action, **env))


def pg_server() -> str | None:
    """The first PostgreSQL admin URL that accepts a connection, if any."""
    for url in PG_SERVER_URLS:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=3):
                return url
        except psycopg.OperationalError:
            continue
    return None
