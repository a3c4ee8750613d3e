"""Opening a store: the SQLAlchemy engine (SQLite with WAL and a write lock per
transaction, or PostgreSQL), the directory of an SQLite file, the schema migrations, and a
look at a store that changes nothing (for ``metadir check``)."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from metadir.core.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger("metadir.store.store")

MIGRATIONS = Path(__file__).parent / "migrations"
# any fixed number: the PostgreSQL advisory lock that lets one process migrate at a time
MIGRATION_LOCK = 0x6D657461646972
SQLITE_BUSY_TIMEOUT_MS = 30_000
# execution option of connections that begin a writing transaction
_WRITES = "metadir_writes"


def cause(exc: SQLAlchemyError) -> str:
    """The driver's message on one line (psycopg adds a hint on a second one)."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


@contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write (SQLite begins it with the write lock)."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITES: True})
        with conn.begin():
            yield conn


def _create_directory(url: URL, folder: Path) -> None:
    """Create the directory of an SQLite store, saying so: a mistyped absolute path should
    not silently grow a tree of directories somewhere on the machine."""
    if folder.is_dir():
        return
    shown = url.render_as_string(hide_password=True)
    if problem := _directory_problem(folder):
        raise StoreError(f"store {shown}: {problem}")
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise StoreError(
            f"store {shown}: cannot create the directory {folder}: {exc.strerror}"
        ) from None
    log.info("created the directory %s for the store %s", folder, shown)


def _directory_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be created, if its nearest existing ancestor is no directory."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if existing.is_dir():
        return None
    return f"cannot create the directory {folder}: {existing} is not a directory"


def create_store_engine(url: str, create: bool = True) -> Engine:
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


def inspect(url: str) -> str:
    """What ``metadir check`` tells of the store at ``url``: whether it opens and its
    schema is one this metadir can use. Creates and changes nothing. Raises ``StoreError``
    naming the URL without its password."""
    engine = create_store_engine(url, create=False)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        database = engine.url.database
        if engine.url.get_backend_name() == "sqlite" and database and database != ":memory:":
            path = Path(database)
            if not path.exists():
                if problem := _directory_problem(path.parent):
                    raise StoreError(f"store {shown}: {problem}")
                return f"store {shown}: not created yet; the first sync or serve creates it"
            # read-only, so that checking neither creates the file nor switches it to WAL
            engine.dispose()
            engine = create_engine(
                "sqlite://",
                creator=lambda: sqlite3.connect(f"file:{database}?mode=ro", uri=True),
            )
        try:
            with engine.connect() as conn:
                current, head = _schema_revisions(conn, shown)
        except SQLAlchemyError as exc:
            raise StoreError(f"store {shown}: cannot open: {cause(exc)}") from None
    finally:
        engine.dispose()
    if current == (head,):
        return f"store {shown}: ok"
    if not current:
        return f"store {shown}: empty; the first sync or serve creates its tables"
    return f"store {shown}: schema {current[0]}; the next sync or serve upgrades it to {head}"


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


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision, in one transaction."""
    config = migration_config()
    from alembic import command

    with begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            # two processes starting at once: the second waits, then finds nothing to do
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        current, head = _schema_revisions(conn, engine.url.render_as_string(hide_password=True))
        if current != (head,):
            log.info("migrating the store from %s to %s", current[0] if current else "empty", head)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


def _schema_revisions(conn: Connection, shown_url: str) -> tuple[tuple[str, ...], str]:
    """The store's schema revisions (none when empty) and the newest this metadir knows.
    Raises ``StoreError`` for a store written by a newer metadir."""
    config = migration_config()  # before alembic is imported: it quiets alembic's logger
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config)
    known = {rev.revision for rev in script.walk_revisions()}
    head = script.get_current_head()
    current = MigrationContext.configure(conn).get_current_heads()
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        raise StoreError(
            f"store {shown_url} has schema revision {', '.join(unknown)}, which this metadir "
            f"does not know (newest known: {head}); it was written by a newer metadir: "
            "upgrade metadir"
        )
    return current, head


def migration_config() -> AlembicConfig:
    """Alembic's settings for the store's migrations; put the connection to migrate into
    ``.attributes["connection"]``."""
    alembic_log = logging.getLogger("alembic")
    if alembic_log.level == logging.NOTSET:
        # alembic tells at INFO what it loads and which database it sees, on every start;
        # set before alembic is imported, as it logs while importing
        alembic_log.setLevel(logging.WARNING)
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
