"""Connections to the meta database and the dialects' quirks: the SQLAlchemy engine (SQLite
with WAL and a write lock per transaction, or PostgreSQL), the directory of an SQLite file,
read and write transactions, and database errors as ``StoreError``.

The other rooms of the store are plain functions over a ``Connection`` one of these
transactions hands them; only this module knows which database is behind it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from metadir.core.errors import StoreError

# the name the store logged under before it was split into rooms; log filters use it
log = logging.getLogger("metadir.store.store")

SQLITE_BUSY_TIMEOUT_MS = 30_000
# execution option of connections that begin a writing transaction
_WRITES = "metadir_writes"


def now() -> datetime:
    return datetime.now(UTC)


def shown_url(engine: Engine) -> str:
    """The store's URL as messages name it: without its password."""
    return engine.url.render_as_string(hide_password=True)


def cause(exc: SQLAlchemyError) -> str:
    """The driver's message on one line (psycopg adds a hint on a second one)."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


@contextmanager
def errors(engine: Engine, doing: str) -> Iterator[None]:
    """Database errors inside the block as ``StoreError`` naming the store and what failed."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise StoreError(f"store {shown_url(engine)}: {doing}: {cause(exc)}") from exc


@contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write (SQLite begins it with the write lock)."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITES: True})
        with conn.begin():
            yield conn


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one consistent state of the store."""
    with errors(engine, "cannot read"), engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # every statement of the transaction then reads the same snapshot
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A writing transaction; everything in the block commits or nothing does."""
    with errors(engine, "cannot write"), begin_write(engine) as conn:
        yield conn


def insert_ignoring_conflict(conn: Connection, table: Table, values: dict[str, Any]) -> None:
    """INSERT that does nothing if a row with the same unique name exists (any process)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).values(values).on_conflict_do_nothing())


def upsert(conn: Connection, table: Table, values: dict[str, Any], changed: dict[str, Any]) -> None:
    """INSERT ``values``, or where a row with the same primary key exists, UPDATE it to
    ``changed``: one statement, so that two processes cannot both insert."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(values)
    keys = [column.name for column in table.primary_key]
    conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changed))


def create_store_engine(url: str, create: bool = True) -> Engine:
    """The engine for the store at ``url``; ``create``: make an SQLite file's directory."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"bad store URL {url!r}: {exc}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _create_sqlite_engine(parsed, create)
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise StoreError(f"store URL {url!r}: expected sqlite:///PATH or postgresql+psycopg://...")


def directory_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be created, if its nearest existing ancestor is no directory."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if existing.is_dir():
        return None
    return f"cannot create the directory {folder}: {existing} is not a directory"


def _create_directory(url: URL, folder: Path) -> None:
    """Create the directory of an SQLite store, saying so: a mistyped absolute path should
    not silently grow a tree of directories somewhere on the machine."""
    if folder.is_dir():
        return
    shown = url.render_as_string(hide_password=True)
    if problem := directory_problem(folder):
        raise StoreError(f"store {shown}: {problem}")
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise StoreError(
            f"store {shown}: cannot create the directory {folder}: {exc.strerror}"
        ) from None
    log.info("created the directory %s for the store %s", folder, shown)


def _create_sqlite_engine(url: URL, create: bool = True) -> Engine:
    if create and url.database and url.database != ":memory:":
        _create_directory(url, Path(url.database).parent)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # pysqlite would start transactions only at the first write, so that two reads
        # could see two states; metadir begins them itself (see _begin)
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()
        _use_wal(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # a writer takes the write lock up front, waiting up to the busy timeout for it: a
        # transaction that read first could not upgrade once another writer had committed
        writes = conn.get_execution_options().get(_WRITES, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def _use_wal(dbapi_conn: sqlite3.Connection) -> None:
    """Put the database into WAL mode: the LDAP server keeps reading while a sync writes.

    The mode is kept in the file. Switching to it takes an exclusive lock without waiting
    for it (no busy timeout), so processes creating a new store together retry here.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if dbapi_conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                dbapi_conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
