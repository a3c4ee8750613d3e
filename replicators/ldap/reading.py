"""What the ways of reading only changes (``usn.py``, ``timestamps.py``) use of the LDAP
replicator (``source.py``): a protocol, so that they need not import it, and it can import
them without an import cycle."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import ldap3

from replicators.base import Context, Problem, Record, Removed
from replicators.ldap.server import Endpoint
from replicators.ldap.settings import LdapSettings
from replicators.ldap.wire import Answer

Item = Record | Problem | Removed
Items = Callable[[ldap3.Connection, Endpoint], Iterator[Item]]


class Reader(Protocol):
    """The LDAP replicator as the incremental reads see it (``source.LdapReplicator``)."""

    config: LdapSettings
    context: Context

    def collect(self, items: Items, first: str | None = None) -> Iterator[Item]:
        """What ``items`` yields on a bound connection, reconnecting when it is lost."""
        ...

    def entry_items(
        self,
        conn: ldap3.Connection,
        endpoint: Endpoint,
        search_filter: str | None = None,
        *,
        removals: bool = False,
        extra: tuple[str, ...] = (),
        seen: Callable[[dict[str, list[bytes]]], None] | None = None,
    ) -> Iterator[Item]:
        """The entries ``search_filter`` selects, as Records, Problems (and Removed)."""
        ...

    def entries(
        self,
        conn: ldap3.Connection,
        endpoint: Endpoint,
        search_filter: str | None,
        attributes: list[str],
        base: str | None = None,
        controls: tuple[Any, ...] = (),
    ) -> Iterator[tuple[str, dict[str, list[bytes]]]]:
        """(DN, raw values) of every entry, page by page."""
        ...

    def search(
        self,
        conn: ldap3.Connection,
        endpoint: Endpoint,
        base: str,
        search_filter: str,
        scope: str,
        attributes: list[str],
        accept: tuple[int, ...] | None = (0,),
        **options: Any,
    ) -> Answer:
        """One search (one page)."""
        ...
