"""Leases on PostgreSQL under contention: many connections asking at once, a takeover racing
a write. What a lock is waited for is watched in ``pg_stat_activity``, not guessed by sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from metadir.core.errors import LeaseLost
from metadir.store import leases
from metadir.store.connection import writing
from metadir.store.entries import EntryData
from metadir.store.runs import RunRecord
from metadir.store.store import Busy, Lease, Store

pytestmark = pytest.mark.postgres

TTL = 30.0
SHORT = 0.2
ASKERS = 12


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    with Store.open(postgres_url) as opened:
        opened.ensure_directory("contacts", "ou=contacts,dc=meta")
        for name in ("crm", "hr"):
            opened.ensure_replicator(name, "csv", "contacts")
        yield opened


def run() -> RunRecord:
    now = datetime.now(UTC)
    return RunRecord("crm", "ok", now, now, added=1, node="node-a")


def anna() -> EntryData:
    return EntryData(("1",), {"cn": ["Anna"]}, {}, {}, digest="d-anna")


def all_at_once(store: Store, ask: Callable[[int], Lease | Busy]) -> list[Lease | Busy]:
    """``ask(i)`` from ASKERS threads at one moment, each on a connection of its own."""
    start = threading.Barrier(ASKERS)

    def asking(i: int) -> Lease | Busy:
        start.wait()
        return ask(i)

    # one engine, a pooled connection per thread: the pool holds up to 15
    with ThreadPoolExecutor(ASKERS) as pool:
        return list(pool.map(asking, range(ASKERS)))


def waiting_for_a_lock(store: Store, timeout: float = 10) -> None:
    """Return once some other session of the database waits for a row lock."""
    deadline = time.monotonic() + timeout
    with store.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("nobody waited for the lock")


def test_many_connections_asking_at_once_get_one_lease(store: Store) -> None:
    for round in range(3):
        results = all_at_once(
            store, lambda i: store.acquire_lease("crm", f"node-{i}", TTL, "schedule")
        )
        (lease,) = [r for r in results if isinstance(r, Lease)]
        assert lease.token == round + 1
        assert {(r.reason, r.holder) for r in results if isinstance(r, Busy)} == {
            ("running", lease.holder)
        }
        store.release_lease(lease)


def test_two_replicators_of_one_directory_are_never_held_together(store: Store) -> None:
    for _ in range(3):
        results = all_at_once(
            store,
            lambda i: store.acquire_lease(("crm", "hr")[i % 2], f"node-{i}", TTL, "schedule"),
        )
        (lease,) = [r for r in results if isinstance(r, Lease)]
        for busy in results:
            if isinstance(busy, Busy):
                assert (busy.replicator, busy.holder) == (lease.replicator, lease.holder)
                assert busy.reason in {"running", "directory"}
        assert [s.replicator for s in store.leases() if s.holder] == [lease.replicator]
        store.release_lease(lease)


def test_a_takeover_waits_for_a_write_under_way(store: Store) -> None:
    old = store.acquire_lease("crm", "node-a", SHORT, "schedule")
    assert isinstance(old, Lease)
    taken: list[Lease | Busy] = []
    with writing(store.engine) as conn:
        # the first step of Store.apply: the lease checked and its row locked to the commit
        leases.check(conn, old)
        time.sleep(SHORT + 0.05)  # the lease runs out while the write goes on
        taker = threading.Thread(
            target=lambda: taken.append(store.acquire_lease("crm", "node-b", TTL, "schedule"))
        )
        taker.start()
        waiting_for_a_lock(store)
        assert taken == []
    taker.join(10)
    (new,) = taken
    # only once the write was committed: the writer was the holder all along
    assert isinstance(new, Lease) and (new.token, new.taken_over_from) == (2, "node-a")


def test_a_write_waits_for_a_takeover_under_way_and_writes_nothing(store: Store) -> None:
    old = store.acquire_lease("crm", "node-a", SHORT, "schedule")
    assert isinstance(old, Lease)
    time.sleep(SHORT + 0.05)
    failed: list[BaseException] = []

    def write() -> None:
        try:
            store.apply(run(), added=[anna()], state={"cursor": 1}, lease=old)
        except LeaseLost as exc:
            failed.append(exc)

    with writing(store.engine) as conn:
        new = leases.acquire(conn, "crm", "node-b", TTL, "schedule", None)
        assert isinstance(new, Lease)
        writer = threading.Thread(target=write)
        writer.start()
        waiting_for_a_lock(store)
        assert writer.is_alive()
    writer.join(10)
    (lost,) = failed
    assert "node 'node-b' holds it now (lease 2)" in str(lost)
    assert store.current_seq() == 0
    assert store.history() == []
    assert store.replicator_state("crm") is None


def test_an_expired_lease_nobody_took_cannot_write(store: Store) -> None:
    lease = store.acquire_lease("crm", "node-a", SHORT, "schedule")
    assert isinstance(lease, Lease)
    time.sleep(SHORT + 0.05)
    with pytest.raises(LeaseLost, match="expired"):
        store.apply(run(), added=[anna()], lease=lease)
    assert store.current_seq() == 0
    assert store.history() == []
