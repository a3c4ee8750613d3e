"""The reactor's half of ``deferToThreadPool`` for tests on ``task.Clock``."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorFromThreads
from zope.interface import implementer


@implementer(IReactorFromThreads)
class ThreadCalls:
    """The reactor's half of ``deferToThreadPool``: what worker threads hand back is queued
    and run when the test says, on the test's thread, as the reactor's loop would run it."""

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[Callable[..., Any], tuple, dict]] = queue.Queue()

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.calls.put((f, args, kwargs))

    def run_next(self) -> None:
        """Wait for the next call from a worker thread and run it."""
        f, args, kwargs = self.calls.get(timeout=30)
        f(*args, **kwargs)

    def idle(self) -> bool:
        return self.calls.empty()
