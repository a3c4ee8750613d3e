"""Attribute types the directory knows: the canonical contact fields plus the structural
and operational attributes of the tree, each with its matching rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from metadir import fields
from metadir.directory.matching import CASE_IGNORE, GENERALIZED_TIME, TELEPHONE, Rule


@dataclass(frozen=True, slots=True)
class AttributeType:
    name: str
    rule: Rule
    operational: bool = False


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
        for spelling in (name, *aliases):
            table[spelling.lower()] = AttributeType(name, rule, operational)
    for field in fields.all_fields():
        rule = TELEPHONE if field.is_phone else CASE_IGNORE
        for spelling in (field.name, *field.aliases):
            table[spelling.lower()] = AttributeType(field.name, rule)
    return table


def attribute_type(name: str) -> AttributeType | None:
    """The attribute type called ``name`` (any case, or an alias), or None if unknown."""
    return _table().get(name.lower())


def operational_names() -> tuple[str, ...]:
    return tuple(name for name, _, operational, _ in _TREE_ATTRIBUTES if operational)
