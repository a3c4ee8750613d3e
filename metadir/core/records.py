"""The data that passes between the layers: a source's rows as a replicator reads them
(``Record``, ``Problem``, ``Removed``, ``Checkpoint``) and an entry as the store keeps it
for the directory (``StoredEntry``). Plain frozen dataclasses, so that replicators, the
store and the directory share them without importing one another."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# a source field's value: one text, or several (an LDAP attribute with many values)
Value = str | list[str]


@dataclass(frozen=True, slots=True)
class Record:
    """One source row: its stable key and its raw field values."""

    key: tuple[str, ...]
    values: dict[str, Value] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """A source row that was skipped, and why.

    ``key`` is the row's key when it could still be read for sure: the engine keeps the
    entry with that key as it was (a misread key would let the row's own entry go).
    Without one, a full read cannot tell which entry the row held, so the engine deletes
    nothing (see ``metadir.sync.engine.hold_back``)."""

    message: str
    line: int | None = None
    key: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Removed:
    """The source says the entry with this key is gone (incremental reads only)."""

    key: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Last item of a read: where the next run resumes, saved by the engine together with
    the run's changes (a failed or stopped run keeps the previous state)."""

    # JSON-serialisable; opaque to the engine
    state: dict[str, Any]
    # True: the read covered the whole source (absent keys are deleted, as for CSV)
    full: bool
    # why, e.g. "DirSync cookie rejected: full run"
    note: str = ""
    # what the source reported of the read as a whole (a program's stderr lines): problems
    # of the run that skip no row
    reported: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One entry as the directory serves it."""

    id: int
    uuid: str
    directory: str
    replicator: str
    key: tuple[str, ...]
    attributes: dict[str, list[str]]
    created: datetime
    modified: datetime
    deleted: bool
    # phone attribute -> canonical values; what the index matches numbers by
    numbers: dict[str, list[str]] = field(default_factory=dict)
