"""What a read changes in the store, decided by digests alone."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from metadir.store.entries import StoredDigest

Key = tuple[str, ...]


def digest(
    attributes: dict[str, list[str]], raw_numbers: dict[str, list[str]], reading: str
) -> str:
    """A fingerprint of an entry's content.

    Different content never has the same digest (``repr`` quotes every string). Equal content
    has the same one when its attributes come in the same order, as one mapping builds them;
    when a changed mapping reorders them, each entry is rewritten once, unchanged. ``repr``
    is half the cost of sorted JSON, which counts at 100k rows per run.
    """
    content = repr((attributes, raw_numbers, reading)).encode()
    return hashlib.blake2b(content, digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Diff:
    # keys the store has never held
    added: list[Key]
    # keys whose tombstone comes back to life (counted as added): key, stored id
    revived: list[tuple[Key, int]]
    # live keys whose content changed: key, stored id
    updated: list[tuple[Key, int]]
    # ids of live entries the source no longer has, or says are gone
    deleted: list[int]
    unchanged: int
    # live entries before the run
    live: int
    # live keys the read skipped a row of: left as they were, neither updated nor deleted
    kept: list[Key] = field(default_factory=list)


def diff(
    incoming: Mapping[Key, str],
    stored: Mapping[Key, StoredDigest],
    removed: Collection[Key] | None = None,
    skipped: Collection[Key] = (),
) -> Diff:
    """Compare a read (key -> digest) with the store's entries of the same replicator.

    A full read (``removed`` None) holds every entry: the live ones it lacks are deleted.
    An incremental read holds what changed: only the live keys in ``removed`` are deleted.
    Either way a live key in ``skipped`` (its row could not be used) is kept as it was: a
    row that cannot be read is not a deletion.
    """
    added: list[Key] = []
    revived: list[tuple[Key, int]] = []
    updated: list[tuple[Key, int]] = []
    unchanged = 0
    for key, new_digest in incoming.items():
        old = stored.get(key)
        if old is None:
            added.append(key)
        elif old.deleted:
            revived.append((key, old.id))
        elif old.digest != new_digest:
            updated.append((key, old.id))
        else:
            unchanged += 1
    live = {key: old.id for key, old in stored.items() if not old.deleted}
    gone = [key for key in live if key not in incoming] if removed is None else removed
    kept = [key for key in gone if key in live and key in skipped]
    deleted = [live[key] for key in gone if key in live and key not in skipped]
    return Diff(added, revived, updated, deleted, unchanged, len(live), kept)
