"""The directory tree as an LDAP front end's backend (the frontend / backend split of
slapd): resolve a DN, search below an entry, compare one value, fetch entries by id.

The front end's ``metadir.ldap.backend.Backend`` protocol names these methods; this class
implements it for the one in-memory tree. A backend knows nothing of the wire: no message
ids, no result codes, no controls. ``visible`` is the set of directory names the client may
read (None: all), as the front end's access policy decided it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from metadir.directory.filters import Equality, Present
from metadir.directory.index import Entry
from metadir.directory.tree import DirectoryTree


class Comparison(Enum):
    """What comparing one attribute value of an entry found (RFC 4511 §4.10)."""

    TRUE = "true"
    FALSE = "false"
    UNDEFINED = "undefined"  # the attribute type or the value cannot be compared
    NO_SUCH_ATTRIBUTE = "no such attribute"  # comparable, but the entry has none


class DirectoryBackend:
    """The directory tree behind the LDAP front end."""

    def __init__(self, tree: DirectoryTree) -> None:
        self.tree = tree
        # the tree's own bound methods, not wrappers around them: a number lookup pays no
        # extra call for going through the backend
        self.resolve = tree.resolve
        self.search = tree.search
        self._entries = tree.index.entries

    def compare(self, entry: Entry, attribute: str, value: str) -> Comparison:
        tree = self.tree
        outcome = tree.test(entry, Equality(attribute, value))
        if outcome is None:
            return Comparison.UNDEFINED
        if outcome:
            return Comparison.TRUE
        if not tree.test(entry, Present(attribute)):
            return Comparison.NO_SUCH_ATTRIBUTE
        return Comparison.FALSE

    def entries(self, ids: Iterable[int]) -> list[Entry]:
        """The entries of ``ids`` that are still in the tree, in the order given (a paged
        search's later pages: entries that left meanwhile are skipped)."""
        entries = self._entries
        return [entries[i] for i in ids if i in entries]
