"""The in-memory index: entries by id, and per attribute the normalised values with the ids
that hold them (postings), plus sorted views for prefix, suffix and ordering lookups.

Sets of ids are Roaring bitmaps (pyroaring): a value every contact holds, such as
``objectClass: person``, costs a few bytes instead of a hash set's 4 MB per 100k entries,
and the set algebra of filter evaluation runs in C. They iterate in id order, which is
tree order. Sorted views are built on first use and maintained from then on, so attributes
nobody searches by substring cost no memory for them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

from pyroaring import BitMap, FrozenBitMap
from sortedcontainers import SortedList

from metadir.directory.attributes import attribute_type
from metadir.directory.matching import OCTET_STRING, Rule

# a value held by one entry is stored as a bare id; by several, as a bitmap of ids
Postings = int | BitMap
# the keys of one index that differ between an entry and the one it replaces: (attribute or
# word index name, normalised values no longer held, values newly held, whether the entry
# now holds the attribute: True, False, or None for as before)
KeyChange = tuple[str, tuple[str, ...], tuple[str, ...], bool | None]
EMPTY = FrozenBitMap()


def union(maps: Iterable[BitMap | FrozenBitMap]) -> BitMap:
    """The ids in any of ``maps`` (a new bitmap, also for none)."""
    return BitMap.union(BitMap(), *maps)


class _Layout:
    """The attribute names of entries that have the same ones, shared by all of them."""

    __slots__ = ("names", "positions")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.positions = {name: i for i, name in enumerate(names)}


_LAYOUTS: dict[tuple[str, ...], _Layout] = {}


class AttributeMap(Mapping[str, Sequence[str]]):
    """An entry's attributes: a read-only mapping that keeps only the values per entry and
    shares the names with every entry of the same shape (a dict per entry would cost
    about a kilobyte more at twenty attributes)."""

    __slots__ = ("_layout", "_values")

    def __init__(self, attributes: dict[str, Sequence[str]]) -> None:
        names = tuple(attributes)
        layout = _LAYOUTS.get(names)
        if layout is None:
            layout = _LAYOUTS[names] = _Layout(names)
        self._layout = layout
        # one value is kept bare: a list or tuple around it would cost more than the value
        self._values = tuple(v[0] if len(v) == 1 else v for v in attributes.values())

    def __getitem__(self, name: str) -> Sequence[str]:
        return _values(self._values[self._layout.positions[name]])

    def get(self, name: str, default: Sequence[str] | None = None) -> Sequence[str] | None:  # type: ignore[override]
        position = self._layout.positions.get(name)
        return default if position is None else _values(self._values[position])

    def __contains__(self, name: object) -> bool:
        return name in self._layout.positions

    def __iter__(self) -> Iterator[str]:
        return iter(self._layout.names)

    def __len__(self) -> int:
        return len(self._values)

    def items(self) -> Iterable[tuple[str, Sequence[str]]]:  # type: ignore[override]
        return zip(self._layout.names, map(_values, self._values), strict=True)

    def held_items(self) -> Iterable[tuple[str, str | Sequence[str]]]:
        """(name, values) with a single value bare: what indexing an entry walks."""
        return zip(self._layout.names, self._values, strict=True)


def _values(held: str | Sequence[str]) -> Sequence[str]:
    return (held,) if isinstance(held, str) else held


@dataclass(slots=True, eq=False)
class Entry:
    id: int
    dn: str
    directory: str | None  # None for the root entry
    # canonical attribute name -> values, structural and operational attributes included
    attributes: Mapping[str, Sequence[str]]
    # phone attribute -> canonical numbers, where they differ from the values served
    numbers: Mapping[str, Sequence[str]] | None = None
    # encoded forms of this entry, keyed by what was selected; filled by the LDAP layer
    # (None until the entry is first sent: most entries of a big directory never are)
    wire: dict[object, bytes] | None = None

    def match_values(self, name: str) -> Sequence[str]:
        """The values filters on ``name`` compare: the values served, and canonical numbers
        where they differ (``089 1234567`` served nationally is also ``+49891234567``: a
        filter finds a number as a client reads it, as slapd would, and as a number)."""
        if self.numbers is not None and name in self.numbers:
            return (*self.numbers[name], *self.attributes.get(name, ()))
        return self.attributes.get(name, ())


class AttributeIndex:
    __slots__ = ("_last", "_present", "_reversed", "_sorted", "postings", "rule")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.postings: dict[str, Postings] = {}
        # like the sorted views, the ids holding the attribute are gathered on first use
        self._present: BitMap | None = None
        self._sorted: SortedList | None = None
        self._reversed: SortedList | None = None
        self._last: tuple[object, Iterable[str]] = (None, ())  # the last values normalised

    def present(self) -> BitMap:
        """The ids of the entries that hold the attribute."""
        if self._present is None:
            single = BitMap(ids for ids in self.postings.values() if isinstance(ids, int))
            shared = (ids for ids in self.postings.values() if not isinstance(ids, int))
            self._present = union((single, *shared))
        return self._present

    def add(self, entry_id: int, values: str | Sequence[str]) -> None:
        """Index ``values`` (one value may come bare) as held by ``entry_id``."""
        if self._present is not None:
            self._present.add(entry_id)
        self._put(entry_id, self._normalized(values))

    def remove(self, entry_id: int, values: Sequence[str]) -> None:
        if self._present is not None:
            self._present.discard(entry_id)
        self._drop(entry_id, self._normalized(values))

    def update(
        self,
        entry_id: int,
        removed: tuple[str, ...],
        added: tuple[str, ...],
        holds: bool | None,
    ) -> None:
        """Move ``entry_id`` from the normalised values ``removed`` to ``added``; ``holds``:
        whether it now holds the attribute (True, False) or still as before (None)."""
        if holds is not None and self._present is not None:
            if holds:
                self._present.add(entry_id)
            else:
                self._present.discard(entry_id)
        if removed:
            self._drop(entry_id, removed)
        self._put(entry_id, added)

    def _put(self, entry_id: int, norms: Iterable[str]) -> None:
        for norm in norms:
            held = self.postings.get(norm)
            if held is None:
                self.postings[norm] = entry_id
                if self._sorted is not None:
                    self._sorted.add(norm)
                if self._reversed is not None:
                    self._reversed.add(norm[::-1])
            elif isinstance(held, int):
                if held != entry_id:
                    self.postings[norm] = BitMap((held, entry_id))
            else:
                held.add(entry_id)

    def _drop(self, entry_id: int, norms: Iterable[str]) -> None:
        for norm in norms:
            held = self.postings.get(norm)
            if held is None:
                continue
            if not isinstance(held, int):
                held.discard(entry_id)
                if len(held) > 1:
                    continue
                if held:
                    self.postings[norm] = held.min()
                    continue
            elif held != entry_id:
                continue
            del self.postings[norm]
            if self._sorted is not None:
                self._sorted.remove(norm)
            if self._reversed is not None:
                self._reversed.remove(norm[::-1])

    def _normalized(self, values: str | Sequence[str]) -> Iterable[str]:
        if not isinstance(values, str) and len(values) == 1:
            values = values[0]
        # entries in a row often hold the very same value object (object classes, the
        # timestamps of one sync run, shared values): normalised once for all of them
        if values is self._last[0]:
            return self._last[1]
        normalize = self.rule.normalize
        if isinstance(values, str):  # most attributes: no set to build
            norm = normalize(values)
            norms: Iterable[str] = () if norm is None else (norm,)
        else:
            norms = {norm for norm in map(normalize, values) if norm is not None}
        self._last = (values, norms)
        return norms

    def ids(self, norm: str) -> BitMap:
        """The ids holding ``norm``; the index's own bitmap, never to be changed."""
        held = self.postings.get(norm)
        if held is None:
            return BitMap()
        return BitMap((held,)) if isinstance(held, int) else held

    def sorted_values(self) -> SortedList:
        if self._sorted is None:
            self._sorted = SortedList(self.postings)
        return self._sorted

    def reversed_values(self) -> SortedList:
        if self._reversed is None:
            self._reversed = SortedList(v[::-1] for v in self.postings)
        return self._reversed

    def with_prefix(self, prefix: str) -> Iterator[str]:
        values = self.sorted_values()
        return values.irange(prefix, prefix + "\U0010ffff")

    def with_suffix(self, suffix: str) -> Iterator[str]:
        rev = suffix[::-1]
        return (v[::-1] for v in self.reversed_values().irange(rev, rev + "\U0010ffff"))

    def ids_with_prefix(self, prefix: str) -> BitMap:
        """The ids holding a value that starts with ``prefix`` (a new bitmap)."""
        postings = self.postings
        single = BitMap()
        shared = []
        for value in self.with_prefix(prefix):
            ids = postings[value]
            if isinstance(ids, int):
                single.add(ids)
            else:
                shared.append(ids)
        return union((single, *shared))

    def count_with_prefix(self, prefix: str) -> int:
        values = self.sorted_values()
        return values.bisect_left(prefix + "\U0010ffff") - values.bisect_left(prefix)

    def substring_candidates(
        self, prefixes: Collection[str], final: str | None
    ) -> tuple[Iterable[str], int]:
        """The values a substring assertion may match, and how many there are: those
        starting with one of ``prefixes``, else those ending with ``final``, else all."""
        if prefixes:
            values = chain.from_iterable(map(self.with_prefix, prefixes))
            return values, sum(map(self.count_with_prefix, prefixes))
        if final:
            return self.with_suffix(final), len(self.postings)
        return iter(self.postings), len(self.postings)


class Index:
    """All entries of the served tree and an ``AttributeIndex`` per attribute type.

    The attributes phones search by are indexed as entries arrive; the others (addresses,
    timestamps, ``entryDN``…) on the first search that needs them, so that loading a big
    directory and holding it cost only what is searched."""

    def __init__(self) -> None:
        self.entries: dict[int, Entry] = {}
        # the attribute indexes built so far, by canonical attribute name
        self._attributes: dict[str, AttributeIndex] = {}
        self._deferred: set[str] = set()  # attributes met whose index waits for a search
        self._words: dict[str, WordIndex] = {}  # for full-text search, by name

    def attribute(self, name: str) -> AttributeIndex | None:
        """The index of attribute type ``name`` (canonical), None if no entry holds it."""
        index = self._attributes.get(name)
        if index is None:
            attr = attribute_type(name)
            if attr is None or attr.indexed:
                return None
            index = self._attributes[name] = AttributeIndex(attr.rule)
            self._deferred.discard(name)
            for entry in self.entries.values():
                if name in entry.attributes:
                    index.add(entry.id, entry.match_values(name))
        return index

    def words(
        self, name: str, fields: frozenset[str], tokens: Callable[[str], Iterable[str]]
    ) -> WordIndex:
        """The word index ``name``: the words ``tokens`` finds in the values of ``fields``,
        with the ids holding them. Built on first use from the attribute indexes (each
        distinct value read once, not each entry), maintained from then on."""
        built = self._words.get(name)
        if built is None:
            built = self._words[name] = WordIndex(fields, tokens, AttributeIndex(OCTET_STRING))
            postings = built.held.postings
            for field in fields:
                held = self.attribute(field)
                for value, ids in held.postings.items() if held is not None else ():
                    for word in tokens(value):
                        _merge(postings, word, ids)
        return built

    def add(self, entry: Entry) -> None:
        self.entries[entry.id] = entry
        for words in self._words.values():
            held = words.of(entry)
            if held:
                words.held.add(entry.id, held)
        numbers = entry.numbers
        built = self._attributes
        attributes = entry.attributes
        pairs = (
            attributes.held_items() if isinstance(attributes, AttributeMap) else attributes.items()
        )
        for name, values in pairs:
            index = built.get(name)
            if index is None:
                if name in self._deferred:
                    continue
                attr = attribute_type(name)
                assert attr is not None, name
                if not attr.indexed:
                    self._deferred.add(name)
                    continue
                index = built[name] = AttributeIndex(attr.rule)
            if numbers is not None and name in numbers:
                values = entry.match_values(name)
            index.add(entry.id, values)

    def snapshot(self) -> tuple[dict[str, AttributeIndex], frozenset[str], dict[str, WordIndex]]:
        """Copies of the attribute indexes built, the attributes whose index waits for a
        search, and the word indexes: what ``prepare`` computes keys for. Each copy is made
        in one step under the GIL, so another thread may take them while searches run."""
        return dict(self._attributes), frozenset(self._deferred), dict(self._words)

    def built_since(
        self, attributes: Collection[str], words: Collection[str]
    ) -> tuple[list[tuple[str, AttributeIndex]], list[WordIndex]]:
        """The attribute and word indexes built (by searches) since those named were."""
        return (
            [(name, held) for name, held in self._attributes.items() if name not in attributes],
            [held for name, held in self._words.items() if name not in words],
        )

    def replace(
        self,
        entry_id: int,
        old: Entry | None,
        new: Entry | None,
        changes: tuple[Sequence[KeyChange], Sequence[KeyChange]],
        late: tuple[list[tuple[str, AttributeIndex]], list[WordIndex]],
        rules: Mapping[str, Rule],
    ) -> Entry | None:
        """Put ``new`` (None: nothing) in the place of entry ``entry_id`` and return the
        entry it replaces. ``changes``: the keys of the attribute and the word indexes that
        differ between ``old`` and ``new``, computed beforehand (``prepare``); ``late``: the
        indexes built since, whose keys are computed here; ``rules``: those of attribute
        indexes to create. Where the index no longer holds ``old``, all is computed here."""
        current = self.entries.get(entry_id)
        if current is not old:
            current = self.remove(entry_id)
            if new is not None:
                self.add(new)
            return current
        if new is not None:
            self.entries[entry_id] = new
        elif old is not None:
            del self.entries[entry_id]
        built = self._attributes
        attributes, words = changes
        for name, removed, added, holds in attributes:
            index = built.get(name)
            if index is None:  # an attribute no entry held before
                index = built[name] = AttributeIndex(rules[name])
            index.update(entry_id, removed, added, holds)
        for name, removed, added, holds in words:
            self._words[name].held.update(entry_id, removed, added, holds)
        late_attributes, late_words = late
        for name, index in late_attributes:
            if old is not None and name in old.attributes:
                index.remove(entry_id, old.match_values(name))
            if new is not None and name in new.attributes:
                index.add(entry_id, new.match_values(name))
        for held_words in late_words:
            if old is not None:
                held_words.held.remove(entry_id, held_words.of(old))
            if new is not None and (found := held_words.of(new)):
                held_words.held.add(entry_id, found)
        return old

    def defer(self, names: Iterable[str]) -> None:
        """Note attributes met whose index waits for a search (those not built meanwhile)."""
        self._deferred.update(name for name in names if name not in self._attributes)

    def remove(self, entry_id: int) -> Entry | None:
        entry = self.entries.pop(entry_id, None)
        if entry is not None:
            for words in self._words.values():
                words.held.remove(entry_id, words.of(entry))
            for name in entry.attributes:
                index = self._attributes.get(name)
                if index is not None:
                    index.remove(entry_id, entry.match_values(name))
        return entry


@dataclass(slots=True, eq=False)
class WordIndex:
    """The words of some attributes (folded, as ``tokens`` finds them) with their ids."""

    fields: frozenset[str]
    tokens: Callable[[str], Iterable[str]]
    held: AttributeIndex  # word -> ids; words are compared as they are

    def of(self, entry: Entry) -> tuple[str, ...]:
        """The words of ``entry``'s values of ``fields``."""
        tokens, fields = self.tokens, self.fields
        return tuple(
            {
                word
                for name, values in entry.attributes.items()
                if name in fields
                for value in values
                for word in tokens(value)
            }
        )


def _merge(postings: dict[str, Postings], word: str, ids: Postings) -> None:
    """Add ``ids`` (an attribute index's own, never changed) to the postings of ``word``."""
    held = postings.get(word)
    if held is None:
        postings[word] = ids if isinstance(ids, int) else BitMap(ids)
    elif isinstance(held, int):
        merged = BitMap((held, ids)) if isinstance(ids, int) else BitMap(ids) | BitMap((held,))
        if len(merged) > 1:
            postings[word] = merged
    elif isinstance(ids, int):
        held.add(ids)
    else:
        held |= ids
