"""This node in the store: its name, version and last sign of life, so that ``metadir
status`` lists every ``serve`` sharing the store; and, on SQLite, whether this node is the
one that schedules.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.application.service import Service
from twisted.internet import threads
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from metadir import __version__
from metadir.service.timing import Clock
from metadir.store.schedlock import SchedulingLock, holder, scheduling_lock
from metadir.store.store import Store

log = logging.getLogger("metadir.server")

# seconds between two signs of life in the store
HEARTBEAT = 10.0
# nodes not seen for this long are dropped from the list
FORGET_AFTER = timedelta(days=7)
# seconds between two tries at the scheduling lock of an SQLite store
LOCK_RETRY = 30.0


class NodeService(Service):
    """Registers this node in the store every ``HEARTBEAT`` seconds."""

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        schedules: Callable[[], bool],
        clock: Clock,
        reactor: IReactorFromThreads,
        threadpool: ThreadPool,
    ) -> None:
        self.store = store
        self.node = name
        self.schedules = schedules
        self.clock = clock
        self.reactor = reactor
        self.threadpool = threadpool
        self.started = datetime.fromtimestamp(clock.seconds(), UTC)
        self._loop: LoopingCall | None = None

    def startService(self) -> None:
        super().startService()
        self._loop = LoopingCall(self.beat)
        self._loop.clock = self.clock  # type: ignore[assignment]
        self._loop.start(HEARTBEAT, now=True)

    def stopService(self) -> Any:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def beat(self) -> Deferred[None]:
        d = threads.deferToThreadPool(
            self.reactor, self.threadpool, self._register, self.schedules()
        )
        # the follower and the scheduler already say when the store is unreachable
        return d.addErrback(self._failed)

    def _register(self, schedules: bool) -> None:
        self.store.register_node(
            self.node, __version__, socket.gethostname(), os.getpid(), self.started, schedules
        )
        self.store.forget_nodes(datetime.fromtimestamp(self.clock.seconds(), UTC) - FORGET_AFTER)

    def _failed(self, failure: Failure) -> None:
        log.debug("node %s: cannot register: %s", self.node, failure.getErrorMessage())


class SchedulingGate:
    """Whether this node schedules: always on PostgreSQL (the leases share the work), on
    SQLite only while it holds the store's scheduling lock, tried again every
    ``LOCK_RETRY`` seconds so that a second ``serve`` takes over when the first stops."""

    def __init__(self, url: str, clock: Clock) -> None:
        self.url = url
        self.clock = clock
        self.lock: SchedulingLock | None = None
        self._tried: float | None = None
        self._said = False

    def __call__(self) -> bool:
        if self.lock is not None:
            return True
        now = self.clock.seconds()
        if self._tried is not None and now - self._tried < LOCK_RETRY:
            return False
        self._tried = now
        self.lock = scheduling_lock(self.url)
        if self.lock is not None:
            if self._said:
                log.info("scheduler: the other serve stopped; this one schedules now")
            return True
        if not self._said:
            pid = holder(self.url)
            log.warning(
                "scheduler: another metadir serve%s schedules the replicators of this "
                "SQLite store; this one serves but does not schedule",
                f" (pid {pid})" if pid else "",
            )
            self._said = True
        return False

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None
