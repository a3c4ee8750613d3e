"""The kinds of Salesforce records a source reads, the SOQL that reads them, and how each
record becomes one row of fields named as the ``Contact`` object names them: contacts as
they are, leads (``Company``, ``Street``…) and accounts (``Name``, ``BillingStreet``…)
turned into the same names, so that one mapping serves all three. Relationship fields
(``Account.Name``, ``Owner.Phone``) and compound fields (``MailingAddress.city``) become
dotted names.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from metadir.core.records import Value

Kind = Literal["contacts", "leads", "accounts"]

SOBJECT: dict[Kind, str] = {"contacts": "Contact", "leads": "Lead", "accounts": "Account"}
# what every query selects besides the mapping: the key, and what tells a change
ID, IS_DELETED, MODSTAMP, IS_CONVERTED = "Id", "IsDeleted", "SystemModstamp", "IsConverted"
_SYSTEM = frozenset({ID, IS_DELETED, MODSTAMP, IS_CONVERTED, "attributes"})

_ADDRESS = ("Street", "City", "State", "PostalCode", "Country")
# Contact fields under their own names (what ``check`` names besides the mapping)
CONTACT = (
    "Salutation", "FirstName", "MiddleName", "LastName", "Suffix", "Name", "Title",
    "Department", "Email", "Phone", "MobilePhone", "HomePhone", "OtherPhone",
    "AssistantPhone", "AssistantName", "Fax", "Account.Name", "Description",
    *(f"Mailing{part}" for part in _ADDRESS), *(f"Other{part}" for part in _ADDRESS),
)  # fmt: skip
# per kind: field (as a contact names it) -> the field of that kind it is read from; a
# field a kind lacks is left out of its rows
_SAME_ON_LEADS = ("Salutation", "FirstName", "MiddleName", "LastName", "Suffix", "Name",
                  "Title", "Email", "Phone", "MobilePhone", "Fax", "Description",
                  "Website")  # fmt: skip
_FIELDS: dict[Kind, dict[str, str]] = {
    "contacts": {name: name for name in CONTACT},
    "leads": {
        **{name: name for name in _SAME_ON_LEADS},
        "Account.Name": "Company",
        **{f"Mailing{part}": part for part in _ADDRESS},
    },
    "accounts": {
        **{name: name for name in ("Name", "Phone", "Fax", "Website", "Description")},
        "Account.Name": "Name",
        **{f"Mailing{part}": f"Billing{part}" for part in _ADDRESS},
    },
}
# every field one of the kinds knows; another is asked of contacts under its own name
KNOWN = frozenset(name for table in _FIELDS.values() for name in table)
FIELDS = tuple(dict.fromkeys(name for table in _FIELDS.values() for name in table))


def select(kind: Kind, wanted: Iterable[str]) -> list[str]:
    """The fields to select of ``kind`` so that its rows have the fields ``wanted``; for
    contacts also a field none of the kinds has (a custom field ``Extension__c``, a
    relationship field ``Owner.Phone``), under its own name."""
    table = _FIELDS[kind]
    chosen: dict[str, None] = {}
    for name in wanted:
        if name in table:
            chosen[table[name]] = None
        elif kind == "contacts" and name not in KNOWN:
            chosen[name] = None
    return sorted(chosen)


def soql(kind: Kind, fields: Iterable[str], since: datetime | None) -> str:
    """The query of one read of ``kind``: every live record (``since`` None), or every
    record, deleted ones too (queryAll), whose SystemModstamp is after ``since``; in the
    order of SystemModstamp, so that a read's last record is its newest."""
    extra = [IS_CONVERTED] if kind == "leads" else []
    chosen = ",".join(dict.fromkeys([ID, *fields, *extra, IS_DELETED, MODSTAMP]))
    where = f"{MODSTAMP} > {literal(since)}" if since is not None else f"{IS_DELETED} = false"
    return f"SELECT {chosen} FROM {SOBJECT[kind]} WHERE {where} ORDER BY {MODSTAMP}, {ID}"


def literal(when: datetime) -> str:
    """A SOQL dateTime literal, UTC, to the second."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def gone(kind: Kind, record: dict[str, Any]) -> bool:
    """Whether ``record`` stands for no entry: deleted (queryAll), or a converted lead (its
    contact and account carry on)."""
    return record.get(IS_DELETED) is True or (kind == "leads" and record.get(IS_CONVERTED) is True)


def row(kind: Kind, record: dict[str, Any]) -> dict[str, Value]:
    """The fields of one record of ``kind`` as a query answers it."""
    flat: dict[str, Value] = {}
    for name, value in record.items():
        if name not in _SYSTEM:
            _flatten(name, value, flat)
    if kind != "contacts":
        table = _FIELDS[kind]
        flat = {name: flat[source] for name, source in table.items() if source in flat}
    return {name: value for name, value in flat.items() if value != ""}


def _flatten(name: str, value: Any, values: dict[str, Value]) -> None:
    """``value`` under ``name``: text, or a related record or compound field as dotted
    names (without its ``attributes``); null is left out."""
    if isinstance(value, dict):
        for part, inner in value.items():
            if part != "attributes":
                _flatten(f"{name}.{part}", inner, values)
    elif isinstance(value, bool):
        values[name] = "true" if value else "false"
    elif isinstance(value, list):
        values[name] = [str(v) for v in value if isinstance(v, str | int | float) and v != ""]
    elif value is not None:
        values[name] = str(value)
