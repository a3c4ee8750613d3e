"""The store's schema revisions: upgrading a store to the newest one with the alembic
migrations in ``migrations/versions``, and telling which revision a store has.

A new table (a lease, say) is one more revision there and its ``Table`` in ``models.py``;
nothing here changes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text

from metadir.core.errors import StoreError
from metadir.store.connection import begin_write, log, shown_url

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
# any fixed number: the PostgreSQL advisory lock that lets one process migrate at a time
MIGRATION_LOCK = 0x6D657461646972


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision, in one transaction."""
    config = migration_config()
    from alembic import command

    with begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            # two processes starting at once: the second waits, then finds nothing to do
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        current, head = schema_revisions(conn, shown_url(engine))
        if current != (head,):
            log.info("migrating the store from %s to %s", current[0] if current else "empty", head)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


def schema_revisions(conn: Connection, shown: str) -> tuple[tuple[str, ...], str]:
    """The store's schema revisions (none when empty) and the newest this metadir knows.
    Raises ``StoreError`` for a store written by a newer metadir."""
    config = migration_config()  # before alembic is imported: it quiets alembic's logger
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config)
    known = {rev.revision for rev in script.walk_revisions()}
    head = script.get_current_head()
    if head is None:
        # only a broken installation lacks the revisions shipped with the package
        raise StoreError(f"store {shown}: no schema revisions found in {MIGRATIONS}")
    current = MigrationContext.configure(conn).get_current_heads()
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        raise StoreError(
            f"store {shown} has schema revision {', '.join(unknown)}, which this metadir "
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
