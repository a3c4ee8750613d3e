"""Who a simple bind makes the client: accounts, their password hashes, and the
failed-bind brake.

``Authenticator.authenticate`` is slow on purpose (argon2): the connection runs it in a
thread and answers a failure only after the delay ``failed`` returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from metadir.core.dn import normalize_dn
from metadir.ldap.passwords import hash_password, verify
from metadir.ldap.settings import Account

# failures from one address are forgotten after this long without another
_FORGET_AFTER = 600.0
_FIRST_DELAY = 0.25
_MAX_DOUBLINGS = 64  # far past any max_delay: _FIRST_DELAY * 2**63 is centuries


@dataclass(frozen=True, slots=True)
class Identity:
    dn: str  # "" when anonymous
    directories: frozenset[str] | None  # what it may read; None: all


ANONYMOUS = Identity("", None)


class BindBrake:
    """Slows down answers to failed binds from an address that keeps failing: the first
    failure answers at once, then each one waits twice as long, up to ``max_delay``.

    ``now``: the clock in seconds (the factory's ``clock.seconds``, so that tests run
    on ``twisted.internet.task.Clock``)."""

    def __init__(self, max_delay: float, now: Callable[[], float] = time.monotonic) -> None:
        self.max_delay = max_delay
        self._now = now
        self._failures: dict[str, tuple[int, float]] = {}

    def failed(self, address: str) -> float:
        """Record a failure; the seconds its answer should wait."""
        now = self._now()
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


class Authenticator:
    """The accounts a simple bind may name, and the brake on addresses that keep failing."""

    def __init__(self, accounts: Iterable[Account], brake: BindBrake) -> None:
        self.accounts = {normalize_dn(a.dn): a for a in accounts}
        self.brake = brake
        # verified instead of a real hash for unknown DNs, so timing does not tell them apart
        self._decoy_hash = hash_password("decoy")

    def authenticate(self, dn: str, password: str) -> Identity | None:
        """The identity for a simple bind, or None. Slow on purpose (argon2): call it
        off the reactor thread."""
        try:
            account = self.accounts.get(normalize_dn(dn))
        except ValueError:
            account = None
        stored = account.password.get_secret_value() if account else self._decoy_hash
        if not verify(stored, password) or account is None:
            return None
        dirs = frozenset(account.directories) if account.directories is not None else None
        return Identity(account.dn, dirs)

    def failed(self, address: str) -> float:
        """A bind from ``address`` failed: the seconds to wait before saying so."""
        return self.brake.failed(address)

    def succeeded(self, address: str) -> None:
        self.brake.succeeded(address)
