"""Opening a store: an engine on a store migrated to the current schema (``Store.open``), and
a look at a store that changes nothing (``metadir check``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError

from metadir.core.errors import StoreError
from metadir.store.connection import (
    cause,
    create_store_engine,
    directory_problem,
    errors,
    shown_url,
)
from metadir.store.migrate import migrate, schema_revisions


def open_engine(url: str) -> Engine:
    """The engine of the store at ``url``, created and migrated to the current schema."""
    engine = create_store_engine(url)
    try:
        with errors(engine, "cannot open"):
            migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def inspect(url: str) -> str:
    """What ``metadir check`` tells of the store at ``url``: whether it opens and its
    schema is one this metadir can use. Creates and changes nothing. Raises ``StoreError``
    naming the URL without its password."""
    engine = create_store_engine(url, create=False)
    shown = shown_url(engine)
    try:
        database = engine.url.database
        if engine.url.get_backend_name() == "sqlite" and database and database != ":memory:":
            path = Path(database)
            if not path.exists():
                if problem := directory_problem(path.parent):
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
                current, head = schema_revisions(conn, shown)
        except SQLAlchemyError as exc:
            raise StoreError(f"store {shown}: cannot open: {cause(exc)}") from None
    finally:
        engine.dispose()
    if current == (head,):
        return f"store {shown}: ok"
    if not current:
        return f"store {shown}: empty; the first sync or serve creates its tables"
    return f"store {shown}: schema {current[0]}; the next sync or serve upgrades it to {head}"
