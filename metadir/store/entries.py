"""Entries and the change feed: the store-wide change sequence, the entries a sync run
writes under one number of it, and what readers ask of them (a snapshot, the changes since
a number, a replicator's digests).

Every sync run that changes entries takes one new number from the sequence and writes all
its rows under it, in one transaction. A reader that remembers the highest number it has
seen asks ``changes_since`` for what came after, and so learns of every insert, update and
delete (deletes leave tombstone rows) without reading everything.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, insert, select, update

from metadir.core.records import StoredEntry
from metadir.store.models import change_counter, directories, entries, replicators

# rows fetched at a time while a snapshot streams: 100k entries are not held twice
SNAPSHOT_BATCH = 2000


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


# -- the change sequence ------------------------------------------------------------------


def current_seq(conn: Connection) -> int:
    return conn.execute(select(change_counter.c.value).where(change_counter.c.id == 1)).scalar_one()


def next_seq(conn: Connection) -> int:
    """Take the next number. The counter's row lock is held to the commit: it serialises
    writers, so that commit order is sequence order."""
    return conn.execute(
        update(change_counter)
        .where(change_counter.c.id == 1)
        .values(value=change_counter.c.value + 1)
        .returning(change_counter.c.value)
    ).scalar_one()


# -- reading ------------------------------------------------------------------------------


def live_entries(conn: Connection, names: Iterable[str] | None) -> Iterator[StoredEntry]:
    """Every live entry (of the directories ``names``), fetched in batches as iterated."""
    query = _entry_query(names).where(entries.c.deleted_at.is_(None)).order_by(entries.c.id)
    rows = conn.execution_options(yield_per=SNAPSHOT_BATCH).execute(query)
    return (_stored_entry(row) for row in rows)


def changes_since(conn: Connection, seq: int, names: Iterable[str] | None) -> list[StoredEntry]:
    """Entries written after sequence number ``seq``, tombstones too."""
    # in index order: asked every second, it must not scan the table
    query = (
        _entry_query(names)
        .where(entries.c.change_seq > seq)
        .order_by(entries.c.change_seq, entries.c.id)
    )
    return [_stored_entry(row) for row in conn.execute(query)]


def digests(conn: Connection, replicator: str) -> dict[tuple[str, ...], StoredDigest]:
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
    return {
        _decode_key(key): StoredDigest(entry_id, digest, bool(deleted), kept)
        for key, entry_id, digest, deleted, kept in conn.execute(query)
    }


# -- writing ------------------------------------------------------------------------------


def write(
    conn: Connection,
    replicator_id: int,
    seq: int,
    now: datetime,
    added: Sequence[EntryData],
    updated: Sequence[tuple[int, EntryData]],
    deleted: Sequence[int],
) -> None:
    """Write a run's changes under ``seq``: ``added`` get a new uuid; ``updated`` pairs an
    entry id with its new content (a tombstone comes back to life with its old uuid);
    ``deleted`` ids become tombstones."""
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


def restamp(conn: Connection, replicator_id: int, seq: int, now: datetime) -> None:
    """Mark every entry of the replicator as written under ``seq``, so that readers of the
    change feed take them again (they moved to another directory)."""
    conn.execute(
        update(entries)
        .where(entries.c.replicator_id == replicator_id)
        .values(change_seq=seq, modified_at=now)
    )


# -- rows ---------------------------------------------------------------------------------


def _encode_key(key: tuple[str, ...]) -> str:
    return json.dumps(list(key), ensure_ascii=False, separators=(",", ":"))


def _decode_key(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _entry_query(names: Iterable[str] | None) -> Select[Any]:
    """Entries with their directory and replicator; ``_stored_entry`` reads the columns by
    position."""
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


def _stored_entry(row: Row) -> StoredEntry:
    """A row of an ``_entry_query``, read by position: 100k of them at server start."""
    return StoredEntry(
        row[0],
        row[1],
        row[2],
        row[3],
        _decode_key(row[4]),
        row[5],
        row[6],
        row[7],
        row[8] is not None,
        row[9],
    )
