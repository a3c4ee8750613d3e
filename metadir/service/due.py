"""What the scheduler should start now: a pure function of the schedules, the leases in the
store and the time, so that cron slots, catch-up and ordering are tested on plain values.

Slots are absolute times every node computes alike; the lease row keeps the slot last run
and whether it was finished, so a slot runs once across all nodes: a node that finds it
done skips it, a node that finds it taken but expired (its holder died) runs it again.

Exports are scheduled beside the replicators, by their lease names (``export:NAME``); an
export belongs to no directory here (it only reads, so it neither waits for imports nor
holds them up). One without a schedule is due when an import of its directories changed
something (``after_import``, kept by ``metadir.service.exports``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from metadir.core.schedule import Schedule
from metadir.store.leases import LeaseState

# the trigger of an export's run after an import of its directories changed something
AFTER_IMPORT = "after-import"


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A replicator or export with a schedule, in config order, by its lease name;
    ``directory`` None: an export, which waits for no directory."""

    replicator: str
    directory: str | None
    schedule: Schedule


@dataclass(frozen=True, slots=True)
class Due:
    """A run to try to take a lease for: ``slot`` is the schedule slot it stands for (None: a
    start run outside any slot)."""

    replicator: str
    slot: datetime | None
    trigger: str


def due_runs(
    scheduled: Sequence[Scheduled],
    leases: Mapping[str, LeaseState],
    now: datetime,
    *,
    running: Collection[str],
    start_pending: Collection[str],
    after_import: Sequence[str] = (),
) -> list[Due]:
    """The runs to start at ``now``: at most one replicator per directory, the first due in
    config order, and none in a directory where this node runs a worker already (runs of
    one directory go in order; the lease keeps other nodes to it too); each export due
    that runs nowhere.

    ``running``: replicators and exports with a worker on this node; ``start_pending``:
    those with ``run_at_start`` that have not run since this node started;
    ``after_import``: exports without a schedule waiting for a run after an import. Of all
    slots missed while no node ran, only the latest is due: a catch-up is one run, not one
    per slot. An export running here or elsewhere runs once more after it ends.
    """
    busy = {s.directory for s in scheduled if s.replicator in running and s.directory}
    found: list[Due] = []
    for item in scheduled:
        if item.directory in busy or item.replicator in running:
            continue
        due = _due(item, leases.get(item.replicator), now, item.replicator in start_pending)
        if due is not None:
            found.append(due)
            if item.directory is not None:
                busy.add(item.directory)
    found += [
        Due(name, None, AFTER_IMPORT)
        for name in after_import
        if name not in running and not _held(leases.get(name))
    ]
    return found


def _due(item: Scheduled, lease: LeaseState | None, now: datetime, start: bool) -> Due | None:
    slot = item.schedule.latest(now)
    if _held(lease):
        return None  # running somewhere; its holder renews or it expires
    if slot is not None and _slot_open(slot, lease):
        return Due(item.replicator, slot, "start" if start else "schedule")
    if start:
        return Due(item.replicator, None, "start")
    return None


def _held(lease: LeaseState | None) -> bool:
    return lease is not None and lease.holder is not None and not lease.expired


def _slot_open(slot: datetime, lease: LeaseState | None) -> bool:
    """Whether ``slot`` still needs a run: never run, a later slot than the last one run, or
    that slot taken by a holder that died before finishing it."""
    if lease is None or lease.slot is None or lease.slot < slot:
        return True
    return lease.slot == slot and not lease.slot_done
