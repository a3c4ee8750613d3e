"""The store status poller on task.Clock over a real SQLite store (reads in a real thread pool,
their results handed back through ``ThreadCalls``), and the store reads it is built on."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from twisted.internet.task import Clock
from twisted.python.threadpool import ThreadPool

from metadir.core.records import Problem
from metadir.store.store import RunRecord, Store
from metadir.web.status import StatusPoller, StoreStatus
from tests.reactor_threads import ThreadCalls

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
INTERVAL = 2.0


def run(replicator: str, minutes: int, outcome: str = "ok", **fields: Any) -> RunRecord:
    at = T0 + timedelta(minutes=minutes)
    return RunRecord(replicator, outcome, started=at - timedelta(seconds=5), finished=at, **fields)


class CountingPool(ThreadPool):
    """A thread pool that counts the calls handed to it: each is one read of the store."""

    handed = 0

    def callInThreadWithCallback(self, *args: Any, **kwargs: Any) -> None:
        self.handed += 1
        super().callInThreadWithCallback(*args, **kwargs)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path}/metadir.db") as opened:
        opened.ensure_directory("contacts", "ou=contacts,dc=meta")
        for name in ("crm", "hr"):
            opened.ensure_replicator(name, "csv", "contacts")
        yield opened


@pytest.fixture
def pool() -> Iterator[CountingPool]:
    threads = CountingPool(minthreads=0, maxthreads=2, name="test")
    threads.start()
    yield threads
    threads.stop()


Heard = list[tuple[StoreStatus, list[RunRecord]]]


def poller(store: Store, pool: ThreadPool) -> tuple[StatusPoller, Clock, ThreadCalls, Heard]:
    clock, calls, heard = Clock(), ThreadCalls(), []
    service = StatusPoller(store, clock=clock, reactor=calls, threadpool=pool, interval=INTERVAL)
    service.add_listener(lambda status, runs: heard.append((status, runs)))
    return service, clock, calls, heard


def read(clock: Clock, calls: ThreadCalls) -> None:
    """One interval passes: the poller reads in a worker thread; its answer is taken in."""
    clock.advance(INTERVAL)
    calls.run_next()


def server_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "metadir.server"]


def test_the_first_read_at_start_gives_a_snapshot_and_no_new_runs(
    store: Store, pool: CountingPool
) -> None:
    before = store.record_run(run("crm", 0, skipped=2, problems=[Problem("bad", 3)]))
    store.acquire_lease("hr", "node-a", 30, "manual")
    service, _, calls, heard = poller(store, pool)
    assert (service.snapshot, service.reachable) == (None, False)
    service.startService()  # the first read is now
    calls.run_next()
    snapshot = service.snapshot
    assert snapshot is not None and service.reachable and service.problem is None
    assert snapshot.last_runs["crm"].id == before and snapshot.last_runs["crm"].skipped == 2
    assert snapshot.last_runs["crm"].problems == []  # not read every two seconds
    assert snapshot.last_success == {"crm": T0}
    lease = snapshot.leases["hr"]
    assert (lease.holder, lease.expired) == ("node-a", False)
    assert snapshot.at.tzinfo is not None and snapshot.nodes == []
    # the run recorded before this process is not news
    assert heard == [(snapshot, [])]
    service.stopService()


def test_a_run_recorded_later_reaches_the_listeners_once(store: Store, pool: CountingPool) -> None:
    store.record_run(run("crm", 0))
    service, clock, calls, heard = poller(store, pool)
    service.startService()
    calls.run_next()
    first = store.record_run(run("crm", 1, "failed", message="source gone"))
    second = store.record_run(run("hr", 2))
    read(clock, calls)
    read(clock, calls)
    assert [[r.id for r in runs] for _, runs in heard] == [[], [first, second], []]
    status, runs = heard[1]
    assert [(r.replicator, r.outcome, r.message) for r in runs] == [
        ("crm", "failed", "source gone"),
        ("hr", "ok", ""),
    ]
    # the latest run failed; the latest success is still the one before
    assert status.last_runs["crm"].outcome == "failed"
    assert status.last_success == {"crm": T0, "hr": T0 + timedelta(minutes=2)}
    third = store.record_run(run("crm", 3))
    read(clock, calls)
    assert [r.id for r in heard[-1][1]] == [third]
    service.stopService()
    clock.advance(10 * INTERVAL)
    assert calls.idle() and not clock.getDelayedCalls()


def test_an_unreachable_store_is_said_once_and_its_return_once(
    store: Store, pool: CountingPool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    service, clock, calls, heard = poller(store, pool)
    service.startService()
    calls.run_next()
    good = service.snapshot
    # a store whose file cannot be opened, as a store on a lost disk or server
    with Store(create_engine(f"sqlite:///{tmp_path}/missing/metadir.db")) as lost:
        service.store = lost
        read(clock, calls)
        assert not service.reachable and service.snapshot is good
        assert service.problem is not None and "unable to open database file" in service.problem
        refreshed: list[StoreStatus | None] = []
        service.refresh().addCallback(refreshed.append)
        calls.run_next()  # still down: nothing more said; a refresh gets None
        assert refreshed == [None]
        assert server_lines(caplog) == [f"cannot read the store's status: {service.problem}"]
    service.store = store
    new = store.record_run(run("crm", 5))
    read(clock, calls)
    assert service.reachable and service.problem is None and service.snapshot is not good
    assert server_lines(caplog)[1:] == ["store status readable again"]
    # the runs of the outage are news once the store answers again
    assert [[r.id for r in runs] for _, runs in heard] == [[], [new]]
    service.stopService()


def test_reads_never_overlap_and_refresh_shares_the_read_in_progress(
    store: Store, pool: CountingPool
) -> None:
    release = threading.Event()

    class SlowStore(Store):
        def db_now(self) -> datetime:
            assert release.wait(30)
            return super().db_now()

    slow = SlowStore(store.engine)
    service, clock, calls, _ = poller(slow, pool)
    service.startService()  # a read begins, and hangs in the store
    fired: list[StoreStatus | None] = []
    service.refresh().addCallback(fired.append)
    service.refresh().addCallback(fired.append)
    clock.advance(10 * INTERVAL)  # the loop waits for the read in progress
    stopped: list[object] = []
    service.stopService().addCallback(stopped.append)  # waits for it too
    assert pool.handed == 1 and fired == [] and stopped == []
    release.set()
    calls.run_next()
    assert pool.handed == 1 and calls.idle()
    assert fired == [service.snapshot, service.snapshot] and fired[0] is not None
    assert stopped == [None] and not clock.getDelayedCalls()
    # afterwards a refresh reads again, and fires with its own read
    after: list[StoreStatus | None] = []
    service.refresh().addCallback(after.append)
    calls.run_next()
    assert pool.handed == 2 and after == [service.snapshot] and after[0] is not fired[0]


def test_a_failing_listener_does_not_stop_the_others(store: Store, pool: CountingPool) -> None:
    service, clock, calls, heard = poller(store, pool)
    broken: Callable[[StoreStatus, list[RunRecord]], None] = lambda status, runs: 1 / 0  # noqa: E731
    service._listeners.insert(0, broken)
    service.startService()
    calls.run_next()
    read(clock, calls)
    assert len(heard) == 2 and service.reachable
    service.stopService()


# -- the store's side ------------------------------------------------------------------------


def test_runs_after_and_the_last_run_id(store: Store) -> None:
    assert store.last_run_id() == 0 and store.runs_after(0) == []
    ids = [store.record_run(run("crm" if i % 2 else "hr", i)) for i in range(5)]
    assert store.last_run_id() == ids[-1]
    assert [r.id for r in store.runs_after(ids[1])] == ids[2:]
    assert [r.id for r in store.runs_after(0, limit=2)] == ids[:2]
    assert store.runs_after(ids[-1]) == []
    assert {r.directory for r in store.runs_after(0)} == {"contacts"}


def test_last_successes_and_pruning_keeps_each_latest_success(store: Store) -> None:
    assert store.last_successes() == {}
    ok = store.record_run(run("crm", -200 * 24 * 60))
    store.record_run(run("crm", -199 * 24 * 60, "failed"))
    latest = store.record_run(run("crm", 0, "failed"))
    store.record_run(run("hr", 0, "stopped"))
    assert store.last_successes() == {"crm": T0 - timedelta(days=200)}
    # the failures in between go; the latest success stays, however old
    assert store.prune_runs(T0 - timedelta(days=90)) == 1
    assert [r.id for r in store.history("crm")] == [latest, ok]
    assert store.last_successes() == {"crm": T0 - timedelta(days=200)}
    assert store.last_runs(with_problems=False)["crm"].id == latest
