"""One scheduler per SQLite store: an exclusive ``flock`` on ``<database file>.scheduler``.

Leases keep two runs of a replicator apart on any store. On SQLite, though, every node is a
process on one machine, and two schedulers there would only take turns at the write lock;
the second ``metadir serve`` on a file should serve and leave the schedules to the first.
The kernel drops the lock when its process dies, however it dies, so no stale lock is left
behind. On PostgreSQL the lock is always granted: nodes on several machines schedule
together and the leases decide who runs what.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from metadir.core.errors import StoreError


class SchedulingLock:
    """The right to run schedules on a store, held until ``release()`` or the process ends."""

    def __init__(self, path: Path | None, fd: int | None) -> None:
        self.path = path  # the lock file; None on PostgreSQL or an in-memory SQLite store
        self._fd = fd
        self.holder_pid = os.getpid()

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # emptied first, so that nobody reads this pid as the holder's any more
        os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock


def scheduling_lock(url: str) -> SchedulingLock | None:
    """The scheduling lock of the store at ``url``; None if another process holds it (see
    ``holder``). Take it after ``Store.open``, which creates an SQLite file's folder."""
    path = lock_path(url)
    if path is None:
        return SchedulingLock(None, None)
    try:
        # os.open makes no inheritable descriptor: a worker process started by the
        # scheduler must not keep the lock after the scheduler is gone
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot open the scheduling lock {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return SchedulingLock(path, fd)


def holder(url: str) -> int | None:
    """The process id written by the holder of the store's scheduling lock, if any."""
    path = lock_path(url)
    if path is None:
        return None
    try:
        written = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(written) if written.isdigit() else None


def lock_path(url: str) -> Path | None:
    """``<database file>.scheduler`` for an SQLite store on a file; else None."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"bad store URL {url!r}: {exc}") from None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(f"{database}.scheduler")
