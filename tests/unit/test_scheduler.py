"""The scheduler on ``task.Clock`` against a real SQLite store: due runs take their lease and
start a worker; a worker's end frees the replicator for its next slot; a worker that dies
without a result is recorded as failed; a store outage pauses scheduling and it resumes by
itself; stopping asks the workers to end and waits for them; "Run now" takes the same lease,
for any replicator, on any node. Worker processes are stood in for by their protocol object
with a transport that records signals: starting real ones needs a real reactor
(tests/e2e/test_schedule_processes.py does)."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from metadir.config import Config
from metadir.service.load import ensure_layout
from metadir.service.scheduler import RunNow, Scheduler
from metadir.service.workers import KILL_AFTER, WorkerProcess
from metadir.store.leases import Lease
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.worker import RESULT_MARK
from tests.reactor_threads import ThreadCalls

# 2026-12-03 12:00:00 UTC, a slot of every interval below
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC).timestamp()


def config(tmp_path: Path, **directory: Any) -> Config:
    reps = [
        {"name": "crm", "type": "csv", "path": "crm.csv", "key": "Id", "run_timeout": "1m"},
        {"name": "hr", "type": "csv", "path": "hr.csv", "key": "Id"},
    ]
    data = {
        "store": {"url": f"sqlite:///{tmp_path}/metadir.db"},
        "directories": [
            {"name": "contacts", "replicators": reps, "schedule": {"every": "10s"}, **directory}
        ],
        "history": {"keep_days": 30},
    }
    loaded = Config.model_validate(data, context={"base_dir": tmp_path})
    return loaded.model_copy(update={"path": tmp_path / "metadir.yaml"})


class Transport:
    """A worker process's transport as the protocol sees it: the signals it was sent."""

    pid = 4242

    def __init__(self) -> None:
        self.signals: list[int] = []

    def signalProcess(self, number: int) -> None:
        self.signals.append(number)


class Reactor(ThreadCalls):
    """Worker threads' results on the test's thread; the processes it was asked to start."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[tuple[list[str], WorkerProcess]] = []

    def spawnProcess(self, worker: WorkerProcess, executable: str, args: list[str], **kw: Any):
        assert executable == args[0] and kw["childFDs"] == {0: "w", 1: "r", 2: "r"}
        worker.makeConnection(Transport())  # type: ignore[arg-type]
        self.started.append((args, worker))


@pytest.fixture
def setup(tmp_path: Path, pool: ThreadPool) -> Iterator[tuple[Scheduler, Clock, Reactor, Store]]:
    conf = config(tmp_path)
    with Store.open(conf.store_url()) as store:
        ensure_layout(store, conf)
        clock, reactor = Clock(), Reactor()
        clock.advance(T0 + 1)
        scheduler = Scheduler(
            conf, store, node="node-a", clock=clock, reactor=reactor, threadpool=pool
        )
        yield scheduler, clock, reactor, store


def tick(scheduler: Scheduler, clock: Clock, reactor: Reactor, seconds: float = 1.0) -> None:
    """``seconds`` pass; the tick's store work is done and its answer applied."""
    clock.advance(seconds)
    reactor.run_next()


def finish(store: Store, worker: WorkerProcess, outcome: str = "ok") -> None:
    """What a worker does at its end: release its lease, write its result line, exit."""
    lease = next(lease for lease in store.leases() if lease.replicator == worker.replicator)
    store.release_lease(Lease(lease.replicator, "node-a", lease.token, T()), True)
    result = {"run_id": 1, "replicator": worker.replicator, "outcome": outcome}
    worker.childDataReceived(1, (RESULT_MARK + json.dumps(result) + "\n").encode())
    worker.processEnded(Failure(ProcessDone(0)))


def T() -> datetime:
    return datetime.fromtimestamp(T0, UTC)


def test_due_runs_start_in_order_under_a_lease_each(setup) -> None:
    scheduler, clock, reactor, store = setup
    scheduler.startService()  # the first look is now
    reactor.run_next()
    [(argv, crm)] = reactor.started
    assert argv[1:5] == ["-m", "metadir", "sync", "-c"] and argv[5].endswith("metadir.yaml")
    assert argv[6:] == [
        "crm", "--trigger", "schedule", "--lease-token", "1", "--node", "node-a",
        "--slot", "2026-12-03T12:00:00+00:00", "--supervised",
    ]  # fmt: skip
    # hr is of the same directory: it waits for crm, tick after tick
    tick(scheduler, clock, reactor)
    tick(scheduler, clock, reactor)
    assert len(reactor.started) == 1
    finish(store, crm)
    tick(scheduler, clock, reactor)
    assert [args[6] for args, _ in reactor.started] == ["crm", "hr"]
    finish(store, reactor.started[1][1])
    # both ran the 12:00:00 slot (it is 12:00:04): nothing more until 12:00:10
    for _ in range(5):
        tick(scheduler, clock, reactor)
    assert len(reactor.started) == 2
    tick(scheduler, clock, reactor)
    assert [args[6] for args, _ in reactor.started] == ["crm", "hr", "crm"]
    assert reactor.started[2][0][10] == "2"  # the lease's next fencing token
    scheduler.stopService()


def test_a_worker_that_dies_without_a_result_is_recorded_as_failed(setup, caplog) -> None:
    scheduler, clock, reactor, store = setup
    scheduler.startService()
    reactor.run_next()
    [(_argv, crm)] = reactor.started
    crm.childDataReceived(2, b"Traceback (most recent call last):\nMemoryError\n")
    crm.processEnded(Failure(ProcessTerminated(signal=9)))
    reactor.run_next()  # the failure recorded in a worker thread
    [run] = store.history("crm")
    assert (run.outcome, run.trigger, run.node) == ("failed", "schedule", "node-a")
    assert run.message == "worker killed by signal 9: MemoryError"
    # the lease is free and its slot counts as run: hr goes next, crm waits for its slot
    [lease] = [lease for lease in store.leases() if lease.replicator == "crm"]
    assert lease.holder is None and lease.slot_done
    tick(scheduler, clock, reactor)
    assert [args[6] for args, _ in reactor.started] == ["crm", "hr"]
    scheduler.stopService()


def test_a_worker_past_its_timeout_is_stopped_then_killed(setup) -> None:
    scheduler, clock, reactor, store = setup
    scheduler.startService()
    reactor.run_next()
    [(_argv, crm)] = reactor.started
    transport = crm.transport
    # run_timeout 1m: the worker stops itself; one that hangs gets KILL_AFTER more
    for _ in range(59 + int(KILL_AFTER)):
        tick(scheduler, clock, reactor)
    assert transport.signals == []
    clock.advance(1)
    assert transport.signals == [signal.SIGTERM]
    clock.advance(KILL_AFTER)
    assert transport.signals == [signal.SIGTERM, signal.SIGKILL]
    crm.processEnded(Failure(ProcessTerminated(signal=9)))
    # the failure is recorded in a worker thread, after a tick that may be in flight
    while not store.history("crm"):
        reactor.run_next()
    [run] = store.history("crm")
    assert run.message == "worker killed: it hung past its run_timeout of 60 s"
    scheduler.stopService()


def test_a_store_outage_pauses_scheduling_until_it_answers(setup, caplog) -> None:
    scheduler, clock, reactor, store = setup
    caplog.set_level(logging.INFO, "metadir.server")
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE leases RENAME TO leases_away"))
    scheduler.startService()
    reactor.run_next()
    tick(scheduler, clock, reactor)
    tick(scheduler, clock, reactor)
    assert reactor.started == []
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE leases_away RENAME TO leases"))
    tick(scheduler, clock, reactor)
    assert len(reactor.started) == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "metadir.server"]
    paused = [line for line in lines if "scheduling paused" in line]
    assert len(paused) == 1 and "store sqlite:///" in paused[0]
    assert "scheduler: store reachable again; scheduling resumed" in lines
    scheduler.stopService()


def test_a_node_that_may_not_schedule_starts_nothing(tmp_path: Path, pool: ThreadPool) -> None:
    conf = config(tmp_path)
    with Store.open(conf.store_url()) as store:
        ensure_layout(store, conf)
        clock, reactor = Clock(), Reactor()
        scheduler = Scheduler(conf, store, node="node-b", clock=clock, reactor=reactor,
                              threadpool=pool, may_schedule=lambda: False)  # fmt: skip
        scheduler.startService()
        clock.advance(30)
        assert reactor.idle() and reactor.started == []
        scheduler.stopService()


def test_stopping_asks_workers_to_end_and_waits_for_them(setup) -> None:
    scheduler, _clock, reactor, store = setup
    scheduler.startService()
    reactor.run_next()
    [(_argv, crm)] = reactor.started
    stopped = scheduler.stopService()
    assert crm.transport.signals == [signal.SIGTERM] and not stopped.called
    finish(store, crm, "failed")
    assert stopped.called


def test_old_runs_are_pruned_by_the_scheduler(setup) -> None:
    scheduler, _clock, reactor, store = setup
    old = T() - timedelta(days=31)
    store.record_run(RunRecord("crm", "ok", started=old, finished=old))
    store.record_run(RunRecord("hr", "ok", started=old, finished=old))
    store.record_run(RunRecord("crm", "ok", started=T(), finished=T()))
    scheduler.startService()
    reactor.run_next()
    assert [run.started for run in store.history("crm")] == [T()]
    # a replicator's latest run stays, however old: status shows when it last ran
    assert [run.started for run in store.history("hr")] == [old]
    scheduler.stopService()


def test_a_run_cut_short_by_stopping_leaves_its_slot_to_other_nodes(setup) -> None:
    scheduler, _clock, reactor, store = setup
    scheduler.startService()
    reactor.run_next()
    [(_argv, crm)] = reactor.started
    stopped = scheduler.stopService()
    crm.processEnded(Failure(ProcessTerminated(signal=15)))  # no result line: recorded here
    assert stopped.called
    [run] = store.history("crm")
    assert (run.outcome, run.message) == ("failed", "worker stopped: metadir serve shut down")
    [lease] = [lease for lease in store.leases() if lease.replicator == "crm"]
    assert lease.holder is None and not lease.slot_done


def run_now(scheduler: Scheduler, reactor: Reactor, name: str, *, store: bool = True) -> RunNow:
    """What "Run now" answers; ``store``: the answer needs the store (a worker thread)."""
    answers: list[RunNow] = []
    scheduler.run_now(name, "alice").addCallback(answers.append)
    if store:
        reactor.run_next()
    [answer] = answers
    return answer


def unscheduled(
    tmp_path: Path, pool: ThreadPool, node: str = "node-a", **kw: Any
) -> tuple[Scheduler, Clock, Reactor, Store]:
    """A started scheduler of a config without schedules (its first look is under way if it
    may schedule), and its store to close."""
    conf = config(tmp_path, schedule=None)
    store = Store.open(conf.store_url())
    ensure_layout(store, conf)
    clock, reactor = Clock(), Reactor()
    clock.advance(T0 + 1)
    scheduler = Scheduler(
        conf, store, node=node, clock=clock, reactor=reactor, threadpool=pool, **kw
    )
    scheduler.startService()
    return scheduler, clock, reactor, store


def test_run_now_starts_an_unscheduled_replicator_under_a_web_lease(
    tmp_path: Path, pool: ThreadPool, caplog
) -> None:
    caplog.set_level(logging.INFO, "metadir.server")
    scheduler, _clock, reactor, store = unscheduled(tmp_path, pool)
    with store:
        reactor.run_next()  # the first look: nothing is due
        assert reactor.started == []
        answer = run_now(scheduler, reactor, "crm")
        assert answer == RunNow(True, "crm started on node node-a (lease 1)", 1)
        [(argv, _crm)] = reactor.started
        assert argv[6:] == [
            "crm", "--trigger", "web", "--lease-token", "1", "--node", "node-a", "--supervised",
        ]  # fmt: skip
        [lease] = [lease for lease in store.leases() if lease.replicator == "crm"]
        assert (lease.holder, lease.trigger, lease.slot) == ("node-a", "web", None)
        lines = [r.getMessage() for r in caplog.records if r.name == "metadir.server"]
        assert (
            "scheduler: alice asked to run crm now: crm started on node node-a (lease 1)" in lines
        )
        scheduler.stopService()


def test_run_now_is_refused_while_this_node_runs_it(setup) -> None:
    scheduler, _clock, reactor, _store = setup
    scheduler.startService()
    reactor.run_next()
    [(_argv, crm)] = reactor.started
    answer = run_now(scheduler, reactor, "crm", store=False)
    assert (answer.started, answer.lease) == (False, None)
    since = f"{scheduler.workers['crm'].started.astimezone():%Y-%m-%d %H:%M:%S %Z}"
    assert answer.message == (
        f"crm is running on node node-a (this node) since {since} (schedule): not started"
    )
    assert len(reactor.started) == 1 and scheduler.workers["crm"].worker is crm
    scheduler.stopService()


def test_run_now_is_refused_while_another_node_holds_the_lease(
    tmp_path: Path, pool: ThreadPool
) -> None:
    scheduler, _clock, reactor, store = unscheduled(tmp_path, pool)
    with store:
        reactor.run_next()
        store.acquire_lease("crm", "node-b", 30, "manual")
        answer = run_now(scheduler, reactor, "crm")
        assert (answer.started, answer.lease) == (False, None)
        assert answer.message.startswith("crm is running on node node-b since ")
        assert answer.message.endswith(" (manual): not started")
        # its sibling waits for the directory, and says for whom
        sibling = run_now(scheduler, reactor, "hr")
        assert not sibling.started
        assert sibling.message.startswith(
            "hr waits for its directory: crm is running on node node-b"
        )
        assert reactor.started == []
        scheduler.stopService()


def test_run_now_of_an_unknown_replicator_says_so(setup) -> None:
    scheduler, _clock, reactor, _store = setup
    scheduler.startService()
    reactor.run_next()
    answer = run_now(scheduler, reactor, "x", store=False)
    assert answer == RunNow(False, "no replicator 'x' in the config", None)
    scheduler.stopService()


def test_run_now_starts_on_a_node_that_may_not_schedule(tmp_path: Path, pool: ThreadPool) -> None:
    scheduler, _clock, reactor, store = unscheduled(
        tmp_path, pool, node="node-b", may_schedule=lambda: False
    )
    with store:
        assert reactor.idle()  # it does not look
        answer = run_now(scheduler, reactor, "hr")
        assert answer == RunNow(True, "hr started on node node-b (lease 1)", 1)
        [(argv, _hr)] = reactor.started
        assert argv[6:9] == ["hr", "--trigger", "web"]
        scheduler.stopService()


def test_the_end_of_a_run_now_is_handled_as_a_scheduled_runs(
    tmp_path: Path, pool: ThreadPool
) -> None:
    scheduler, _clock, reactor, store = unscheduled(tmp_path, pool)
    with store:
        reactor.run_next()
        assert run_now(scheduler, reactor, "crm").started
        finish(store, reactor.started[0][1])
        assert scheduler.workers == {}
        # a worker that dies without a result: recorded as a failed web run, lease freed
        assert run_now(scheduler, reactor, "crm") == RunNow(
            True, "crm started on node node-a (lease 2)", 2
        )
        reactor.started[1][1].processEnded(Failure(ProcessTerminated(signal=9)))
        reactor.run_next()
        assert scheduler.workers == {}
        [run] = store.history("crm")
        assert (run.outcome, run.trigger, run.slot, run.node) == ("failed", "web", None, "node-a")
        [lease] = [lease for lease in store.leases() if lease.replicator == "crm"]
        assert lease.holder is None
        scheduler.stopService()


def test_run_now_says_why_when_the_store_cannot_be_reached(setup) -> None:
    scheduler, _clock, reactor, store = setup
    scheduler.startService()
    reactor.run_next()
    finish(store, reactor.started[0][1])
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE leases RENAME TO leases_away"))
    answer = run_now(scheduler, reactor, "hr")
    assert (answer.started, answer.lease) == (False, None)
    assert answer.message.startswith("hr not started: store sqlite:///")
    assert len(reactor.started) == 1
    scheduler.stopService()


def test_run_now_starts_nothing_once_stopped(setup) -> None:
    scheduler, _clock, reactor, _store = setup
    answer = run_now(scheduler, reactor, "crm", store=False)
    assert answer == RunNow(False, "crm not started: the scheduler is stopped", None)
    assert reactor.started == []
