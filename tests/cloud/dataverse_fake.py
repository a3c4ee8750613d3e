"""A stateful fake of the Dataverse Web API (``/api/data/v9.2``) that follows the documented
change-tracking protocol, for the Dynamics 365 source's tests: a table of rows per entity
set (contacts, accounts) and one change log with a sequence number.

- ``GET /{set}`` with ``Prefer: odata.track-changes``: every row in pages
  (``@odata.nextLink``, page size 5000 or ``Prefer: odata.maxpagesize``), the last page
  carries ``@odata.deltaLink`` whose ``$deltatoken`` is the change log's position; a delta
  link returns the rows changed since (the whole row, with the ``$select`` of the first
  request) and, for each deleted one, ``{"@odata.context": ".../$deletedEntity", "id",
  "reason": "deleted"}``. Tokens of an older generation (``expire_delta_tokens``) are
  answered 400 ExpiredVersionStamp (0x80044352), a garbled one 400 invalid version stamp
  (0x80044183). A table whose change tracking is off (``untracked``) ignores the
  preference: every row, no delta link. Without the preference (``$top``): a plain query.
- ``$select`` is honoured and an unknown column refused (400, 0x80060888); lookups as
  ``_<name>_value``; with ``odata.include-annotations`` the formatted values: a lookup's
  display name (a contact's company: its account's name, as it is now) and a choice's label.
- Bearer tokens checked with the fake Entra ID (401 when run out); the application user:
  none (403 0x80072560 "not a member of the organization") or its privileges, missing one
  answered as Dataverse does (403 0x80040220 "... is missing prvReadContact privilege").
- Faults on demand (``fail``): 429 with ``Retry-After``, 503, a connection dropped in the
  middle of a page, malformed JSON; ``down``: every request is cut off.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from tests.cloud.entra import Entra
from tests.cloud.faults import Faults
from tests.cloud.https import Request, Response, json_response

API = "/api/data/v9.2/"
DEFAULT_PAGE = 5000
FORMATTED = "OData.Community.Display.V1.FormattedValue"
STATES = {0: "Active", 1: "Inactive"}
CONTACT_COLUMNS = frozenset({
    "contactid", "statecode", "statuscode", "fullname", "firstname", "lastname", "middlename",
    "nickname", "salutation", "jobtitle", "department", "emailaddress1", "emailaddress2",
    "emailaddress3", "telephone1", "telephone2", "telephone3", "mobilephone", "fax", "pager",
    "assistantname", "assistantphone", "managername", "managerphone", "websiteurl",
    "description", "address1_line1", "address1_line2", "address1_line3",
    "address1_postofficebox", "address1_city", "address1_stateorprovince",
    "address1_postalcode", "address1_country", "address1_telephone1",
    "_parentcustomerid_value", "preferredcontactmethodcode", "new_extension",
})  # fmt: skip
ACCOUNT_COLUMNS = frozenset({
    "accountid", "statecode", "statuscode", "name", "accountnumber", "telephone1",
    "telephone2", "telephone3", "fax", "emailaddress1", "emailaddress2", "emailaddress3",
    "websiteurl", "description", "address1_line1", "address1_line2", "address1_line3",
    "address1_postofficebox", "address1_city", "address1_stateorprovince",
    "address1_postalcode", "address1_country", "address1_telephone1",
    "_parentaccountid_value",
})  # fmt: skip
CONTACT_METHODS = {1: "Any", 2: "Email", 3: "Phone", 4: "Fax", 5: "Mail"}


@dataclass
class Table:
    """One entity set's rows; ``columns``: what ``$select`` may name."""

    entity_set: str
    logical_name: str
    key: str
    columns: frozenset[str]
    privilege: str
    tracked: bool = True
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)  # id -> seq of its last change


class DataverseFake(Faults):
    def __init__(self, base_url: str, entra: Entra) -> None:
        super().__init__()
        self.base_url, self.entra = base_url, entra
        self.seq = 0
        self.generation = 0
        self.contacts = Table("contacts", "contact", "contactid", CONTACT_COLUMNS, "prvReadContact")
        self.accounts = Table("accounts", "account", "accountid", ACCOUNT_COLUMNS, "prvReadAccount")
        self.tables = {t.entity_set: t for t in (self.contacts, self.accounts)}
        # the application user of the app (None: the app is no user of the environment),
        # and the privileges its security roles give it
        self.app_user: str | None = "a7a0e6c4-0000-4000-8000-00000000a991"
        self.privileges = {"prvReadContact", "prvReadAccount"}
        self.replay = False  # each page repeats the last row of the one before

    # -- the data -----------------------------------------------------------------------

    def put(self, table: Table, row: dict[str, Any]) -> None:
        """Add or change a row (the whole of it)."""
        with self.lock:
            self.seq += 1
            table.rows[row[table.key]] = row
            table.changed[row[table.key]] = self.seq

    def update(self, table: Table, ident: str, **values: Any) -> None:
        with self.lock:
            self.put(table, {**table.rows[ident], **values})

    def delete(self, table: Table, ident: str) -> None:
        with self.lock:
            self.seq += 1
            del table.rows[ident]
            table.changed[ident] = self.seq

    def expire_delta_tokens(self) -> None:
        """Every delta and skip token issued so far is refused from now on."""
        with self.lock:
            self.generation += 1

    # -- the service ----------------------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        login = self.entra.handle(request)
        if login is not None:
            return login
        answers, fault = self.arrived(request)
        if not answers:
            return None
        if not request.path.startswith(API):
            return _not_found(request.path)
        if fault is not None and (early := self._fault(fault)) is not None:
            return early
        if not self.entra.valid(request.headers.get("authorization")):
            # Dataverse answers an expired or foreign token with an empty 401
            return Response(401, b"", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if self.app_user is None:
            return _error(403, "0x80072560", "The user is not a member of the organization.")
        with self.lock:
            response = self._route(request)
        if fault is not None and fault == "drop":
            response.drop = True
        if fault is not None and fault == "malformed":
            response.body = response.body[: len(response.body) // 2]
        return response

    def _fault(self, fault: str) -> Response | None:
        if fault.startswith("429"):
            wait = float(fault.partition(":")[2] or 1)
            self.throttled.append((time.monotonic(), wait))
            return _error(
                429, "0x80072322",
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
                **{"Retry-After": f"{wait:g}"},
            )  # fmt: skip
        if fault == "503":
            return _error(503, "0x80040216", "Service unavailable")
        return None

    def _route(self, request: Request) -> Response:
        table = self.tables.get(request.path.removeprefix(API))
        if table is None:
            return _not_found(request.path)
        if table.privilege not in self.privileges:
            return _error(
                403, "0x80040220",
                f"Principal user (Id={self.app_user}, type=8, roleCount=1, privilegeCount=0, "
                f"accessMode=4), is missing {table.privilege} privilege "
                f"(Id=886b280c-6396-4d56-a0a3-2c1b0a50ceb0) on OTC=2 for entity "
                f"'{table.logical_name}'. context.Caller={self.app_user}",
            )  # fmt: skip
        prefer = _preferences(request.headers.get("prefer", ""))
        if "odata.track-changes" in prefer and table.tracked:
            return self._delta(table, request, prefer)
        return self._query(table, request, prefer)

    def _query(self, table: Table, request: Request, prefer: dict[str, str]) -> Response:
        """A plain query: ``$top``, or pages with a skip token (no delta link)."""
        chosen, refused = self._select(table, request.query.get("$select"))
        if refused is not None:
            return refused
        token = request.query.get("$skiptoken")
        offset = int(token) if token and token.isdigit() else 0
        ids = sorted(table.rows)
        top = request.query.get("$top")
        size = int(top) if top else _page_size(prefer)
        page = ids[offset : offset + size]
        body: dict[str, Any] = {
            "@odata.context": self._context(table, chosen),
            "value": [self._shown(table, i, chosen, prefer) for i in page],
        }
        if top is None and offset + size < len(ids):
            body["@odata.nextLink"] = (
                f"{self.base_url}{request.path}?$select={','.join(chosen or [])}"
                f"&$skiptoken={offset + size}"
            )
        return json_response(body)

    def _delta(self, table: Table, request: Request, prefer: dict[str, str]) -> Response:
        query = request.query
        token_text = query.get("$skiptoken") or query.get("$deltatoken")
        token: dict[str, Any]
        if token_text is None:
            chosen, refused = self._select(table, query.get("$select"))
            if refused is not None:
                return refused
            token = {"since": None, "upto": self.seq, "offset": 0, "select": chosen}
        else:
            try:
                token = _decode(token_text)
            except ValueError:
                return _error(400, "0x80044183", "Invalid version stamp")
            if token.get("generation") != self.generation or token.get("t") != table.entity_set:
                return _error(
                    400, "0x80044352",
                    "Version stamp associated with the client has expired. Please perform a "
                    "full sync.",
                )  # fmt: skip
            if "$deltatoken" in query:  # a new round: what changed since the token's position
                token = {**token, "since": token["upto"], "upto": self.seq, "offset": 0}
        size = _page_size(prefer)
        if token["since"] is None:
            ids = sorted(i for i, s in table.changed.items()
                         if s <= token["upto"] and i in table.rows)  # fmt: skip
        else:
            changed = [(s, i) for i, s in table.changed.items()
                       if token["since"] < s <= token["upto"]]  # fmt: skip
            ids = [i for _, i in sorted(changed)]
        offset = token["offset"]
        start = offset - 1 if self.replay and offset > 0 else offset
        page = [self._shown(table, i, token["select"], prefer) for i in ids[start : offset + size]]
        body: dict[str, Any] = {
            "@odata.context": self._context(table, token["select"]) + "/$delta",
            "value": page,
        }
        path = f"{self.base_url}{request.path}"
        marked = {**token, "t": table.entity_set, "generation": self.generation}
        if offset + size < len(ids):
            body["@odata.nextLink"] = (
                f"{path}?$skiptoken={_encode({**marked, 'offset': offset + size})}"
            )
        else:
            body["@odata.deltaLink"] = f"{path}?$deltatoken={_encode(marked)}"
        applied = ["odata.track-changes"]
        if "odata.maxpagesize" in prefer:
            applied.append(f"odata.maxpagesize={size}")
        return json_response(body, 200, **{"Preference-Applied": ", ".join(applied)})

    def _select(self, table: Table, select: str | None) -> tuple[list[str] | None, Response | None]:
        chosen = select.split(",") if select else None
        unknown = [c for c in chosen or () if c not in table.columns]
        if unknown:
            return None, _error(
                400, "0x80060888",
                f"Could not find a property named '{unknown[0]}' on type "
                f"'Microsoft.Dynamics.CRM.{table.logical_name}'.",
            )  # fmt: skip
        return chosen, None

    def _context(self, table: Table, chosen: list[str] | None) -> str:
        columns = f"({','.join(chosen)})" if chosen else ""
        return f"{self.base_url}{API}$metadata#{table.entity_set}{columns}"

    def _shown(
        self, table: Table, ident: str, chosen: list[str] | None, prefer: dict[str, str]
    ) -> dict[str, Any]:
        row = table.rows.get(ident)
        if row is None:
            context = f"{self.base_url}{API}$metadata#{table.entity_set}/$deletedEntity"
            return {
                "@odata.context": context,
                "id": ident,
                "reason": "deleted",
            }
        names = chosen or sorted(table.columns)
        shown: dict[str, Any] = {"@odata.etag": f'W/"{table.changed[ident]}"'}
        annotate = FORMATTED in prefer.get("odata.include-annotations", "")
        for name in names:
            value = row.get(name)
            shown[name] = value
            label = self._label(name, value) if annotate and value is not None else None
            if label is not None:
                shown[f"{name}@{FORMATTED}"] = label
        shown[table.key] = ident
        return shown

    def _label(self, name: str, value: Any) -> str | None:
        """The formatted value of column ``name`` holding ``value``, if it has one."""
        if name == "statecode":
            return STATES.get(value)
        if name == "preferredcontactmethodcode":
            return CONTACT_METHODS.get(value)
        if name == "_parentcustomerid_value":
            related = self.accounts.rows.get(value) or self.contacts.rows.get(value)
            if related is not None:
                return str(related.get("name") or related.get("fullname"))
        return None


def _preferences(header: str) -> dict[str, str]:
    """``Prefer``'s preferences by name (a value without quotes; "" for none)."""
    found = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name:
            found[name] = value.strip('"')
    return found


def _page_size(prefer: dict[str, str]) -> int:
    value = prefer.get("odata.maxpagesize", "")
    return int(value) if value.isdigit() else DEFAULT_PAGE


def _encode(token: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def _decode(text: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise ValueError(text) from None
    if not isinstance(value, dict):
        raise ValueError(text)
    return value


def _error(status: int, code: str, message: str, **headers: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status, **headers)


def _not_found(path: str) -> Response:
    return _error(404, "0x80060888", f"Resource not found for the segment '{path}'.")
