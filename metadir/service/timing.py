"""The parts of a reactor the scheduling children use, as protocols mypy can read (zope
interfaces are opaque to it): the global reactor fits them, and so do ``task.Clock`` and
a test's stand-ins."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol


class DelayedCall(Protocol):
    def active(self) -> bool: ...
    def cancel(self) -> None: ...


class Clock(Protocol):
    """``IReactorTime`` as used here."""

    def seconds(self) -> float: ...
    def callLater(self, delay: float, f: Callable[..., object], *a: Any, **kw: Any) -> Any: ...


class ProcessReactor(Protocol):
    """``IReactorProcess`` and ``IReactorFromThreads`` as used here."""

    def spawnProcess(
        self,
        processProtocol: Any,
        executable: str,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        path: str | None = None,
        uid: int | None = None,
        gid: int | None = None,
        usePTY: bool = False,
        childFDs: Mapping[int, str | int] | None = None,
    ) -> Any: ...
    def callFromThread(self, f: Callable[..., object], *a: Any, **kw: Any) -> None: ...
