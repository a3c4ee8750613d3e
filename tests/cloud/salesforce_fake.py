"""A stateful fake of a Salesforce org that follows the documented REST API, for the
Salesforce source's tests: tables of Contact, Lead and Account records with their
``SystemModstamp``, a recycle bin (``IsDeleted``) and a delete log.

- ``POST /services/oauth2/token``: the JWT bearer flow (the assertion's RS256 signature
  checked with the public key of a certificate uploaded to the connected app; iss, sub,
  aud, exp; the user pre-authorized) and the username-password flow (consumer key and
  secret, password followed by the security token; blocked on demand as in new orgs).
  Answers ``instance_url``: this server.
- ``GET /services/data/vXX.X/query`` and ``/queryAll`` with a SOQL parser for exactly
  what the source emits (a field list with relationship fields, ``WHERE`` with
  ``SystemModstamp > <dateTime>`` or ``IsDeleted = false``, ``ORDER BY SystemModstamp,
  Id``, ``LIMIT``); unknown fields answer INVALID_FIELD, unreadable objects INVALID_TYPE.
  Pages of ``batchSize`` (``Sforce-Query-Options``, 200 to 2000; ``max_page`` makes them
  smaller, as the service may) with ``nextRecordsUrl`` ``/services/data/vXX.X/query/
  <locator>-<offset>``.
- ``GET /services/data/vXX.X/sobjects/<Object>/deleted/?start=&end=``: ``deletedRecords``,
  ``earliestDateAvailable`` (moved on by ``purge_delete_log``), ``latestDateCovered``; a
  start more than 15 days back is INVALID_REPLICATION_DATE.
- Every answer carries ``Sforce-Limit-Info: api-usage=N/LIMIT``; past the limit,
  REQUEST_LIMIT_EXCEEDED. Sessions run out on ``revoke`` (401 INVALID_SESSION_ID); a user
  without API Enabled gets API_CURRENTLY_DISABLED.
- Faults on demand (``fail``): 429 or 503 with ``Retry-After``, a connection dropped in
  the middle of a page, malformed JSON; ``down``: every request is cut off.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.cloud.faults import Faults
from tests.cloud.https import Request, Response, json_response

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_ADDRESS = ("Street", "City", "State", "PostalCode", "Country")
SCHEMA: dict[str, frozenset[str]] = {
    "Contact": frozenset({
        "Id", "IsDeleted", "SystemModstamp", "LastModifiedDate", "AccountId", "Salutation",
        "FirstName", "MiddleName", "LastName", "Suffix", "Name", "Title", "Department",
        "Email", "Phone", "MobilePhone", "HomePhone", "OtherPhone", "AssistantPhone",
        "AssistantName", "Fax", "Description", *(f"Mailing{p}" for p in _ADDRESS),
        *(f"Other{p}" for p in _ADDRESS), "Extension__c",
    }),
    "Lead": frozenset({
        "Id", "IsDeleted", "SystemModstamp", "IsConverted", "Salutation", "FirstName",
        "MiddleName", "LastName", "Suffix", "Name", "Title", "Company", "Email", "Phone",
        "MobilePhone", "Fax", "Website", "Description", *_ADDRESS,
    }),
    "Account": frozenset({
        "Id", "IsDeleted", "SystemModstamp", "Name", "Phone", "Fax", "Website", "Description",
        *(f"Billing{p}" for p in _ADDRESS),
    }),
}  # fmt: skip
# relationship name -> (the field holding the Id, the related object)
RELATIONS = {"Contact": {"Account": ("AccountId", "Account")}}
MAX_BATCH, MIN_BATCH = 2000, 200
DELETE_LOG_DAYS = 15
_SOQL = re.compile(
    r"SELECT (?P<fields>[\w.,]+) FROM (?P<object>\w+)(?: WHERE (?P<where>.+?))?"
    r"(?: ORDER BY (?P<order>[\w, ]+?))?(?: LIMIT (?P<limit>\d+))?"
)
_AFTER = re.compile(r"SystemModstamp > (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)")


def stamp(when: datetime) -> str:
    """A dateTime as Salesforce writes it: 2026-11-01T10:00:00.000+0000."""
    millis = f"{when.microsecond // 1000:03d}"
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + millis + "+0000"


@dataclass
class SalesforceFake(Faults):
    base_url: str
    client_id: str
    client_secret: str
    username: str
    password: str
    security_token: str
    version: str = "62.0"
    # certificates uploaded to the connected app (Use digital signatures)
    certificates: list[x509.Certificate] = field(default_factory=list)
    # the JWT flow's user is pre-authorized (admin approved users, their profile listed)
    pre_authorized: bool = True
    # new orgs block the username-password flow
    password_flow: bool = True
    # the user's permissions: API Enabled, and read on these objects
    api_enabled: bool = True
    readable: set[str] = field(default_factory=lambda: set(SCHEMA))
    # the org's daily API requests: used so far, and the limit
    used: int = 0
    limit: int = 15000
    # the service answers pages of at most this many records, whatever the batch size
    max_page: int = MAX_BATCH

    def __post_init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in SCHEMA}
        # per object: (Id, when deleted); what the log reaches back to
        self.delete_log: dict[str, list[tuple[str, datetime]]] = {name: [] for name in SCHEMA}
        self.earliest: dict[str, datetime] = dict.fromkeys(SCHEMA, _now() - timedelta(days=30))
        self.tokens: dict[str, float] = {}
        self.issued = 0
        self.cursors: dict[str, list[dict[str, Any]]] = {}
        self.last_stamp = _now() - timedelta(days=1)

    # -- the data -------------------------------------------------------------------------

    def _stamp(self, at: datetime | None) -> datetime:
        """A new SystemModstamp: ``at`` or now, later than every one before."""
        when = max(at or _now(), self.last_stamp + timedelta(milliseconds=1))
        self.last_stamp = when
        return when

    def put(self, sobject: str, record: dict[str, Any], at: datetime | None = None) -> None:
        """Add or change a record (the whole of it); ``at``: its SystemModstamp."""
        with self.lock:
            saved = {"IsDeleted": False, **record, "SystemModstamp": self._stamp(at)}
            if sobject == "Lead":
                saved.setdefault("IsConverted", False)
            self.tables[sobject][record["Id"]] = saved

    def update(self, sobject: str, ident: str, **values: Any) -> None:
        with self.lock:
            self.put(sobject, {**self.tables[sobject][ident], **values})

    def delete(
        self, sobject: str, ident: str, hard: bool = False, logged: datetime | None = None
    ) -> None:
        """Delete a record: into the recycle bin, or (``hard``) for good; ``logged``: its
        time in the delete log (now if not given)."""
        with self.lock:
            when = self._stamp(None)
            self.delete_log[sobject].append((ident, logged or when))
            if hard:
                del self.tables[sobject][ident]
            else:
                self.tables[sobject][ident].update(IsDeleted=True, SystemModstamp=when)

    def undelete(self, sobject: str, ident: str) -> None:
        with self.lock:
            self.tables[sobject][ident].update(IsDeleted=False, SystemModstamp=self._stamp(None))

    def purge_delete_log(self, sobject: str) -> None:
        """The log is purged (too many deletes, or an emptied recycle bin): it begins now
        (the service tells it in whole minutes)."""
        with self.lock:
            self.delete_log[sobject].clear()
            self.earliest[sobject] = _now().replace(second=0, microsecond=0)

    def revoke(self) -> None:
        """Every session issued so far runs out now."""
        with self.lock:
            self.tokens.clear()

    # -- the service ------------------------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        answers, fault = self.arrived(request)
        if not answers:
            return None
        if request.path == "/services/oauth2/token" and request.method == "POST":
            return self._token(request)
        prefix = f"/services/data/v{self.version}/"
        if not request.path.startswith(prefix):
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        if fault is not None and fault[:3] in ("429", "503"):
            wait = float(fault.partition(":")[2] or 1)
            self.throttled.append((time.monotonic(), wait))
            return _errors(int(fault[:3]), "SERVER_UNAVAILABLE", "Try again later",
                           **{"Retry-After": f"{wait:g}"})  # fmt: skip
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ")
        with self.lock:
            if self.tokens.get(token, 0) < time.monotonic():
                return _errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
            self.used += 1
            usage = {"Sforce-Limit-Info": f"api-usage={self.used}/{self.limit}"}
            if self.used > self.limit:
                return _errors(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.",
                               **usage)  # fmt: skip
            if not self.api_enabled:
                return _errors(403, "API_CURRENTLY_DISABLED", "API is disabled for this User",
                               **usage)  # fmt: skip
            response = self._route(request, request.path.removeprefix(prefix).split("/"))
        response.headers.update(usage)
        if fault is not None and fault == "drop":
            response.drop = True
        if fault is not None and fault == "malformed":
            response.body = response.body[: len(response.body) // 2]
        return response

    def _route(self, request: Request, parts: list[str]) -> Response:
        match parts:
            case ["query" | "queryAll" as how]:
                return self._query(request, how == "queryAll")
            case ["query", cursor]:
                locator, _, offset = cursor.rpartition("-")
                if locator not in self.cursors or not offset.isdigit():
                    return _errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
                return self._page(request, locator, int(offset))
            case ["sobjects", sobject, "deleted", ""] | ["sobjects", sobject, "deleted"]:
                return self._deleted(request, sobject)
        return _errors(404, "NOT_FOUND", "The requested resource does not exist")

    def _token(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        grant = form.get("grant_type")
        if grant == JWT_BEARER:
            problem = self._assertion(form.get("assertion", ""))
        elif grant == "password":
            problem = self._password(form)
        else:
            problem = ("unsupported_grant_type", "grant type not supported")
        if problem is not None:
            return json_response({"error": problem[0], "error_description": problem[1]}, 400)
        token = f"00DRO000000fake!{secrets.token_urlsafe(24)}"
        with self.lock:
            self.tokens[token] = time.monotonic() + 7200
            self.issued += 1
        return json_response({
            "access_token": token, "instance_url": self.base_url, "token_type": "Bearer",
            "id": f"{self.base_url}/id/00DRO000000fake/005RO000000user",
            "issued_at": str(int(time.time() * 1000)), "signature": "c2lnbmF0dXJl",
            **({"scope": "api"} if grant == JWT_BEARER else {}),
        })  # fmt: skip

    def _password(self, form: dict[str, str]) -> tuple[str, str] | None:
        if not self.password_flow:
            return ("unsupported_grant_type", "grant type not supported")
        if form.get("client_id") != self.client_id:
            return ("invalid_client_id", "client identifier invalid")
        if form.get("client_secret") != self.client_secret:
            return ("invalid_client", "invalid client credentials")
        if (form.get("username"), form.get("password")) != (
            self.username, self.password + self.security_token
        ):  # fmt: skip
            return ("invalid_grant", "authentication failure")
        return None

    def _assertion(self, assertion: str) -> tuple[str, str] | None:
        """Why the JWT is refused, or None: signed by an uploaded certificate's key, for
        this login address, from this app, for this user, not expired."""
        for cert in self.certificates:
            key = cert.public_key()
            assert isinstance(key, rsa.RSAPublicKey)
            try:
                claims = jwt.decode(assertion, key, algorithms=["RS256"],
                                    options={"verify_aud": False, "require": ["exp"]})  # fmt: skip
            except jwt.ExpiredSignatureError:
                return ("invalid_grant", "expired authorization code")
            except jwt.PyJWTError:
                continue
            if claims.get("aud") != self.base_url:
                return ("invalid_grant", "audience is invalid")
            if claims.get("iss") != self.client_id:
                return ("invalid_client_id", "client identifier invalid")
            if claims.get("sub") != self.username:
                return ("invalid_grant", "user does not exist")
            if not self.pre_authorized:
                return ("invalid_grant", "user hasn't approved this consumer")
            return None
        return ("invalid_grant", "invalid assertion")

    def _query(self, request: Request, all_rows: bool) -> Response:
        text = request.query.get("q", "")
        parsed = _SOQL.fullmatch(text)
        if parsed is None:
            return _errors(400, "MALFORMED_QUERY", f"unexpected query: {text}")
        sobject = parsed["object"]
        if sobject not in SCHEMA or sobject not in self.readable:
            return _errors(400, "INVALID_TYPE", f"\n{text}\n^\nERROR at Row:1:Column:1\n"
                           f"sObject type '{sobject}' is not supported. If you are attempting "
                           "to use a custom object, be sure to append the '__c'.")  # fmt: skip
        chosen = parsed["fields"].split(",")
        for name in chosen:
            if (problem := self._unknown(sobject, name, text)) is not None:
                return problem
        rows = list(self.tables[sobject].values())
        for condition in (parsed["where"] or "").split(" AND ") if parsed["where"] else ():
            if condition == "IsDeleted = false":
                rows = [r for r in rows if not r["IsDeleted"]]
            elif after := _AFTER.fullmatch(condition):
                since = datetime.fromisoformat(after.group(1))
                rows = [r for r in rows if r["SystemModstamp"] > since]
            else:
                return _errors(400, "MALFORMED_QUERY", f"unexpected condition: {condition}")
        if not all_rows:
            rows = [r for r in rows if not r["IsDeleted"]]
        if parsed["order"] not in (None, "SystemModstamp, Id"):
            return _errors(400, "MALFORMED_QUERY", f"unexpected ORDER BY {parsed['order']}")
        rows.sort(key=lambda r: (r["SystemModstamp"], r["Id"]))
        if parsed["limit"]:
            rows = rows[: int(parsed["limit"])]
        locator = f"01gRO{secrets.token_hex(6)}"
        self.cursors[locator] = [self._shown(sobject, r, chosen) for r in rows]
        return self._page(request, locator, 0)

    def _unknown(self, sobject: str, name: str, text: str) -> Response | None:
        relation, _, inner = name.rpartition(".")
        if relation:
            found = RELATIONS.get(sobject, {}).get(relation)
            if found is None:
                return _errors(400, "INVALID_FIELD", f"\n{text}\n^\nERROR at Row:1:Column:8\n"
                               f"Didn't understand relationship '{relation}' in field path. "
                               "If you are attempting to use a custom relationship, be sure "
                               "to append the '__r' after the custom relationship "
                               "name.")  # fmt: skip
            sobject, name = found[1], inner
        if name in SCHEMA[sobject]:
            return None
        return _errors(400, "INVALID_FIELD", f"\n{text}\n^\nERROR at Row:1:Column:8\nNo such "
                       f"column '{name}' on entity '{sobject}'. If you are attempting to use a "
                       "custom field, be sure to append the '__c' after the custom field name. "
                       "Please reference your WSDL or the describe call for the appropriate "
                       "names.")  # fmt: skip

    def _shown(self, sobject: str, row: dict[str, Any], chosen: list[str]) -> dict[str, Any]:
        url = f"/services/data/v{self.version}/sobjects/{sobject}/{row['Id']}"
        shown: dict[str, Any] = {"attributes": {"type": sobject, "url": url}}
        for name in chosen:
            relation, _, inner = name.partition(".")
            if inner:
                id_field, other = RELATIONS[sobject][relation]
                related = self.tables[other].get(row.get(id_field) or "")
                if related is None:
                    shown[relation] = None
                    continue
                part = shown.get(relation) or {"attributes": {
                    "type": other, "url": f"/services/data/v{self.version}/sobjects/{other}/"
                                          f"{related['Id']}"}}  # fmt: skip
                part[inner] = related.get(inner)
                shown[relation] = part
            else:
                value = row.get(name)
                shown[name] = stamp(value) if isinstance(value, datetime) else value
        return shown

    def _page(self, request: Request, locator: str, offset: int) -> Response:
        options = request.headers.get("sforce-query-options", "")
        asked = re.search(r"batchSize=(\d+)", options)
        size = min(max(int(asked.group(1)), MIN_BATCH), MAX_BATCH) if asked else MAX_BATCH
        size = min(size, self.max_page)
        rows = self.cursors[locator]
        body: dict[str, Any] = {"totalSize": len(rows), "done": offset + size >= len(rows),
                                "records": rows[offset : offset + size]}  # fmt: skip
        if not body["done"]:
            following = f"{locator}-{offset + size}"
            body["nextRecordsUrl"] = f"/services/data/v{self.version}/query/{following}"
        return json_response(body)

    def _deleted(self, request: Request, sobject: str) -> Response:
        if sobject not in SCHEMA or sobject not in self.readable:
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        try:
            start = datetime.fromisoformat(request.query["start"])
            end = datetime.fromisoformat(request.query["end"])
        except (KeyError, ValueError):
            return _errors(400, "INVALID_DATE_FORMAT", "start and end: ISO 8601 dateTime")
        now = _now()
        # the service ignores seconds and wants a window of more than one minute
        start, end = (when.replace(second=0, microsecond=0) for when in (start, end))
        if end - start <= timedelta(minutes=1):
            return _errors(400, "INVALID_REPLICATION_DATE", "startDate must chronologically "
                           "precede endDate by more than one minute")  # fmt: skip
        if start < now - timedelta(days=DELETE_LOG_DAYS):
            return _errors(400, "INVALID_REPLICATION_DATE",
                           "startDate cannot be more than 15 days ago")  # fmt: skip
        found = [{"id": i, "deletedDate": stamp(w)}
                 for i, w in self.delete_log[sobject] if start <= w <= end]  # fmt: skip
        covered = min(end, now).replace(second=0, microsecond=0)
        return json_response({"deletedRecords": found,
                              "earliestDateAvailable": stamp(self.earliest[sobject]),
                              "latestDateCovered": stamp(covered)})  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


def _errors(status: int, code: str, message: str, **headers: str) -> Response:
    """An error answer as the REST API gives it: a list of errors."""
    data = json.dumps([{"message": message, "errorCode": code}]).encode()
    return Response(status, data, {"Content-Type": "application/json", **headers})
