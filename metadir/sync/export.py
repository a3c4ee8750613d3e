"""One run of one export: the store's changes since the export's saved position, selected
and fed to its target in batches; then the new position, saved with the target's own state.

An export reads the store's change feed (``Store.changes_since``), the one the LDAP server
follows, so it needs no store path of its own. The store keeps an export like a
replicator: a row (named ``export:NAME``, which no replicator name can be) whose state is
the position, and a run record per run. A target that fails, or a cancelled run, keeps the
old position: the next run sends the same changes again, so a target's writes must be
idempotent (an entry's ``uuid`` names it).

The state also keeps which entries the target holds (their store ids, as a compressed
bitmap): an entry that changed and left the export's selection (another directory, a value
the filter no longer matches) is sent as a tombstone only if the target holds it, and the
delete guard weighs a run's deletions against what the target holds.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pyroaring import BitMap

from metadir.core.errors import MetadirError
from metadir.core.records import Problem, StoredEntry
from metadir.store.leases import EXPORT_PREFIX, Lease
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.job import ExportJob
from replicators.base import Context, ExportConfig, Target, TargetError, TargetNeedsFull

# the store's name for an export: ":" keeps it apart from every replicator's name
PREFIX = EXPORT_PREFIX
# the export's saved state: its position in the change feed, the directories and the
# filter it was read for, the entries the target holds, and what the target keeps
SEQ, DIRECTORIES, SELECTION, HELD, TARGET = "seq", "directories", "filter", "held", "target"


@dataclass(frozen=True, slots=True)
class _Start:
    """Where a run starts: the position, the target's state, and why it starts over."""

    position: int
    target: dict[str, Any] | None
    note: str = ""


def run_export(
    store: Store,
    job: ExportJob,
    *,
    full: bool = False,
    force: bool = False,
    context: Context | None = None,
    lease: Lease | None = None,
    node: str = "",
    trigger: str = "manual",
    slot: datetime | None = None,
) -> RunRecord:
    """Feed the target what changed since the export's saved position (everything on a
    first or ``full`` run, when the directories or the filter changed, or when the target
    asks for it), then save the new position. A run that would delete more than
    ``max_delete`` of what the target holds stops before writing, unless ``force``.

    With ``lease``, the new position is saved only if the lease is still held; the run is
    recorded with the ``node`` that ran it, its ``trigger`` and schedule ``slot``. What was
    done; a failed or stopped run keeps the old position."""
    export = job.export
    context = context or Context(job.base_dir)
    name = PREFIX + export.name
    # the store files the export under one of its directories; the state says which it reads
    store.ensure_replicator(name, export.type, min(job.directories))
    saved = store.replicator_state(name, export.type)
    start = _resume(None if full else saved, job)
    held = _held(saved)
    began = context.clock()
    mode = "full" if start.position == 0 else "incremental"
    run = RunRecord(name, "ok", began, began, forced=force, mode=mode, node=node,
                    trigger=trigger, slot=slot)  # fmt: skip
    try:
        with closing(export.build(context)) as target:
            start = _started(target, start)
            run = replace(
                run, mode="full" if start.position == 0 else "incremental", note=start.note
            )
            context.phase("read")
            seq, changes = store.changes_since(start.position)
            sent, taken = _selected(changes, job, held)
            deleted = sum(entry.deleted for entry in sent)
            if stop := None if force else _guard(export, deleted, held):
                run = replace(run, outcome="stopped", message=f"export {export.name}: {stop}")
                return _recorded(store, replace(run, finished=context.clock()))
            problems = _written(target, sent, export.batch_size, context)
            refused = _refused(sent, problems)
            now_held = _now_held(held, changes, taken, refused)
            state = {
                SEQ: seq,
                DIRECTORIES: sorted(job.directories),
                SELECTION: export.filter,
                HELD: _encode(now_held),
                TARGET: target.finish(),
            }
            _check_saveable(state)
    except (MetadirError, OSError) as exc:
        run = replace(run, outcome="failed", message=f"export {export.name}: {exc}")
        return _recorded(store, replace(run, finished=context.clock()))
    written = [entry for entry in sent if entry.id not in refused]
    deleted = sum(entry.deleted for entry in written)
    added = sum(
        1 for entry in written if not entry.deleted and (held is None or entry.id not in held)
    )
    run = replace(
        run,
        finished=context.clock(),
        added=added,
        updated=len(written) - deleted - added,
        deleted=deleted,
        skipped=len(refused),
        problems=problems,
        note=run.note or f"exported up to change {seq}; the target holds {len(now_held)}",
    )
    _, run_id = store.apply(run, state=state, lease=lease)
    return replace(run, id=run_id)


def _recorded(store: Store, run: RunRecord) -> RunRecord:
    return replace(run, id=store.record_run(run))


def _resume(saved: dict[str, Any] | None, job: ExportJob) -> _Start:
    """Where to read from, given the saved state (None: a first or full run)."""
    if saved is None:
        return _Start(0, None)
    seq, target = saved.get(SEQ), saved.get(TARGET)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return _Start(0, None, f"saved position unusable ({seq!r}): full export")
    if saved.get(DIRECTORIES) != sorted(job.directories):
        # entries of a newly exported directory lie before the saved position
        return _Start(0, None, "directories changed: full export")
    if saved.get(SELECTION) != job.export.filter:
        # so do entries the new filter takes and the old one did not
        return _Start(0, None, "filter changed: full export")
    return _Start(seq, target if isinstance(target, dict) else None)


def _started(target: Target, start: _Start) -> _Start:
    """Start ``target`` from ``start``; from the beginning if it lost its own state."""
    try:
        target.start(start.target)
    except TargetNeedsFull as exc:
        target.start(None)
        return _Start(0, None, f"the target asked for a full export: {exc}")
    return start


def _held(saved: dict[str, Any] | None) -> BitMap | None:
    """The ids of the entries the target holds; None if the state cannot say (then every
    entry that left the selection is sent as a tombstone: the target may hold it)."""
    if saved is None:
        return BitMap()  # a first run: the target holds nothing of ours
    try:
        return BitMap.deserialize(base64.b64decode(saved[HELD], validate=True))
    except (KeyError, TypeError, ValueError):
        return None


def _encode(held: BitMap) -> str:
    return base64.b64encode(held.serialize()).decode("ascii")


def _selected(
    changes: list[StoredEntry], job: ExportJob, held: BitMap | None
) -> tuple[list[StoredEntry], BitMap]:
    """What to send of ``changes`` (every directory's): the live entries the export takes,
    and a tombstone for each other one the target may hold; and the ids of those taken."""
    wanted = set(job.directories)
    live = [entry for entry in changes if not entry.deleted and entry.directory in wanted]
    if job.select is None:
        taken = BitMap(entry.id for entry in live)
    else:
        taken = BitMap()
        for batch in _batches(live, job.export.batch_size):
            taken.update(job.select(batch))
    sent = []
    for entry in changes:
        if entry.id in taken:
            sent.append(entry)
        elif held is None or entry.id in held:
            sent.append(entry if entry.deleted else replace(entry, deleted=True))
    return sent, taken


def _written(target: Target, sent: list[StoredEntry], size: int, context: Context) -> list[Problem]:
    """Hand ``sent`` to ``target`` in batches; the entries it refused."""
    context.phase("write")
    context.expect(len(sent))
    problems: list[Problem] = []
    for batch in _batches(sent, size):
        context.tick(len(batch))  # cancellation between batches
        problems += target.write(batch)
    return problems


def _refused(sent: list[StoredEntry], problems: list[Problem]) -> BitMap:
    """The ids of the entries the target refused, by the uuids its problems name."""
    uuids = {problem.key[0] for problem in problems if problem.key}
    return BitMap(entry.id for entry in sent if entry.uuid in uuids)


def _now_held(
    held: BitMap | None, changes: list[StoredEntry], taken: BitMap, refused: BitMap
) -> BitMap:
    """What the target holds once ``changes`` are written: of a refused entry, what it
    held before (an update or deletion refused leaves it there, an add refused does not)."""
    before = held or BitMap()
    changed = BitMap(entry.id for entry in changes)
    return (((before - changed) | taken) - refused) | (before & refused)


def _guard(export: ExportConfig, deleted: int, held: BitMap | None) -> str | None:
    """Why the run must not be written, or None: it deletes more than ``max_delete`` of
    what the target holds. A target that holds nothing (or no one knows what) is never
    guarded."""
    if not held or deleted <= export.max_delete.allowed(len(held)):
        return None
    share = 100 * deleted / len(held)
    return (
        f"would delete {deleted} of the {len(held)} entries the target holds "
        f"({share:.1f} %), more than max_delete {export.max_delete}; "
        "run with --force to apply"
    )


def _batches(changes: list[StoredEntry], size: int) -> Iterator[list[StoredEntry]]:
    for start in range(0, len(changes), size):
        yield changes[start : start + size]


def _check_saveable(state: dict[str, Any]) -> None:
    """Raise ``TargetError`` unless the store can keep ``state`` (JSON without NaN)."""
    try:
        json.dumps(state, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TargetError(f"its state cannot be saved as JSON: {exc}") from None
