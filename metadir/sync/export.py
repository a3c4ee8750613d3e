"""One run of one export: the store's changes since the export's saved position, fed to its
target in batches; then the new position, saved with the target's own state.

An export reads the store's change feed (``Store.changes_since``), the one the LDAP server
follows, so it needs no store path of its own. The store keeps an export like a
replicator: a row (named ``export:NAME``, which no replicator name can be) whose state is
the position, and a run record per run. A target that fails, or a cancelled run, keeps the
old position: the next run sends the same changes again, so a target's writes must be
idempotent (an entry's ``uuid`` names it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from metadir.core.errors import MetadirError
from metadir.core.records import StoredEntry
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from replicators.base import Context, ExportConfig, TargetError

# the store's name for an export: ":" keeps it apart from every replicator's name
PREFIX = "export:"
# the export's saved state: its position in the change feed, the directories it was read
# for, and what the target keeps
SEQ, DIRECTORIES, TARGET = "seq", "directories", "target"


@dataclass(frozen=True, slots=True)
class ExportJob:
    """One export and what it reads: what ``run_export`` needs of the configuration."""

    export: ExportConfig
    # the directories whose entries it exports, as the configuration resolved them
    directories: tuple[str, ...]
    # what the export's relative paths are relative to: the config file's folder
    base_dir: Path

    def __post_init__(self) -> None:
        if not self.directories:
            raise ValueError(f"export {self.export.name}: no directory to export")


def run_export(
    store: Store, job: ExportJob, *, full: bool = False, context: Context | None = None
) -> RunRecord:
    """Feed the target what changed since the export's saved position (everything on a
    first or ``full`` run, or when the directories changed), then save the new position.
    What was done; a failed run keeps the old position."""
    export = job.export
    context = context or Context(job.base_dir)
    name = PREFIX + export.name
    # the store files the export under one of its directories; the state says which it reads
    store.ensure_replicator(name, export.type, min(job.directories))
    saved = store.replicator_state(name, export.type)
    position, target_state, note = _resume(None if full else saved, job.directories)
    started = context.clock()
    run = RunRecord(name, "ok", started, started, mode="full" if position == 0 else "incremental")
    try:
        seq, changes = store.changes_since(position, job.directories)
        if saved is None:
            # a first run: the target never had the entries deleted before it (a full or
            # restarted export sends tombstones: the target may hold those entries)
            changes = [entry for entry in changes if not entry.deleted]
        target = export.build(context)
        target.start(target_state)
        for batch in _batches(changes, export.batch_size):
            context.tick(len(batch))  # cancellation between batches
            target.write(batch)
        state = {SEQ: seq, DIRECTORIES: sorted(job.directories), TARGET: target.finish()}
        _check_saveable(state)
    except (MetadirError, OSError) as exc:
        run = replace(run, outcome="failed", message=f"export {export.name}: {exc}", note=note)
        run = replace(run, finished=context.clock())
        store.record_run(run)
        return run
    deleted = sum(entry.deleted for entry in changes)
    run = replace(
        run,
        finished=context.clock(),
        updated=len(changes) - deleted,
        deleted=deleted,
        note=note or f"exported up to change {seq}",
    )
    store.apply(run, state=state)
    return run


def _resume(
    saved: dict[str, Any] | None, directories: Sequence[str]
) -> tuple[int, dict[str, Any] | None, str]:
    """The position to read from, the target's saved state, and why a saved state that
    exists does not count (a full export then)."""
    if saved is None:
        return 0, None, ""
    seq, target = saved.get(SEQ), saved.get(TARGET)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return 0, None, f"saved position unusable ({seq!r}): full export"
    if saved.get(DIRECTORIES) != sorted(directories):
        # entries of a newly exported directory lie before the saved position
        return 0, None, "directories changed: full export"
    return seq, target if isinstance(target, dict) else None, ""


def _batches(changes: list[StoredEntry], size: int) -> Iterator[list[StoredEntry]]:
    for start in range(0, len(changes), size):
        yield changes[start : start + size]


def _check_saveable(state: dict[str, Any]) -> None:
    """Raise ``TargetError`` unless the store can keep ``state`` (JSON without NaN)."""
    try:
        json.dumps(state, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TargetError(f"its state cannot be saved as JSON: {exc}") from None
