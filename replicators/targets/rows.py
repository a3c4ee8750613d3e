"""What a file export keeps between runs: each entry's rendered row (a CSV line, an XML
element, in the file's encoding) and its place in the sort order, by ``uuid``.

A file export writes its whole file on every run, but the engine hands it only what
changed. With the rows of the last run at hand, a run renders only the changed entries and
then writes the file from the kept rows, so a 1 % change costs about 1 % of the rendering.

The rows live in a small SQLite file (``.NAME.metadir-cache`` beside the output unless
``cache:`` says otherwise), not in a flat file: an upsert or delete touches only its row (a
flat file would be read and rewritten whole on every run), the file's own transaction makes
a run's updates all-or-nothing, and an index gives the rows in sort order without sorting
them in memory. It is beside the output so that it lives and dies with it (same disk, same
backups); it holds nothing the output does not.

Consistency with the export's saved state: the cache has a random token, made when a run
without state builds it anew, and a generation counted up by every run that commits. The
state a run returns names both. A run commits its cache after the new file is in place and
before the engine saves the state, so the cache may be ahead of the saved state (the save
failed) but never behind it. Ahead is harmless: the engine sends the same changes again,
and a row put twice is the same row. Behind, missing, or another token (an old backup, a
deleted file, another export's cache) cannot be repaired from the changes: the run asks
for a full export (``TargetNeedsFull``).
"""

from __future__ import annotations

import secrets
import sqlite3
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from replicators.base import TargetError, TargetNeedsFull

# the layout of the cache file; another layout is rebuilt by a full export
LAYOUT = "1"
# what the export's state holds
TOKEN, GENERATION = "cache", "generation"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    uuid TEXT PRIMARY KEY,
    sort_base TEXT NOT NULL,
    sort_full TEXT NOT NULL,
    generation INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS rows_order ON rows (sort_base, sort_full, uuid);
"""

# a row to put: uuid, sort key, rendered body
Row = tuple[str, tuple[str, str], bytes]


def sort_key(attributes: Mapping[str, Sequence[str]]) -> tuple[str, str]:
    """Where an entry goes in the file: by display name (else ``cn``), case-folded and
    without accents first (Ärzte before Bauer, as a phone book reads), then case-folded
    with them; the same everywhere, whatever the machine's locale. Ties go by uuid."""
    names = attributes.get("displayName") or attributes.get("cn") or [""]
    full = names[0].casefold()
    base = "".join(c for c in unicodedata.normalize("NFKD", full) if not unicodedata.combining(c))
    return base, full


class RowCache:
    """The rows of one file export, open for one run: ``put`` and ``drop`` go into one
    transaction that ``commit`` ends, or that closing without it undoes."""

    def __init__(self, path: Path, db: sqlite3.Connection, token: str, generation: int) -> None:
        self.path = path
        self._db = db
        self.token = token
        self.generation = generation
        # whether this run changed any row
        self.changed = False

    @classmethod
    def open(cls, path: Path, settings: str, state: Mapping[str, Any] | None) -> RowCache:
        """The cache at ``path`` for a run that resumes from ``state``; with no state, an
        empty one for a full export. ``settings``: what shapes a row (a run with other
        settings cannot reuse the rows). Raises ``TargetNeedsFull`` if the cache cannot
        continue from ``state``, ``TargetError`` if it cannot be opened."""
        if state is not None and not path.exists():
            raise TargetNeedsFull(f"its cache {path} is missing: a full export rebuilds it")
        try:
            db = _connect(path)
        except sqlite3.DatabaseError as exc:
            if state is not None:
                raise TargetNeedsFull(f"its cache {path} is unreadable ({exc})") from None
            path.unlink(missing_ok=True)  # a damaged file, and a full export replaces it
            db = _connect(path)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta"))
            if state is None:
                return cls._fresh(path, db, settings)
            cache = cls(path, db, meta.get("token", ""), int(meta.get("generation", -1)))
            cache._check(meta, settings, state)
            return cache
        except BaseException:
            db.close()
            raise

    @classmethod
    def _fresh(cls, path: Path, db: sqlite3.Connection, settings: str) -> RowCache:
        token = secrets.token_hex(8)
        db.execute("DELETE FROM rows")
        db.execute("DELETE FROM meta")
        meta = {"layout": LAYOUT, "settings": settings, "token": token, "generation": "0"}
        db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        cache = cls(path, db, token, 0)
        cache.changed = True
        return cache

    def _check(self, meta: dict[str, str], settings: str, state: Mapping[str, Any]) -> None:
        saved = state.get(GENERATION)
        if not meta:  # made by a run that never finished (stopped by its delete guard)
            why = "holds no finished run"
        elif meta.get("layout") != LAYOUT:
            why = "was written by another version of metadir"
        elif meta.get("settings") != settings:
            why = "was written with other settings"
        elif state.get(TOKEN) != self.token:
            why = "is not the one the saved state names"
        elif not isinstance(saved, int) or saved > self.generation:
            why = "is older than the saved state"
        else:
            return
        raise TargetNeedsFull(f"its cache {self.path} {why}: a full export rebuilds it")

    def put(self, rows: Sequence[Row]) -> None:
        """Keep ``rows`` (uuid, sort key, body), replacing what the same uuids had."""
        with self._errors():
            self._db.executemany(
                "INSERT INTO rows VALUES (?, ?, ?, ?, ?) ON CONFLICT (uuid) DO UPDATE SET "
                "sort_base = excluded.sort_base, sort_full = excluded.sort_full, "
                "generation = excluded.generation, body = excluded.body",
                [(uuid, key[0], key[1], self.generation + 1, body) for uuid, key, body in rows],
            )
        self.changed = self.changed or bool(rows)

    def drop(self, uuids: Sequence[str]) -> None:
        """Forget the rows of ``uuids`` (those it does not hold are no error: a tombstone
        may come again, or for an entry the file never had)."""
        with self._errors():
            cursor = self._db.executemany("DELETE FROM rows WHERE uuid = ?", [(u,) for u in uuids])
        self.changed = self.changed or cursor.rowcount > 0

    def bodies(self) -> Iterator[bytes]:
        """Every row's body, in sort order."""
        query = "SELECT body FROM rows ORDER BY sort_base, sort_full, uuid"
        with self._errors():
            for (body,) in self._db.execute(query):
                yield body

    def output(self) -> str:
        """What the last committed run noted of the file it wrote (see ``commit``)."""
        with self._errors():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'output'").fetchone()
        return row[0] if row else ""

    def commit(self, output: str) -> dict[str, Any]:
        """End the run: keep its rows and ``output`` (how the written file looked: size,
        time, inode, its head), count the generation up. The state that names this cache."""
        self.generation += 1
        with self._errors():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("generation", str(self.generation)), ("output", output)],
            )
            self._db.execute("COMMIT")
        self.close()
        return {TOKEN: self.token, GENERATION: self.generation}

    def close(self) -> None:
        """Close; a run not committed changes nothing."""
        self._db.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors (a full disk) as the export's, naming the cache."""
        try:
            yield
        except sqlite3.Error as exc:
            raise TargetError(f"cannot write its cache {self.path}: {exc}") from None


def _connect(path: Path) -> sqlite3.Connection:
    """The cache at ``path`` (made if missing), in a write transaction. A second run of the
    same export at the same time fails at once rather than interleaving with this one."""
    try:
        db = sqlite3.connect(path, timeout=0, isolation_level=None)
    except sqlite3.OperationalError as exc:
        raise TargetError(f"cannot open its cache {path}: {exc}") from None
    try:
        db.executescript(_SCHEMA)
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        db.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise TargetError(f"its cache {path} is in use by another run") from None
        raise TargetError(f"cannot open its cache {path}: {exc}") from None
    except BaseException:
        db.close()
        raise
    return db
