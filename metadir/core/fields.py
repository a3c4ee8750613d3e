"""The canonical contact fields, read from ``schema/fields.yaml``.

Attribute names are matched case-insensitively and through their aliases, as every LDAP
server does; what metadir stores and serves is always the canonical spelling.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, Literal, get_args

import yaml

Kind = Literal["name", "number", "fax", "address", "misc", "photo"]
KINDS: tuple[str, ...] = get_args(Kind)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    multi: bool
    label: str
    aliases: tuple[str, ...] = ()

    @property
    def is_phone(self) -> bool:
        """Number and fax fields hold phone numbers."""
        return self.kind in ("number", "fax")

    @property
    def is_binary(self) -> bool:
        """Photo fields hold bytes: stored as base64 text, served as they are."""
        return self.kind == "photo"


def load_schema_file(name: str) -> dict[str, Any]:
    """Parse one YAML file of the top-level ``schema/`` data package."""
    return yaml.safe_load(files("schema").joinpath(name).read_text(encoding="utf-8"))


@cache
def all_fields() -> tuple[Field, ...]:
    rows = load_schema_file("fields.yaml")["fields"]
    fields = tuple(
        Field(
            name=row["name"],
            kind=row["kind"],
            multi=bool(row.get("multi", False)),
            label=row["label"],
            aliases=tuple(row.get("aliases", ())),
        )
        for row in rows
    )
    for f in fields:
        if f.kind not in KINDS:
            raise ValueError(f"schema/fields.yaml: field {f.name}: unknown kind {f.kind!r}")
    return fields


@cache
def _by_lower_name() -> dict[str, Field]:
    table: dict[str, Field] = {}
    for f in all_fields():
        for name in (f.name, *f.aliases):
            if name.lower() in table:
                raise ValueError(f"schema/fields.yaml: name {name!r} is defined twice")
            table[name.lower()] = f
    return table


def lookup(name: str) -> Field | None:
    """The field called ``name`` (any case, or an alias), or None."""
    return _by_lower_name().get(name.lower())


def phone_fields() -> tuple[Field, ...]:
    return tuple(f for f in all_fields() if f.is_phone)


@cache
def binary_names() -> frozenset[str]:
    """The canonical names of the fields that hold bytes."""
    return frozenset(f.name for f in all_fields() if f.is_binary)
