"""Who may read what, from where: directory access rules (slapd's ACLs, as small as
metadir needs them). The failed-bind brake is the authenticator's (``authenticator.py``).

A connection sees the directories its identity may read (an account's ``directories``;
for anonymous clients those that admit anonymous reads), further narrowed to those whose
``allow_from`` networks hold the client's address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from metadir.directory.settings import DirectorySettings
from metadir.ldap.authenticator import ANONYMOUS, Identity

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


class AccessPolicy:
    """Which directories a client may read, and whether it must use TLS first."""

    def __init__(
        self,
        directories: Mapping[str, DirectoryAccess] | None,
        allow_anonymous: bool,
        require_tls: bool = False,
    ) -> None:
        # per directory: who may read it from where; none: the identity alone decides
        self.directories = dict(directories or {})
        self.allow_anonymous = allow_anonymous
        self.require_tls = require_tls

    def visible(self, identity: Identity, address: Address | None) -> set[str] | None:
        """The directories ``identity`` may read from ``address``; None: all of them.
        An empty set: nothing at all (anonymous reads are off). The connection keeps the
        answer until the next bind: the set is not to be changed."""
        dirs = identity.directories
        access = self.directories
        if not access:
            if dirs is None and identity is ANONYMOUS and not self.allow_anonymous:
                return set()
            return set(dirs) if dirs is not None else None
        anonymous = identity is ANONYMOUS
        allowed = {n for n, a in access.items() if a.admits(anonymous, address)}
        if dirs is not None:
            allowed &= dirs
        return None if len(allowed) == len(access) else allowed

    def tls_required(self, secure: bool) -> bool:
        """Whether a request on a connection that is (not) ``secure`` must be refused until
        it runs TLS."""
        return self.require_tls and not secure
