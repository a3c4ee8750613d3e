"""Leases, fencing, nodes and the SQLite scheduling lock, on SQLite and (as a second case,
counted as integration) PostgreSQL. Leases go by the database's clock, so expiry is waited
for: a ttl of a fifth of a second and a sleep just past it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from metadir.core.errors import LeaseLost, StoreError
from metadir.store.entries import EntryData
from metadir.store.runs import RunRecord
from metadir.store.schedlock import holder, lock_path, scheduling_lock
from metadir.store.store import Busy, Lease, Progress, Store

TTL = 30.0
SHORT = 0.2  # seconds: a lease that runs out while the test waits
SLOT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """crm and hr fill one directory, erp another."""
    with Store.open(store_url) as opened:
        opened.ensure_directory("contacts", "ou=contacts,dc=meta")
        opened.ensure_directory("staff", "ou=staff,dc=meta")
        opened.ensure_replicator("crm", "csv", "contacts")
        opened.ensure_replicator("hr", "csv", "contacts")
        opened.ensure_replicator("erp", "csv", "staff")
        yield opened


def granted(result: Lease | Busy) -> Lease:
    assert isinstance(result, Lease), result
    return result


def refused(result: Lease | Busy) -> Busy:
    assert isinstance(result, Busy), result
    return result


def run(replicator: str = "crm") -> RunRecord:
    now = datetime.now(UTC)
    return RunRecord(replicator, "ok", now, now, added=1, node="node-a", trigger="schedule")


def anna() -> EntryData:
    return EntryData(("1",), {"cn": ["Anna"]}, {}, {}, digest="d-anna")


def expire() -> None:
    time.sleep(SHORT + 0.05)


# -- granting --------------------------------------------------------------------------------


def test_a_free_replicator_is_granted_and_shown(store: Store) -> None:
    before = store.db_now()
    lease = granted(store.acquire_lease("crm", "node-a", TTL, "schedule", SLOT))
    assert (lease.replicator, lease.holder, lease.token, lease.taken_over_from) == (
        "crm",
        "node-a",
        1,
        None,
    )
    assert (
        before + timedelta(seconds=TTL) <= lease.expires <= store.db_now() + timedelta(seconds=TTL)
    )
    (state,) = store.leases()
    assert (state.replicator, state.holder, state.token, state.trigger) == (
        "crm",
        "node-a",
        1,
        "schedule",
    )
    assert (state.slot, state.slot_done, state.expired, state.phase) == (SLOT, False, False, None)
    assert state.expires_at == lease.expires
    assert state.acquired_at is not None and before <= state.acquired_at <= lease.expires


def test_a_running_replicator_is_busy(store: Store) -> None:
    first = granted(store.acquire_lease("crm", "node-a", TTL, "schedule"))
    busy = refused(store.acquire_lease("crm", "node-b", TTL, "manual"))
    assert (busy.replicator, busy.holder, busy.trigger, busy.reason) == (
        "crm",
        "node-a",
        "schedule",
        "running",
    )
    assert busy.since == store.leases()[0].acquired_at
    # the same node asking again is refused too: one run at a time, also on one node
    assert refused(store.acquire_lease("crm", "node-a", TTL, "manual")).reason == "running"
    assert store.leases()[0].token == first.token


def test_a_sibling_in_the_directory_is_busy_another_directory_is_not(store: Store) -> None:
    granted(store.acquire_lease("crm", "node-a", TTL, "schedule"))
    busy = refused(store.acquire_lease("hr", "node-b", TTL, "start"))
    assert (busy.replicator, busy.holder, busy.reason) == ("crm", "node-a", "directory")
    granted(store.acquire_lease("erp", "node-b", TTL, "start"))
    assert [s.replicator for s in store.leases()] == ["crm", "erp", "hr"]
    assert store.leases()[2].holder is None


def test_release_frees_the_replicator_and_its_directory(store: Store) -> None:
    lease = granted(store.acquire_lease("crm", "node-a", TTL, "schedule", SLOT))
    store.renew_lease(lease, TTL, Progress("read", 10, 100))
    store.release_lease(lease, done=False)
    (state, *_) = store.leases()
    assert (state.holder, state.expires_at, state.phase, state.rows) == (None, None, None, None)
    assert (state.slot, state.slot_done, state.trigger) == (SLOT, False, "schedule")
    sibling = granted(store.acquire_lease("hr", "node-b", TTL, "manual"))
    store.release_lease(sibling)
    again = granted(store.acquire_lease("crm", "node-b", TTL, "manual"))
    # released, not abandoned: nobody was taken over
    assert (again.token, again.taken_over_from) == (2, None)


def test_a_slot_run_once_is_not_run_again(store: Store) -> None:
    lease = granted(store.acquire_lease("crm", "node-a", TTL, "schedule", SLOT))
    store.release_lease(lease, done=True)
    busy = refused(store.acquire_lease("crm", "node-b", TTL, "schedule", SLOT))
    assert (busy.replicator, busy.holder, busy.reason) == ("crm", None, "done")
    # an older slot is done too; a later one is not
    assert refused(store.acquire_lease("crm", "node-b", TTL, "schedule", SLOT - timedelta(1)))
    later = SLOT + timedelta(minutes=15)
    lease = granted(store.acquire_lease("crm", "node-b", TTL, "schedule", later))
    store.release_lease(lease, done=False)  # failed to start, say: the slot is still due
    lease = granted(store.acquire_lease("crm", "node-a", TTL, "schedule", later))
    store.release_lease(lease, done=True)
    # a run by hand has no slot and keeps the schedule's
    manual = granted(store.acquire_lease("crm", "node-a", TTL, "manual"))
    assert store.leases()[0].slot == later
    store.release_lease(manual)
    assert refused(store.acquire_lease("crm", "node-b", TTL, "schedule", later)).reason == "done"


def test_unknown_replicator(store: Store) -> None:
    with pytest.raises(StoreError, match="no replicator named 'nope'"):
        store.acquire_lease("nope", "node-a", TTL, "manual")


# -- expiry, renewal, takeover ---------------------------------------------------------------


def test_renew_moves_the_expiry_and_notes_progress(store: Store) -> None:
    lease = granted(store.acquire_lease("crm", "node-a", TTL, "schedule"))
    renewed = store.renew_lease(lease, 2 * TTL, Progress("read", 500, 2000))
    assert renewed is not None
    assert renewed.token == lease.token
    assert renewed.expires > lease.expires
    (state, *_) = store.leases()
    assert (state.phase, state.rows, state.total) == ("read", 500, 2000)
    assert state.progress_at is not None and state.expires_at == renewed.expires
    # without progress, the last noted one stays
    assert store.renew_lease(renewed, TTL) is not None
    assert store.leases()[0].rows == 500


def test_an_expired_lease_is_lost_even_if_nobody_took_it(store: Store) -> None:
    lease = granted(store.acquire_lease("crm", "node-a", SHORT, "schedule"))
    expire()
    assert store.leases()[0].expired
    # a holder that was paused past its expiry must not carry on
    with pytest.raises(LeaseLost, match=r"'crm': lease 1 of node 'node-a' is lost: it expired"):
        store.apply(run(), added=[anna()], lease=lease)
    assert store.renew_lease(lease, TTL) is None
    assert store.current_seq() == 0
    assert store.history() == []
    # nor does an expired lease block the directory
    granted(store.acquire_lease("hr", "node-b", TTL, "schedule"))


def test_an_expired_lease_is_taken_over_and_fenced_off(store: Store) -> None:
    old = granted(store.acquire_lease("crm", "node-a", SHORT, "schedule", SLOT))
    expire()
    new = granted(store.acquire_lease("crm", "node-b", TTL, "schedule", SLOT))
    assert (new.token, new.taken_over_from) == (2, "node-a")
    # the old holder comes back: it can neither renew, nor write, nor release
    assert store.renew_lease(old, TTL) is None
    with pytest.raises(LeaseLost, match=r"node 'node-b' holds it now \(lease 2\)"):
        store.apply(run(), added=[anna()], state={"cursor": 1}, lease=old)
    assert store.current_seq() == 0
    assert store.history() == []
    assert store.replicator_state("crm") is None
    store.release_lease(old)
    assert store.leases()[0].holder == "node-b"
    # the new holder writes
    seq, run_id = store.apply(run(), added=[anna()], lease=new)
    assert seq == 1
    (recorded,) = store.history()
    assert (recorded.id, recorded.node, recorded.trigger) == (run_id, "node-a", "schedule")


def test_a_commit_under_the_lease_renews_it(store: Store) -> None:
    """A write that outlasts the lease must not leave its slot open between its commit and
    the release after it: the commit runs the lease for its ttl again."""
    ttl = 2.0  # long enough for a busy machine to get to the write in time
    lease = granted(store.acquire_lease("crm", "node-a", ttl, "schedule", SLOT))
    time.sleep(SHORT)  # some of the lease used up, as by a long read
    store.apply(run(), added=[anna()], lease=lease)
    (state,) = store.leases()
    assert state.expires_at is not None and state.expires_at > lease.expires
    assert state.expires_at >= store.db_now() + timedelta(seconds=ttl - SHORT)
    assert refused(store.acquire_lease("crm", "node-b", TTL, "schedule", SLOT)).reason == "running"


def test_a_released_lease_cannot_write(store: Store) -> None:
    lease = granted(store.acquire_lease("crm", "node-a", TTL, "manual"))
    store.release_lease(lease)
    with pytest.raises(LeaseLost, match="nobody holds it now"):
        store.apply(run(), lease=lease)


def test_a_lease_is_for_its_own_replicator(store: Store) -> None:
    lease = granted(store.acquire_lease("crm", "node-a", TTL, "manual"))
    with pytest.raises(ValueError, match="a lease on 'crm' for a run of 'erp'"):
        store.apply(run("erp"), lease=lease)


def test_db_now_is_the_database_clock_in_utc(store: Store) -> None:
    now = store.db_now()
    assert now.utcoffset() == timedelta(0)
    # the test database runs on this machine
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


# -- nodes -----------------------------------------------------------------------------------


def test_nodes_register_and_are_forgotten(store: Store) -> None:
    started = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    store.register_node("node-a", "1.0", "host-a", 100, started, schedules=True)
    store.register_node("node-b", "1.0", "host-b", 200, started, schedules=False)
    first_seen = store.nodes()[0].last_seen
    store.register_node("node-a", "1.1", "host-a", 101, started + timedelta(hours=1), True)
    a, b = store.nodes()
    assert (a.name, a.version, a.host, a.pid, a.schedules) == ("node-a", "1.1", "host-a", 101, True)
    assert a.started_at == started + timedelta(hours=1)
    assert a.last_seen >= first_seen
    assert (b.name, b.pid, b.schedules, b.started_at) == ("node-b", 200, False, started)
    assert store.forget_nodes(a.last_seen) == 1
    assert [n.name for n in store.nodes()] == ["node-a"]
    assert store.forget_nodes(a.last_seen - timedelta(days=1)) == 0


# -- the SQLite scheduling lock --------------------------------------------------------------

HOLD = """
import sys
from metadir.store.schedlock import scheduling_lock
lock = scheduling_lock(sys.argv[1])
print("held" if lock else "refused", flush=True)
sys.stdin.read()
if lock:
    lock.release()
"""


def hold_in_a_process(url: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "held\n"
    return child


def test_one_process_schedules_an_sqlite_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/metadir.db"
    assert lock_path(url) == Path(f"{tmp_path}/metadir.db.scheduler")
    assert holder(url) is None
    child = hold_in_a_process(url)
    try:
        assert scheduling_lock(url) is None
        assert holder(url) == child.pid
    finally:
        child.communicate("")  # it releases and ends
    lock = scheduling_lock(url)
    assert lock is not None and lock.holder_pid == holder(url)
    lock.release()
    assert holder(url) is None


def test_a_killed_scheduler_leaves_no_lock_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/metadir.db"
    child = hold_in_a_process(url)
    child.kill()
    child.wait()
    lock = scheduling_lock(url)
    assert lock is not None
    # a second lock in the same process is refused too: one lock per file, not per process
    assert scheduling_lock(url) is None
    lock.release()


def test_postgresql_and_memory_stores_always_schedule() -> None:
    for url in ("postgresql+psycopg://u@db.example/metadir", "sqlite:///:memory:"):
        first, second = scheduling_lock(url), scheduling_lock(url)
        assert first is not None and second is not None and first.path is None
        first.release()
        assert holder(url) is None
    with pytest.raises(StoreError, match="bad store URL"):
        scheduling_lock("not a url")
