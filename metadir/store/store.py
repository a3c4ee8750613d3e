"""The meta database: the source of truth the LDAP server is built from.

Every sync run that changes entries takes one new number from the store-wide change
sequence and writes all its rows under it, in one transaction. A reader that remembers the
highest number it has seen asks ``changes_since`` for what came after, and so learns of
every insert, update and delete (deletes leave tombstone rows) without reading everything.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Select,
    Table,
    bindparam,
    func,
    insert,
    null,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from metadir.core.errors import StoreError
from metadir.core.records import Problem, StoredEntry
from metadir.store.engine import begin_write, cause, create_store_engine, migrate
from metadir.store.models import (
    change_counter,
    directories,
    entries,
    replicators,
    sync_problems,
    sync_runs,
)

log = logging.getLogger(__name__)

# problems stored per run (all are counted); and how many runs per replicator keep theirs
PROBLEMS_KEPT = 1000
RUNS_WITH_PROBLEMS = 10


@dataclass(frozen=True, slots=True)
class StoredDigest:
    """What a diff needs of a stored entry: not its attributes, only their digest."""

    id: int
    digest: str
    deleted: bool
    # phone values the entry keeps as written, because they are no number
    numbers_kept: int = 0


@dataclass(frozen=True, slots=True)
class EntryData:
    """An entry's content as a sync run writes it."""

    key: tuple[str, ...]
    attributes: dict[str, list[str]]
    raw_numbers: dict[str, list[str]]
    numbers: dict[str, list[str]]
    digest: str
    numbers_kept: int = 0


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One sync run as recorded: counts are what was applied (nothing for failed/stopped)."""

    replicator: str
    outcome: str
    started: datetime
    finished: datetime
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: int = 0
    message: str = ""
    forced: bool = False
    numbers_kept: int = 0
    # as recorded: at most PROBLEMS_KEPT of the run's `skipped` rows
    problems: Sequence[Problem] = field(default_factory=list)
    # "full" or "incremental" (a failed run: what it set out to do)
    mode: str = "full"
    # the replicator's note on its checkpoint
    note: str = ""
    # the sequence number its changes were written under; None if it changed nothing
    change_seq: int | None = None

    @property
    def seconds(self) -> float:
        return (self.finished - self.started).total_seconds()


class Store:
    """The meta database behind one SQLAlchemy engine; safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._shown_url = engine.url.render_as_string(hide_password=True)

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to the store at ``url`` and migrate it to the current schema."""
        engine = create_store_engine(url)
        store = cls(engine)
        try:
            with store._errors("cannot open"):
                migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- layout: directories and replicators ---------------------------------------------

    def ensure_directory(self, name: str, base_dn: str) -> None:
        """Create the directory ``name``, or give it ``base_dn`` if that changed."""
        with self._write() as conn:
            _insert_ignoring_conflict(
                conn, directories, {"name": name, "base_dn": base_dn, "created_at": _now()}
            )
            conn.execute(
                update(directories)
                .where(directories.c.name == name, directories.c.base_dn != base_dn)
                .values(base_dn=base_dn)
            )

    def ensure_replicator(self, name: str, type: str, directory: str) -> None:
        """Create the replicator ``name``, or update its type (dropping its saved state)
        and directory.

        Moving a replicator moves its entries: they are rewritten under a new change
        sequence number so that readers of ``changes_since`` see them in their new place.
        """
        with self._write() as conn:
            directory_id = conn.execute(
                select(directories.c.id).where(directories.c.name == directory)
            ).scalar()
            if directory_id is None:
                raise StoreError(f"store {self._shown_url}: no directory named {directory!r}")
            _insert_ignoring_conflict(
                conn,
                replicators,
                {"name": name, "type": type, "directory_id": directory_id, "created_at": _now()},
            )
            # another kind of source cannot resume from the old one's state
            conn.execute(
                update(replicators)
                .where(replicators.c.name == name, replicators.c.type != type)
                .values(type=type, state=null())
            )
            moved = conn.execute(
                update(replicators)
                .where(replicators.c.name == name, replicators.c.directory_id != directory_id)
                .values(directory_id=directory_id)
                .returning(replicators.c.id)
            ).scalar()
            if moved is not None:
                seq = _next_seq(conn)
                conn.execute(
                    update(entries)
                    .where(entries.c.replicator_id == moved)
                    .values(change_seq=seq, modified_at=_now())
                )

    # -- reading for the directory index --------------------------------------------------

    def current_seq(self) -> int:
        with self._read() as conn:
            return _current_seq(conn)

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
        query = (
            _entry_query(directories).where(entries.c.deleted_at.is_(None)).order_by(entries.c.id)
        )
        with self._read() as conn:
            rows = conn.execution_options(yield_per=2000).execute(query)
            yield _current_seq(conn), (_stored_entry(row) for row in rows)

    def changes_since(
        self, seq: int, directories: Iterable[str] | None = None
    ) -> tuple[int, list[StoredEntry]]:
        """Entries written after sequence number ``seq`` (tombstones have ``deleted``), and
        the sequence number to ask from next time."""
        # in index order: asked every second, it must not scan the table
        query = (
            _entry_query(directories)
            .where(entries.c.change_seq > seq)
            .order_by(entries.c.change_seq, entries.c.id)
        )
        with self._read() as conn:
            return _current_seq(conn), _stored_entries(conn.execute(query))

    # -- the sync engine's side -----------------------------------------------------------

    def digests(self, replicator: str) -> dict[tuple[str, ...], StoredDigest]:
        """Every entry of ``replicator``, tombstones too, by source key."""
        query = (
            select(
                entries.c.source_key,
                entries.c.id,
                entries.c.digest,
                entries.c.deleted_at.is_not(None),
                entries.c.numbers_kept,
            )
            .join(replicators)
            .where(replicators.c.name == replicator)
        )
        with self._read() as conn:
            return {
                _decode_key(key): StoredDigest(entry_id, digest, bool(deleted), kept)
                for key, entry_id, digest, deleted, kept in conn.execute(query)
            }

    def replicator_state(self, name: str, type: str | None = None) -> dict[str, Any] | None:
        """The state the last applied run of replicator ``name`` saved, if any; with
        ``type``, only if the store has the replicator as of that type (a dry run does not
        record a new type, and another kind of source cannot resume from the state)."""
        query = select(replicators.c.state).where(replicators.c.name == name)
        if type is not None:
            query = query.where(replicators.c.type == type)
        with self._read() as conn:
            return conn.execute(query).scalar()

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
        now = _now()
        with self._write() as conn:
            replicator_id = self._replicator_id(conn, run.replicator)
            # the replicator's row lock before the counter's, as ensure_replicator takes
            # them when it moves entries: no two writers wait for each other crosswise
            conn.execute(
                update(replicators)
                .where(replicators.c.id == replicator_id)
                .values(state=null() if state is None else state)
            )
            seq = None
            if added or updated or deleted:
                # before any entry: the counter row lock orders concurrent writers by commit
                seq = _next_seq(conn)
            if added:
                conn.execute(
                    insert(entries),
                    [
                        {
                            "replicator_id": replicator_id,
                            "source_key": _encode_key(e.key),
                            "uuid": str(uuid.uuid4()),
                            "attributes": e.attributes,
                            "raw_numbers": e.raw_numbers,
                            "numbers": e.numbers,
                            "numbers_kept": e.numbers_kept,
                            "digest": e.digest,
                            "created_at": now,
                            "modified_at": now,
                            "change_seq": seq,
                        }
                        for e in added
                    ],
                )
            if updated:
                conn.execute(
                    update(entries)
                    .where(entries.c.id == bindparam("b_id"))
                    .values(
                        attributes=bindparam("b_attributes"),
                        raw_numbers=bindparam("b_raw_numbers"),
                        numbers=bindparam("b_numbers"),
                        numbers_kept=bindparam("b_numbers_kept"),
                        digest=bindparam("b_digest"),
                        modified_at=now,
                        change_seq=seq,
                        deleted_at=None,
                    ),
                    [
                        {
                            "b_id": entry_id,
                            "b_attributes": e.attributes,
                            "b_raw_numbers": e.raw_numbers,
                            "b_numbers": e.numbers,
                            "b_numbers_kept": e.numbers_kept,
                            "b_digest": e.digest,
                        }
                        for entry_id, e in updated
                    ],
                )
            if deleted:
                conn.execute(
                    update(entries)
                    .where(entries.c.id == bindparam("b_id"))
                    .values(deleted_at=now, modified_at=now, change_seq=seq),
                    [{"b_id": entry_id} for entry_id in deleted],
                )
            _insert_run(conn, replicator_id, run, seq)
        return seq

    def record_run(self, run: RunRecord) -> None:
        """Record a run that changed nothing (failed or stopped)."""
        with self._write() as conn:
            _insert_run(conn, self._replicator_id(conn, run.replicator), run, None)

    # -- status ---------------------------------------------------------------------------

    def last_runs(self) -> dict[str, RunRecord]:
        """Each replicator's latest run, with the problems recorded for it."""
        latest = select(func.max(sync_runs.c.id)).group_by(sync_runs.c.replicator_id)
        query = (
            select(sync_runs, replicators.c.name.label("replicator"))
            .join(replicators)
            .where(sync_runs.c.id.in_(latest))
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
            problems: dict[int, list[Problem]] = {row.id: [] for row in rows}
            for p in conn.execute(
                select(sync_problems)
                .where(sync_problems.c.run_id.in_(list(problems)))
                .order_by(sync_problems.c.id)
            ):
                problems[p.run_id].append(Problem(p.message, p.line))
        return {
            row.replicator: RunRecord(
                replicator=row.replicator,
                outcome=row.outcome,
                started=row.started_at,
                finished=row.finished_at,
                added=row.added,
                updated=row.updated,
                deleted=row.deleted,
                unchanged=row.unchanged,
                skipped=row.skipped,
                message=row.message,
                forced=row.forced,
                numbers_kept=row.numbers_kept,
                problems=problems[row.id],
                mode=row.mode,
                note=row.note,
                change_seq=row.change_seq,
            )
            for row in rows
        }

    def directory_sizes(self) -> dict[str, int]:
        """The number of live entries of every directory in the store."""
        query = (
            select(directories.c.name, func.count(entries.c.id))
            .select_from(directories)
            .outerjoin(replicators, replicators.c.directory_id == directories.c.id)
            .outerjoin(
                entries,
                (entries.c.replicator_id == replicators.c.id) & entries.c.deleted_at.is_(None),
            )
            .group_by(directories.c.name)
        )
        with self._read() as conn:
            return {name: count for name, count in conn.execute(query)}

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self._shown_url}: {doing}: {cause(exc)}") from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only transaction that sees one consistent state of the store."""
        with self._errors("cannot read"), self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # every statement of the transaction then reads the same snapshot
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._errors("cannot write"), begin_write(self.engine) as conn:
            yield conn

    def _replicator_id(self, conn: Connection, name: str) -> int:
        found = conn.execute(select(replicators.c.id).where(replicators.c.name == name)).scalar()
        if found is None:
            raise StoreError(f"store {self._shown_url}: no replicator named {name!r}")
        return found


def _now() -> datetime:
    return datetime.now(UTC)


def _encode_key(key: tuple[str, ...]) -> str:
    return json.dumps(list(key), ensure_ascii=False, separators=(",", ":"))


def _decode_key(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _current_seq(conn: Connection) -> int:
    return conn.execute(select(change_counter.c.value).where(change_counter.c.id == 1)).scalar_one()


def _next_seq(conn: Connection) -> int:
    return conn.execute(
        update(change_counter)
        .where(change_counter.c.id == 1)
        .values(value=change_counter.c.value + 1)
        .returning(change_counter.c.value)
    ).scalar_one()


def _entry_query(names: Iterable[str] | None) -> Select:
    query = select(
        entries.c.id,
        entries.c.uuid,
        directories.c.name.label("directory"),
        replicators.c.name.label("replicator"),
        entries.c.source_key,
        entries.c.attributes,
        entries.c.created_at,
        entries.c.modified_at,
        entries.c.deleted_at,
        entries.c.numbers,
    ).select_from(entries.join(replicators).join(directories))
    if names is not None:
        query = query.where(directories.c.name.in_(list(names)))
    return query


def _stored_entries(rows: Iterable[Row]) -> list[StoredEntry]:
    return [_stored_entry(row) for row in rows]


def _stored_entry(row: Row) -> StoredEntry:
    """A row of an ``_entry_query``, read by position: 100k of them at server start."""
    return StoredEntry(
        *row[:4], _decode_key(row[4]), *row[5:8], deleted=row[8] is not None, numbers=row[9]
    )


def _insert_ignoring_conflict(conn: Connection, table: Table, values: dict) -> None:
    """INSERT that does nothing if a row with the same unique name exists (any process)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).values(values).on_conflict_do_nothing())


def _insert_run(conn: Connection, replicator_id: int, run: RunRecord, seq: int | None) -> None:
    run_id = conn.execute(
        insert(sync_runs)
        .values(
            replicator_id=replicator_id,
            started_at=run.started,
            finished_at=run.finished,
            outcome=run.outcome,
            added=run.added,
            updated=run.updated,
            deleted=run.deleted,
            unchanged=run.unchanged,
            skipped=run.skipped,
            message=run.message,
            forced=run.forced,
            numbers_kept=run.numbers_kept,
            mode=run.mode,
            note=run.note,
            change_seq=seq,
        )
        .returning(sync_runs.c.id)
    ).scalar_one()
    if run.problems:
        conn.execute(
            insert(sync_problems),
            [
                {"run_id": run_id, "line": p.line, "message": p.message}
                for p in run.problems[:PROBLEMS_KEPT]
            ],
        )
    # only recent runs keep their problems, so that frequent syncs do not grow the store
    oldest_kept = (
        select(sync_runs.c.id)
        .where(sync_runs.c.replicator_id == replicator_id)
        .order_by(sync_runs.c.id.desc())
        .offset(RUNS_WITH_PROBLEMS - 1)
        .limit(1)
        .scalar_subquery()
    )
    conn.execute(
        sync_problems.delete().where(
            sync_problems.c.run_id.in_(
                select(sync_runs.c.id).where(
                    sync_runs.c.replicator_id == replicator_id, sync_runs.c.id < oldest_kept
                )
            )
        )
    )
