"""One leased run of ``metadir sync`` or ``metadir export``: take (or adopt) the
replicator's or export's lease, run it with the lease renewed and a progress line, release
the lease, then ``after_run``.

Manual runs and the workers of ``metadir serve`` go through here alike, so a manual run
never overlaps a scheduled one: both need the same lease in the store.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime

from metadir.commands.progress import ProgressDisplay
from metadir.config import Config
from metadir.core.errors import StoreError
from metadir.store.leases import Lease, Progress
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.after_run import tell_after_run
from metadir.sync.engine import run_replicator
from metadir.sync.export import ExportJob, run_export
from metadir.sync.job import Job
from metadir.sync.lease import LeaseKeeper
from metadir.sync.worker import Stop, result_line
from replicators.base import Context, ReplicatorConfig

log = logging.getLogger("metadir.sync")

# exit status of `metadir sync` when a replicator was not started: it runs elsewhere
BUSY = 3
# seconds between tries of `metadir sync --wait`
WAIT_STEP = 1.0


class Runner:
    """Runs replicators of ``config`` as node ``node`` under their leases."""

    def __init__(
        self,
        config: Config,
        node: str,
        trigger: str,
        stop: Stop,
        supervised: bool,
        slot: datetime | None = None,
        command: str = "metadir sync",
    ) -> None:
        self.command = command
        self.config = config
        self.node = node
        self.trigger = trigger
        self.stop = stop
        self.supervised = supervised
        self.slot = slot

    @property
    def ttl(self) -> float:
        return self.config.scheduler.lease.total_seconds()

    def lease(self, store: Store, name: str, token: int | None, wait: bool) -> Lease | None:
        """The lease to run ``name`` under: the one ``serve`` took (``token``), or a new one;
        None if it runs elsewhere and ``wait`` is not asked for, or the lease was lost."""
        if token is not None:
            held = Lease(name, self.node, token, store.db_now(), ttl=self.ttl)
            adopted = store.renew_lease(held, self.ttl)
            if adopted is None:
                print(f"{self.command}: lease {token} of {name} is no longer held by "
                      f"{self.node}: not started", file=sys.stderr)  # fmt: skip
            return adopted
        said = False
        while True:
            got = store.acquire_lease(name, self.node, self.ttl, self.trigger)
            if isinstance(got, Lease):
                return got
            why = got.why(name)
            if not wait:
                print(f"{self.command}: {why}; not started (--wait waits for it)", file=sys.stderr)
                return None
            if not said:
                print(f"{self.command}: {why}; waiting", file=sys.stderr, flush=True)
                said = True
            time.sleep(WAIT_STEP)

    def run(self, store: Store, job: Job, lease: Lease, *, force: bool, full: bool) -> RunRecord:
        """Run ``job`` under ``lease``, renewed meanwhile, and release it afterwards."""
        rep = job.replicator

        def body(context: Context) -> RunRecord:
            return run_replicator(
                store, job, force=force, full=full, context=context, lease=lease,
                node=self.node, trigger=self.trigger, slot=self.slot,
            )  # fmt: skip

        return self._leased(store, rep.name, lease, rep.run_timeout.total_seconds(), body)

    def run_export(
        self, store: Store, job: ExportJob, lease: Lease, *, force: bool, full: bool
    ) -> RunRecord:
        """Run export ``job`` under ``lease``, as ``run`` runs a replicator."""

        def body(context: Context) -> RunRecord:
            return run_export(
                store, job, force=force, full=full, context=context, lease=lease,
                node=self.node, trigger=self.trigger, slot=self.slot,
            )  # fmt: skip

        limit = job.export.run_timeout.total_seconds()
        return self._leased(store, lease.replicator, lease, limit, body)

    def _leased(
        self,
        store: Store,
        name: str,
        lease: Lease,
        limit: float,
        body: Callable[[Context], RunRecord],
    ) -> RunRecord:
        """``body`` run with a context that stops it when the lease is lost, ``serve`` asks,
        or ``limit`` seconds have passed; the lease renewed meanwhile and released after."""
        late = Stop()
        display = ProgressDisplay(name, sys.stderr, terminal=sys.stderr.isatty())
        keeper = LeaseKeeper(store, lease, self.ttl, lambda: Progress(*display.snapshot()))
        timer = threading.Timer(limit, late.set, [f"ran past its run_timeout of {limit:g} s"])
        timer.daemon = True

        def cancelled() -> str | bool:
            if keeper.lost.is_set():
                return f"lease {lease.token} lost: another node may run {name} now"
            return self.stop() or late()

        def phase(name: str) -> None:
            display.phase(name)
            keeper.poke()

        context = Context(
            self.config.base_dir,
            cancelled=cancelled,
            progress=display.rows,
            phase=phase,
            expect=display.expect,
        )
        timer.start()
        try:
            with keeper:
                result = body(context)
        finally:
            timer.cancel()
            display.close()
            # a run that serve asked to stop (shutting down) leaves its slot to another node
            done = not self.stop()
            try:
                store.release_lease(keeper.lease, done)
            except StoreError as exc:  # it runs out by itself
                log.warning("%s: cannot release lease %d: %s", name, lease.token, exc)
        if self.supervised:
            print(result_line(result), flush=True)
        return result

    def after(self, rep: ReplicatorConfig, directory: str, run: RunRecord) -> None:
        """Run the replicator's ``after_run`` command, if it has one, with the run's outcome."""
        problem = tell_after_run(rep.after_run, run, directory, self.node, self.config.base_dir)
        if problem:
            print(f"metadir sync: {problem}", file=sys.stderr)
