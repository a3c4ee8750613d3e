"""Fixtures for the real PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth).

One database ``metadir_test_<random>`` per test session, dropped at the end; every test
that uses it starts from an empty schema. Tests that need the server are marked
``postgres`` and skip, saying why, when no server answers.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PG_HOST = "127.0.0.1"
PG_PORT = 5432


def _admin() -> psycopg.Connection:
    return psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user="postgres",
        dbname="postgres",
        autocommit=True,
        connect_timeout=3,
    )


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The name of this session's test database."""
    try:
        admin = _admin()
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server answers on {PG_HOST}:{PG_PORT} as user postgres: {exc}")
    name = f"metadir_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    """A store URL for an empty database (the session's, its schema wiped after the test)."""
    yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{postgres_database}"
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname=postgres_database, autocommit=True
    ) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store on SQLite (a file in a temp dir) and, as a second case, on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/metadir.db"
    return request.getfixturevalue("postgres_url")
