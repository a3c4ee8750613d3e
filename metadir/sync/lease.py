"""Holding a replicator's lease through a run: renewed from a thread while the run reads
and diffs, and checked again by ``Store.apply`` in the run's own transaction.

A holder that was paused past its lease (SIGSTOP, a frozen VM) finds it gone at its next
renewal and cancels the run; if it wakes right before committing, the check in the
transaction refuses the commit. Either way the run is recorded as failed and nothing of it
is written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

from metadir.core.errors import StoreError
from metadir.store.leases import Lease, Progress
from metadir.store.store import Store

log = logging.getLogger("metadir.sync")

# at most this many seconds between renewals, so that the progress shown is recent
RENEW_AT_MOST_EVERY = 5.0


def _no_progress() -> Progress | None:
    return None


class LeaseKeeper:
    """Renews ``lease`` every third of ``ttl`` (at most every ``RENEW_AT_MOST_EVERY`` s),
    writing the run's ``progress()`` with it; sets ``lost`` when the lease is gone. Use as a
    context manager around the run."""

    def __init__(
        self,
        store: Store,
        lease: Lease,
        ttl: float,
        progress: Callable[[], Progress | None] = _no_progress,
    ) -> None:
        self.store = store
        self.lease = lease
        self.ttl = ttl
        self.progress = progress
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._renew, name=f"lease-{lease.replicator}", daemon=True
        )

    @property
    def interval(self) -> float:
        return min(self.ttl / 3, RENEW_AT_MOST_EVERY)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def poke(self) -> None:
        """Renew now rather than at the next interval: the run entered a new phase, which
        ``metadir status`` should show."""
        self._wake.set()

    def _renew(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                renewed = self.store.renew_lease(self.lease, self.ttl, self.progress())
            except StoreError as exc:
                # the store may be back before the lease runs out; the commit checks it
                log.warning("%s: cannot renew lease %d: %s", self.lease.replicator,
                            self.lease.token, exc)  # fmt: skip
                continue
            if renewed is None:
                log.error(
                    "%s: lease %d lost (held too long without renewal): stopping the run",
                    self.lease.replicator,
                    self.lease.token,
                )
                self.lost.set()
                return
            self.lease = renewed
