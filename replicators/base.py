"""The contract of sources and targets (Singer/Airbyte style).

A source kind's settings model (``ReplicatorConfig``) builds its replicator from a
``Context``: what the running program lends it (the config file's folder, a clock, an HTTP
client factory, cancellation, progress). ``check()`` opens the source and names its
fields; ``read(state)`` yields one ``Record`` per source row (raw source field -> value)
and a ``Problem`` for every row it had to skip. A source that can tell what changed also
yields ``Removed`` keys and ends with a ``Checkpoint``: the state its next read resumes
from. Mapping, normalisation, diff, guard, the transaction and keeping the state belong to
the sync engine.

An export (``ExportConfig``) builds a ``Target`` the same way; ``metadir.sync.export`` feeds
it the store's change feed from the export's saved position, so exports need no store path
of their own.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from metadir.core import fields
from metadir.core.errors import MetadirError, SourceError
from metadir.core.phone import Location
from metadir.core.records import Checkpoint, Problem, Record, Removed, StoredEntry
from metadir.core.schedule import AfterRun, Duration, Schedule
from metadir.core.settings import MAX_DN, MAX_NAME, check_dn, check_name

# an export's filter is a line an admin writes, not a document
MAX_FILTER = 4096


class SourceChanged(SourceError):
    """The source changed while it was read: the read is no consistent picture of it. The
    engine reads it once more after a short wait."""


class Cancelled(SourceError):
    """The program asked the read to stop (shutdown, a timeout): the run changes nothing."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _never() -> bool:
    return False


def _ignore(rows: int) -> None:
    return None


def _ignore_phase(name: str) -> None:
    return None


# builds an httpx-style client (``get``, ``post``, ``close``); typed loosely because metadir
# does not depend on httpx: a source kind that needs HTTP brings its own client library
HttpClientFactory = Callable[..., Any]


@dataclass(slots=True)
class Context:
    """What the running program lends a source or target besides its settings and state."""

    # what relative paths in the settings (a CSV's path, a CA file) are relative to: the
    # config file's folder
    base_dir: Path
    # the current time, in UTC; tests pass a fixed or stepping clock
    clock: Callable[[], datetime] = _utc_now
    # None: this program offers no HTTP client (a source that needs one says so)
    http: HttpClientFactory | None = None
    # asked between rows or pages; ``threading.Event().is_set`` fits, or a function that
    # answers why (a text) when the read must stop
    cancelled: Callable[[], bool | str] = _never
    # told how many rows the read has handed on so far
    progress: Callable[[int], None] = _ignore
    # told what the run does now: "connect", "read", "diff", "write" (the engine calls it)
    phase: Callable[[str], None] = _ignore_phase
    # told, once a source can say so cheaply, about how many rows the read will hand on
    # (an estimate: a display turns it into the time left, nothing relies on it)
    expect: Callable[[int], None] = _ignore
    # rows ``tick`` counted so far
    rows: int = field(default=0, compare=False)

    def tick(self, rows: int = 1) -> None:
        """``rows`` more were read: report progress, and raise ``Cancelled`` if the program
        asked the read to stop. Sources call it between rows or pages."""
        self.rows += rows
        if why := self.cancelled():
            stopped = f"cancelled after {self.rows} rows"
            raise Cancelled(f"{why} ({stopped})" if isinstance(why, str) else stopped)
        self.progress(self.rows)


class Replicator(Protocol):
    def check(self) -> list[str]:
        """Open the source and return the names of its fields. Raises ``SourceError``."""
        ...

    def read(
        self, state: dict[str, Any] | None
    ) -> Iterator[Record | Problem | Removed | Checkpoint]:
        """Yield the source's rows: all of them, or with ``state`` (what the last successful
        run's ``Checkpoint`` saved; None on a first or ``--full`` run) only what changed
        since, then a ``Checkpoint``. Records are complete rows, also in incremental reads.
        A read without a ``Checkpoint`` is a full one. Raises ``SourceError`` if the source
        fails, ``SourceChanged`` if it changed while it was read."""
        ...


def one_or_more(value: object) -> object:
    """A setting that takes one name or a list of them: a single string as a one-item list
    (anything else is left for pydantic to judge)."""
    return [value] if isinstance(value, str) else value


class ChangeLimit(BaseModel):
    """How many of a replicator's entries one run may delete or update: a share or a
    count."""

    model_config = ConfigDict(frozen=True)
    percent: float | None = None
    count: int | None = None

    def allowed(self, existing: int, floor: int = 0) -> int:
        """The most of ``existing`` entries a run may change; a share never allows fewer
        than ``floor`` (a count is the admin's own number and stands as given)."""
        if self.count is not None:
            return self.count
        assert self.percent is not None
        return max(floor, int(existing * self.percent / 100))

    def __str__(self) -> str:
        return f"{self.count}" if self.count is not None else f"{self.percent:g} %"


def change_limit(value: object) -> object:
    """A ``ChangeLimit`` setting as written: "20%" or a count such as 50."""
    if isinstance(value, ChangeLimit):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a share such as '20%' or a count such as 50")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return ChangeLimit(count=value)
    if isinstance(value, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)):
        percent = float(m.group(1))
        if percent > 100:
            raise ValueError("a share cannot exceed 100%")
        return ChangeLimit(percent=percent)
    raise ValueError("expected a share such as '20%' or a count such as 50")


def mapped_fields(mapping: dict[str, str]) -> list[str]:
    """The source fields a mapping reads: plain names, and the fields of templates."""
    names: list[str] = []
    for source in mapping.values():
        try:
            parsed = [name for _, name, _, _ in string.Formatter().parse(source) if name]
        except ValueError:
            continue  # a bad template: metadir.config names it
        names += parsed or [source]
    return names


def with_preset(mapping: dict[str, str], preset: dict[str, str], use: bool) -> dict[str, str]:
    """A replicator's ``mapping`` over its kind's ``preset`` (``preset_mapping: true``): a
    target the replicator maps itself, in any spelling, is not taken from the preset.
    Without the preset the replicator's own mapping is required."""
    if not use:
        if not mapping:
            raise ValueError("mapping: required when preset_mapping is false")
        return mapping
    own = {f.name for f in map(fields.lookup, mapping) if f is not None}
    return {**{k: v for k, v in preset.items() if k not in own}, **mapping}


class ReplicatorConfig(BaseModel):
    """Settings every replicator has; each source kind extends it with its own."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=MAX_NAME)
    type: str
    # target attribute -> source field, or a template such as "{FirstName} {LastName}"
    mapping: dict[str, str] = {}
    # a run that would delete more than this stops unless forced: "20%" or a count
    max_delete: ChangeLimit = ChangeLimit(percent=20)
    # a run that would update more than this stops unless forced (a source read otherwise,
    # say in another text encoding, rewrites every entry): "50%" or a count
    max_update: ChangeLimit = ChangeLimit(percent=50)
    # how the source writes phone numbers, when it differs from its directory's location
    location: Location | None = None
    # when the scheduler runs it; its directory's schedule when not given
    schedule: Schedule | None = None
    # a run that takes longer is stopped and changes nothing ("timeout" is an LDAP source's
    # wait for each answer)
    run_timeout: Duration = timedelta(hours=1)
    # a program run after each run, told the outcome in its environment
    after_run: AfterRun | None = None

    _name = field_validator("name")(check_name)
    _limits = field_validator("max_delete", "max_update", mode="before")(change_limit)

    @property
    def wanted_fields(self) -> list[str]:
        """The source fields the mapping reads, each once."""
        return list(dict.fromkeys(mapped_fields(self.mapping)))

    def build(self, context: Context) -> Replicator:
        """The replicator these settings describe, lent ``context``."""
        raise NotImplementedError(f"replicator type {self.type!r} cannot be built")

    def reading(self, source: Replicator) -> str:
        """How ``source`` (built from these settings) read its last rows, where that can
        explain a run that rewrites most entries (a CSV's text encoding); "" if nothing."""
        return ""


class Target(Protocol):
    """Where an export writes: the store's changes in order, in batches."""

    def start(self, state: dict[str, Any] | None) -> None:
        """Begin a run from ``state`` (what the last successful run's ``finish`` returned;
        None the first time, and on a full export). Changes nothing a reader of the target
        sees: a run stopped by its delete guard ends after ``start``. Raises
        ``TargetNeedsFull`` when what the target keeps beside its output is gone (then it
        is started again with None and sent every entry), ``TargetError`` otherwise."""
        ...

    def write(self, changes: Sequence[StoredEntry]) -> list[Problem]:
        """Write one batch: entries added or changed, and tombstones (``deleted``) of those
        the export sent before and no longer takes (gone from the store, or out of the
        export's selection), in change order. A run that fails is sent again from its
        start, so a write must be idempotent (an entry's ``uuid`` names it).

        Returns the entries the target refused on their own (its schema rejects a value, a
        name is taken), each a ``Problem`` whose ``key`` is ``(uuid,)``: the run goes on
        and counts them as skipped; the target keeps what it held of them. Raises
        ``TargetError`` when it cannot write at all."""
        ...

    def finish(self) -> dict[str, Any]:
        """End a run whose batches were all written; the target's own state to keep
        (JSON-serialisable), saved together with the export's new position."""
        ...

    def close(self) -> None:
        """Release what the run holds (a connection, an open cache). Called once at the end
        of every run that was built: after ``finish``, or in place of it when the run was
        stopped by its delete guard, failed or was cancelled, when it must leave the
        target as the last finished run left it."""
        ...


class TargetError(MetadirError):
    """A target cannot be written: the export's saved position stays where it was."""


class TargetNeedsFull(TargetError):
    """Raised by ``Target.start``: the target lost what it keeps beside its output (a cache
    file gone), so the changes since the saved position are not enough. The export starts
    it again with no state and sends every entry; the run record says why."""


class ExportConfig(BaseModel):
    """Settings every export has; each target kind extends it with its own.

    What it exports: the entries of ``directory``, or of every directory at or below
    ``base_dn`` (the root: all of them; neither given: all of them), that match ``filter``
    (an LDAP filter, matched as the LDAP server matches it). A target whose own settings
    say ``base_dn`` (the LDAP export: the OU it writes to, as the LDAP source's ``base_dn``
    is where it reads) selects by ``directory`` and ``filter`` only: ``selection_dn``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=MAX_NAME)
    type: str
    # one directory's name
    directory: str | None = Field(default=None, max_length=MAX_NAME)
    # the directories at or below this DN
    base_dn: str | None = Field(default=None, max_length=MAX_DN)
    # an LDAP filter over the contacts' attributes, e.g. "(telephoneNumber=*)"
    filter: str | None = Field(default=None, max_length=MAX_FILTER)
    # when the scheduler runs it; without one, after an import of its directories changed
    # something
    schedule: Schedule | None = None
    # a run that would delete more than this of what the export holds stops unless forced
    max_delete: ChangeLimit = ChangeLimit(percent=20)
    # a run that takes longer is stopped; its position stays
    run_timeout: Duration = timedelta(hours=1)
    # entries handed to the target per ``write``
    batch_size: int = Field(default=500, ge=1, le=100_000)

    _name = field_validator("name")(check_name)
    _limits = field_validator("max_delete", mode="before")(change_limit)

    @field_validator("base_dn")
    @classmethod
    def _base_dn(cls, value: str | None) -> str | None:
        if value is not None:
            check_dn(value)
        return value

    @model_validator(mode="after")
    def _one_selection(self) -> ExportConfig:
        if self.directory is not None and self.selection_dn() is not None:
            raise ValueError("give either 'directory' or 'base_dn', not both")
        return self

    def selection_dn(self) -> str | None:
        """The DN whose directories this export takes; None: ``directory``, or all."""
        return self.base_dn

    def outputs(self, base_dir: Path) -> dict[str, str]:
        """What this export writes, by its setting: two exports writing the same thing would
        overwrite each other's work, so the config check refuses that."""
        return {}

    def check(self, context: Context) -> None:
        """Look at the target without writing to it (``metadir check``): that it can be
        reached and written where the export writes. Raises ``TargetError`` naming what is
        wrong; by default nothing is checked."""

    def build(self, context: Context) -> Target:
        """The target these settings describe, lent ``context``."""
        raise NotImplementedError(f"export type {self.type!r} cannot be built")
