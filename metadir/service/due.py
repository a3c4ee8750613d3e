"""What the scheduler should start now: a pure function of the schedules, the leases in the
store and the time, so that cron slots, catch-up and ordering are tested on plain values.

Slots are absolute times every node computes alike; the lease row keeps the slot last run
and whether it was finished, so a slot runs once across all nodes: a node that finds it
done skips it, a node that finds it taken but expired (its holder died) runs it again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from metadir.core.schedule import Schedule
from metadir.store.leases import LeaseState


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A replicator with a schedule, in config order."""

    replicator: str
    directory: str
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
) -> list[Due]:
    """The runs to start at ``now``: at most one per directory, the first due in config
    order, and none in a directory where this node runs a worker already (runs of one
    directory go in order; the lease keeps other nodes to it too).

    ``running``: replicators with a worker on this node; ``start_pending``: those with
    ``run_at_start`` that have not run since this node started. Of all slots missed while
    no node ran, only the latest is due: a catch-up is one run, not one per slot.
    """
    busy = {s.directory for s in scheduled if s.replicator in running}
    found: list[Due] = []
    for item in scheduled:
        if item.directory in busy:
            continue
        due = _due(item, leases.get(item.replicator), now, item.replicator in start_pending)
        if due is not None:
            found.append(due)
            busy.add(item.directory)
    return found


def _due(item: Scheduled, lease: LeaseState | None, now: datetime, start: bool) -> Due | None:
    slot = item.schedule.latest(now)
    if lease is not None and lease.holder is not None and not lease.expired:
        return None  # running somewhere; its holder renews or it expires
    if slot is not None and _slot_open(slot, lease):
        return Due(item.replicator, slot, "start" if start else "schedule")
    if start:
        return Due(item.replicator, None, "start")
    return None


def _slot_open(slot: datetime, lease: LeaseState | None) -> bool:
    """Whether ``slot`` still needs a run: never run, a later slot than the last one run, or
    that slot taken by a holder that died before finishing it."""
    if lease is None or lease.slot is None or lease.slot < slot:
        return True
    return lease.slot == slot and not lease.slot_done
