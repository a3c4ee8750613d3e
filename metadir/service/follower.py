"""Following the store: the tree takes in each committed sync run while the server serves.

A service over a ``LoopingCall`` on an injected clock, so that a test drives the polls with
``twisted.internet.task.Clock`` instead of waiting for them; the store is read, and each
batch prepared (its entries built, their index keys computed), in the service tree's own
thread pool, never on the reactor thread, which only swaps the prepared batch in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from twisted.application.service import Service
from twisted.internet import threads
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from metadir.directory.prepare import PreparedBatch
from metadir.directory.tree import DirectoryTree
from metadir.store.store import Store

# one logger for everything ``metadir serve`` says, as the log lines always named it
log = logging.getLogger("metadir.server")

# the change sequence number read up to, and the batch prepared (None: nothing new), or
# what went wrong preparing it (raised on the reactor thread, as applying it would)
Batch = tuple[int, PreparedBatch | Failure | None]


class StoreFollower(Service):
    """Polls the store's change sequence every ``interval`` seconds and applies each batch
    in one reactor turn: a search sees a whole sync run or none of it.

    ``seq`` is the change sequence number the tree was loaded at. A store that cannot be
    read is logged once per outage; the tree keeps serving what it has.
    """

    def __init__(
        self,
        store: Store,
        tree: DirectoryTree,
        seq: int,
        directories: Sequence[str],
        *,
        interval: float,
        clock: IReactorTime,
        reactor: IReactorFromThreads,
        threadpool: ThreadPool,
    ) -> None:
        self.store = store
        self.tree = tree
        self.seq = seq
        self.directories = list(directories)
        self.interval = interval
        self.clock = clock
        self.reactor = reactor  # where a worker thread hands its result back
        self.threadpool = threadpool
        self.failing = False
        self._loop: LoopingCall | None = None
        self._polling: Deferred[None] | None = None

    def startService(self) -> None:
        super().startService()
        self._loop = LoopingCall(self.poll)
        self._loop.clock = self.clock
        # the tree was just loaded: the first look is one interval away
        self._loop.start(self.interval, now=False).addErrback(self._broken)

    def stopService(self) -> Deferred[None]:
        """Stop polling; the Deferred fires when a read in progress has been applied, so
        the store is not closed under a worker thread."""
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        if self._polling is None:
            return succeed(None)
        done: Deferred[None] = Deferred()

        def applied(result: object) -> object:
            done.callback(None)
            return result

        self._polling.addBoth(applied)
        return done

    def poll(self) -> Deferred[None]:
        """One look at the store; the LoopingCall waits for it before counting the next
        interval, so polls never overlap."""
        d: Deferred[Batch] = threads.deferToThreadPool(
            self.reactor, self.threadpool, self._read, self.seq
        )
        polling = d.addCallbacks(self._apply, self._failed)
        self._polling = polling
        polling.addBoth(self._done)
        return polling

    def _read(self, seq: int) -> Batch:
        """In a worker thread: the changes after ``seq``, prepared. The follower is the
        tree's only writer and polls never overlap, so the entries they replace stay as
        read until ``_apply``."""
        last, changes = self.store.changes_since(seq, self.directories)
        if last == seq:
            return last, None
        try:
            return last, self.tree.prepare(changes)
        except Exception:  # not the store: a batch that cannot be taken in
            return last, Failure()

    def _done(self, result: object) -> object:
        self._polling = None
        return result

    def _apply(self, result: Batch) -> None:
        seq, prepared = result
        if self.failing:
            log.info("store reachable again")
            self.failing = False
        if seq == self.seq or prepared is None:
            return
        if isinstance(prepared, Failure):
            prepared.raiseException()
        added, updated, deleted = self.tree.apply_prepared(prepared)
        self.seq = seq
        log.info(
            "store change %d visible: %d added, %d updated, %d deleted; %d contacts served",
            seq,
            added,
            updated,
            deleted,
            self.tree.size,
        )

    def _broken(self, failure: Failure) -> None:
        # not the store but applying a batch failed: say so instead of going quiet
        log.error(
            "stopped following the store at change %d: %s",
            self.seq,
            failure.getTraceback(),
        )

    def _failed(self, failure: Failure) -> None:
        if not self.failing:  # one line per outage, not one per poll
            log.error(
                "cannot read the store, serving the last loaded state: %s",
                failure.getErrorMessage(),
            )
        self.failing = True
