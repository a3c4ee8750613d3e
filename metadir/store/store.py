"""The meta database as readers and the sync engine use it: ``Store``, one transaction per
call over the rooms that do the work (``layout``, ``entries``, ``runs``).

A new room (a lease for running on PostgreSQL with a standby, say) is one more module of
functions over a ``Connection`` and a migration; ``Store`` then hands it a transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from metadir.core.records import StoredEntry
from metadir.store import entries, layout, runs
from metadir.store.connection import now, reading, writing
from metadir.store.engine import open_engine
from metadir.store.entries import EntryData, StoredDigest
from metadir.store.runs import RunRecord


class Store:
    """The meta database behind one SQLAlchemy engine; safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to the store at ``url`` and migrate it to the current schema."""
        return cls(open_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- layout: directories and replicators ---------------------------------------------

    def ensure_directory(self, name: str, base_dn: str) -> None:
        """Create the directory ``name``, or give it ``base_dn`` if that changed."""
        with writing(self.engine) as conn:
            layout.ensure_directory(conn, name, base_dn)

    def ensure_replicator(self, name: str, type: str, directory: str) -> None:
        """Create the replicator ``name``, or update its type (dropping its saved state)
        and directory.

        Moving a replicator moves its entries: they are rewritten under a new change
        sequence number so that readers of ``changes_since`` see them in their new place.
        """
        with writing(self.engine) as conn:
            layout.ensure_replicator(conn, name, type, directory)

    # -- reading for the directory index --------------------------------------------------

    def current_seq(self) -> int:
        with reading(self.engine) as conn:
            return entries.current_seq(conn)

    def snapshot(self, directories: Iterable[str] | None = None) -> tuple[int, list[StoredEntry]]:
        """The current change sequence number and every live entry, as of one moment."""
        with self.streamed_snapshot(directories) as (seq, rows):
            return seq, list(rows)

    @contextmanager
    def streamed_snapshot(
        self, directories: Iterable[str] | None = None
    ) -> Iterator[tuple[int, Iterator[StoredEntry]]]:
        """``snapshot()`` as an iterator, valid inside the ``with`` block: the server loads
        100k entries without holding them all twice."""
        with reading(self.engine) as conn:
            rows = entries.live_entries(conn, directories)
            yield entries.current_seq(conn), rows

    def changes_since(
        self, seq: int, directories: Iterable[str] | None = None
    ) -> tuple[int, list[StoredEntry]]:
        """Entries written after sequence number ``seq`` (tombstones have ``deleted``), and
        the sequence number to ask from next time."""
        with reading(self.engine) as conn:
            # the number first: were the two reads not one snapshot, a change committed
            # between them would be handed over twice rather than never
            latest = entries.current_seq(conn)
            return latest, entries.changes_since(conn, seq, directories)

    # -- the sync engine's side -----------------------------------------------------------

    def digests(self, replicator: str) -> dict[tuple[str, ...], StoredDigest]:
        """Every entry of ``replicator``, tombstones too, by source key."""
        with reading(self.engine) as conn:
            return entries.digests(conn, replicator)

    def replicator_state(self, name: str, type: str | None = None) -> dict[str, Any] | None:
        """The state the last applied run of replicator ``name`` saved, if any; with
        ``type``, only if the store has the replicator as of that type (a dry run does not
        record a new type, and another kind of source cannot resume from the state)."""
        with reading(self.engine) as conn:
            return layout.replicator_state(conn, name, type)

    def apply(
        self,
        run: RunRecord,
        *,
        added: Sequence[EntryData] = (),
        updated: Sequence[tuple[int, EntryData]] = (),
        deleted: Sequence[int] = (),
        state: dict[str, Any] | None = None,
    ) -> int | None:
        """Write a run's changes, its record and the replicator's new ``state`` (None: it
        keeps none) in one transaction: the next run resumes exactly where these changes end.

        ``updated`` pairs an entry id with its new content; an updated tombstone comes back
        to life with its old uuid. ``deleted`` ids become tombstones. Returns the change
        sequence number the changes were written under, or None if there were none.
        """
        written = now()
        with writing(self.engine) as conn:
            replicator_id = layout.replicator_id(conn, run.replicator)
            # the replicator's row lock before the counter's, as ensure_replicator takes
            # them when it moves entries: no two writers wait for each other crosswise
            layout.save_state(conn, replicator_id, state)
            seq = None
            if added or updated or deleted:
                # before any entry: the counter row lock orders concurrent writers by commit
                seq = entries.next_seq(conn)
                entries.write(conn, replicator_id, seq, written, added, updated, deleted)
            runs.insert_run(conn, replicator_id, run, seq)
        return seq

    def record_run(self, run: RunRecord) -> None:
        """Record a run that changed nothing (failed or stopped)."""
        with writing(self.engine) as conn:
            runs.insert_run(conn, layout.replicator_id(conn, run.replicator), run, None)

    # -- status ---------------------------------------------------------------------------

    def last_runs(self) -> dict[str, RunRecord]:
        """Each replicator's latest run, with the problems recorded for it."""
        with reading(self.engine) as conn:
            return runs.last_runs(conn)

    def directory_sizes(self) -> dict[str, int]:
        """The number of live entries of every directory in the store."""
        with reading(self.engine) as conn:
            return runs.directory_sizes(conn)
