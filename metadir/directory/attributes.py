"""Attribute types the directory knows: the canonical contact fields plus the structural
and operational attributes of the tree, each with its matching rule, by name, alias or
numeric OID (RFC 4512 §2.5), and with language tag options (RFC 3866).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache, lru_cache
from typing import Any
from uuid import UUID

from metadir.core import fields
from metadir.core.phone import looks_like_number
from metadir.directory import filters as f
from metadir.directory.matching import (
    CASE_IGNORE,
    DISTINGUISHED_NAME,
    GENERALIZED_TIME,
    OBJECT_IDENTIFIER,
    OCTET_STRING,
    PHONE,
    Rule,
)


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
    ("objectClass", OBJECT_IDENTIFIER, False, ()),
    ("ou", CASE_IGNORE, False, ("organizationalUnitName",)),
    ("dc", CASE_IGNORE, False, ("domainComponent",)),
    ("entryUUID", CASE_IGNORE, True, ()),
    ("createTimestamp", GENERALIZED_TIME, True, ()),
    ("modifyTimestamp", GENERALIZED_TIME, True, ()),
    ("entryDN", DISTINGUISHED_NAME, True, ()),
    ("structuralObjectClass", CASE_IGNORE, True, ()),
    ("hasSubordinates", CASE_IGNORE, True, ()),
    ("subschemaSubentry", DISTINGUISHED_NAME, True, ()),
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
    schema = _schema()
    for name, oid in schema["fields"].items():
        table[schema_oid(oid)] = table[name.lower()]
    for row in schema["attributes"]:
        known = table.get(row["names"][0].lower())
        if known is not None:  # the subschema and root DSE attributes are not searched
            table[schema_oid(row["oid"])] = known
    return table


@cache
def _schema() -> dict[str, Any]:
    return fields.load_schema_file("subschema.yaml")


def arc() -> str:
    """metadir's own OID arc: 2.25.<UUID as a decimal number> (ITU-T X.667)."""
    return f"2.25.{UUID(_schema()['uuid']).int}"


def schema_oid(written: str) -> str:
    """An OID as ``schema/subschema.yaml`` writes it, spelled out (``metadir:N`` is N
    below metadir's own arc)."""
    if written.startswith("metadir:"):
        return f"{arc()}.{written.removeprefix('metadir:')}"
    return written


@cache
def _class_names() -> dict[str, str]:
    """Each object class by its OID and by its name in lower case."""
    rows = _schema()["object_classes"]
    return {
        key: row["name"] for row in rows for key in (schema_oid(row["oid"]), row["name"].lower())
    }


def object_class_name(value: str) -> str | None:
    """An objectClass assertion value as the name of the class it names, by name (any case)
    or OID (``2.5.6.6`` is ``person``), as objectIdentifierMatch compares them; None for a
    class the schema does not know, or a value with spaces around it (slapd: Undefined)."""
    return _class_names().get(value if value[:1].isdigit() else value.lower())


def virtual_members(attr: AttributeType, filter: f.Assertion) -> tuple[f.Assertion, ...]:
    """``filter`` on a virtual attribute as the same filter on each attribute it stands for."""
    members = attr.virtual
    if attr.name == "searchContact" and looks_like_number(_asserted(filter)):
        members += tuple(field.name for field in fields.phone_fields())
    return tuple(_on(filter, name) for name in members)


def _asserted(filter: f.Assertion) -> str:
    if isinstance(filter, f.Substrings):
        return "".join(p for p in (filter.initial, *filter.any, filter.final) if p)
    return getattr(filter, "value", "")


def _on(filter: f.Assertion, name: str) -> f.Assertion:
    return replace(filter, attribute=name)


def attribute_type(name: str) -> AttributeType | None:
    """The attribute type called ``name`` (any case, an alias or its OID), or None if
    unknown. A description with language tags (``cn;lang-de``) names a subtype of its own,
    which no entry here holds; any other option (``cn;binary``) makes it unknown, as in
    slapd."""
    found = _table().get(name.lower())
    if found is None and ";" in name:
        return _tagged(name.lower())
    return found


@lru_cache(maxsize=256)
def _tagged(description: str) -> AttributeType | None:
    base, *options = description.split(";")
    found = _table().get(base)
    if found is None or not all(option.startswith("lang-") for option in options):
        return None
    # indexed: its index, built as entries arrive, stays empty, so no search walks the
    # entries to build one
    name = ";".join((found.name, *options))
    return AttributeType(name, found.rule, found.operational, indexed=True)


def operational_names() -> tuple[str, ...]:
    return tuple(name for name, _, operational, _ in _TREE_ATTRIBUTES if operational)
