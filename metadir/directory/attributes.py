"""Attribute types the directory knows: the canonical contact fields plus the structural
and operational attributes of the tree, each with its matching rule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

from metadir import fields
from metadir.directory import filters as f
from metadir.directory.matching import CASE_IGNORE, GENERALIZED_TIME, OCTET_STRING, PHONE, Rule
from metadir.phone import looks_like_number


@dataclass(frozen=True, slots=True)
class AttributeType:
    name: str
    rule: Rule
    operational: bool = False
    # a search-only attribute standing for these (estos, innovaphone); never in results
    virtual: tuple[str, ...] = ()
    # indexed when the directory loads: what phones search by (names, numbers); the
    # others get their index on the first search that needs it
    indexed: bool = False


# the people and organisation names estos' searchContact / searchIndividual look at
_CONTACT_NAMES = ("cn", "displayName", "givenName", "sn", "company", "o", "mail")
# tree attributes indexed when the directory loads: filters and DN lookups use them
_INDEXED_TREE_ATTRIBUTES = ("objectClass", "ou", "dc", "entryUUID")
_PERSON_NAMES = ("givenName", "sn", "cn", "displayName")


# attributes of the tree itself that are not contact fields: (name, rule, operational, aliases)
_TREE_ATTRIBUTES: tuple[tuple[str, Rule, bool, tuple[str, ...]], ...] = (
    ("objectClass", CASE_IGNORE, False, ()),
    ("ou", CASE_IGNORE, False, ("organizationalUnitName",)),
    ("dc", CASE_IGNORE, False, ("domainComponent",)),
    ("entryUUID", CASE_IGNORE, True, ()),
    ("createTimestamp", GENERALIZED_TIME, True, ()),
    ("modifyTimestamp", GENERALIZED_TIME, True, ()),
    ("entryDN", CASE_IGNORE, True, ()),
    ("structuralObjectClass", CASE_IGNORE, True, ()),
    ("hasSubordinates", CASE_IGNORE, True, ()),
    ("subschemaSubentry", CASE_IGNORE, True, ()),
)


@cache
def _table() -> dict[str, AttributeType]:
    table: dict[str, AttributeType] = {}
    for name, rule, operational, aliases in _TREE_ATTRIBUTES:
        indexed = name in _INDEXED_TREE_ATTRIBUTES
        for spelling in (name, *aliases):
            table[spelling.lower()] = AttributeType(name, rule, operational, indexed=indexed)
    for field in fields.all_fields():
        rule = PHONE if field.is_phone else OCTET_STRING if field.is_binary else CASE_IGNORE
        indexed = field.is_phone or field.name in _CONTACT_NAMES
        for spelling in (field.name, *field.aliases):
            table[spelling.lower()] = AttributeType(field.name, rule, indexed=indexed)
    numbers = tuple(field.name for field in fields.phone_fields())
    for name, members in (
        ("searchNumber", numbers),
        ("metaSearchNumber", numbers),
        ("searchContact", _CONTACT_NAMES),  # and the numbers, for values that are numbers
        ("searchIndividual", _PERSON_NAMES),
    ):
        table[name.lower()] = AttributeType(name, CASE_IGNORE, virtual=members)
    return table


def virtual_members(attr: AttributeType, filter: f.Filter) -> tuple[f.Filter, ...]:
    """``filter`` on a virtual attribute as the same filter on each attribute it stands for."""
    members = attr.virtual
    if attr.name == "searchContact" and looks_like_number(_asserted(filter)):
        members += tuple(field.name for field in fields.phone_fields())
    return tuple(_on(filter, name) for name in members)


def _asserted(filter: f.Filter) -> str:
    if isinstance(filter, f.Substrings):
        return "".join(p for p in (filter.initial, *filter.any, filter.final) if p)
    return getattr(filter, "value", "")


def _on(filter: f.Filter, name: str) -> f.Filter:
    return replace(filter, attribute=name)  # type: ignore[type-var]


def attribute_type(name: str) -> AttributeType | None:
    """The attribute type called ``name`` (any case, or an alias), or None if unknown."""
    return _table().get(name.lower())


def operational_names() -> tuple[str, ...]:
    return tuple(name for name, _, operational, _ in _TREE_ATTRIBUTES if operational)
