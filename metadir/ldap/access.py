"""Who may read what, from where: directory access rules and the failed-bind brake.

A connection sees the directories its identity may read (an account's ``directories``;
for anonymous clients those that admit anonymous reads), further narrowed to those whose
``allow_from`` networks hold the client's address.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable
from dataclasses import dataclass

from metadir.directory.settings import DirectorySettings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# failures from one address are forgotten after this long without another
_FORGET_AFTER = 600.0
_FIRST_DELAY = 0.25


@dataclass(frozen=True, slots=True)
class DirectoryAccess:
    anonymous: bool
    networks: tuple[Network, ...] | None = None  # None: from anywhere

    def admits(self, anonymous: bool, address: Address | None) -> bool:
        if anonymous and not self.anonymous:
            return False
        if self.networks is None:
            return True
        return address is not None and any(address in network for network in self.networks)


def directory_access(
    directories: Iterable[DirectorySettings], allow_anonymous: bool
) -> dict[str, DirectoryAccess]:
    return {
        d.name: DirectoryAccess(
            allow_anonymous if d.anonymous is None else d.anonymous,
            tuple(d.allow_from) if d.allow_from is not None else None,
        )
        for d in directories
    }


def parse_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


_MAX_DOUBLINGS = 64  # far past any max_delay: _FIRST_DELAY * 2**63 is centuries


class BindBrake:
    """Slows down answers to failed binds from an address that keeps failing: the first
    failure answers at once, then each one waits twice as long, up to ``max_delay``."""

    def __init__(self, max_delay: float) -> None:
        self.max_delay = max_delay
        self._failures: dict[str, tuple[int, float]] = {}

    def failed(self, address: str) -> float:
        """Record a failure; the seconds its answer should wait."""
        now = time.monotonic()
        count, last = self._failures.get(address, (0, now))
        if now - last > _FORGET_AFTER:
            count = 0
        # the count stops where the delay has reached its ceiling: 2 ** count must stay a
        # number a float can hold however long an address keeps failing
        self._failures[address] = (min(count + 1, _MAX_DOUBLINGS), now)
        if len(self._failures) > 10_000:  # many addresses: forget the quiet ones
            self._failures = {a: v for a, v in self._failures.items() if now - v[1] < 60}
        return 0.0 if count == 0 else min(_FIRST_DELAY * 2 ** (count - 1), self.max_delay)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
