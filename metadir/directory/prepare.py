"""Index keys computed off the reactor thread: for each entry a batch replaces, the
normalised values (and full-text words) that differ between the old entry and the new one,
so that taking the batch in is only postings and bitmaps changing (issue 12).

``Keys`` runs in the store follower's thread while the reactor thread serves searches. It
reads the index's entries and its indexes' rules, never changes them, and keeps its own
caches: an ``AttributeIndex``'s last-values cache is the reactor thread's alone. Entries
are stable meanwhile: the follower is the only writer, and ``Index.replace`` checks that
the entry it replaces is the one the keys were computed against.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from metadir.directory.attributes import attribute_type
from metadir.directory.index import AttributeMap, Entry, Index, KeyChange
from metadir.directory.matching import Rule


@dataclass(frozen=True, slots=True)
class EntryChange:
    """One entry replaced: ``old`` as the index held it when prepared (None: none),
    ``new`` (None: deleted), and the keys that differ between them, per index."""

    entry_id: int
    old: Entry | None
    new: Entry | None
    attributes: tuple[KeyChange, ...]
    words: tuple[KeyChange, ...]


class Keys:
    """The keys of entries in the indexes an ``Index`` has when this is made, and in those
    of attributes no entry held yet (created when the batch is taken in)."""

    def __init__(self, index: Index) -> None:
        self.built, self._deferred, self.words = index.snapshot()
        # per attribute met: [its rule, or None where no index is kept as entries arrive;
        # the last values normalised and their keys] (entries in a row often hold the same
        # value object: object classes, the timestamps of one sync run, shared values)
        self._met: dict[str, list] = {n: [held.rule, None, ()] for n, held in self.built.items()}

    @property
    def rules(self) -> dict[str, Rule]:
        """The rules of the attribute indexes the keys are for (built or to create)."""
        return {name: met[0] for name, met in self._met.items() if met[0] is not None}

    @property
    def unindexed(self) -> frozenset[str]:
        """The attributes met whose index waits for a search."""
        return frozenset(name for name, met in self._met.items() if met[0] is None)

    def change(self, entry_id: int, old: Entry | None, new: Entry | None) -> EntryChange:
        after = self._of(new) if new is not None else []
        attributes: Sequence[KeyChange]
        if old is None:  # an entry added: all its keys are new
            attributes = tuple([(name, (), has, True) for name, has in after])
        else:
            attributes = _differences(dict(self._of(old)), dict(after))
        words: list[KeyChange] = []
        for name, held in self.words.items():
            had = held.of(old) if old is not None else ()
            has = held.of(new) if new is not None else ()
            if had != has:
                words.append(_difference(name, had, has, bool(had), bool(has)))
        return EntryChange(entry_id, old, new, tuple(attributes), tuple(words))

    def _of(self, entry: Entry) -> list[tuple[str, tuple[str, ...]]]:
        """The normalised values of ``entry`` per attribute indexed, as ``Index.add`` sees
        them (``AttributeIndex._normalized``, with caches of its own)."""
        keys = []
        numbers = entry.numbers
        attributes = entry.attributes
        pairs: Iterable[tuple[str, str | Sequence[str]]] = (
            attributes.held_items() if isinstance(attributes, AttributeMap) else attributes.items()
        )
        met = self._met
        for name, values in pairs:
            seen = met.get(name)
            if seen is None:
                seen = met[name] = [self._rule(name), None, ()]
            rule = seen[0]
            if rule is None:
                continue
            if numbers is not None and name in numbers:
                values = entry.match_values(name)
            if not isinstance(values, str) and len(values) == 1:
                values = values[0]
            if values is seen[1]:
                keys.append((name, seen[2]))
                continue
            if isinstance(values, str):
                norm = rule.normalize(values)
                norms: tuple[str, ...] = () if norm is None else (norm,)
            else:
                norms = tuple({n for n in map(rule.normalize, values) if n is not None})
            seen[1], seen[2] = values, norms
            keys.append((name, norms))
        return keys

    def _rule(self, name: str) -> Rule | None:
        if name in self._deferred:
            return None
        attr = attribute_type(name)
        assert attr is not None, name
        return attr.rule if attr.indexed else None


def _differences(
    before: dict[str, tuple[str, ...]], after: dict[str, tuple[str, ...]]
) -> list[KeyChange]:
    found: list[KeyChange] = []
    for name, has in after.items():
        had = before.get(name)
        if had is None:
            found.append((name, (), has, True))
        elif had is not has and had != has:
            found.append(_difference(name, had, has, True, True))
    for name, had in before.items():
        if name not in after:
            found.append((name, had, (), False))
    return found


def _difference(
    name: str, had: tuple[str, ...], has: tuple[str, ...], held: bool, holds: bool
) -> KeyChange:
    """The keys of one index that change; ``had`` and ``has`` hold each key once."""
    removed = tuple(set(had).difference(has)) if has else had
    added = tuple(set(has).difference(had)) if had else has
    return (name, removed, added, None if held == holds else holds)


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch of store changes made ready to take in: the new entries built, and the
    index keys that change computed against the indexes ``keys`` saw."""

    changes: list[EntryChange]
    keys: Keys
