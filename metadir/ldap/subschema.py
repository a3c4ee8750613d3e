"""The subschema entry ``cn=Subschema`` (RFC 4512 §4.2): the attribute types, object classes,
syntaxes and matching rules metadir serves, for clients that read them (Apache Directory
Studio, Thunderbird, Outlook, ldap3).

Rendered from ``schema/subschema.yaml`` and the contact fields of ``schema/fields.yaml``; it
depends on nothing else, so the entry is built once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from metadir.core import fields
from metadir.core.fields import load_schema_file
from metadir.core.timestamps import format_generalized_time
from metadir.directory.attributes import arc as arc  # re-exported: the subschema's arc
from metadir.directory.attributes import schema_oid
from metadir.directory.index import Entry
from metadir.directory.tree import SUBSCHEMA_DN

SOURCE = "schema/subschema.yaml"
USER_APPLICATIONS = "userApplications"


@dataclass(frozen=True, slots=True)
class AttributeTypeDescription:
    oid: str
    names: tuple[str, ...]
    syntax: str
    desc: str = ""
    equality: str | None = None
    ordering: str | None = None
    substr: str | None = None
    single: bool = False
    usage: str = USER_APPLICATIONS

    @property
    def operational(self) -> bool:
        return self.usage != USER_APPLICATIONS

    def __str__(self) -> str:
        parts = [self.oid, "NAME", _names(self.names)]
        if self.desc:
            parts += ["DESC", _qdstring(self.desc)]
        for keyword, rule in (
            ("EQUALITY", self.equality),
            ("ORDERING", self.ordering),
            ("SUBSTR", self.substr),
        ):
            if rule:
                parts += [keyword, rule]
        parts += ["SYNTAX", self.syntax]
        if self.single:
            parts.append("SINGLE-VALUE")
        if self.operational:  # nobody modifies anything here: metadir is read-only
            parts += ["NO-USER-MODIFICATION", "USAGE", self.usage]
        return f"( {' '.join(parts)} )"


@dataclass(frozen=True, slots=True)
class ObjectClassDescription:
    oid: str
    name: str
    kind: str  # ABSTRACT, STRUCTURAL or AUXILIARY
    sup: str | None = None
    desc: str = ""
    must: tuple[str, ...] = ()
    may: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [self.oid, "NAME", _qdstring(self.name)]
        if self.desc:
            parts += ["DESC", _qdstring(self.desc)]
        if self.sup:
            parts += ["SUP", self.sup]
        parts.append(self.kind)
        if self.must:
            parts += ["MUST", _oids(self.must)]
        if self.may:
            parts += ["MAY", _oids(self.may)]
        return f"( {' '.join(parts)} )"


def _qdstring(text: str) -> str:
    return "'" + text.replace("\\", "\\5C").replace("'", "\\27") + "'"


def _names(names: tuple[str, ...]) -> str:
    if len(names) == 1:
        return _qdstring(names[0])
    return f"( {' '.join(map(_qdstring, names))} )"


def _oids(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"( {' $ '.join(names)} )"


@cache
def _data() -> dict[str, Any]:
    return load_schema_file("subschema.yaml")


@cache
def attribute_types() -> tuple[AttributeTypeDescription, ...]:
    """Every contact field (its aliases as further NAMEs), then the other attribute types."""
    data = _data()
    kinds = data["kinds"]
    described = []
    for field in fields.all_fields():
        if field.name not in data["fields"]:
            raise ValueError(f"{SOURCE}: fields: no OID for the contact field {field.name}")
        described.append(
            AttributeTypeDescription(
                oid=schema_oid(data["fields"][field.name]),
                names=(field.name, *field.aliases),
                desc=field.label,
                single=not field.multi,
                **kinds[_kind(field)],
            )
        )
    for row in data["attributes"]:
        row = dict(row)
        rules = kinds[row.pop("kind")] if "kind" in row else {}
        oid, names = schema_oid(row.pop("oid")), tuple(row.pop("names"))
        described.append(AttributeTypeDescription(oid=oid, names=names, **rules, **row))
    return tuple(described)


def _kind(field: fields.Field) -> str:
    if field.is_binary:
        return "photo"
    return "phone" if field.is_phone else "text"


@cache
def object_classes() -> tuple[ObjectClassDescription, ...]:
    by_name: dict[str, ObjectClassDescription] = {}
    for row in _data()["object_classes"]:
        row = dict(row)
        oid, name, may = schema_oid(row.pop("oid")), row.pop("name"), tuple(row.pop("may", ()))
        if row.pop("may_fields", False):
            allowed = _allowed(row.get("sup"), by_name)
            may += tuple(f.name for f in fields.all_fields() if f.name not in allowed)
        must = tuple(row.pop("must", ()))
        by_name[name] = ObjectClassDescription(oid=oid, name=name, must=must, may=may, **row)
    return tuple(by_name.values())


def _allowed(name: str | None, by_name: dict[str, ObjectClassDescription]) -> set[str]:
    """The attributes class ``name`` and its superclasses allow."""
    allowed: set[str] = set()
    while name is not None:
        described = by_name[name]
        allowed |= {*described.must, *described.may}
        name = described.sup
    return allowed


def ldap_syntaxes() -> tuple[str, ...]:
    return tuple(
        f"( {oid} DESC {_qdstring(desc)} )" for oid, desc in _data()["ldap_syntaxes"].items()
    )


def matching_rules() -> tuple[str, ...]:
    return tuple(
        f"( {oid} NAME {_qdstring(name)} SYNTAX {syntax} )"
        for name, (oid, syntax) in _data()["matching_rules"].items()
    )


@cache
def subschema_entry() -> Entry:
    """The entry at cn=Subschema; its timestamps are the time it was built."""
    now = format_generalized_time(datetime.now(UTC))
    attrs = {
        "objectClass": ("top", "subentry", "subschema"),
        "cn": ("Subschema",),
        "createTimestamp": (now,),
        "modifyTimestamp": (now,),
        "ldapSyntaxes": ldap_syntaxes(),
        "matchingRules": matching_rules(),
        "attributeTypes": tuple(map(str, attribute_types())),
        "objectClasses": tuple(map(str, object_classes())),
    }
    return Entry(0, SUBSCHEMA_DN, None, attrs)
