"""The meta database's tables (SQLAlchemy Core).

The migrations in ``migrations/versions`` create exactly these tables; a test compares the
two. Timestamps are stored in UTC and always come back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# constraint names spelled out so that migrations can refer to them on every database
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime, also on SQLite (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; the store keeps UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


directories = Table(
    "directories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("base_dn", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

replicators = Table(
    "replicators",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("type", String(50), nullable=False),
    Column("directory_id", Integer, ForeignKey("directories.id"), nullable=False),
    # the replicator's saved incremental state (cursor, delta token), if it has one
    Column("state", JSON, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("replicator_id", Integer, ForeignKey("replicators.id"), nullable=False),
    # the source key tuple as a JSON list, so ("a,b",) and ("a", "b") stay apart
    Column("source_key", Text, nullable=False),
    # the entryUUID and RDN; given once and kept for good, also through a delete and re-add
    Column("uuid", String(36), nullable=False, unique=True),
    # canonical attribute name -> values, as served
    Column("attributes", JSON, nullable=False),
    # phone attribute -> the source's values as read, before any normalisation
    Column("raw_numbers", JSON, nullable=False),
    # phone attribute -> canonical values (E.164, extension digits, or text as written):
    # what searches match, whatever format the values are served in
    Column("numbers", JSON, nullable=False, server_default=text("'{}'")),
    # how many phone values are kept as written because they are no number
    Column("numbers_kept", Integer, nullable=False, server_default="0"),
    Column("digest", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
    # the change sequence number of the run that last wrote the row
    Column("change_seq", BigInteger, nullable=False, index=True),
    # set on a tombstone: the row stays so that readers of the change sequence see the delete
    Column("deleted_at", UtcDateTime, nullable=True),
    UniqueConstraint("replicator_id", "source_key"),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("replicator_id", Integer, ForeignKey("replicators.id"), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    # ok | failed | stopped (a guard refused the run)
    Column("outcome", String(16), nullable=False),
    Column("added", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("deleted", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Column("forced", Boolean, nullable=False),
    # phone values that could not be read as numbers, kept as written
    Column("numbers_kept", Integer, nullable=False, server_default="0"),
    # the sequence number the run committed its changes under; none if it changed nothing
    Column("change_seq", BigInteger, nullable=True),
    # full | incremental: whether the source was read whole or only what changed
    Column("mode", String(16), nullable=False, server_default="full"),
    # the replicator's word on its checkpoint, e.g. why it read in full
    Column("note", Text, nullable=False, server_default=""),
    # the node (`metadir serve` or a manual sync) that ran it; "" before revision 0004
    Column("node", String(200), nullable=False, server_default=""),
    # schedule | start | manual: what started it
    Column("trigger", String(16), nullable=False, server_default="manual"),
    # the schedule slot a scheduled run stands for
    Column("slot", UtcDateTime, nullable=True),
    Index(None, "replicator_id", "id"),
)

sync_problems = Table(
    "sync_problems",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "run_id",
        Integer,
        ForeignKey("sync_runs.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("line", Integer, nullable=True),
    Column("message", Text, nullable=False),
)

# one row per replicator ever leased: which node runs it now (holder NULL: none), decided by
# the database's clock so that nodes with skewed clocks agree
leases = Table(
    "leases",
    metadata,
    Column(
        "replicator_id",
        Integer,
        ForeignKey("replicators.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("holder", String(200), nullable=True),
    # the fencing token: one more with every grant and never reused, so a holder that was
    # paused past its expiry cannot write after another node took over
    Column("token", BigInteger, nullable=False, server_default="0"),
    Column("acquired_at", UtcDateTime, nullable=True),
    Column("expires_at", UtcDateTime, nullable=True),
    # schedule | start | manual: why the holder runs it
    Column("trigger", String(16), nullable=True),
    # the schedule slot the holder runs (or the last one run), and whether it was run
    Column("slot", UtcDateTime, nullable=True),
    Column("slot_done", Boolean, nullable=False, server_default=false()),
    # the running run's progress, for `metadir status` on any node
    Column("phase", String(16), nullable=True),
    Column("rows", BigInteger, nullable=True),
    Column("total", BigInteger, nullable=True),
    Column("progress_at", UtcDateTime, nullable=True),
)

# the nodes running `metadir serve`, each seen last at `last_seen` (the database's clock)
nodes = Table(
    "nodes",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", String(50), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    # whether it runs schedules (else it only serves)
    Column("schedules", Boolean, nullable=False),
)

# one row: the store-wide change sequence; updating it is what serialises writers
change_counter = Table(
    "change_counter",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False),
)
