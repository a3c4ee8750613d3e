"""Fixtures for a real MariaDB (or MySQL): by default 127.0.0.1:3306, user root without a
password; ``METADIR_TEST_MARIADB`` names another server as a SQLAlchemy URL with a user
that may create databases and users (``mysql+pymysql://USER:PASSWORD@HOST:PORT/``).

One database ``metadir_test_<random>`` per test session, dropped at the end. Tests that
need the server are marked ``mariadb`` and skip, saying why, when no server answers.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pymysql
import pytest
from sqlalchemy.engine import URL, make_url

ADMIN_URL = os.environ.get("METADIR_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/")


def _admin_url() -> URL:
    return make_url(ADMIN_URL)


def connect(database: str | None = None) -> pymysql.connections.Connection:
    """A connection as the fixtures' user (autocommit), to ``database`` if given."""
    url = _admin_url()
    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=database,
        autocommit=True,
        connect_timeout=3,
        charset="utf8mb4",
    )


@pytest.fixture(scope="session")
def mariadb_database() -> Iterator[str]:
    """The name of this session's test database."""
    try:
        admin = connect()
    except pymysql.MySQLError as exc:
        where = _admin_url().render_as_string(hide_password=True)
        pytest.skip(f"no MariaDB server answers at {where} (METADIR_TEST_MARIADB): {exc}")
    name = f"metadir_test_{secrets.token_hex(6)}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    admin.close()
    yield name
    admin = connect()
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


@pytest.fixture
def mariadb_url(mariadb_database: str) -> str:
    """The SQLAlchemy URL (PyMySQL) of the session's database, with its password."""
    url = _admin_url().set(drivername="mysql+pymysql", database=mariadb_database)
    return url.set(query={"charset": "utf8mb4"}).render_as_string(hide_password=False)
