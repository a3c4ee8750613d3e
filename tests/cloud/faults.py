"""What every cloud fake keeps of its callers, and the faults tests ask of it: the requests
that came (with when), faults to meet once each by path (``fail``), a service that cuts
every connection (``down``), and the waits it asked for when it throttled."""

from __future__ import annotations

import threading
import time

from tests.cloud.https import Request


class Faults:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.faults: list[tuple[str, str]] = []  # (path part, fault) applied once each
        self.down = False
        # what was asked, and when (time.monotonic)
        self.log: list[tuple[float, Request]] = []
        # (time of the throttling answer, seconds it asked to wait)
        self.throttled: list[tuple[float, float]] = []

    def fail(self, path_part: str, fault: str) -> None:
        """The next request whose path contains ``path_part`` meets ``fault``: "429:N",
        "503" (or "503:N"), "drop" (cut off mid-page) or "malformed" (a 200 that is no
        JSON)."""
        with self.lock:
            self.faults.append((path_part, fault))

    def requests_to(self, part: str) -> list[tuple[float, Request]]:
        return [(t, r) for t, r in self.log if part in r.path]

    def arrived(self, request: Request) -> tuple[bool, str | None]:
        """Log ``request``: (whether the service answers at all, the fault it meets)."""
        with self.lock:
            self.log.append((time.monotonic(), request))
            if self.down:
                return False, None
            fault = next((f for f in self.faults if f[0] in request.path), None)
            if fault is not None:
                self.faults.remove(fault)
            return True, None if fault is None else fault[1]
