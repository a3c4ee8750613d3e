"""Fixtures for a real PostgreSQL: by default 127.0.0.1:5432, user postgres, trust auth;
``METADIR_TEST_POSTGRES`` names another server as a libpq URL with a role that may create
databases (``postgresql://USER:PASSWORD@HOST:PORT/postgres``).

One database ``metadir_test_<random>`` per test session, dropped at the end; every test
that uses it starts from an empty schema. Tests that need the server are marked
``postgres`` and skip, saying why, when no server answers.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("METADIR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _connect(dbname: str) -> psycopg.Connection:
    return psycopg.connect(ADMIN_URL, dbname=dbname, autocommit=True, connect_timeout=3)


def _admin() -> psycopg.Connection:
    return _connect("postgres")


def _store_url(dbname: str) -> str:
    """The SQLAlchemy URL of database ``dbname`` on the test server."""
    url = make_url(ADMIN_URL).set(drivername="postgresql+psycopg", database=dbname)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The name of this session's test database."""
    try:
        admin = _admin()
    except psycopg.OperationalError as exc:
        where = make_url(ADMIN_URL).render_as_string(hide_password=True)
        pytest.skip(f"no PostgreSQL server answers at {where} (METADIR_TEST_POSTGRES): {exc}")
    name = f"metadir_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    """A store URL for an empty database (the session's, its schema wiped after the test)."""
    yield _store_url(postgres_database)
    with _connect(postgres_database) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store on SQLite (a file in a temp dir) and, as a second case, on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/metadir.db"
    return request.getfixturevalue("postgres_url")
