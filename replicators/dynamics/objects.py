"""The tables a Dynamics 365 / Dataverse source reads (contacts, accounts), and how a row of
each becomes one set of fields named as the ``contact`` table names its columns (logical
names: ``firstname``, ``telephone1``, ``address1_city``), so that one mapping serves both.

- A lookup column comes as ``_<name>_value`` (the related row's id) with its display name
  as the ``OData.Community.Display.V1.FormattedValue`` annotation: the field ``<name>``
  is that display name (``parentcustomerid``: the company of a contact), ``_<name>_value``
  the id.
- A choice column (its name ends in ``code``: ``preferredcontactmethodcode``) reads as its
  label, the formatted value, not as the number behind it.
- An account's ``name`` is both ``fullname`` and ``parentcustomerid`` (its own company);
  its other phones (``telephone2`` "Other Phone", ``telephone3``) are ``telephone3``, a
  contact's spare number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from metadir.core.records import Value

Kind = Literal["contacts", "accounts"]
# Dataverse's whole annotation of a value's display text
FORMATTED = "@OData.Community.Display.V1.FormattedValue"
# active (0) or inactive (1): what ``active_only`` goes by; selected besides the mapping
STATE = "statecode"
COMPANY = "parentcustomerid"


@dataclass(frozen=True, slots=True)
class Table:
    """A table as the Web API names it: its entity set (the URL), its logical name (the
    privileges: prvRead<Name>), its primary key column."""

    entity_set: str
    logical_name: str
    display_name: str
    key: str


TABLES: dict[Kind, Table] = {
    "contacts": Table("contacts", "contact", "Contact", "contactid"),
    "accounts": Table("accounts", "account", "Account", "accountid"),
}
_ADDRESS = tuple(
    f"address1_{part}"
    for part in ("line1", "line2", "line3", "postofficebox", "city", "stateorprovince",
                 "postalcode", "country", "telephone1")
)  # fmt: skip
# the contact's columns under their own names (what ``check`` names, with ``COMPANY``)
CONTACT = (
    "fullname", "firstname", "lastname", "middlename", "nickname", "salutation", "jobtitle",
    "department", "emailaddress1", "emailaddress2", "emailaddress3", "telephone1",
    "telephone2", "telephone3", "mobilephone", "fax", "pager", "assistantname",
    "assistantphone", "managername", "managerphone", "websiteurl", "description",
    *_ADDRESS,
)  # fmt: skip
FIELDS = (*CONTACT, COMPANY)
# per kind: field -> the columns it is read from (a field absent here is none of the kind's)
_COLUMNS: dict[Kind, dict[str, tuple[str, ...]]] = {
    "contacts": {
        **{name: (name,) for name in CONTACT},
        COMPANY: (f"_{COMPANY}_value",),
    },
    "accounts": {
        **{name: (name,) for name in ("telephone1", "fax", "emailaddress1", "emailaddress2",
                                      "emailaddress3", "websiteurl", "description", *_ADDRESS)},
        "fullname": ("name",),
        COMPANY: ("name",),
        "telephone3": ("telephone2", "telephone3"),
    },
}  # fmt: skip
# account column -> the fields it is read into (where they differ from its own name)
_ACCOUNT_FIELDS = {"name": ("fullname", COMPANY), "telephone2": ("telephone3",)}


def select(kind: Kind, wanted: Iterable[str]) -> list[str]:
    """The columns to ``$select`` of ``kind`` so that its rows have the fields ``wanted``:
    for contacts also a field neither table has under these names (a custom column such as
    ``new_extension``, read as is), and always the key and ``statecode``."""
    columns = _COLUMNS[kind]
    chosen: dict[str, None] = {TABLES[kind].key: None, STATE: None}
    for name in wanted:
        if name in columns:
            chosen.update(dict.fromkeys(columns[name]))
        elif kind == "contacts" and name not in FIELDS and not name.startswith("_"):
            chosen[name] = None
        elif kind == "contacts" and name.startswith("_") and name.endswith("_value"):
            chosen[name] = None  # a lookup's id, asked for by its column name
    return sorted(chosen)


def row(kind: Kind, item: dict[str, Any]) -> dict[str, Value]:
    """The fields of one row of ``kind`` as a Web API answer gives it (with formatted
    values)."""
    values: dict[str, Value] = {}
    key = TABLES[kind].key
    for name, value in item.items():
        if "@" in name or name in (key, "id"):
            continue
        label = item.get(name + FORMATTED)
        if name.startswith("_") and name.endswith("_value"):
            _text(value, name, values)
            _text(label, name[1:-6], values)
        elif name.endswith("code") and label is not None:
            _text(label, name, values)
        elif kind == "accounts" and name in _ACCOUNT_FIELDS:
            for field in _ACCOUNT_FIELDS[name]:
                _add(value, field, values)
        else:
            _add(value, name, values)
    return {name: value for name, value in values.items() if value not in ("", [])}


def _add(value: Any, field: str, values: dict[str, Value]) -> None:
    """``value`` under ``field``; a field read from two columns holds a list of both."""
    if field not in values:
        _text(value, field, values)
        return
    text: dict[str, Value] = {}
    _text(value, field, text)
    if field in text:
        earlier = values[field]
        values[field] = [*(earlier if isinstance(earlier, list) else [earlier]), str(text[field])]


def _text(value: Any, field: str, values: dict[str, Value]) -> None:
    if isinstance(value, bool):
        values[field] = "true" if value else "false"
    elif isinstance(value, str | int | float):
        values[field] = str(value)
