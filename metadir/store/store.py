"""The meta database as readers, the sync engine and the scheduler use it: ``Store``, one
transaction per call over the rooms that do the work (``layout``, ``entries``, ``runs``,
``leases``, ``nodes``).

A new room is one more module of functions over a ``Connection`` and a migration; ``Store``
then hands it a transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from metadir.core.records import Problem, StoredEntry
from metadir.store import entries, layout, leases, nodes, runs
from metadir.store.connection import now, reading, writing
from metadir.store.engine import open_engine
from metadir.store.entries import EntryData, StoredDigest
from metadir.store.leases import Busy, Lease, LeaseState, Progress
from metadir.store.nodes import NodeRecord
from metadir.store.runs import RunRecord

__all__ = [
    "Busy",
    "EntryData",
    "Lease",
    "LeaseState",
    "NodeRecord",
    "Progress",
    "RunRecord",
    "Store",
    "StoredDigest",
]


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
        lease: Lease | None = None,
    ) -> tuple[int | None, int]:
        """Write a run's changes, its record and the replicator's new ``state`` (None: it
        keeps none) in one transaction: the next run resumes exactly where these changes end.

        ``updated`` pairs an entry id with its new content; an updated tombstone comes back
        to life with its old uuid. ``deleted`` ids become tombstones. With ``lease``, the
        run writes only if the lease on its replicator is still its own, and raises
        ``LeaseLost`` having written nothing otherwise. Returns the change sequence number
        the changes were written under (None if there were none) and the run's id.
        """
        if lease is not None and lease.replicator != run.replicator:
            raise ValueError(f"a lease on {lease.replicator!r} for a run of {run.replicator!r}")
        written = now()
        with writing(self.engine) as conn:
            if lease is not None:
                # first: the lease row lock is held to the commit, so a takeover waits for
                # this write or this write sees the takeover
                leases.check(conn, lease)
            replicator_id = layout.replicator_id(conn, run.replicator)
            # the replicator's row lock before the counter's, as ensure_replicator takes
            # them when it moves entries: no two writers wait for each other crosswise
            layout.save_state(conn, replicator_id, state)
            seq = None
            if added or updated or deleted:
                # before any entry: the counter row lock orders concurrent writers by commit
                seq = entries.next_seq(conn)
                entries.write(conn, replicator_id, seq, written, added, updated, deleted)
            run_id = runs.insert_run(conn, replicator_id, run, seq)
            if lease is not None:
                leases.extend(conn, lease)
        return seq, run_id

    def record_run(self, run: RunRecord) -> int:
        """Record a run that changed nothing (failed or stopped); its id."""
        with writing(self.engine) as conn:
            return runs.insert_run(conn, layout.replicator_id(conn, run.replicator), run, None)

    # -- leases: who runs which replicator ------------------------------------------------

    def acquire_lease(
        self,
        replicator: str,
        holder: str,
        ttl: float,
        trigger: str,
        slot: datetime | None = None,
    ) -> Lease | Busy:
        """Lease ``replicator`` to node ``holder`` for ``ttl`` seconds (db clock), unless
        it or another replicator of its directory is held, or schedule ``slot`` was run
        already. The replicator must exist (``ensure_replicator``)."""
        with writing(self.engine) as conn:
            return leases.acquire(conn, replicator, holder, ttl, trigger, slot)

    def renew_lease(
        self, lease: Lease, ttl: float, progress: Progress | None = None
    ) -> Lease | None:
        """``lease`` for ``ttl`` more seconds, noting ``progress``; None if it is lost
        (taken over, or expired: then stop the run)."""
        with writing(self.engine) as conn:
            return leases.renew(conn, lease, ttl, progress)

    def release_lease(self, lease: Lease, done: bool = True) -> None:
        """Give ``lease`` up; ``done``: its schedule slot was run. Nothing if it was taken
        over meanwhile."""
        with writing(self.engine) as conn:
            leases.release(conn, lease, done)

    def leases(self) -> list[LeaseState]:
        """Every replicator's lease that was ever granted, by name."""
        with reading(self.engine) as conn:
            return leases.states(conn)

    def db_now(self) -> datetime:
        """The database's clock, which leases go by."""
        with reading(self.engine) as conn:
            return leases.db_now(conn)

    # -- nodes ----------------------------------------------------------------------------

    def register_node(
        self,
        name: str,
        version: str,
        host: str,
        pid: int,
        started_at: datetime,
        schedules: bool,
    ) -> None:
        """Add node ``name``, or note that it is still there (``last_seen``: db now)."""
        with writing(self.engine) as conn:
            nodes.register(conn, name, version, host, pid, started_at, schedules)

    def nodes(self) -> list[NodeRecord]:
        with reading(self.engine) as conn:
            return nodes.listed(conn)

    def forget_nodes(self, before: datetime) -> int:
        """Remove the nodes last seen before ``before`` (db clock); how many."""
        with writing(self.engine) as conn:
            return nodes.forget(conn, before)

    # -- history --------------------------------------------------------------------------

    def history(
        self, replicator: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[RunRecord]:
        """Runs newest first (of ``replicator`` or all), at most ``limit``, older than run
        ``before_id`` if given; without their problems."""
        with reading(self.engine) as conn:
            return runs.history(conn, replicator, limit, before_id)

    def runs_after(self, run_id: int, limit: int = 1000) -> list[RunRecord]:
        """Runs recorded after run ``run_id``, oldest first, at most ``limit``; without
        their problems. With ``last_run_id``, what a poller learns of new runs."""
        with reading(self.engine) as conn:
            return runs.runs_after(conn, run_id, limit)

    def last_run_id(self) -> int:
        """The id of the last run recorded (0: none yet): where ``runs_after`` starts."""
        with reading(self.engine) as conn:
            return runs.last_run_id(conn)

    def run(self, run_id: int) -> RunRecord | None:
        """Run ``run_id``, without its problems; None if the store has no such run."""
        with reading(self.engine) as conn:
            return runs.run(conn, run_id)

    def problems(self, run_id: int, offset: int = 0, limit: int = 100) -> list[Problem]:
        """Problems recorded for run ``run_id``, ``limit`` from ``offset``."""
        with reading(self.engine) as conn:
            return runs.problems(conn, run_id, offset, limit)

    def problem_count(self, run_id: int) -> int:
        """How many problems are recorded for run ``run_id`` (its ``skipped`` counts all)."""
        with reading(self.engine) as conn:
            return runs.problem_count(conn, run_id)

    def prune_runs(self, before: datetime) -> int:
        """Delete the runs that ended before ``before`` and their problems, keeping each
        replicator's latest run; how many were deleted."""
        with writing(self.engine) as conn:
            return runs.prune(conn, before)

    # -- status ---------------------------------------------------------------------------

    def last_runs(self, with_problems: bool = True) -> dict[str, RunRecord]:
        """Each replicator's latest run, with the problems recorded for it unless not
        ``with_problems``."""
        with reading(self.engine) as conn:
            return runs.last_runs(conn, with_problems)

    def last_successes(self) -> dict[str, datetime]:
        """When each replicator's latest successful run finished (``last_runs`` has the
        latest of any outcome)."""
        with reading(self.engine) as conn:
            return runs.last_successes(conn)

    def directory_sizes(self) -> dict[str, int]:
        """The number of live entries of every directory in the store."""
        with reading(self.engine) as conn:
            return runs.directory_sizes(conn)
