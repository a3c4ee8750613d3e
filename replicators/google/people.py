"""How a Google ``Person`` (People API) becomes one row of fields, and which Person fields
a read asks for (``personFields`` / ``readMask``).

Field names follow the Person's own paths, one rule for each shape:

- structured, repeated fields give the parts of their primary (else first) element:
  ``names.givenName``, ``names.familyName``, ``names.displayName``,
  ``organizations.name``, ``organizations.title``, ``organizations.department``;
- addresses give the parts of the work address (else the primary, else the first):
  ``addresses.streetAddress``, ``addresses.city``..., and of each type:
  ``addresses.home.city``;
- phone numbers by type: ``phoneNumbers.work``, ``phoneNumbers.mobile``,
  ``phoneNumbers.home``, ``phoneNumbers.workFax``, ``phoneNumbers.main``...; numbers of a
  type of the user's own naming are ``phoneNumbers.other``; ``phoneNumbers`` holds all.
  Each number in the E.164 form Google made of it (``canonicalForm``), as typed where it
  made none;
- simple repeated fields hold every value, the primary first: ``emailAddresses``, ``urls``,
  ``sipAddresses``, ``nicknames``..., and by type: ``emailAddresses.work``;
- ``userDefined.<key>``: a custom field's value; ``externalIds.<type>`` likewise.

Besides: ``resourceName``; ``source`` (``DOMAIN_PROFILE``, ``DOMAIN_CONTACT``,
``CONTACT``, ``OTHER_CONTACT``...); ``owner``, the user whose contacts these are (or the
directory's); ``object``, the kind read (directory, contacts, other_contacts).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from metadir.core.records import Value

Kind = Literal["directory", "contacts", "other_contacts"]

# fields that come from the read, not from a Person field
OWN = ("resourceName", "source", "owner", "object")
# Person fields a mapping may read (those with text worth a directory), and their parts
_STRUCTURED = {
    "names": ("displayName", "givenName", "familyName", "middleName", "honorificPrefix",
              "honorificSuffix", "phoneticGivenName", "phoneticFamilyName",
              "displayNameLastFirst", "unstructuredName"),
    "organizations": ("name", "title", "department", "location", "jobDescription",
                      "costCenter", "symbol", "domain", "phoneticName"),
}  # fmt: skip
_ADDRESS_PARTS = ("streetAddress", "extendedAddress", "poBox", "city", "region",
                  "postalCode", "country", "countryCode", "formattedValue")  # fmt: skip
# simple repeated fields: the part that holds the value
_SIMPLE = {"emailAddresses": "value", "urls": "value", "sipAddresses": "value",
           "nicknames": "value", "biographies": "value", "locations": "value",
           "imClients": "username", "occupations": "value", "fileAses": "value",
           "photos": "url", "relations": "person"}  # fmt: skip
_KEYED = {"userDefined": ("key", "value"), "externalIds": ("type", "value")}
PHONE_TYPES = ("work", "mobile", "home", "workFax", "homeFax", "otherFax", "pager",
               "workMobile", "workPager", "main", "googleVoice", "other")  # fmt: skip
PERSON_FIELDS = frozenset({*_STRUCTURED, "addresses", "phoneNumbers", *_SIMPLE, *_KEYED})
# with READ_SOURCE_TYPE_CONTACT, other contacts have these alone
OTHER_CONTACT_FIELDS = frozenset({"names", "emailAddresses", "phoneNumbers", "photos"})
# what check() names: every field a row may have, keyed ones aside
FIELDS = (
    *OWN,
    *(f"{name}.{part}" for name, parts in _STRUCTURED.items() for part in parts),
    *(f"addresses.{part}" for part in _ADDRESS_PARTS),
    *(f"addresses.{kind}.{part}" for kind in ("work", "home", "other") for part in _ADDRESS_PARTS),
    "phoneNumbers", *(f"phoneNumbers.{kind}" for kind in PHONE_TYPES),
    *_SIMPLE, "emailAddresses.work", "emailAddresses.home", "emailAddresses.other",
)  # fmt: skip


def unknown_fields(wanted: Iterable[str]) -> list[str]:
    """The mapped fields no Person field gives."""
    return [name for name in wanted
            if name not in OWN and name.split(".", 1)[0] not in PERSON_FIELDS]  # fmt: skip


def person_fields(kind: Kind, wanted: Iterable[str]) -> str:
    """The ``personFields`` / ``readMask`` of a read of ``kind`` whose rows must have the
    fields ``wanted``: the Person fields they come from, and ``metadata`` (deletions, the
    source's type, former resource names). Other contacts have only some of them."""
    chosen = {name.split(".", 1)[0] for name in wanted} & PERSON_FIELDS
    if kind == "other_contacts":
        chosen &= OTHER_CONTACT_FIELDS
    return ",".join(sorted({*chosen, "metadata"}))


def is_deleted(person: dict[str, Any]) -> bool:
    metadata = person.get("metadata")
    return isinstance(metadata, dict) and metadata.get("deleted") is True


def previous_names(person: dict[str, Any]) -> list[str]:
    """The resource names the person had before (a contact linked to a profile or unlinked
    gets a new one: the old one is gone)."""
    metadata = person.get("metadata")
    former = metadata.get("previousResourceNames") if isinstance(metadata, dict) else None
    return [name for name in former or () if isinstance(name, str) and name]


def row(kind: Kind, owner: str, person: dict[str, Any]) -> dict[str, Value]:
    """The fields of one Person as the People API gives it."""
    values: dict[str, Value] = {"object": kind, "owner": owner}
    _text(person.get("resourceName"), "resourceName", values)
    metadata = person.get("metadata")
    sources = metadata.get("sources") if isinstance(metadata, dict) else None
    if isinstance(sources, list) and sources and isinstance(sources[0], dict):
        _text(sources[0].get("type"), "source", values)
    for name, parts in _STRUCTURED.items():
        first = _items(person.get(name))
        if first:
            for part in parts:
                _text(first[0].get(part), f"{name}.{part}", values)
    _addresses(_items(person.get("addresses")), values)
    _phones(_items(person.get("phoneNumbers")), values)
    for name, part in _SIMPLE.items():
        items = _items(person.get(name))
        texts = [_plain(item.get(part)) for item in items]
        _many([t for t in texts if t], name, values)
        if name == "emailAddresses":
            for typed in ("work", "home", "other"):
                _many([_plain(i.get(part)) for i in items if i.get("type") == typed],
                      f"{name}.{typed}", values)  # fmt: skip
    for name, (key, part) in _KEYED.items():
        for item in _items(person.get(name)):
            if isinstance(item.get(key), str) and item[key]:
                _text(item.get(part), f"{name}.{item[key]}", values)
    return {name: value for name, value in values.items() if value not in ("", [])}


def _items(value: Any) -> list[dict[str, Any]]:
    """A repeated field's elements, the primary one first."""
    items = [item for item in value or () if isinstance(item, dict)]
    return sorted(items, key=lambda item: not _primary(item))


def _primary(item: dict[str, Any]) -> bool:
    metadata = item.get("metadata")
    return isinstance(metadata, dict) and metadata.get("primary") is True


def _addresses(items: list[dict[str, Any]], values: dict[str, Value]) -> None:
    if not items:
        return
    main = next((item for item in items if item.get("type") == "work"), items[0])
    for part in _ADDRESS_PARTS:
        _text(main.get(part), f"addresses.{part}", values)
    for item in reversed(items):  # of several of one type, the first (or primary) wins
        kind = item.get("type")
        if kind in ("work", "home", "other"):
            for part in _ADDRESS_PARTS:
                _text(item.get(part), f"addresses.{kind}.{part}", values)


def _phones(items: list[dict[str, Any]], values: dict[str, Value]) -> None:
    every: list[str] = []
    by_type: dict[str, list[str]] = {}
    for item in items:
        # canonicalForm is Google's E.164 reading; absent where it could not read one
        number = _plain(item.get("canonicalForm")) or _plain(item.get("value"))
        if not number:
            continue
        every.append(number)
        kind = item.get("type")
        by_type.setdefault(kind if kind in PHONE_TYPES else "other", []).append(number)
    _many(every, "phoneNumbers", values)
    for kind, numbers in by_type.items():
        _many(numbers, f"phoneNumbers.{kind}", values)


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _text(value: Any, field: str, values: dict[str, Value]) -> None:
    text = _plain(value)
    if text:
        values[field] = text


def _many(texts: list[str], field: str, values: dict[str, Value]) -> None:
    texts = [text for text in texts if text]
    if texts:
        values[field] = texts if len(texts) > 1 else texts[0]
