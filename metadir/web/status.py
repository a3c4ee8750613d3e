"""The store's status as the web front end shows it: the latest runs, leases and nodes, read
every few seconds in the thread pool so that a page or a scrape never waits for the store.

A service over a ``LoopingCall`` on an injected clock, like the store follower, so that a test
drives the reads with ``task.Clock``; the store is read in the service tree's thread pool,
and the result is taken in on the reactor thread, where pages and scrapes read it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from twisted.application.service import Service
from twisted.internet import threads
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from metadir.store.store import LeaseState, NodeRecord, RunRecord, Store

# one logger for everything ``metadir serve`` says about the store
log = logging.getLogger("metadir.server")

# runs taken in per read at most; more wait for the next read
RUNS_PER_READ = 1000

Listener = Callable[["StoreStatus", list[RunRecord]], None]


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """What the store said at one read (each part in its own short transaction)."""

    at: datetime  # the store's clock (``db_now``) when read
    last_runs: dict[str, RunRecord]  # each replicator's latest run, without its problems
    leases: dict[str, LeaseState]  # by replicator
    nodes: list[NodeRecord]
    # when each replicator's latest successful run finished (``last_runs`` may have failed)
    last_success: dict[str, datetime] = field(default_factory=dict)


class StatusPoller(Service):
    """Reads the store's status every ``interval`` seconds, and on ``refresh()``.

    ``snapshot`` is the latest good read (None before the first), ``reachable`` whether the
    last read succeeded, ``problem`` its error message. Listeners get each good read with the
    runs recorded since the one before (store-wide; the first read counts from the store's
    last run then, so runs from before this process are not new).
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: IReactorTime,
        reactor: IReactorFromThreads,
        threadpool: ThreadPool,
        interval: float = 2.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.reactor = reactor  # where a worker thread hands its result back
        self.threadpool = threadpool
        self.interval = interval
        self.snapshot: StoreStatus | None = None
        self.reachable = False
        self.problem: str | None = None
        self._failing = False  # an outage was logged: its end will be
        self._after: int | None = None  # the last run taken in; None: not read yet
        self._listeners: list[Listener] = []
        self._reading: Deferred[None] | None = None
        self._waiting: list[Deferred[StoreStatus | None]] = []
        self._loop: LoopingCall | None = None

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(snapshot, new_runs)`` on the reactor thread after each good read."""
        self._listeners.append(listener)

    def startService(self) -> None:
        super().startService()
        self._loop = LoopingCall(self.refresh)
        self._loop.clock = self.clock
        # a page served right after start should have something to show: read now
        self._loop.start(self.interval, now=True)

    def stopService(self) -> Deferred[None]:
        """Stop reading; the Deferred fires when a read in progress is done, so the store is
        not closed under a worker thread."""
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        if self._reading is None:
            return succeed(None)
        return self.refresh().addCallback(lambda _: None)

    def refresh(self) -> Deferred[StoreStatus | None]:
        """Read now (e.g. right after a run was started by hand). Fires with the new
        snapshot, or None if the store could not be read; never fails. A call while a read
        is in progress shares it: the store is never read twice at once."""
        waiter: Deferred[StoreStatus | None] = Deferred()
        self._waiting.append(waiter)
        if self._reading is None:
            d: Deferred[Any] = threads.deferToThreadPool(
                self.reactor, self.threadpool, self._read, self._after
            )
            self._reading = d.addCallbacks(self._apply, self._failed)
            self._reading.addBoth(self._done)
        return waiter

    def _read(self, after: int | None) -> tuple[StoreStatus, list[RunRecord], int]:
        """In a worker thread: the status, the runs recorded after run ``after`` and the
        last run id they reach."""
        store = self.store
        if after is None:  # the first read: what was recorded before is not new
            new, after = [], store.last_run_id()
        else:
            new = store.runs_after(after, RUNS_PER_READ)
            after = (new[-1].id or after) if new else after
        status = StoreStatus(
            at=store.db_now(),
            # without problems: up to 1000 rows per run, every few seconds, shown nowhere
            # here (a page reads a run's problems when asked: ``store.problems``)
            last_runs=store.last_runs(with_problems=False),
            leases={lease.replicator: lease for lease in store.leases()},
            nodes=store.nodes(),
            last_success=store.last_successes(),
        )
        return status, new, after

    def _apply(self, result: tuple[StoreStatus, list[RunRecord], int]) -> None:
        status, new, self._after = result
        self.snapshot, self.reachable, self.problem = status, True, None
        if self._failing:
            log.info("store status readable again")
            self._failing = False
        for listener in list(self._listeners):
            try:
                listener(status, new)
            except Exception:  # one broken listener must not stop the reads or the others
                log.exception("status listener %r failed", listener)

    def _failed(self, failure: Failure) -> None:
        self.reachable, self.problem = False, failure.getErrorMessage()
        if not self._failing:  # one line per outage, not one per read
            log.error("cannot read the store's status: %s", self.problem)
            self._failing = True

    def _done(self, _: object) -> None:
        self._reading = None
        waiting, self._waiting = self._waiting, []
        result = self.snapshot if self.reachable else None
        for waiter in waiting:
            waiter.callback(result)
