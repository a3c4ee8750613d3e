"""The scheduler of ``metadir serve``: starts each replicator's and export's runs when due,
in worker processes, through their leases in the store.

Every tick (one second on the given clock) it reads the leases, asks ``due.due_runs`` what
to start and tries to take each run's lease; a granted lease starts a worker, which renews
it while it runs, commits only while it still holds it and releases it at the end. Several
nodes on one PostgreSQL store each run this loop; the leases let exactly one of them run
each slot. A store that cannot be reached pauses scheduling (serving goes on from memory)
until it answers again. ``run_now`` starts a run outside the schedule (the status page's
"Run now") through the same lease.

Exports go by their lease names (``export:NAME``): one with a schedule is due by its slots,
one without after an import of its directories changed something (``service/exports.py``);
their workers run ``metadir export``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.application.service import Service
from twisted.internet import threads
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from metadir.config import Config
from metadir.core.errors import StoreError
from metadir.service.due import Due, Scheduled, due_runs
from metadir.service.exports import AfterImports, export_of, scheduled_exports
from metadir.service.timing import Clock, ProcessReactor
from metadir.service.workers import WorkerProcess, WorkerResult, start_worker
from metadir.store.leases import Busy, Lease
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.after_run import tell_after_run

log = logging.getLogger("metadir.server")

TICK = 1.0
# how often old runs are pruned from the history
PRUNE_EVERY = timedelta(hours=1)
# the trigger of a run started by "Run now" on the status page
WEB = "web"


@dataclass(frozen=True, slots=True)
class RunNow:
    """What "Run now" did: ``message`` is one sentence for the page; ``lease`` is the
    fencing token of the started run."""

    started: bool
    message: str
    lease: int | None = None


@dataclass
class Running:
    """A worker of this node and the lease it runs under."""

    lease: Lease
    due: Due
    started: datetime
    worker: WorkerProcess


class Scheduler(Service):
    """Runs due replicators and exports in worker processes, one lease per run.

    ``may_schedule`` says whether this node schedules at all (with SQLite, only the node
    holding the store's scheduling lock does); it is asked every tick, so a node takes
    over when the one before it stops.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        node: str,
        clock: Clock,
        reactor: ProcessReactor,
        threadpool: ThreadPool,
        may_schedule: Callable[[], bool] = lambda: True,
        tick: float = TICK,
    ) -> None:
        self.config = config
        self.store = store
        self.node = node
        self.clock = clock
        self.reactor = reactor
        self.threadpool = threadpool
        self.may_schedule = may_schedule
        self.tick = tick
        self.scheduled = _scheduled(config)
        self.start_pending = {s.replicator for s in self.scheduled if s.schedule.run_at_start}
        self.after_import = AfterImports(config)
        self.workers: dict[str, Running] = {}
        self.failing = False
        self._pruned: datetime | None = None
        self._loop: LoopingCall | None = None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def startService(self) -> None:
        super().startService()
        if not self.scheduled and not self.after_import.exports:
            log.info("scheduler: no replicator or export has a schedule")
        self._loop = LoopingCall(self.look)
        self._loop.clock = self.clock  # type: ignore[assignment]
        self._loop.start(self.tick, now=True).addErrback(self._broken)

    def stopService(self) -> Deferred[Any]:
        """Stop looking; ask this node's workers to end their runs and wait for them."""
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        ending = [r.worker.ended for r in self.workers.values()]
        for running in self.workers.values():
            running.worker.stop()
        return DeferredList(ending) if ending else succeed(None)

    def look(self) -> Deferred[None] | None:
        """One tick: what is due, taken through the leases, started in workers. The
        LoopingCall waits for it, so ticks never overlap."""
        if not self.may_schedule():
            return None
        now = self.now()
        running = set(self.workers)
        d = threads.deferToThreadPool(
            self.reactor,  # type: ignore[arg-type]
            self.threadpool,
            self._take,
            now,
            running,
            set(self.start_pending),
            self.after_import.due(),
        )
        return d.addCallbacks(self._start, self._failed)

    def _take(
        self, now: datetime, running: set[str], start_pending: set[str], after_import: list[str]
    ) -> list[tuple[Due, Lease]]:
        """In a worker thread: the leases of the runs due now that this node got."""
        self._prune(now)
        leases = {lease.replicator: lease for lease in self.store.leases()}
        granted = []
        for due in due_runs(
            self.scheduled, leases, now, running=running, start_pending=start_pending,
            after_import=after_import,
        ):  # fmt: skip
            got = self.store.acquire_lease(
                due.replicator, self.node, self.config.scheduler.lease.total_seconds(),
                due.trigger, slot=due.slot,
            )  # fmt: skip
            if isinstance(got, Busy):
                log.debug("scheduler: %s not started: %s", due.replicator, got)
                continue
            granted.append((due, got))
        return granted

    def _start(self, granted: list[tuple[Due, Lease]]) -> None:
        if self.failing:
            log.info("scheduler: store reachable again; scheduling resumed")
            self.failing = False
        for due, lease in granted:
            if not self.running:  # stopped while the lease was taken
                self._give_back(lease)
                continue
            self._run(due, lease)

    def _give_back(self, lease: Lease) -> None:
        """Release a lease that no worker will use; its slot stays open for another node."""
        threads.deferToThreadPool(
            self.reactor,  # type: ignore[arg-type]
            self.threadpool,
            self.store.release_lease,
            lease,
            False,
        )

    def run_now(self, replicator: str, who: str) -> Deferred[RunNow]:
        """Start a run of ``replicator`` (or of an export: ``export:NAME``) now, asked for by
        admin ``who`` (the status page's "Run now"), scheduled or not. It runs even where
        ``may_schedule`` is false: its lease in the store keeps it to one run at a time
        across nodes. The answer says why a run did not start; it never fails."""
        refused = self._refuse_now(replicator)
        if refused is not None:
            d: Deferred[RunNow] = succeed(RunNow(False, refused))
        else:
            d = threads.deferToThreadPool(
                self.reactor,  # type: ignore[arg-type]
                self.threadpool,
                self.store.acquire_lease,
                replicator,
                self.node,
                self.config.scheduler.lease.total_seconds(),
                WEB,
                slot=None,
            ).addCallbacks(
                self._start_now,
                self._unreached,
                callbackArgs=(replicator,),
                errbackArgs=(replicator,),
            )

        def told(answer: RunNow) -> RunNow:
            log.info("scheduler: %s asked to run %s now: %s", who, replicator, answer.message)
            return answer

        return d.addCallback(told)

    def _refuse_now(self, name: str) -> str | None:
        """Why ``name`` cannot start now without asking the store; None if it may try."""
        if not self.running:
            return f"{name} not started: the scheduler is stopped"
        if (export := export_of(name)) is not None:
            if self.config.export(export) is None:
                return f"no export {export!r} in the config"
        elif self.config.replicator(name) is None:
            return f"no replicator {name!r} in the config"
        if (running := self.workers.get(name)) is not None:
            # this node's own worker: the same words as for another node's lease
            here = Busy(name, f"{self.node} (this node)", running.started,
                        running.due.trigger, "running")  # fmt: skip
            return f"{here.why(name)}: not started"
        return None

    def _start_now(self, got: Lease | Busy, name: str) -> RunNow:
        if isinstance(got, Busy):
            return RunNow(False, f"{got.why(name)}: not started")
        if not self.running:  # stopped while the lease was taken
            self._give_back(got)
            return RunNow(False, f"{name} not started: the scheduler is stopped")
        self._run(Due(name, None, WEB), got)
        return RunNow(True, f"{name} started on node {self.node} (lease {got.token})", got.token)

    def _unreached(self, failure: Failure, name: str) -> RunNow:
        if not failure.check(StoreError):  # not the store's answer: a bug, kept in the log
            log.error("scheduler: run of %s now failed: %s", name, failure.getTraceback())
        return RunNow(False, f"{name} not started: {failure.getErrorMessage()}")

    def _run(self, due: Due, lease: Lease) -> None:
        name = due.replicator
        self.start_pending.discard(name)
        self.after_import.started(name)
        took = f" (taken over from {lease.taken_over_from})" if lease.taken_over_from else ""
        slot = f" for {due.slot:%Y-%m-%d %H:%M:%S} UTC" if due.slot else ""
        log.info("scheduler: starting %s (%s%s, lease %d)%s", name, due.trigger, slot,
                 lease.token, took)  # fmt: skip
        worker = start_worker(
            self.reactor,
            self.clock,
            name,
            self.worker_argv(name, due, lease.token),
            self._timeout(name),
        )
        self.workers[name] = Running(lease, due, self.now(), worker)
        worker.ended.addCallback(self._ended)

    def worker_argv(self, name: str, due: Due, token: int) -> list[str]:
        """The command line of the worker running ``due`` under lease ``token``:
        ``metadir sync`` for a replicator, ``metadir export`` for an export."""
        slot = ["--slot", due.slot.isoformat()] if due.slot else []
        export = export_of(name)
        command, named = ("sync", name) if export is None else ("export", export)
        return [
            sys.executable, "-m", "metadir", command, "-c", str(self.config.path.resolve()),
            named, "--trigger", due.trigger, "--lease-token", str(token), "--node", self.node,
            *slot, "--supervised",
        ]  # fmt: skip

    def _ended(self, result: WorkerResult) -> Deferred[None] | None:
        running = self.workers[result.replicator]
        if result.result is not None:
            log.info("scheduler: %s ended: %s", result.replicator,
                     result.result.get("outcome", "?"))  # fmt: skip
            del self.workers[result.replicator]
            self._imported(result.replicator, result.result)
            return None
        message = result.failure(self._timeout(result.replicator))
        log.error("scheduler: %s failed: %s", result.replicator, message)
        run = RunRecord(
            result.replicator, "failed", started=running.started, finished=self.now(),
            message=message, node=self.node, trigger=running.due.trigger, slot=running.due.slot,
        )  # fmt: skip

        def forget(_: object) -> None:
            self.workers.pop(result.replicator, None)

        if not self.running:
            # the thread pool is stopping with the tree: record on this thread
            self._record_failure(run, running.lease, not result.stopped)
            forget(None)
            return None
        d = threads.deferToThreadPool(
            self.reactor,  # type: ignore[arg-type]
            self.threadpool,
            self._record_failure,
            run,
            running.lease,
            not result.stopped,
        )
        return d.addErrback(self._unrecorded, run).addBoth(forget)

    def _imported(self, name: str, result: dict[str, Any]) -> None:
        """Mark the exports that follow the directory of import ``name`` pending, if it
        changed something."""
        found = self.config.replicator(name)
        if found is None:  # an export's run
            return
        if marked := self.after_import.imported(found[0].name, result):
            log.info("scheduler: %s changed %s: %s pending", name, found[0].name,
                     ", ".join(marked))  # fmt: skip

    def _record_failure(self, run: RunRecord, lease: Lease, done: bool) -> None:
        """A worker that died without a word: its run recorded as failed, its lease freed,
        ``after_run`` told. ``done``: the slot counts as run and the next one comes on
        schedule; not so for a run cut short by shutting down, which another node runs."""
        run_id = self.store.record_run(run)
        self.store.release_lease(lease, done)
        found = self.config.replicator(run.replicator)
        if found is None:
            return
        directory, rep = found
        recorded = replace(run, id=run_id)
        problem = tell_after_run(
            rep.after_run, recorded, directory.name, self.node, self.config.base_dir
        )
        if problem:
            log.warning("%s", problem)

    def _unrecorded(self, failure: Failure, run: RunRecord) -> None:
        log.error("scheduler: cannot record the failed run of %s: %s", run.replicator,
                  failure.getErrorMessage())  # fmt: skip

    def _prune(self, now: datetime) -> None:
        if self._pruned is not None and now - self._pruned < PRUNE_EVERY:
            return
        self._pruned = now
        before = now - timedelta(days=self.config.history.keep_days)
        if pruned := self.store.prune_runs(before):
            log.info("history: pruned %d runs older than %d days", pruned,
                     self.config.history.keep_days)  # fmt: skip

    def _failed(self, failure: Failure) -> None:
        if not self.failing:
            log.error("scheduler: cannot reach the store, scheduling paused: %s",
                      failure.getErrorMessage())  # fmt: skip
        self.failing = True

    def _broken(self, failure: Failure) -> None:
        log.error("scheduler stopped: %s", failure.getTraceback())

    def _timeout(self, name: str) -> float:
        """The ``run_timeout`` in seconds of replicator or export ``name``."""
        # every run started is of one of the config's: the scheduler lists no other
        export = export_of(name)
        if export is not None:
            found = self.config.export(export)
            assert found is not None, name
            return found.run_timeout.total_seconds()
        rep = self.config.replicator(name)
        assert rep is not None, name
        return rep[1].run_timeout.total_seconds()


def _scheduled(config: Config) -> list[Scheduled]:
    found = []
    for directory in config.directories:
        for rep in directory.replicators:
            schedule = config.schedule_for(directory, rep)
            if schedule is not None:
                found.append(Scheduled(rep.name, directory.name, schedule))
    found += [Scheduled(name, None, schedule) for name, schedule in scheduled_exports(config)]
    return found
