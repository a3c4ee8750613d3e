"""Which stored entries an export's filter takes: matched as the LDAP server matches a
search, by the same tree, index and matching rules (case-ignore text, numbers read with
the directory's location, objectClass by name or OID), so that an export holds what a
subtree search with its filter would find. A batch at a time: the tree of one batch is
built, asked and dropped.

A search that finds nothing by a number is repeated with the suffix fallback; a selection
is not, since whether it were would depend on which entries share a batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from metadir.core.phone import Location
from metadir.core.records import StoredEntry
from metadir.directory import filters as f
from metadir.directory.attributes import attribute_type
from metadir.directory.evaluate import Matcher
from metadir.directory.matching import MATCHING_RULES
from metadir.directory.tree import DirectoryTree, ServedDirectory


class Selection:
    """``filter`` over entries of ``directories`` (``location``: the numbering plan of those
    without their own): called with a batch of live entries, the ids of those it takes."""

    def __init__(
        self,
        directories: Sequence[ServedDirectory],
        location: Location | None,
        filter: f.Filter,
    ) -> None:
        self.directories = directories
        self.location = location
        self.filter = filter
        self._plans = {d.name: d.location or location for d in directories}

    def __call__(self, batch: Sequence[StoredEntry]) -> set[int]:
        tree = DirectoryTree(self.directories, self.location)
        tree.apply(batch)
        ids = {entry.uuid: entry.id for entry in batch}
        entries = tree.index.entries
        taken: set[int] = set()
        for name, container in tree.containers.items():
            matcher = Matcher(tree.index, self._plans[name])
            true, _ = matcher.evaluate(self.filter, container.members)
            taken.update(ids[entries[i].attributes["entryUUID"][0]] for i in true)
        return taken


def filter_problems(filter: f.Filter) -> list[str]:
    """What in ``filter`` no entry could ever match, in words: an unknown attribute type or
    matching rule, an assertion that cannot be read (the server would answer Undefined)."""
    if isinstance(filter, f.And | f.Or):
        return [problem for part in filter.parts for problem in filter_problems(part)]
    if isinstance(filter, f.Not):
        return filter_problems(filter.part)
    if isinstance(filter, f.Undefined):
        return [f"cannot read the assertion {f.to_text(filter)}"]
    problems = []
    if filter.attribute is not None and attribute_type(filter.attribute) is None:
        problems.append(f"unknown attribute {filter.attribute!r} in {f.to_text(filter)}")
    if (
        isinstance(filter, f.Extensible)
        and filter.rule
        and filter.rule.lower() not in (MATCHING_RULES)
    ):
        problems.append(f"unknown matching rule {filter.rule!r} in {f.to_text(filter)}")
    return problems
