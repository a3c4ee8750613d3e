"""Contacts as the web shows them: the estos JSON shape (LDAP attribute names), and the
fields, numbers and links of the phone book's pages.

Values are data: they are returned as they are and escaped where they are written (the
templates escape HTML, ``json.dumps`` JSON), never trusted as markup.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote

from metadir.core import fields
from metadir.directory.index import Entry

# what estos MetaDirectory's /search.json answers, in its order (reference/metadirectory.md)
ESTOS_FIELDS = (
    "displayName", "givenName", "sn", "company", "department", "title", "telephoneNumber",
    "otherTelephone", "mobile", "mail", "url", "streetAddress", "postalCode", "l",
)  # fmt: skip
# the estos name where metadir serves the attribute under another (the same attribute type)
_SERVED_AS = {"streetAddress": "street"}
# attributes of the tree, not of the contact
_NOT_SHOWN = frozenset(
    {
        "objectClass", "entryUUID", "entryDN", "createTimestamp", "modifyTimestamp",
        "structuralObjectClass", "subschemaSubentry", "hasSubordinates", "cn",
    }
)  # fmt: skip


_JSON = ("web", "json")  # the key of an entry's JSON among its encodings


@dataclass(frozen=True, slots=True)
class Number:
    label: str
    shown: str  # as the directory serves it
    dial: str  # for the tel: link: the canonical E.164 form where known


@dataclass(frozen=True, slots=True)
class Contact:
    """One contact for a page."""

    uuid: str
    name: str
    company: str
    department: str
    title: str
    directory: str
    numbers: tuple[Number, ...]
    mail: tuple[str, ...]
    details: tuple[tuple[str, str], ...]  # (label, value) of every other field, for its page


def as_json(entry: Entry) -> dict[str, str]:
    """``entry`` keyed by the LDAP names estos answers with: every key present ("" when the
    contact has no value), the first value of each, ``databaseName`` its directory."""
    attrs = entry.attributes
    found = {name: _first(attrs.get(_SERVED_AS.get(name, name))) for name in ESTOS_FIELDS}
    found["databaseName"] = entry.directory or ""
    found["entryUUID"] = _first(attrs.get("entryUUID"))
    return found


def json_of(entry: Entry) -> bytes:
    """``as_json(entry)`` encoded, kept on the entry beside its LDAP encodings (an entry is
    replaced, never changed, when a sync changes it): a screen-pop for a known caller, or
    the page of a common name, does not encode the same contacts again. No markup
    character survives as itself, so the JSON is safe to embed anywhere."""
    wire = entry.wire
    if wire is None:
        wire = entry.wire = {}
    found = wire.get(_JSON)
    if found is None:
        text = json.dumps(as_json(entry), ensure_ascii=False)
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        found = wire[_JSON] = text.encode("utf-8")
    return found


def contact(entry: Entry) -> Contact:
    attrs = entry.attributes
    canonical = entry.numbers or {}
    numbers = []
    for field in fields.phone_fields():
        for n, value in enumerate(attrs.get(field.name) or ()):
            dial = canonical.get(field.name, ())
            e164 = dial[n] if n < len(dial) else value
            numbers.append(Number(field.label, value, tel_uri(e164)))
    phones = {f.name for f in fields.phone_fields()}
    shown_apart = {"displayName", "company", "department", "title", "mail", *phones}
    details = tuple(
        (_label(name), value)
        for name in attrs
        if name not in _NOT_SHOWN and name not in shown_apart and name not in fields.binary_names()
        for value in attrs[name]
    )
    return Contact(
        uuid=_first(attrs.get("entryUUID")),
        name=display_name(entry),
        company=_first(attrs.get("company")) or _first(attrs.get("o")),
        department=_first(attrs.get("department")),
        title=_first(attrs.get("title")),
        directory=entry.directory or "",
        numbers=tuple(numbers),
        mail=tuple(attrs.get("mail") or ()),
        details=details,
    )


def display_name(entry: Entry) -> str:
    attrs = entry.attributes
    return _first(attrs.get("displayName")) or _first(attrs.get("cn"))


def tel_uri(number: str) -> str:
    """A ``tel:`` URI for a number as served: digits, ``+`` and the visual separators
    RFC 3966 allows; anything else (letters, a script) percent-encoded, so the link stays a
    phone number."""
    kept = "".join(c for c in number if c.isdigit() or c in "+*#-.()")
    return "tel:" + quote(kept or number, safe="+*#-.()")


@cache
def _label(name: str) -> str:
    field = fields.lookup(name)
    return field.label if field else name


def _first(values: Sequence[str] | None) -> str:
    return values[0] if values else ""
