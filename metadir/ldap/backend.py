"""What the LDAP front end asks of a backend (slapd's frontend / backend split).

The connection, the search operation and the control stages see a backend only through
this protocol; ``metadir.directory.backend.DirectoryBackend`` implements it over the tree.
Another backend (a merged view of several directories) implements the same four methods
and is handed to ``LDAPServerFactory``; nothing in the protocol changes.

Entry ids are the backend's own: the front end keeps them only between the pages of a
paged search and gives them back to ``entries``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from metadir.directory.backend import Comparison
from metadir.directory.filters import Filter
from metadir.directory.index import Entry
from metadir.directory.tree import NoSuchObject, Scope

__all__ = ["Backend", "Comparison"]


class Backend(Protocol):
    """Answers over the entries a client may see; ``visible``: the names of the
    directories it may read (None: all), as ``AccessPolicy`` decided."""

    def resolve(self, dn: str, visible: set[str] | None) -> Entry | NoSuchObject:
        """The entry named ``dn``, or the closest ancestor that exists (``matchedDN``)."""
        ...

    def search(
        self,
        base: Entry,
        scope: Scope,
        filter: Filter,
        visible: set[str] | None,
        first: int | None = None,
    ) -> list[Entry]:
        """The entries in ``scope`` of ``base`` that match ``filter``, in the backend's
        order; only the ``first`` ones when given."""
        ...

    def compare(self, entry: Entry, attribute: str, value: str) -> Comparison:
        """Whether ``entry`` holds ``value`` in ``attribute``, by the attribute's rule."""
        ...

    def entries(self, ids: Iterable[int]) -> list[Entry]:
        """The entries of ``ids`` still there, in that order."""
        ...
