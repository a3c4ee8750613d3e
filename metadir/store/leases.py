"""Leases: which node runs a replicator now, so that a replicator runs once at a time and
two replicators of one directory never run together, on however many nodes share the store.

A lease is a row per replicator: its holder (a node name), an expiry the holder keeps
renewing, and a fencing token that grows with every grant. A holder that stops renewing
(killed, paused, cut off) loses the lease when it expires; the next node to ask takes it
over. A run writes its changes only if its lease is still its own (``check``, the first
thing in the writing transaction), so a holder that comes back after a takeover writes
nothing. Every time that decides a lease is the database's clock (``db_now``): nodes whose
clocks disagree still agree on who holds what.

An export (a row named ``export:NAME``) is leased the same way, but it only reads its
directories' entries: it neither waits for their replicators nor keeps them waiting.

PostgreSQL: ``acquire`` locks the directory's row and then the lease rows of the whole
directory, so two nodes asking for two replicators of one directory are served one after
the other. SQLite: every writing transaction holds the file's write lock anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Row, ScalarSelect, select, text, update

from metadir.core.errors import LeaseLost, StoreError
from metadir.store.connection import insert_ignoring_conflict, shown_url
from metadir.store.models import directories, leases, replicators

# the names of exports' rows begin with this (no replicator's name can)
EXPORT_PREFIX = "export:"
# the running run's progress as the lease keeper writes it; cleared with every grant
_NO_PROGRESS = {"phase": None, "rows": None, "total": None, "progress_at": None}


@dataclass(frozen=True, slots=True)
class Lease:
    """A grant held by this process: run ``replicator`` until ``expires`` (db clock)."""

    replicator: str
    holder: str  # node name
    token: int
    expires: datetime
    # the previous holder, whose lease had expired without being released
    taken_over_from: str | None = None
    # seconds each grant or renewal lasts; a commit under the lease renews it as well
    ttl: float = 30.0


@dataclass(frozen=True, slots=True)
class Busy:
    """Why a lease was not granted."""

    # the replicator whose lease blocks: the one asked for, or a sibling in its directory
    replicator: str
    holder: str | None  # the node holding it (None for reason "done")
    since: datetime | None  # its acquired_at
    trigger: str | None
    reason: str  # "running" | "directory" | "done"

    def why(self, name: str) -> str:
        """Why ``name`` cannot run now, in words (``metadir sync`` and Run now say it)."""
        since = f" since {self.since.astimezone():%Y-%m-%d %H:%M:%S %Z}" if self.since else ""
        trigger = f" ({self.trigger})" if self.trigger else ""
        if self.reason == "directory":
            return (f"{name} waits for its directory: {self.replicator} is running on node "
                    f"{self.holder}{since}{trigger}")  # fmt: skip
        return f"{name} is running on node {self.holder}{since}{trigger}"


@dataclass(frozen=True, slots=True)
class LeaseState:
    """A lease row as ``metadir status`` shows it. With no holder, ``acquired_at``,
    ``trigger`` and ``slot`` tell of the last run."""

    replicator: str
    holder: str | None
    token: int
    acquired_at: datetime | None
    expires_at: datetime | None
    trigger: str | None
    slot: datetime | None
    slot_done: bool
    phase: str | None
    rows: int | None
    total: int | None
    progress_at: datetime | None
    # a holder is set but its lease ran out (db clock): it is down or cut off
    expired: bool


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the running run is: its phase, rows read, and the rows expected if known."""

    phase: str
    rows: int
    total: int | None = None


def db_now(conn: Connection) -> datetime:
    """The database's clock (UTC): what decides leases, never a node's own clock."""
    if conn.dialect.name == "postgresql":
        # clock_timestamp(), not now(): now() is frozen at the transaction's start, which
        # may have waited long for a row lock
        value: datetime = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        return value.astimezone(UTC)
    shown = conn.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
    return datetime.fromisoformat(shown).replace(tzinfo=UTC)


def acquire(
    conn: Connection,
    replicator: str,
    holder: str,
    ttl: float,
    trigger: str,
    slot: datetime | None,
) -> Lease | Busy:
    """Grant ``holder`` the lease on ``replicator`` for ``ttl`` seconds, or say who has it
    (or its directory), or that schedule ``slot`` was run already."""
    found = conn.execute(
        select(replicators.c.id, replicators.c.directory_id).where(replicators.c.name == replicator)
    ).first()
    if found is None:
        raise StoreError(f"store {shown_url(conn.engine)}: no replicator named {replicator!r}")
    replicator_id, directory_id = found
    # first the directory: whoever asks for a replicator of it waits here for whoever asked
    # before, so two nodes cannot both find the directory free
    conn.execute(select(directories.c.id).where(directories.c.id == directory_id).with_for_update())
    insert_ignoring_conflict(conn, leases, {"replicator_id": replicator_id})
    # then every lease of the directory, in one order: a sibling's holder renewing at its
    # expiry must not slip in between our look and our grant
    rows = conn.execute(
        select(leases, replicators.c.name.label("replicator"))
        .join(replicators, leases.c.replicator_id == replicators.c.id)
        .where(replicators.c.directory_id == directory_id)
        .order_by(leases.c.replicator_id)
        .with_for_update(of=leases)
    ).all()
    now = db_now(conn)
    own = next(row for row in rows if row.replicator_id == replicator_id)
    if _held(own, now):
        return Busy(replicator, own.holder, own.acquired_at, own.trigger, "running")
    # an export only reads: it neither waits for its directory's replicators nor blocks them
    siblings = () if _export(replicator) else rows
    for row in siblings:
        if row.replicator_id != replicator_id and not _export(row.replicator) and _held(row, now):
            return Busy(row.replicator, row.holder, row.acquired_at, row.trigger, "directory")
    if slot is not None and own.slot_done and own.slot is not None and own.slot >= slot:
        return Busy(replicator, None, own.acquired_at, own.trigger, "done")
    expires = now + timedelta(seconds=ttl)
    token = own.token + 1
    conn.execute(
        update(leases)
        .where(leases.c.replicator_id == replicator_id)
        .values(
            holder=holder,
            token=token,
            acquired_at=now,
            expires_at=expires,
            trigger=trigger,
            slot=own.slot if slot is None else slot,
            slot_done=False,
            **_NO_PROGRESS,
        )
    )
    return Lease(replicator, holder, token, expires, taken_over_from=own.holder, ttl=ttl)


def renew(conn: Connection, lease: Lease, ttl: float, progress: Progress | None) -> Lease | None:
    """``lease`` with a new expiry ``ttl`` seconds from now, and ``progress`` noted; None
    if it is lost: taken over, or expired (a holder that was paused past its expiry must not
    carry on, even if nobody took over yet)."""
    row = _locked(conn, lease.replicator)
    now = db_now(conn)
    if row is None or not _own(row, lease, now):
        return None
    expires = now + timedelta(seconds=ttl)
    noted = (
        {}
        if progress is None
        else {
            "phase": progress.phase,
            "rows": progress.rows,
            "total": progress.total,
            "progress_at": now,
        }
    )
    conn.execute(
        update(leases)
        .where(leases.c.replicator_id == row.replicator_id)
        .values(expires_at=expires, **noted)
    )
    return replace(lease, expires=expires, ttl=ttl)


def extend(conn: Connection, lease: Lease) -> None:
    """At the end of a write that ``check`` let through: the lease runs ``lease.ttl`` from
    now, so that a write longer than the lease does not leave its slot open to a takeover
    between the commit and the release that follows it."""
    conn.execute(
        update(leases)
        .where(leases.c.token == lease.token, leases.c.holder == lease.holder)
        .where(leases.c.replicator_id == _replicator_id(lease.replicator))
        .values(expires_at=db_now(conn) + timedelta(seconds=lease.ttl))
    )


def release(conn: Connection, lease: Lease, done: bool) -> None:
    """Give ``lease`` up; ``done``: its slot was run. Nothing if it was taken over."""
    row = _locked(conn, lease.replicator)
    if row is None or row.token != lease.token or row.holder != lease.holder:
        return
    conn.execute(
        update(leases)
        .where(leases.c.replicator_id == row.replicator_id)
        .values(holder=None, expires_at=None, slot_done=done, **_NO_PROGRESS)
    )


def check(conn: Connection, lease: Lease) -> None:
    """Raise ``LeaseLost`` unless ``lease`` is still held (by the db clock). Locks the
    lease row to the end of the transaction, so that nobody takes it over meanwhile."""
    row = _locked(conn, lease.replicator)
    now = db_now(conn)
    if row is not None and _own(row, lease, now):
        return
    if row is not None and row.token == lease.token and row.holder == lease.holder:
        why = f"it expired at {row.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    elif row is not None and row.holder is not None:
        why = f"node {row.holder!r} holds it now (lease {row.token})"
    else:
        why = "nobody holds it now"
    raise LeaseLost(
        f"replicator {lease.replicator!r}: lease {lease.token} of node {lease.holder!r} "
        f"is lost: {why}; nothing written"
    )


def states(conn: Connection) -> list[LeaseState]:
    """Every lease row, by replicator name."""
    rows = conn.execute(
        select(leases, replicators.c.name.label("replicator"))
        .join(replicators, leases.c.replicator_id == replicators.c.id)
        .order_by(replicators.c.name)
    ).all()
    now = db_now(conn)
    return [
        LeaseState(
            replicator=row.replicator,
            holder=row.holder,
            token=row.token,
            acquired_at=row.acquired_at,
            expires_at=row.expires_at,
            trigger=row.trigger,
            slot=row.slot,
            slot_done=row.slot_done,
            phase=row.phase,
            rows=row.rows,
            total=row.total,
            progress_at=row.progress_at,
            expired=row.holder is not None and not _unexpired(row, now),
        )
        for row in rows
    ]


def _export(name: str) -> bool:
    return name.startswith(EXPORT_PREFIX)


def _locked(conn: Connection, replicator: str) -> Row[tuple[object, ...]] | None:
    """The lease row of ``replicator``, locked to the end of the transaction."""
    return conn.execute(
        select(leases).where(leases.c.replicator_id == _replicator_id(replicator)).with_for_update()
    ).first()


def _replicator_id(replicator: str) -> ScalarSelect[int]:
    return select(replicators.c.id).where(replicators.c.name == replicator).scalar_subquery()


def _own(row: Row[tuple[object, ...]], lease: Lease, now: datetime) -> bool:
    return row.token == lease.token and row.holder == lease.holder and _unexpired(row, now)


def _held(row: Row[tuple[object, ...]], now: datetime) -> bool:
    return row.holder is not None and _unexpired(row, now)


def _unexpired(row: Row[tuple[object, ...]], now: datetime) -> bool:
    return row.expires_at is not None and row.expires_at > now
