"""One sync run of one replicator: read, map, diff, guard, write in one transaction.

Reading and diffing happen before the write transaction so that it is short. A run that
fails, or that a guard stops, changes no entry and keeps the replicator's saved state;
every run but a dry run is recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from metadir.core.errors import SourceError, StoreError
from metadir.core.memory import paused_gc
from metadir.store.entries import EntryData, StoredDigest
from metadir.store.leases import Lease
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.diff import Diff, Key, diff, digest
from metadir.sync.job import Job, Numbers
from metadir.sync.mapping import Mapping, MappingError, RowError, default_mapping
from replicators.base import (
    Checkpoint,
    Context,
    Problem,
    Record,
    Removed,
    Replicator,
    ReplicatorConfig,
    SourceChanged,
)

# seconds to wait before reading a source again that changed while it was read
REREAD_AFTER = 2.0
# max_update as a share never stops a run updating this many entries or fewer: in a small
# directory most entries change by everyday edits
UPDATE_FLOOR = 10


@dataclass
class SourceRead:
    """A read of a source, mapped: the entries by key (phone numbers not read yet), the line
    each came from, the rows skipped, the keys the source says are gone, and the checkpoint
    the read ended with (none: a full read that keeps no state), and how the source read
    (``ReplicatorConfig.reading``).

    Of the skipped rows, ``skipped`` holds the keys that could be read (key -> line) and
    ``keyless`` the lines of those whose key could not: the engine keeps the former's
    entries as they were and lets the latter hold back a full read's deletions."""

    entries: dict[Key, EntryData] = field(default_factory=dict)
    lines: dict[Key, int | None] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    removed: set[Key] = field(default_factory=set)
    checkpoint: Checkpoint | None = None
    skipped: dict[Key, int | None] = field(default_factory=dict)
    keyless: list[int | None] = field(default_factory=list)
    reading: str = ""

    @property
    def reported(self) -> tuple[Problem, ...]:
        """What the source reported of the read as a whole, with its checkpoint."""
        return self.checkpoint.reported if self.checkpoint else ()

    @property
    def full(self) -> bool:
        """Whether the read covered the whole source: stored keys it lacks are gone."""
        return self.checkpoint is None or self.checkpoint.full

    def remove(self, key: Key) -> None:
        """The source says ``key`` is gone: a row read with it before no longer counts."""
        self.entries.pop(key, None)
        self.lines.pop(key, None)
        self.skipped.pop(key, None)
        self.removed.add(key)

    def skip(self, problem: Problem) -> None:
        """A row that cannot be used: report it (as the run record keeps it: message and
        line), and note its key if it could be read."""
        self.problems.append(Problem(problem.message, problem.line))
        key = _clean_key(problem.key) if problem.key is not None else None
        if key is None or not any(key):
            self.keyless.append(problem.line)
        else:
            self.skipped.setdefault(key, problem.line)
            self.removed.discard(key)


def run_replicator(
    store: Store,
    job: Job,
    *,
    force: bool = False,
    dry_run: bool = False,
    full: bool = False,
    pause: Callable[[float], object] = time.sleep,
    context: Context | None = None,
    lease: Lease | None = None,
    node: str = "",
    trigger: str = "manual",
    slot: datetime | None = None,
) -> RunRecord:
    """Run ``rep`` once against the store; what was done (for a dry run: would be done).

    The source resumes from the state the last applied run saved, unless ``full`` asks it
    to read everything (it gets no state then). A source that changed while it was read is
    read once more, after ``pause(REREAD_AFTER)``. The source is built with ``context``
    (clock, cancellation, progress), by default one that lends it only ``job.base_dir``;
    a cancelled read fails the run, which then changes nothing.

    With ``lease``, the run's changes are written only if the lease is still held (checked
    in the writing transaction); the run is recorded with the ``node`` that ran it and
    what started it (``trigger``: schedule, start, manual or web; ``slot``: the schedule slot).
    """
    rep = job.replicator
    context = context or Context(job.base_dir)
    state = None if full else store.replicator_state(rep.name, rep.type)
    run = RunRecord(
        rep.name,
        "ok",
        started=_now(),
        finished=_now(),
        forced=force,
        mode="full" if state is None else "incremental",
        node=node,
        trigger=trigger,
        slot=slot,
    )
    if not dry_run:
        store.ensure_directory(job.directory, job.base_dn)
        store.ensure_replicator(rep.name, rep.type, job.directory)
    changes: Diff | None = None
    read = SourceRead()
    try:
        numbers = job.numbers
        read = _settled_read(rep, context, numbers.fingerprint, state, pause)
    except (SourceError, MappingError) as exc:
        reported = list(exc.problems) if isinstance(exc, SourceError) else []
        run = replace(
            run, outcome="failed", message=f"replicator {rep.name}: {exc}", problems=reported
        )
    else:
        context.phase("diff")
        with paused_gc():
            stored = store.digests(rep.name)
            incoming = {key: e.digest for key, e in read.entries.items()}
            changes = diff(incoming, stored, None if read.full else read.removed, read.skipped)
            changes, held = hold_back(changes, read, force)
            kept = _read_numbers(changes, read, stored, numbers)
        stop = guard(rep, changes, read, force)
        notes = [_kept_note(changes, read), held, _forced_note(rep, changes)]
        run = replace(
            run,
            skipped=len(read.problems),
            problems=read.problems + kept + list(read.reported),
            numbers_kept=len(kept),
            outcome="stopped" if stop else "ok",
            message=stop or "; ".join(note for note in notes if note),
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
    run = replace(_unless_cancelled(run, context), finished=_now())
    if not dry_run:
        # also for a failed or stopped run: recording it is the write
        context.phase("write")
        run = _write(store, run, changes, read, lease)
    return run


def _settled_read(
    rep: ReplicatorConfig,
    context: Context,
    reading: str,
    state: dict[str, Any] | None,
    pause: Callable[[float], object],
) -> SourceRead:
    """``read_source``, once more after a pause if the source changed while it was read.
    Raises ``SourceChanged`` if it changed during both reads."""
    try:
        with paused_gc():
            return read_source(rep, context, reading, state)
    except SourceChanged:
        # a program rewriting a file is usually done within seconds
        pause(REREAD_AFTER)
    try:
        with paused_gc():
            return read_source(rep, context, reading, state)
    except SourceChanged as exc:
        raise SourceChanged(f"{exc} (also when read again {REREAD_AFTER:g} s later)") from None


def open_source(rep: ReplicatorConfig, context: Context) -> tuple[Replicator, Mapping]:
    """Build the replicator with ``context``, check it and fit its mapping to the source's
    fields.

    Raises ``SourceError`` if the source cannot be opened, ``MappingError`` if the mapping
    does not fit the source's fields.
    """
    source = rep.build(context)
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
    rep: ReplicatorConfig, context: Context, reading: str, state: dict[str, Any] | None = None
) -> SourceRead:
    """Check and read the source, from ``state`` on (None: all of it), mapping every row;
    bad rows become problems. Of a row and a removal with the same key, the later counts.

    Raises ``SourceError`` if the source fails or breaks the read protocol,
    ``MappingError`` if the mapping does not fit the source's fields.
    """
    context.phase("connect")
    source, mapping = open_source(rep, context)
    context.phase("read")
    # a read again (the source changed meanwhile) counts its rows from the start
    context.rows = 0
    read = SourceRead()
    for item in source.read(state):
        if read.checkpoint is not None:
            raise SourceError(
                f"read on after its checkpoint (next: {item!r}); the checkpoint must come last"
            )
        if isinstance(item, Record):
            _add(item, mapping, reading, read)
        elif isinstance(item, Problem):
            read.skip(item)
        elif isinstance(item, Removed):
            read.remove(_clean_key(item.key))
        elif isinstance(item, Checkpoint):
            read.checkpoint = _saveable(item)
        else:
            raise SourceError(f"yielded {item!r}, not a Record, Problem, Removed or Checkpoint")
    read.reading = rep.reading(source)
    return read


def _add(record: Record, mapping: Mapping, reading: str, read: SourceRead) -> None:
    """Map ``record`` into ``read``, or skip it saying why."""
    key = _clean_key(record.key)
    if not any(key):
        read.skip(Problem("empty key", record.line))
        return
    if key in read.lines:
        first = read.lines[key]
        where = f"line {first}" if first is not None else "an earlier row"
        # the entry is the first row's: this one is no row of its own to keep
        message = f"duplicate key {_show_key(key)}, first seen on {where}"
        read.problems.append(Problem(message, record.line))
        return
    # the first row with a key wins, even when it cannot be used itself
    read.lines[key] = record.line
    read.removed.discard(key)
    try:
        attributes, raw_numbers = mapping.apply(record.values)
    except RowError as exc:
        read.skip(Problem(str(exc), record.line, key))
        return
    read.entries[key] = EntryData(
        key, attributes, raw_numbers, {}, digest(attributes, raw_numbers, reading)
    )


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
    without a usable row never deletes (an incremental one is empty when nothing changed);
    beyond ``max_delete`` or ``max_update`` only a forced run goes on."""
    if changes.live == 0:
        return None
    if read.full and not read.entries:
        rows = f"no usable rows ({len(read.problems)} skipped)" if read.problems else "no rows"
        return f"source returned {rows}; refusing to delete {changes.live} entries"
    if len(changes.deleted) > rep.max_delete.allowed(changes.live) and not force:
        return f"would {_deletion(rep, changes)}; run with --force to apply"
    if _rewrites(rep, changes) and not force:
        # a source read otherwise (a CSV in another encoding) rewrites nearly every entry
        hint = f"{read.reading}; " if read.reading else ""
        return (
            f"would {_update(rep, changes)}; {hint}if the change is meant (a new mapping, "
            "location or phone format), run with --force to apply"
        )
    return None


def hold_back(changes: Diff, read: SourceRead, force: bool) -> tuple[Diff, str]:
    """A full read that skipped rows whose key it could not read cannot tell which of the
    entries it lacks those rows held: it deletes none of them unless forced. The changes to
    apply, and what was held back or forced, if anything."""
    if not (read.full and read.keyless and changes.deleted):
        return changes, ""
    keyless = read.keyless
    rows = f"{_count(len(keyless), 'skipped row')} ({_where(keyless)}) without a readable key"
    if force:
        return changes, f"forced: {len(changes.deleted)} deleted although {rows}"
    held = (
        f"{_count(len(changes.deleted), 'deletion')} held back: {rows}, so the run cannot "
        "tell which entries the source really lacks; fix them or run with --force"
    )
    return replace(changes, deleted=[]), held


def _kept_note(changes: Diff, read: SourceRead) -> str:
    if not changes.kept:
        return ""
    lines = [read.skipped[key] for key in changes.kept]
    if len(lines) == 1:
        return f"kept as it was: {_where(lines)}"
    return f"{len(lines)} entries kept as they were: {_where(lines)}"


def _where(lines: list[int | None], shown: int = 5) -> str:
    """``line 4`` or ``lines 4, 7, 9 and 3 more`` (rows without a line number count in the
    more)."""
    numbers = sorted(line for line in lines if line is not None)
    if not numbers:
        return "no line known"
    listed = ", ".join(map(str, numbers[:shown]))
    more = len(lines) - min(len(numbers), shown)
    return (
        ("line " if len(lines) == 1 else "lines ") + listed + (f" and {more} more" if more else "")
    )


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _forced_note(rep: ReplicatorConfig, changes: Diff) -> str:
    forced = []
    if changes.live and len(changes.deleted) > rep.max_delete.allowed(changes.live):
        forced.append(_deletion(rep, changes))
    if _rewrites(rep, changes):
        forced.append(_update(rep, changes))
    return f"forced: {' and '.join(forced)}" if forced else ""


def _rewrites(rep: ReplicatorConfig, changes: Diff) -> bool:
    return len(changes.updated) > rep.max_update.allowed(changes.live, UPDATE_FLOOR)


def _update(rep: ReplicatorConfig, changes: Diff) -> str:
    share = 100 * len(changes.updated) / changes.live
    return (
        f"update {len(changes.updated)} of {changes.live} entries ({share:.1f} %), "
        f"more than max_update {rep.max_update}"
    )


def _deletion(rep: ReplicatorConfig, changes: Diff) -> str:
    share = 100 * len(changes.deleted) / changes.live
    return (
        f"delete {len(changes.deleted)} of {changes.live} entries ({share:.1f} %), "
        f"more than max_delete {rep.max_delete}"
    )


def _write(
    store: Store, run: RunRecord, changes: Diff | None, read: SourceRead, lease: Lease | None
) -> RunRecord:
    """Apply an ok run (if ``lease`` is still held) and save the state it ends with; record
    a failed or stopped one. The run as recorded, with its id."""
    if run.outcome != "ok" or changes is None:
        return replace(run, id=store.record_run(run))
    entries = read.entries
    try:
        with paused_gc():
            _seq, run_id = store.apply(
                run,
                added=[entries[key] for key in changes.added],
                updated=[
                    (entry_id, entries[key]) for key, entry_id in changes.revived + changes.updated
                ],
                deleted=changes.deleted,
                state=read.checkpoint.state if read.checkpoint else None,
                lease=lease,
            )
    except StoreError as exc:  # LeaseLost among them: the run wrote nothing
        run = replace(
            run, outcome="failed", message=str(exc), added=0, updated=0, deleted=0, unchanged=0
        )
        return replace(run, id=store.record_run(run))
    return replace(run, id=run_id)


def _unless_cancelled(run: RunRecord, context: Context) -> RunRecord:
    """``run``, or failed if the program asked it to stop once the read was done (a run past
    its timeout, a lost lease): sources are asked between rows, this is the last word
    before anything is written."""
    why = context.cancelled() if run.outcome == "ok" else False
    if not why:
        return run
    reason = why if isinstance(why, str) else "cancelled"
    return replace(
        run,
        outcome="failed",
        message=f"replicator {run.replicator}: {reason} (before writing)",
        added=0, updated=0, deleted=0, unchanged=0,
    )  # fmt: skip


def _show_key(key: Key) -> str:
    return repr(key[0]) if len(key) == 1 else repr(key)


def _now() -> datetime:
    return datetime.now(UTC)
