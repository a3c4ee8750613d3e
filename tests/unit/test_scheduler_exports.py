"""Exports in ``serve``'s scheduler: one with a schedule is due by its slots beside the
replicators and waits for none of them; one without runs after an import of its directories
changed something, once for several imports in a row, once more when it was running, and
only while nobody holds its lease. Its worker runs ``metadir export`` with its own
``run_timeout``; Run now starts it. Plain values for what is due, ``task.Clock`` and a real
SQLite store for the scheduler, worker processes stood in for by their protocol object."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from metadir.config import Config
from metadir.core.schedule import Schedule
from metadir.service.due import AFTER_IMPORT, Due, Scheduled, due_runs
from metadir.service.load import ensure_layout
from metadir.service.scheduler import RunNow, Scheduler
from metadir.service.workers import KILL_AFTER, WorkerProcess
from metadir.store.leases import Lease, LeaseState
from metadir.store.store import Store
from metadir.sync.worker import RESULT_MARK
from tests.unit.test_scheduler import Reactor

# 2026-12-03 12:00:00 UTC, a slot of every interval below
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
HOURLY = Schedule.model_validate({"every": "1h", "timezone": "UTC"})
CRM = Scheduled("crm", "contacts", HOURLY)
NIGHTLY = Scheduled("export:nightly", None, HOURLY)


def held(name: str, *, expired: bool = False) -> LeaseState:
    return LeaseState(name, "node-b", 3, T0, T0 + timedelta(seconds=30), "manual", None, False,
                      None, None, None, None, expired)  # fmt: skip


def due(
    leases: list[LeaseState],
    running: set[str] | None = None,
    after: list[str] | None = None,
    scheduled: tuple[Scheduled, ...] = (CRM, NIGHTLY),
) -> list[Due]:
    return due_runs(
        scheduled,
        {lease.replicator: lease for lease in leases},
        T0 + timedelta(minutes=1),
        running=running or set(),
        start_pending=set(),
        after_import=after or [],
    )


def test_an_export_with_a_schedule_is_due_beside_its_directorys_replicators() -> None:
    assert due([]) == [Due("crm", T0, "schedule"), Due("export:nightly", T0, "schedule")]
    # an import running here holds up its directory, not the export
    assert due([], running={"crm"}) == [Due("export:nightly", T0, "schedule")]
    assert due([], running={"export:nightly"}) == [Due("crm", T0, "schedule")]
    assert due([held("export:nightly")]) == [Due("crm", T0, "schedule")]


def test_an_export_after_imports_is_due_unless_it_runs_here_or_elsewhere() -> None:
    book = "export:book"
    crm = [held("crm")]  # an import running here does not hold it up either
    assert due(crm, {"crm"}, [book], (CRM,)) == [Due(book, None, AFTER_IMPORT)]
    assert due(crm, {"crm", book}, [book], (CRM,)) == []
    assert due([*crm, held(book)], {"crm"}, [book], (CRM,)) == []
    # a holder that died: its lease expired, the export runs again
    expired = [*crm, held(book, expired=True)]
    assert due(expired, {"crm"}, [book], (CRM,)) == [Due(book, None, AFTER_IMPORT)]


def config(tmp_path: Path) -> Config:
    csv = {"type": "csv", "key": "Id"}
    data = {
        "store": {"url": f"sqlite:///{tmp_path}/metadir.db"},
        "directories": [
            {"name": "contacts", "replicators": [
                {"name": "crm", "path": "crm.csv", "schedule": {"every": "10s"}, **csv},
                {"name": "hr", "path": "hr.csv", **csv},
            ]},
            {"name": "rooms", "replicators": [{"name": "rooms", "path": "rooms.csv", **csv}]},
        ],
        "exports": [
            {"name": "book", "type": "csv", "path": "book.csv", "directory": "contacts"},
            {"name": "nightly", "type": "csv", "path": "all.csv", "run_timeout": "2m",
             "schedule": {"cron": "0 0 * * *", "timezone": "UTC"}},
        ],
    }  # fmt: skip
    loaded = Config.model_validate(data, context={"base_dir": tmp_path})
    return loaded.model_copy(update={"path": tmp_path / "metadir.yaml"})


@pytest.fixture
def setup(tmp_path: Path, pool: ThreadPool) -> Iterator[tuple[Scheduler, Clock, Reactor, Store]]:
    conf = config(tmp_path)
    with Store.open(conf.store_url()) as store:
        ensure_layout(store, conf)
        clock, reactor = Clock(), Reactor()
        clock.advance(T0.timestamp() + 1)
        scheduler = Scheduler(
            conf, store, node="node-a", clock=clock, reactor=reactor, threadpool=pool
        )
        scheduler.startService()
        reactor.run_next()  # the first look: crm's and nightly's slots are due
        yield scheduler, clock, reactor, store
        scheduler.stopService()


def tick(clock: Clock, reactor: Reactor, seconds: float = 1.0) -> None:
    clock.advance(seconds)
    reactor.run_next()


def started(reactor: Reactor) -> list[list[str]]:
    """What each worker started runs: its command, name and trigger."""
    return [[argv[3], argv[6], argv[8]] for argv, _ in reactor.started]


def worker(reactor: Reactor, name: str) -> WorkerProcess:
    return [w for _, w in reactor.started if w.replicator == name][-1]


def finish(store: Store, ended: WorkerProcess, outcome: str = "ok", **counts: int) -> None:
    """A worker's end: its lease released, its result line written, its exit."""
    [lease] = [lease for lease in store.leases() if lease.replicator == ended.replicator]
    store.release_lease(Lease(lease.replicator, "node-a", lease.token, T0), True)
    result = {"run_id": 1, "replicator": ended.replicator, "outcome": outcome, **counts}
    ended.childDataReceived(1, (RESULT_MARK + json.dumps(result) + "\n").encode())
    ended.processEnded(Failure(ProcessDone(0)))


def test_a_scheduled_export_runs_metadir_export_under_its_own_timeout(setup) -> None:
    scheduler, clock, reactor, store = setup
    assert started(reactor) == [["sync", "crm", "schedule"], ["export", "nightly", "schedule"]]
    argv = reactor.started[1][0]
    assert argv[4] == "-c" and argv[5].endswith("metadir.yaml")
    assert argv[7:] == ["--trigger", "schedule", "--lease-token", "1", "--node", "node-a",
                        "--slot", "2026-12-03T00:00:00+00:00", "--supervised"]  # fmt: skip
    nightly = worker(reactor, "export:nightly")
    # run_timeout 2m: the worker stops itself; one that hangs gets KILL_AFTER more
    clock.advance(120 + KILL_AFTER - 1)
    assert nightly.transport.signals == []  # type: ignore[union-attr]
    clock.advance(1)
    assert nightly.transport.signals == [signal.SIGTERM]  # type: ignore[union-attr]
    nightly.processEnded(Failure(ProcessTerminated(signal=15)))
    while not store.history("export:nightly"):
        reactor.run_next()
    [run] = store.history("export:nightly")
    assert (run.outcome, run.trigger) == ("failed", "schedule")
    assert run.message == "worker killed: it hung past its run_timeout of 120 s"
    assert "export:nightly" not in scheduler.workers


def test_an_import_with_changes_starts_the_exports_of_its_directory(setup) -> None:
    _scheduler, clock, reactor, store = setup
    finish(store, worker(reactor, "crm"), added=0, updated=0, deleted=0)
    tick(clock, reactor)
    assert [name for _, name, _ in started(reactor)] == ["crm", "nightly"]  # no change: no run
    tick(clock, reactor, 9)  # crm's next slot
    finish(store, worker(reactor, "crm"), "failed")
    tick(clock, reactor, 10)
    finish(store, worker(reactor, "crm"), deleted=1)
    tick(clock, reactor)
    assert started(reactor)[-1] == ["export", "book", AFTER_IMPORT]
    assert reactor.started[-1][0][7:] == [
        "--trigger", "after-import", "--lease-token", "1", "--node", "node-a", "--supervised",
    ]  # fmt: skip
    finish(store, worker(reactor, "export:book"), added=2)
    tick(clock, reactor)
    tick(clock, reactor)
    assert [name for _, name, _ in started(reactor)].count("book") == 1


def test_an_import_of_another_directory_starts_no_export(setup) -> None:
    scheduler, clock, reactor, store = setup
    assert scheduler.run_now("rooms", "alice") is not None
    reactor.run_next()
    finish(store, worker(reactor, "rooms"), added=5)
    tick(clock, reactor)
    assert "book" not in [name for _, name, _ in started(reactor)]


def test_imports_while_an_export_runs_bring_one_more_run_after_it(setup) -> None:
    scheduler, clock, reactor, store = setup
    finish(store, worker(reactor, "crm"), added=1)
    tick(clock, reactor)
    book = worker(reactor, "export:book")
    # two more imports with changes end while book runs: a slot of crm and hr by hand
    tick(clock, reactor, 9)
    finish(store, worker(reactor, "crm"), updated=3)
    scheduler.run_now("hr", "alice")
    reactor.run_next()
    finish(store, worker(reactor, "hr"), added=1)
    tick(clock, reactor)
    assert [name for _, name, _ in started(reactor)].count("book") == 1
    finish(store, book, added=1)
    tick(clock, reactor)
    tick(clock, reactor)
    assert [name for _, name, _ in started(reactor)].count("book") == 2
    finish(store, worker(reactor, "export:book"), updated=1)
    tick(clock, reactor)
    assert [name for _, name, _ in started(reactor)].count("book") == 2


def test_a_pending_export_waits_for_its_lease_held_by_another_node(setup) -> None:
    scheduler, clock, reactor, store = setup
    other = store.acquire_lease("export:book", "node-b", 30, "manual")
    assert isinstance(other, Lease)
    finish(store, worker(reactor, "crm"), added=1)
    tick(clock, reactor, 9)
    finish(store, worker(reactor, "crm"), added=1)
    tick(clock, reactor)
    tick(clock, reactor)
    assert "book" not in [name for _, name, _ in started(reactor)]
    store.release_lease(other, True)
    tick(clock, reactor)
    tick(clock, reactor)
    assert [name for _, name, _ in started(reactor)].count("book") == 1
    assert scheduler.after_import.pending == set()


def test_run_now_starts_an_export(setup) -> None:
    scheduler, _clock, reactor, store = setup
    answers: list[RunNow] = []
    scheduler.run_now("export:book", "alice").addCallback(answers.append)
    reactor.run_next()
    assert answers == [RunNow(True, "export:book started on node node-a (lease 1)", 1)]
    assert started(reactor)[-1] == ["export", "book", "web"]
    # a worker that dies without a result: recorded as a failed run of the export
    worker(reactor, "export:book").processEnded(Failure(ProcessTerminated(signal=9)))
    reactor.run_next()
    [run] = store.history("export:book")
    assert (run.outcome, run.trigger, run.node) == ("failed", "web", "node-a")
    unknown: list[Any] = []
    scheduler.run_now("export:nobody", "alice").addCallback(unknown.append)
    assert unknown == [RunNow(False, "no export 'nobody' in the config")]
