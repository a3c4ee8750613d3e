"""One sync run of one replicator: read, map, diff, guard, write in one transaction.

Reading and diffing happen before the write transaction so that it is short. A run that
fails, or that a guard stops, changes no entry and keeps the replicator's saved state;
every run but a dry run is recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from metadir.config import Config, DirectoryConfig
from metadir.errors import SourceError, StoreError
from metadir.phone import Location, PhoneFormat, display, read_number
from metadir.store import EntryData, RunRecord, Store, StoredDigest, paused_gc
from metadir.sync.diff import Diff, Key, diff, digest
from metadir.sync.mapping import Attributes, Mapping, MappingError, RowError, default_mapping
from replicators.base import Checkpoint, Problem, Record, Removed, Replicator, ReplicatorConfig


@dataclass
class SourceRead:
    """A read of a source, mapped: the entries by key (phone numbers not read yet), the line
    each came from, the rows skipped, the keys the source says are gone, and the checkpoint
    the read ended with (none: a full read that keeps no state)."""

    entries: dict[Key, EntryData] = field(default_factory=dict)
    lines: dict[Key, int | None] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    removed: set[Key] = field(default_factory=set)
    checkpoint: Checkpoint | None = None

    @property
    def full(self) -> bool:
        """Whether the read covered the whole source: stored keys it lacks are gone."""
        return self.checkpoint is None or self.checkpoint.full

    def remove(self, key: Key) -> None:
        """The source says ``key`` is gone: a row read with it before no longer counts."""
        self.entries.pop(key, None)
        self.lines.pop(key, None)
        self.removed.add(key)


def run_replicator(
    store: Store,
    config: Config,
    directory: DirectoryConfig,
    rep: ReplicatorConfig,
    *,
    force: bool = False,
    dry_run: bool = False,
    full: bool = False,
) -> RunRecord:
    """Run ``rep`` once against the store; what was done (for a dry run: would be done).

    The source resumes from the state the last applied run saved, unless ``full`` asks it
    to read everything (it gets no state then).
    """
    state = None if full else store.replicator_state(rep.name, rep.type)
    run = RunRecord(
        rep.name,
        "ok",
        started=_now(),
        finished=_now(),
        forced=force,
        mode="full" if state is None else "incremental",
    )
    if not dry_run:
        store.ensure_directory(directory.name, directory.dn)
        store.ensure_replicator(rep.name, rep.type, directory.name)
    changes: Diff | None = None
    read = SourceRead()
    try:
        numbers = Numbers.of(config, directory, rep)
        with paused_gc():
            read = read_source(rep, config.base_dir, numbers.fingerprint, state)
    except (SourceError, MappingError) as exc:
        run = replace(run, outcome="failed", message=f"replicator {rep.name}: {exc}")
    else:
        with paused_gc():
            stored = store.digests(rep.name)
            incoming = {key: e.digest for key, e in read.entries.items()}
            changes = diff(incoming, stored, None if read.full else read.removed)
            kept = _read_numbers(changes, read, stored, numbers)
        stop = guard(rep, changes, read, force)
        run = replace(
            run,
            skipped=len(read.problems),
            problems=read.problems + kept,
            numbers_kept=len(kept),
            outcome="stopped" if stop else "ok",
            message=stop or _forced_note(rep, changes),
            mode="full" if read.full else "incremental",
            note=read.checkpoint.note if read.checkpoint else "",
        )
        if not stop:
            run = replace(
                run,
                added=len(changes.added) + len(changes.revived),
                updated=len(changes.updated),
                deleted=len(changes.deleted),
                unchanged=changes.unchanged,
            )
    run = replace(run, finished=_now())
    if not dry_run:
        run = _write(store, run, changes, read)
    return run


def open_source(rep: ReplicatorConfig, base_dir: Path) -> tuple[Replicator, Mapping]:
    """Build and check the replicator and fit its mapping to the source's fields.

    Raises ``SourceError`` if the source cannot be opened, ``MappingError`` if the mapping
    does not fit the source's fields.
    """
    source = rep.build(base_dir)
    available = source.check()
    mapping = Mapping.compile(rep.mapping or default_mapping(available))
    if not mapping.rules:
        raise MappingError(
            "no mapping given and no source field is named like an attribute "
            f"(fields: {', '.join(available) or 'none'})"
        )
    missing = mapping.missing(available)
    if missing:
        raise MappingError(f"{'; '.join(missing)} (fields: {', '.join(available) or 'none'})")
    return source, mapping


@dataclass(frozen=True, slots=True)
class Numbers:
    """How a replicator's phone numbers are read, and how its directory serves them."""

    location: Location | None
    format: PhoneFormat = "e164"
    # the country of the directory that serves the numbers, for the national format
    country: str | None = None

    @classmethod
    def of(cls, config: Config, directory: DirectoryConfig, rep: ReplicatorConfig) -> Numbers:
        served = config.location_for(directory)
        return cls(
            config.location_for(directory, rep),
            directory.phone_format,
            served.country if served else None,
        )

    @property
    def fingerprint(self) -> str:
        """Part of every entry's digest: reading numbers otherwise rewrites every entry."""
        return repr((self.location, self.format, self.country))

    def apply(
        self, attributes: Attributes, raw_numbers: Attributes
    ) -> tuple[Attributes, list[str]]:
        """Serve ``attributes``' phone values in this format; return their canonical forms,
        and the values that are no phone number (kept as written)."""
        canonical: Attributes = {}
        kept = []
        for name, raws in raw_numbers.items():
            read = [read_number(raw, self.location) for raw in raws]
            canonical[name] = [number.canonical for number in read]
            attributes[name] = [
                display(n, raw, self.format, self.country)
                for n, raw in zip(read, raws, strict=True)
            ]
            kept += [
                f"{name} {raw.strip()!r}"
                for n, raw in zip(read, raws, strict=True)
                if n.kind == "text"
            ]
        return canonical, kept


def _read_numbers(
    changes: Diff, read: SourceRead, stored: dict[Key, StoredDigest], numbers: Numbers
) -> list[Problem]:
    """Read the phone numbers of the entries this run writes, and list the values that are
    no number. Unchanged entries keep what the store has (their digest covers how numbers
    are read); only those the store counts values kept as written for are read again, to
    name them."""
    kept: list[Problem] = []
    written = {key for key, _ in changes.revived + changes.updated}
    written.update(changes.added)
    for key, entry in read.entries.items():
        if key not in written and not stored[key].numbers_kept:
            continue
        canonical, values = numbers.apply(entry.attributes, entry.raw_numbers)
        if key in written:
            read.entries[key] = replace(entry, numbers=canonical, numbers_kept=len(values))
        line = read.lines[key]
        kept += (Problem(f"{value} is no phone number: kept as written", line) for value in values)
    return kept


def read_source(
    rep: ReplicatorConfig, base_dir: Path, reading: str, state: dict[str, Any] | None = None
) -> SourceRead:
    """Check and read the source, from ``state`` on (None: all of it), mapping every row;
    bad rows become problems. Of a row and a removal with the same key, the later counts.

    Raises ``SourceError`` if the source fails or breaks the read protocol,
    ``MappingError`` if the mapping does not fit the source's fields.
    """
    source, mapping = open_source(rep, base_dir)
    read = SourceRead()
    for item in source.read(state):
        if read.checkpoint is not None:
            raise SourceError(
                f"read on after its checkpoint (next: {item!r}); the checkpoint must come last"
            )
        if isinstance(item, Record):
            problem = _add(item, mapping, reading, read)
            if problem:
                read.problems.append(Problem(problem, item.line))
        elif isinstance(item, Problem):
            read.problems.append(item)
        elif isinstance(item, Removed):
            read.remove(_clean_key(item.key))
        elif isinstance(item, Checkpoint):
            read.checkpoint = _saveable(item)
        else:
            raise SourceError(f"yielded {item!r}, not a Record, Problem, Removed or Checkpoint")
    return read


def _add(record: Record, mapping: Mapping, reading: str, read: SourceRead) -> str | None:
    """Map ``record`` into ``read``; what is wrong with it, if anything."""
    key = _clean_key(record.key)
    if not any(key):
        return "empty key"
    if key in read.lines:
        first = read.lines[key]
        where = f"line {first}" if first is not None else "an earlier row"
        return f"duplicate key {_show_key(key)}, first seen on {where}"
    # the first row with a key wins, even when it cannot be used itself
    read.lines[key] = record.line
    read.removed.discard(key)
    try:
        attributes, raw_numbers = mapping.apply(record.values)
    except RowError as exc:
        return str(exc)
    read.entries[key] = EntryData(
        key, attributes, raw_numbers, {}, digest(attributes, raw_numbers, reading)
    )
    return None


def _clean_key(key: Key) -> Key:
    return tuple(part.strip() for part in key)


def _saveable(checkpoint: Checkpoint) -> Checkpoint:
    """``checkpoint``, if the store can keep its state (JSON without NaN, as PostgreSQL)."""
    try:
        json.dumps(checkpoint.state, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SourceError(f"its checkpoint state cannot be saved as JSON: {exc}") from None
    return checkpoint


def guard(rep: ReplicatorConfig, changes: Diff, read: SourceRead, force: bool) -> str | None:
    """Why the run must not be applied, or None. A first run is never stopped; a full read
    without a usable row never deletes (an incremental one is empty when nothing changed)."""
    if changes.live == 0:
        return None
    if read.full and not read.entries:
        rows = f"no usable rows ({len(read.problems)} skipped)" if read.problems else "no rows"
        return f"source returned {rows}; refusing to delete {changes.live} entries"
    if len(changes.deleted) > rep.max_delete.allowed(changes.live) and not force:
        return f"would {_deletion(rep, changes)}; run with --force to apply"
    return None


def _forced_note(rep: ReplicatorConfig, changes: Diff) -> str:
    if changes.live and len(changes.deleted) > rep.max_delete.allowed(changes.live):
        return f"forced: {_deletion(rep, changes)}"
    return ""


def _deletion(rep: ReplicatorConfig, changes: Diff) -> str:
    share = 100 * len(changes.deleted) / changes.live
    return (
        f"delete {len(changes.deleted)} of {changes.live} entries ({share:.1f} %), "
        f"more than max_delete {rep.max_delete}"
    )


def _write(store: Store, run: RunRecord, changes: Diff | None, read: SourceRead) -> RunRecord:
    """Apply an ok run and save the state it ends with; record a failed or stopped one."""
    if run.outcome != "ok" or changes is None:
        store.record_run(run)
        return run
    entries = read.entries
    try:
        store.apply(
            run,
            added=[entries[key] for key in changes.added],
            updated=[
                (entry_id, entries[key]) for key, entry_id in changes.revived + changes.updated
            ],
            deleted=changes.deleted,
            state=read.checkpoint.state if read.checkpoint else None,
        )
    except StoreError as exc:
        run = replace(
            run, outcome="failed", message=str(exc), added=0, updated=0, deleted=0, unchanged=0
        )
        store.record_run(run)
    return run


def _show_key(key: Key) -> str:
    return repr(key[0]) if len(key) == 1 else repr(key)


def _now() -> datetime:
    return datetime.now(UTC)
