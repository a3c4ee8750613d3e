"""Which attributes of an entry a search returns, and the entry encoded that way.

Encodings are cached on the entry per selection: the directory is read-mostly, so the
same entry is usually sent many times in the same shape before it changes.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from metadir.core import ber
from metadir.core.fields import binary_names
from metadir.directory.attributes import attribute_type, object_class_name
from metadir.directory.index import Entry
from metadir.ldap.subschema import ObjectClassDescription, object_classes

log = logging.getLogger(__name__)

_CACHED_SHAPES = 4  # encodings kept per entry; clients use one or two shapes each


@dataclass(frozen=True, slots=True)
class Selection:
    """What a search asked for (RFC 4511 §4.5.1.8)."""

    all_user: bool
    all_operational: bool
    names: frozenset[str]  # lower-case canonical names (or as asked, if unknown)
    types_only: bool

    @classmethod
    @lru_cache(maxsize=256)  # clients send the same few attribute lists again and again
    def parse(cls, requested: tuple[str, ...], types_only: bool = False) -> Selection:
        requested = tuple(name.strip() for name in requested)
        # no attributes asked for means all user attributes; "1.1" or "+" alone mean none
        all_user = "*" in requested or not requested
        all_operational = "+" in requested
        names: set[str] = set()
        for name in requested:
            if name in ("*", "+", "1.1") or not name:
                continue
            if name.startswith("@"):  # RFC 4529: the attributes of an object class
                if name[1:].lower() == "extensibleobject":  # it allows any: slapd sends all
                    all_user = all_operational = True
                names.update(class_attributes(name[1:]))
                continue
            # a description with options names another attribute: cn;lang-de is not cn
            attr = attribute_type(name)
            names.add((attr.name if attr else name).lower())
        return cls(all_user, all_operational, frozenset(names), bool(types_only))

    def wants(self, name: str, operational: bool) -> bool:
        if operational:
            return self.all_operational or name.lower() in self.names
        return self.all_user or name.lower() in self.names


@cache
def _classes() -> dict[str, ObjectClassDescription]:
    return {described.name: described for described in object_classes()}


@lru_cache(maxsize=64)
def class_attributes(name: str) -> frozenset[str]:
    """The lower-case names of the attributes object class ``name`` (or OID) and its
    superclasses require or allow; none for an unknown class."""
    classes = _classes()
    found: set[str] = set()
    described = classes.get(object_class_name(name) or "")
    while described is not None:
        for attribute in (*described.must, *described.may):
            attr = attribute_type(attribute)
            found.add((attr.name if attr else attribute).lower())
        described = classes.get(object_class_name(described.sup or "") or "")
    return frozenset(found)


def encode_entry(entry: Entry, selection: Selection, operational: frozenset[str]) -> bytes:
    """The SearchResultEntry protocolOp for ``entry`` as ``selection`` shapes it;
    ``operational`` names the entry's operational attributes."""
    wire = entry.wire
    if wire is not None:
        cached = wire.get(selection)
        if cached is not None:
            return cached
    parts = []
    binary = binary_names()
    values: Sequence[str] | Sequence[bytes]  # bytes where the attribute is binary
    for name, values in entry.attributes.items():
        if selection.wants(name, name in operational):
            if selection.types_only:
                values = ()
            elif name in binary:
                values = _bytes_of(entry, name, values)
                if not values:
                    continue
            parts.append(ber.attribute(name, values))
    body = ber.search_entry_body(entry.dn, b"".join(parts))
    if wire is None:
        wire = entry.wire = {}
    if len(wire) >= _CACHED_SHAPES:
        wire.pop(next(iter(wire)))
    wire[selection] = body
    return body


def _bytes_of(entry: Entry, name: str, values: Sequence[str]) -> list[bytes]:
    """A photo's bytes from the base64 text the store keeps; a value that is no base64
    (a source that wrote something else there) is left out, and said so."""
    held = []
    for value in values:
        try:
            held.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            log.warning("%s: %s is not base64: left out", entry.dn, name)
    return held
