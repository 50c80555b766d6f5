"""Fixtures: a clean SQLite file or a clean session-wide PostgreSQL database per test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from admin_task_harness import PG_SERVER_URLS, TABLES, Backend, pg_server


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session, dropped at the end."""
    server = pg_server()
    if server is None:
        pytest.skip(f"no PostgreSQL reachable at {' or '.join(PG_SERVER_URLS)}")
    name = f"admin_task_test_{secrets.token_hex(6)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A clean database: a new SQLite file, or the session's PostgreSQL database with emptied tables."""
    if request.param == "sqlite":
        path = tmp_path / "db" / "admin.db"  # the task must create the parent directory
        return Backend("sqlite", f"sqlite:///{path}", str(path))
    url: str = request.getfixturevalue("pg_database")
    backend = Backend("postgresql", url, url)
    if backend.query("SELECT to_regclass('audit_events') AS t")[0]["t"] is not None:
        backend.execute(f"TRUNCATE {', '.join(TABLES)}")
    return backend


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Backend:
    """A new SQLite file, for checks that do not depend on the engine."""
    path = tmp_path / "admin.db"
    return Backend("sqlite", f"sqlite:///{path}", str(path))
