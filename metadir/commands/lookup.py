"""``metadir lookup``: who is behind a phone number, for scripts and PBX hooks."""

from __future__ import annotations

from collections.abc import Sequence

from metadir.config import Config
from metadir.core import fields
from metadir.directory.filters import Equality
from metadir.directory.index import Entry
from metadir.directory.tree import DirectoryTree, Scope
from metadir.service.load import load_tree
from metadir.store.store import Store


def lookup_command(config: Config, number: str) -> int:
    """Print the contacts a number belongs to, one tab-separated line each: display name,
    company, the attribute that matched, its value as served, the DN. 1 if none matched."""
    with Store.open(config.store_url()) as store:
        _seq, tree = load_tree(store, config)
    found = tree.search(tree.root, Scope.SUB, Equality("searchNumber", number), None)
    for entry in found:
        attribute = _matched(tree, entry, number)
        attrs = entry.attributes
        print(
            "\t".join(
                (
                    _first(attrs.get("displayName")),
                    _first(attrs.get("company")),
                    attribute,
                    _first(attrs.get(attribute)),
                    entry.dn,
                )
            )
        )
    return 0 if found else 1


def _matched(tree: DirectoryTree, entry: Entry, number: str) -> str:
    """The first phone attribute of ``entry`` that ``number`` matches: exactly, else by the
    suffix fallback (which is what found the entry when nothing matched exactly)."""
    phones = [f.name for f in fields.phone_fields() if f.name in entry.attributes]
    for fallback in (False, True):
        for name in phones:
            if tree.test(entry, Equality(name, number), fallback=fallback):
                return name
    return ""


def _first(values: Sequence[str] | None) -> str:
    return values[0] if values else ""
