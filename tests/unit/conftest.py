"""Fixtures the unit tests of ``serve``'s parts share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twisted.python.threadpool import ThreadPool


@pytest.fixture
def pool() -> Iterator[ThreadPool]:
    """A thread pool of one thread, as ``serve`` hands its services one."""
    threads = ThreadPool(minthreads=0, maxthreads=1, name="test")
    threads.start()
    yield threads
    threads.stop()
