"""A stateful fake of Google's OAuth token endpoint and the People API v1, following the
documented protocol, for the Google source's tests.

- ``POST /token``: the JWT bearer grant of a service account (the assertion verified with
  the key's public key: ``kid``, ``iss``, ``aud``, ``exp``; ``sub`` must be a user of the
  domain and every ``scope`` authorised for the client id by domain-wide delegation, else
  ``unauthorized_client``; ``aud`` is Google's endpoint, as google-auth signs it wherever
  the token URL points) and the refresh-token grant (client id and secret, a token not
  revoked). Access tokens carry their user and scopes and run out (``revoke``).
- ``GET /v1/people/me/connections``, ``/v1/otherContacts``, ``/v1/people:listDirectoryPeople``
  of the token's user: pages (``pageSize``, ``pageToken`` / ``nextPageToken``, every other
  parameter must match the first call), ``requestSyncToken`` → ``nextSyncToken`` on the
  last page only, ``syncToken`` → what changed since, deleted people as
  ``metadata.deleted``, renamed ones with ``previousResourceNames``. Tokens of an older
  generation (``expire_sync_tokens``) or older than 7 days are refused: 400
  FAILED_PRECONDITION with ``google.rpc.ErrorInfo`` reason EXPIRED_SYNC_TOKEN (or 410, as
  older answers were). The field mask is required and checked (other contacts take only
  names, emailAddresses, phoneNumbers, photos, metadata); people come back with the masked
  fields only.
- Scopes checked (403 ACCESS_TOKEN_SCOPE_INSUFFICIENT), the API enabled (403
  SERVICE_DISABLED), tokens (401 UNAUTHENTICATED).
- Faults on demand (``fail``): 429 RESOURCE_EXHAUSTED with ``Retry-After`` (the wait asked
  is recorded), 503, a connection dropped mid-page, malformed JSON; ``down``: every request
  is cut off.
- Every answer of the API is checked against the response schema of the discovery
  document shipped with google-api-python-client (``people.v1.json``): a payload that does
  not fit is answered 500 and kept in ``violations``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from tests.cloud.faults import Faults
from tests.cloud.https import Request, Response, json_response

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/"
# the audience of a service account's assertion: Google's endpoint, wherever it is sent
AUDIENCE = "https://oauth2.googleapis.com/token"
SYNC_TOKEN_LIFETIME = 7 * 24 * 3600
DEFAULT_PAGE = 100
# method -> (path, the key its people are under, its response schema, scopes that may read)
METHODS = {
    "contacts": ("/v1/people/me/connections", "connections", "ListConnectionsResponse",
                 ("contacts.readonly", "contacts")),
    "other_contacts": ("/v1/otherContacts", "otherContacts", "ListOtherContactsResponse",
                       ("contacts.other.readonly",)),
    "directory": ("/v1/people:listDirectoryPeople", "people", "ListDirectoryPeopleResponse",
                  ("directory.readonly",)),
}  # fmt: skip
OTHER_CONTACT_MASK = frozenset({"names", "emailAddresses", "phoneNumbers", "photos", "metadata"})
DIRECTORY_SOURCES = {"DIRECTORY_SOURCE_TYPE_DOMAIN_PROFILE": "DOMAIN_PROFILE",
                     "DIRECTORY_SOURCE_TYPE_DOMAIN_CONTACT": "DOMAIN_CONTACT"}  # fmt: skip


# -- the discovery document's schemas ---------------------------------------------------


@cache
def discovery() -> dict[str, Any]:
    shipped = files("googleapiclient") / "discovery_cache/documents/people.v1.json"
    return dict(json.loads(shipped.read_text(encoding="utf-8")))


def violations(schema: str, value: Any, where: str = "") -> list[str]:
    """Where ``value`` does not fit the discovery document's schema ``schema`` (a name, as
    ``$ref`` gives it): unknown properties, wrong types, values outside an enum."""
    return _check(discovery()["schemas"][schema], value, where or schema)


def _check(spec: dict[str, Any], value: Any, where: str) -> list[str]:
    if "$ref" in spec:
        spec = discovery()["schemas"][spec["$ref"]]
    kind = spec.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        properties = spec.get("properties")
        if properties is None:  # a map: additionalProperties
            extra = spec.get("additionalProperties", {})
            return [p for k, v in value.items() for p in _check(extra, v, f"{where}.{k}")]
        found = [f"{where}.{k}: no such property" for k in value if k not in properties]
        for name, inner in value.items():
            if name in properties:
                found += _check(properties[name], inner, f"{where}.{name}")
        return found
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: not an array"]
        return [p for i, v in enumerate(value) for p in _check(spec["items"], v, f"{where}[{i}]")]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: not a string"]
        if "enum" in spec and value not in spec["enum"]:
            return [f"{where}: {value!r} is none of {spec['enum']}"]
        return []
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: not an integer"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: not a boolean"]
    return []


def valid_masks(method: str) -> frozenset[str]:
    """The Person fields a method's mask may name: those its description lists."""
    resources = discovery()["resources"]
    spec = {
        "contacts": resources["people"]["resources"]["connections"]["methods"]["list"],
        "other_contacts": resources["otherContacts"]["methods"]["list"],
        "directory": resources["people"]["methods"]["listDirectoryPeople"],
    }[method]
    name = "personFields" if method == "contacts" else "readMask"
    text = spec["parameters"][name]["description"]
    return frozenset(part.strip().split()[0] for part in text.split("* ")[1:])


# -- the token endpoint ------------------------------------------------------------------


@dataclass
class AccessToken:
    user: str
    scopes: frozenset[str]
    expiry: float


@dataclass
class Accounts:
    """Google's OAuth side: service accounts and what the Admin console delegated to each
    client id, OAuth clients and the refresh tokens users granted them."""

    token_url: str
    users: set[str] = field(default_factory=set)  # the domain's users
    # client_email -> (client_id, private_key_id, public key)
    service_accounts: dict[str, tuple[str, str, RSAPublicKey]] = field(default_factory=dict)
    delegated: dict[str, set[str]] = field(default_factory=dict)  # client_id -> scopes
    clients: dict[str, str] = field(default_factory=dict)  # client_id -> secret
    # refresh token -> (client_id, user, scopes)
    refresh_tokens: dict[str, tuple[str, str, frozenset[str]]] = field(default_factory=dict)
    token_lifetime: int = 3600
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    issued: int = 0
    # the subjects and scopes of the JWT assertions taken
    assertions: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        grant = form.get("grant_type")
        if grant == JWT_GRANT:
            return self._jwt(form.get("assertion", ""))
        if grant == "refresh_token":
            return self._refresh(form)
        return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")

    def _jwt(self, assertion: str) -> Response:
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _oauth_error(400, "invalid_grant", "Invalid JWT: malformed")
        account = self.service_accounts.get(str(unverified.get("iss")))
        if account is None:
            return _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        client_id, key_id, public_key = account
        if header.get("kid") != key_id:
            return _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            claims = jwt.decode(assertion, public_key, algorithms=["RS256"],
                                audience=AUDIENCE, issuer=unverified["iss"],
                                options={"require": ["exp", "iat", "aud", "iss"]})  # fmt: skip
        except jwt.PyJWTError as exc:
            return _oauth_error(400, "invalid_grant", f"Invalid JWT Signature. ({exc})")
        subject, scope = str(claims.get("sub", "")), str(claims.get("scope", ""))
        with self.lock:
            self.assertions.append((subject, scope))
        if subject and subject not in self.users:
            return _oauth_error(400, "invalid_grant", "Invalid email or User ID")
        scopes = frozenset(scope.split())
        if not scopes:
            return _oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token "
                                "audience provided.")  # fmt: skip
        if subject and not scopes <= self.delegated.get(client_id, set()):
            return _oauth_error(
                401, "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or "
                "client not authorized for any of the scopes requested.",
            )  # fmt: skip
        return self._issue(subject or str(claims["iss"]), scopes)

    def _refresh(self, form: dict[str, str]) -> Response:
        client_id = form.get("client_id", "")
        if self.clients.get(client_id) != form.get("client_secret") or not client_id:
            return _oauth_error(401, "invalid_client", "Unauthorized")
        granted = self.refresh_tokens.get(form.get("refresh_token", ""))
        if granted is None or granted[0] != client_id:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        asked = frozenset(form.get("scope", "").split()) or granted[2]
        if not asked <= granted[2]:
            return _oauth_error(400, "invalid_scope", "Bad Request")
        return self._issue(granted[1], asked)

    def _issue(self, user: str, scopes: frozenset[str]) -> Response:
        token = "ya29." + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = AccessToken(user, scopes, time.monotonic() + self.token_lifetime)
            self.issued += 1
        answer = {"access_token": token, "expires_in": self.token_lifetime,
                  "scope": " ".join(sorted(scopes)), "token_type": "Bearer"}  # fmt: skip
        return json_response(answer)

    def bearer(self, authorization: str | None) -> AccessToken | None:
        with self.lock:
            found = self.tokens.get((authorization or "").removeprefix("Bearer "))
        return found if found is not None and time.monotonic() < found.expiry else None

    def revoke(self) -> None:
        """Every access token issued so far runs out now."""
        with self.lock:
            self.tokens.clear()


# -- the People API ----------------------------------------------------------------------


@dataclass
class Book:
    """One stream's people (a user's contacts or other contacts, or the directory) and when
    each last changed (the fake's sequence)."""

    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)


class PeopleFake(Faults):
    def __init__(self, accounts: Accounts) -> None:
        super().__init__()
        self.accounts = accounts
        self.seq = 0
        self.generation = 0
        self.directory = Book()
        self.books: dict[tuple[str, str], Book] = {}  # (method, user) -> people
        self.enabled = True  # the People API in the project
        self.project = "123456789012"
        self.legacy_expiry = False  # expired sync tokens answered 410, as before
        self.clock_offset = 0.0  # seconds added to now: sync tokens age
        self.violations: list[str] = []

    # -- the data -----------------------------------------------------------------------

    def book(self, method: str, user: str = "") -> Book:
        with self.lock:
            return self.directory if method == "directory" else \
                self.books.setdefault((method, user), Book())  # fmt: skip

    def put(self, book: Book, person: dict[str, Any]) -> None:
        """Add or change a person (the whole of it)."""
        problems = violations("Person", person)
        assert not problems, problems
        with self.lock:
            self.seq += 1
            name = person["resourceName"]
            etag = hashlib.sha256(json.dumps(person, sort_keys=True).encode()).hexdigest()[:12]
            book.people[name] = {**person, "etag": f"%Eg{etag}"}
            book.changed[name] = self.seq

    def update(self, book: Book, name: str, **values: Any) -> None:
        with self.lock:
            self.put(book, {**book.people[name], **values})

    def delete(self, book: Book, name: str) -> None:
        with self.lock:
            self.seq += 1
            del book.people[name]
            book.changed[name] = self.seq

    def rename(self, book: Book, old: str, new: str) -> None:
        """A contact gets a new resource name (linked to a profile): the new one lists the
        old among its previousResourceNames; the old is no deletion of its own."""
        with self.lock:
            person = book.people.pop(old)
            book.changed.pop(old)
            metadata = {**person.get("metadata", {}), "previousResourceNames": [old]}
            self.put(book, {**person, "resourceName": new, "metadata": metadata})

    def expire_sync_tokens(self) -> None:
        with self.lock:
            self.generation += 1

    # -- the service ----------------------------------------------------------------------

    def handle(self, request: Request, params: dict[str, list[str]]) -> Response | None:
        """The answer to ``request``; ``params``: its query with repeated parameters."""
        answers, fault = self.arrived(request)
        if not answers:
            return None
        if request.path == "/token" and request.method == "POST":
            return self.accounts.handle(request)
        if fault is not None and fault.startswith("429"):
            wait = float(fault.partition(":")[2] or 1)
            self.throttled.append((time.monotonic(), wait))
            return _status(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric "
                           "'Read requests' of service 'people.googleapis.com'.",
                           reason="RATE_LIMIT_EXCEEDED",
                           headers={"Retry-After": f"{wait:g}"})  # fmt: skip
        if fault is not None and fault == "503":
            return _status(503, "UNAVAILABLE", "The service is currently unavailable.")
        method = next((m for m, spec in METHODS.items() if spec[0] == request.path), None)
        if method is None:
            return _status(404, "NOT_FOUND", f"Method not found: {request.path}")
        token = self.accounts.bearer(request.headers.get("authorization"))
        if token is None:
            return _status(401, "UNAUTHENTICATED", "Request had invalid authentication "
                           "credentials. Expected OAuth 2 access token.",
                           reason="ACCESS_TOKEN_EXPIRED")  # fmt: skip
        if not self.enabled:
            return _status(403, "PERMISSION_DENIED", f"People API has not been used in project "
                           f"{self.project} before or it is disabled.", reason="SERVICE_DISABLED",
                           metadata={"service": "people.googleapis.com",
                                     "consumer": f"projects/{self.project}"})  # fmt: skip
        if not any(SCOPE + s in token.scopes for s in METHODS[method][3]):
            return _status(403, "PERMISSION_DENIED", "Request had insufficient authentication "
                           "scopes.", reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT")  # fmt: skip
        with self.lock:
            response = self._list(method, token.user, params)
        if fault is not None and fault == "drop":
            response.drop = True
        if fault is not None and fault == "malformed":
            response.body = response.body[: len(response.body) // 2]
        return response

    def _list(self, method: str, user: str, params: dict[str, list[str]]) -> Response:
        _, listed, schema, _ = METHODS[method]
        one = {k: v[-1] for k, v in params.items()}
        mask_name = "personFields" if method == "contacts" else "readMask"
        mask = [m for m in one.get(mask_name, "").split(",") if m]
        if not mask:
            return _status(400, "INVALID_ARGUMENT", f"{mask_name} is required.")
        allowed = OTHER_CONTACT_MASK if method == "other_contacts" else valid_masks(method)
        bad = [m for m in mask if m not in allowed]
        if bad:
            return _status(400, "INVALID_ARGUMENT", f'Invalid {mask_name} path: "{bad[0]}".')
        sources: set[str] | None = None
        if method == "directory":
            chosen = params.get("sources", [])
            if not chosen or not all(s in DIRECTORY_SOURCES for s in chosen):
                return _status(400, "INVALID_ARGUMENT", "sources: a directory source is required.")
            sources = {DIRECTORY_SOURCES[s] for s in chosen}
        size = int(one.get("pageSize") or DEFAULT_PAGE)
        if not 0 <= size <= 1000:
            return _status(400, "INVALID_ARGUMENT", "pageSize must be between 1 and 1000.")
        size = size or DEFAULT_PAGE
        stream = f"{method}:{user}"
        # what page and sync tokens must match: every parameter but the page token (and,
        # for a sync token, itself)
        same_page = _digest(params, ("pageToken",))
        same_sync = _digest(params, ("pageToken", "syncToken"))
        page = self._token(one.get("pageToken"))
        sync = self._token(one.get("syncToken"))
        if "pageToken" in one:
            if page is None or page.get("s") != stream or page.get("p") != same_page:
                return _status(400, "INVALID_ARGUMENT", "Request parameters must match "
                               "the first call that provided the page token.")  # fmt: skip
            since, upto, offset = page["since"], page["upto"], page["offset"]
        else:
            since, upto, offset = None, self.seq, 0
            if "syncToken" in one:
                if sync is None or sync.get("s") != stream or sync.get("p") != same_sync:
                    return _status(400, "INVALID_ARGUMENT", "Request parameters must match "
                                   "the first call that provided the sync token.")  # fmt: skip
                too_old = time.time() + self.clock_offset - sync["t"] > SYNC_TOKEN_LIFETIME
                if sync.get("g") != self.generation or too_old:
                    if self.legacy_expiry:
                        return _status(410, "GONE", "Sync token is expired. Clear local cache "
                                       "and retry call without the sync token.")  # fmt: skip
                    return _status(400, "FAILED_PRECONDITION", "Sync token is expired. Clear "
                                   "local cache and retry call without the sync token.",
                                   reason="EXPIRED_SYNC_TOKEN")  # fmt: skip
                since = sync["seq"]
        book = self.book(method, "" if method == "directory" else user)
        if since is None:
            names = sorted(n for n, s in book.changed.items()
                           if s <= upto and n in book.people)  # fmt: skip
        else:
            names = [n for s, n in sorted((s, n) for n, s in book.changed.items()
                                          if since < s <= upto)]  # fmt: skip
        if sources is not None:
            names = [n for n in names if n not in book.people
                     or _source_type(book.people[n]) in sources]  # fmt: skip
        shown = [self._shown(book, n, mask) for n in names[offset : offset + size]]
        body: dict[str, Any] = {listed: shown} if shown else {}
        if offset + size < len(names):
            body["nextPageToken"] = _encode({"s": stream, "since": since, "upto": upto,
                                             "offset": offset + size, "p": same_page})  # fmt: skip
        elif one.get("requestSyncToken") == "true":
            body["nextSyncToken"] = _encode({"s": stream, "seq": upto, "g": self.generation,
                                             "p": same_sync,
                                             "t": time.time() + self.clock_offset})  # fmt: skip
        if method == "contacts":
            body["totalItems"] = body["totalPeople"] = len(book.people)
        elif method == "other_contacts":
            body["totalSize"] = len(book.people)
        problems = violations(schema, body)
        if problems:
            self.violations += problems
            return _status(500, "INTERNAL", f"the fake's answer does not fit: {problems[0]}")
        return json_response(body)

    def _shown(self, book: Book, name: str, mask: list[str]) -> dict[str, Any]:
        person = book.people.get(name)
        if person is None:
            return {"resourceName": name, "etag": "%EgDeleted", "metadata": {"deleted": True}}
        shown = {"resourceName": name, "etag": person["etag"]}
        return {**shown, **{m: person[m] for m in mask if m in person}}

    def _token(self, text: str | None) -> dict[str, Any] | None:
        if text is None:
            return None
        try:
            value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None


def _source_type(person: dict[str, Any]) -> str:
    sources = person.get("metadata", {}).get("sources") or [{}]
    return str(sources[0].get("type", ""))


def _digest(params: dict[str, list[str]], leave_out: tuple[str, ...]) -> str:
    kept = sorted((k, sorted(v)) for k, v in params.items() if k not in leave_out)
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()[:16]


def _encode(token: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def _status(code: int, status: str, message: str, reason: str = "",
            metadata: dict[str, str] | None = None,
            headers: dict[str, str] | None = None) -> Response:  # fmt: skip
    """An error answer as Google gives one: a google.rpc.Status with an ErrorInfo."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                "domain": "googleapis.com",
                "metadata": metadata or {"service": "people.googleapis.com"}}  # fmt: skip
        error["details"] = [info]
    return json_response({"error": error}, code, **(headers or {}))


def _oauth_error(status: int, error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description}, status)
