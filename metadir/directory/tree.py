"""The tree served over LDAP: the root ``dc=meta``, one container per directory, and the
contacts of each directory below it, all held in one ``Index``.

The tree is built from a store snapshot and then follows the store's change sequence;
``apply`` takes one batch of committed changes at a time, so a search sees a sync run
entirely or not at all.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from itertools import islice
from typing import Protocol
from uuid import NAMESPACE_X500, uuid5

from pyroaring import BitMap

from metadir.core.dn import escape_value, fold, normalize_dn, normalize_rdns, parse_dn
from metadir.core.fields import load_schema_file
from metadir.core.phone import Location
from metadir.core.records import StoredEntry
from metadir.core.timestamps import format_generalized_time
from metadir.directory import filters as f
from metadir.directory.attributes import attribute_type
from metadir.directory.evaluate import Matcher, asserts_number
from metadir.directory.index import AttributeMap, Entry, Index, union
from metadir.directory.prepare import Keys, PreparedBatch
from metadir.directory.sets import Ids
from metadir.directory.settings import ROOT_DN

log = logging.getLogger(__name__)

# ids order the tree: root first, then the containers, then the contacts (their store ids
# moved up past the containers); bitmaps hold 32-bit ids
ROOT_ID = 0
_CONTACTS = 1 << 16  # the first contact id: room for 65,535 directories
SUBSCHEMA_DN = "cn=Subschema"
# the root and the containers are made by the configuration, not by a sync run, and change
# only with it: their timestamps are the same on every start, so that a reader comparing
# timestamps (a sync client reading changes since its last run) never sees them change
_CONFIGURED = (format_generalized_time(datetime(1970, 1, 1, tzinfo=UTC)),)


class Scope(IntEnum):
    BASE = 0
    ONE = 1
    SUB = 2
    CHILDREN = 3  # the subtree without its base (draft-sermersheim-ldap-subordinate-scope)


@dataclass(frozen=True, slots=True)
class NoSuchObject:
    matched_dn: str


@dataclass(frozen=True, slots=True)
class Container:
    entry: Entry
    ndn: str
    members: BitMap  # the contacts: what a one-level search below the container sees
    subtree: BitMap  # the contacts and the container itself


def _layout() -> dict:
    return load_schema_file("ldap.yaml")


class ServedDirectory(Protocol):
    """What the tree needs of a directory's settings."""

    @property
    def name(self) -> str: ...
    @property
    def dn(self) -> str: ...
    @property
    def location(self) -> Location | None: ...
    @property
    def replicator_names(self) -> set[str]:
        """The replicators whose entries the directory serves."""
        ...


class DirectoryTree:
    def __init__(
        self, directories: Iterable[ServedDirectory], location: Location | None = None
    ) -> None:
        """``location``: the numbering plan of directories that have none of their own."""
        layout = _layout()
        self.index = Index()
        self._contact_classes = tuple(layout["contact"]["objectClass"])
        self._contact_structural = (self._contact_classes[-1],)
        self._rdn = layout["contact"]["rdn"]
        root_attrs = {"objectClass": tuple(layout["root"]["objectClass"])}
        root_attrs |= {k: tuple(v) for k, v in layout["root"]["attributes"].items()}
        self.root = Entry(ROOT_ID, ROOT_DN, None, self._with_operational(root_attrs, ROOT_DN))
        self.index.add(self.root)
        self.root_ndn = normalize_dn(ROOT_DN)
        self.containers: dict[str, Container] = {}
        self._by_ndn: dict[str, Container] = {}
        self._replicators: dict[str, set[str]] = {}
        self._locations: dict[str, Location | None] = {}
        # each numbering plan in use with the containers whose numbers it reads
        self._plans: dict[Location | None, list[Container]] = {}
        self._all = BitMap((ROOT_ID,))  # the whole tree: what a subtree search at the root sees
        for n, directory in enumerate(directories, start=1):
            dn = directory.dn
            rdn_type, rdn_value = parse_dn(dn)[0][0]
            attrs = {
                "objectClass": tuple(layout["directory"]["objectClass"]),
                rdn_type: (rdn_value,),
            }
            entry = Entry(ROOT_ID + n, dn, directory.name, self._with_operational(attrs, dn))
            container = Container(entry, normalize_dn(dn), BitMap(), BitMap((entry.id,)))
            self._all.add(entry.id)
            self.index.add(entry)
            self.containers[directory.name] = container
            self._by_ndn[container.ndn] = container
            self._replicators[directory.name] = directory.replicator_names
            self._locations[directory.name] = plan = directory.location or location
            self._plans.setdefault(plan, []).append(container)
        self._timestamps: dict[datetime, tuple[str]] = {}  # shared by entries of one sync
        self._names: dict[str, str] = {}  # attribute names as stored -> canonical
        self._values = SharedValues()

    def _with_operational(self, attrs: dict[str, tuple[str, ...]], dn: str) -> dict:
        # the same UUID on every start, from the DN (RFC 4122 name-based, X.500 namespace)
        attrs["entryUUID"] = (str(uuid5(NAMESPACE_X500, normalize_dn(dn))),)
        attrs["createTimestamp"] = attrs["modifyTimestamp"] = _CONFIGURED
        attrs["entryDN"] = (dn,)
        attrs["structuralObjectClass"] = (attrs["objectClass"][-1],)
        attrs["subschemaSubentry"] = (SUBSCHEMA_DN,)
        attrs["hasSubordinates"] = ("TRUE",)
        return attrs

    # --- following the store -------------------------------------------------------------

    def apply(self, changes: Iterable[StoredEntry]) -> tuple[int, int, int]:
        """Take one committed batch of store changes; returns (added, updated, deleted).
        Prepared and taken in a hundred changes at a time, on this thread: the entries of
        a slice are still in the CPU's caches when their keys go in (a load of 100k is a
        quarter slower in slices of 2,000)."""
        added = updated = deleted = 0
        for part in batched(changes, 100):
            a, u, d = self.apply_prepared(self.prepare(part))
            added, updated, deleted = added + a, updated + u, deleted + d
        return added, updated, deleted

    def prepare(self, changes: Iterable[StoredEntry]) -> PreparedBatch:
        """``changes`` made ready for ``apply_prepared``: the new entries built and their
        index keys computed. Changes nothing a search reads, so it may run in another
        thread while the reactor thread searches. The caches it fills (names, shared
        values, timestamps) only it reads, one batch at a time (were two to race, values
        would only be shared less)."""
        keys = Keys(self.index)
        entries = self.index.entries
        pending: dict[int, Entry | None] = {}  # what earlier changes of the batch leave
        prepared = []
        for stored in changes:
            container = self.containers.get(stored.directory)
            entry_id = stored.id + _CONTACTS
            old = pending[entry_id] if entry_id in pending else entries.get(entry_id)
            new = None
            if (
                container is not None
                and not stored.deleted
                and stored.replicator in self._replicators[stored.directory]
            ):
                new = self._contact(entry_id, stored, container)
            pending[entry_id] = new
            prepared.append(keys.change(entry_id, old, new))
        return PreparedBatch(prepared, keys)

    def apply_prepared(self, batch: PreparedBatch) -> tuple[int, int, int]:
        """Take in a prepared batch; returns (added, updated, deleted). Only postings, sets
        and dicts change: one reactor turn, so a search sees the whole batch or none of it."""
        added = updated = deleted = 0
        index = self.index
        keys = batch.keys
        rules = keys.rules
        late = index.built_since(rules.keys(), keys.words.keys())
        for change in batch.changes:
            new = change.new
            old = index.replace(
                change.entry_id, change.old, new, (change.attributes, change.words), late, rules
            )
            if old is not None and (new is None or new.directory != old.directory):
                self._forget(old)
            if new is not None:
                container = self.containers[new.directory or ""]
                container.members.add(new.id)
                container.subtree.add(new.id)
                self._all.add(new.id)
                if old is None:
                    added += 1
                else:
                    updated += 1
            elif old is not None:
                deleted += 1
        index.defer(keys.unindexed)
        return added, updated, deleted

    def _forget(self, entry: Entry) -> None:
        container = self.containers.get(entry.directory or "")
        if container is not None:
            container.members.discard(entry.id)
            container.subtree.discard(entry.id)
        self._all.discard(entry.id)

    def _contact(self, entry_id: int, stored: StoredEntry, container: Container) -> Entry:
        dn = f"{self._rdn}={escape_value(stored.uuid)},{container.entry.dn}"
        attrs: dict[str, Sequence[str]] = {"objectClass": self._contact_classes}
        share = self._values.share
        for name, values in stored.attributes.items():
            if values:
                # names are shared strings, not one copy per entry; so are values many
                # contacts hold
                name = self._names.get(name) or self._name(name)
                attrs[name] = [share(name, value) for value in values]
        if "sn" not in attrs and "cn" in attrs:
            attrs["sn"] = attrs["cn"]  # person requires sn; a company-only contact has none
        attrs["entryUUID"] = (stored.uuid,)
        attrs["createTimestamp"] = self._timestamp(stored.created)
        attrs["modifyTimestamp"] = self._timestamp(stored.modified)
        attrs["entryDN"] = (dn,)
        attrs["structuralObjectClass"] = self._contact_structural
        attrs["subschemaSubentry"] = (SUBSCHEMA_DN,)
        attrs["hasSubordinates"] = ("FALSE",)
        # canonical numbers are kept apart only where they are not what is served
        numbers = {k: v for k, v in stored.numbers.items() if attrs.get(k) != v} or None
        return Entry(entry_id, dn, stored.directory, AttributeMap(attrs), numbers)

    def _name(self, name: str) -> str:
        attr = attribute_type(name)
        canonical = self._names[name] = attr.name if attr else sys.intern(name)
        return canonical

    def _timestamp(self, when: datetime) -> tuple[str]:
        shown = self._timestamps.get(when)
        if shown is None:
            shown = self._timestamps[when] = (format_generalized_time(when),)
        return shown

    @property
    def size(self) -> int:
        return sum(len(c.members) for c in self.containers.values())

    # --- searching ---------------------------------------------------------------------

    def resolve(self, dn: str, visible: set[str] | None) -> Entry | NoSuchObject:
        """The entry named ``dn`` among the ``visible`` directories (None: all)."""
        try:
            rdns = parse_dn(dn)
        except ValueError:
            return NoSuchObject("")
        found = self._lookup(rdns, visible)
        if found is not None:
            return found
        for depth in range(1, len(rdns)):
            ancestor = self._lookup(rdns[depth:], visible)
            if ancestor is not None:
                return NoSuchObject(ancestor.dn)
        return NoSuchObject("")

    def _lookup(self, rdns: tuple, visible: set[str] | None) -> Entry | None:
        ndn = normalize_rdns(rdns)
        if ndn == self.root_ndn:
            return self.root
        container = self._by_ndn.get(ndn)
        if container is not None:
            return container.entry if _visible(container, visible) else None
        if len(rdns) < 2 or len(rdns[0]) != 1 or rdns[0][0][0].lower() != self._rdn.lower():
            return None
        container = self._by_ndn.get(ndn.split(",", 1)[1])
        if container is None or not _visible(container, visible):
            return None
        uuids = self.index.attribute("entryUUID")
        for entry_id in uuids.ids(fold(rdns[0][0][1])) if uuids else ():
            if entry_id in container.members:
                return self.index.entries[entry_id]
        return None

    def scope_ids(self, base: Entry, scope: Scope, visible: set[str] | None) -> Ids:
        """The ids a search may return; the tree's own sets are returned, never to be changed."""
        if scope == Scope.BASE:
            return BitMap((base.id,))
        if scope == Scope.CHILDREN:
            return self.scope_ids(base, Scope.SUB, visible) - BitMap((base.id,))
        if base is self.root:
            containers = [c for c in self.containers.values() if _visible(c, visible)]
            if scope == Scope.ONE:
                return BitMap(c.entry.id for c in containers)
            if len(containers) == len(self.containers):
                return self._all
            return union((BitMap((base.id,)), *(c.subtree for c in containers)))
        container = self.containers.get(base.directory or "")
        if container is not None and base is container.entry:
            return container.subtree if scope == Scope.SUB else container.members
        return BitMap() if scope == Scope.ONE else BitMap((base.id,))

    def search(
        self,
        base: Entry,
        scope: Scope,
        filter: f.Filter,
        visible: set[str] | None,
        first: int | None = None,
    ) -> list[Entry]:
        """The entries below ``base`` in ``scope`` that match ``filter``, in tree order;
        only the ``first`` ones when given (a size limit need not order them all).

        Numbers match as an import reads them first; only a search that finds nothing that
        way is repeated with the other readings of each number (behind an outside line, a
        country code without +) and, where none is in the directory, the suffix fallback:
        a known caller costs one reading, and an exact match excludes the others."""
        ids = self.scope_ids(base, scope, visible)
        true = self._matching(filter, ids, fallback=False)
        if not true and asserts_number(filter):
            true = self._matching(filter, ids, fallback=True)
        entries = self.index.entries
        return [entries[i] for i in (true[:first] if first else true)]

    def _matching(self, filter: f.Filter, ids: Ids, fallback: bool) -> Ids:
        plans = self._plans
        if len(plans) <= 1:  # the usual case: one numbering plan for everything
            location = next(iter(plans), None)
            return Matcher(self.index, location, fallback).evaluate(filter, ids)[0]
        true = BitMap()
        for n, (location, containers) in enumerate(plans.items()):
            # the root and the containers once
            group = ids & BitMap(range(_CONTACTS)) if n == 0 else BitMap()
            for container in containers:
                group |= container.members & ids
            true |= Matcher(self.index, location, fallback).evaluate(filter, group)[0]
        return true

    def test(self, entry: Entry, filter: f.Filter, fallback: bool = False) -> bool | None:
        """Whether ``filter`` is TRUE or FALSE for ``entry``, or None when Undefined."""
        location = self._locations.get(entry.directory or "")
        true, undefined = Matcher(self.index, location, fallback).evaluate(
            filter, BitMap((entry.id,))
        )
        return None if undefined else bool(true)


class SharedValues:
    """One string for a value many contacts hold — their company, town, department: a
    hundred thousand copies of "München" would cost 7 MB. Attributes whose values turn
    out mostly distinct (names, mail addresses, numbers) stop being pooled after a sample,
    so the pools stay small."""

    SAMPLE = 2_000

    def __init__(self) -> None:
        self._pools: dict[str, dict[str, str] | None] = {}  # None: mostly distinct values
        self._asked: dict[str, int] = {}

    def share(self, name: str, value: str) -> str:
        pool = self._pools.get(name, {})
        if pool is None:
            return value
        if not pool:
            self._pools[name] = pool
        held = pool.setdefault(value, value)
        asked = self._asked[name] = self._asked.get(name, 0) + 1
        if asked == self.SAMPLE and len(pool) > self.SAMPLE // 2:
            self._pools[name] = None
        return held


def batched(items: Iterable[StoredEntry], size: int) -> Iterator[list[StoredEntry]]:
    """``items`` in lists of ``size`` (itertools.batched, Python 3.12)."""
    it = iter(items)
    while part := list(islice(it, size)):
        yield part


def _visible(container: Container, visible: set[str] | None) -> bool:
    return visible is None or container.entry.directory in visible
