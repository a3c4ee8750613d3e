"""The kinds of objects a Microsoft 365 source reads, and how each becomes one row of
fields named as the Graph ``user`` resource names them: users as they are, organisational
contacts (``orgContact``: ``phones`` by type, ``addresses``) and mailbox contacts (Outlook
``contact``: ``emailAddresses``, ``businessAddress``) turned into the same names, so that
one mapping serves all three. Nested objects become dotted fields
(``onPremisesExtensionAttributes.extensionAttribute1``, ``homeAddress.city``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from metadir.core.records import Value

Kind = Literal["users", "contacts", "mailbox_contacts"]

# user properties under their own names; the default ones and those $select must add
USER = (
    "displayName", "givenName", "surname", "mail", "otherMails", "userPrincipalName",
    "businessPhones", "mobilePhone", "faxNumber", "jobTitle", "department", "companyName",
    "officeLocation", "streetAddress", "city", "state", "postalCode", "country",
    "preferredLanguage", "employeeId", "mailNickname", "proxyAddresses", "imAddresses",
    "usageLocation", "onPremisesExtensionAttributes", "onPremisesSamAccountName", "userType",
)  # fmt: skip
# what users are read by besides the mapping: whether the account is enabled
ACCOUNT_ENABLED = "accountEnabled"
# the profile photo of users and mailbox contacts, read apart from the object (photos.py)
PHOTO = "photo"

# the fields every kind is read into (what ``check`` names), and per kind the property
# each comes from (a field absent here is not one of that kind's)
_ADDRESS = ("streetAddress", "city", "state", "postalCode", "country")
FIELDS = (*USER, "homePhones", "pager", "middleName", "initials", "nickName", "businessHomePage",
          PHOTO)  # fmt: skip
_ORG_CONTACT = {
    **{name: name for name in ("displayName", "givenName", "surname", "mail", "jobTitle",
                               "department", "companyName", "mailNickname", "proxyAddresses")},
    **dict.fromkeys(
        ("businessPhones", "mobilePhone", "homePhones", "faxNumber", "pager"), "phones"
    ),
    **dict.fromkeys((*_ADDRESS, "officeLocation"), "addresses"),
}  # fmt: skip
_CONTACT = {
    **{name: name for name in ("displayName", "givenName", "surname", "middleName", "initials",
                               "nickName", "jobTitle", "department", "companyName",
                               "officeLocation", "businessPhones", "homePhones", "mobilePhone",
                               "businessHomePage", "imAddresses")},
    **dict.fromkeys(("mail", "otherMails"), "emailAddresses"),
    **dict.fromkeys(_ADDRESS, "businessAddress"),
    # the rest of an Outlook contact, under its own name
    **{name: name for name in ("homeAddress", "otherAddress", "title", "profession",
                               "assistantName", "manager", "categories", "personalNotes")},
}  # fmt: skip
_PROPERTIES: dict[Kind, dict[str, str]] = {
    "users": {name: name for name in USER},
    "contacts": _ORG_CONTACT,
    "mailbox_contacts": _CONTACT,
}
# orgContact phone types -> field
_PHONES = {"business": "businessPhones", "mobile": "mobilePhone", "home": "homePhones",
           "businessFax": "faxNumber", "pager": "pager"}  # fmt: skip
_LISTS = frozenset({"businessPhones", "homePhones", "otherMails"})
# Outlook address parts -> field
_PARTS = {"street": "streetAddress", "city": "city", "state": "state",
          "postalCode": "postalCode", "countryOrRegion": "country"}  # fmt: skip


def select(kind: Kind, wanted: Iterable[str]) -> list[str]:
    """The properties to ``$select`` of ``kind`` so that its rows have the fields
    ``wanted``; for users also a field none of the kinds has (a property of its own name:
    ``employeeType``, ``extension_<app>_costCenter``) and ``accountEnabled``."""
    properties = _PROPERTIES[kind]
    chosen: dict[str, None] = {}
    for name in wanted:
        top = name.split(".", 1)[0]
        if top in properties:
            chosen[properties[top]] = None
        elif kind == "users" and top not in FIELDS and top not in _CONTACT:
            chosen[top] = None
    if kind == "users":
        chosen[ACCOUNT_ENABLED] = None
    return sorted(chosen)


def row(kind: Kind, item: dict[str, Any]) -> dict[str, Value]:
    """The fields of one object of ``kind`` as a Graph delta answer gives it."""
    values: dict[str, Value] = {}
    for name, value in item.items():
        if name.startswith("@") or name == "id":
            continue
        if kind == "contacts" and name in ("phones", "addresses"):
            _org_contact_part(name, value, values)
        elif kind == "mailbox_contacts" and name == "emailAddresses":
            addresses = [a.get("address") for a in value or () if isinstance(a, dict)]
            found = [a for a in addresses if isinstance(a, str) and a]
            if found:
                values["mail"], values["otherMails"] = found[0], found[1:]
        elif kind == "mailbox_contacts" and name == "businessAddress":
            _address(value, values)
        else:
            _flatten(name, value, values)
    return {name: value for name, value in values.items() if value not in ("", [])}


def _org_contact_part(name: str, value: Any, values: dict[str, Value]) -> None:
    parts = [part for part in value or () if isinstance(part, dict)]
    if name == "addresses":
        if parts:
            _address(parts[0], values)
            _text(parts[0].get("officeLocation"), "officeLocation", values)
        return
    for phone in parts:
        field = _PHONES.get(str(phone.get("type")))
        number = phone.get("number")
        if field is None or not isinstance(number, str) or not number:
            continue
        if field in _LISTS:
            listed = values.setdefault(field, [])
            assert isinstance(listed, list)
            listed.append(number)
        else:
            values.setdefault(field, number)


def _address(value: Any, values: dict[str, Value]) -> None:
    if isinstance(value, dict):
        for part, field in _PARTS.items():
            _text(value.get(part), field, values)


def _text(value: Any, field: str, values: dict[str, Value]) -> None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        values[field] = str(value)


def _flatten(name: str, value: Any, values: dict[str, Value]) -> None:
    """``value`` under ``name``: text, a list of texts, or a nested object as dotted names;
    null and lists of objects (none of the fields) are left out."""
    if isinstance(value, dict):
        for part, inner in value.items():
            _flatten(f"{name}.{part}", inner, values)
    elif isinstance(value, list):
        values[name] = [str(v) for v in value if isinstance(v, str | int | float) and v != ""]
    elif isinstance(value, bool):
        values[name] = "true" if value else "false"
    elif value is not None:
        values[name] = str(value)
