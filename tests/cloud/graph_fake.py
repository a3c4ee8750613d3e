"""A stateful fake of Microsoft Graph v1.0 that follows the documented delta protocol, for
the Microsoft 365 source's tests: a table of objects per collection (users, organisational
contacts, each mailbox contact folder) and one change log with a sequence number.

- ``/v1.0/users/delta``, ``/v1.0/contacts/delta`` and
  ``/v1.0/users/{id}/contactFolders/{id}/contacts/delta``: the first request lists every
  object in pages (``@odata.nextLink``, page size 100 or ``Prefer: odata.maxpagesize``),
  the last page carries ``@odata.deltaLink`` whose token is the change log's position; a
  delta link returns the objects changed since (the whole object with the ``$select`` of
  the first request) and ``@removed`` for those deleted. Tokens of an older generation
  (``expire_delta_tokens``) are answered 410 Gone (``syncStateNotFound``).
- ``$select`` is honoured and an unknown property refused (400); without it, the default
  properties of a user come back (``department`` is none of them).
- ``/v1.0/users``, ``/v1.0/contacts`` (plain listings, ``$top``), ``/v1.0/groups`` with
  ``$filter=displayName eq '...'``, ``/v1.0/groups/{id}/transitiveMembers``,
  ``/v1.0/users/{id}/contactFolders``.
- Profile photos: ``/v1.0/users/{id}/photo/$value`` (as uploaded),
  ``/v1.0/users/{id}/photos/{size}/$value`` (a rendition: the fake's is the size, a colon
  and the photo) and a mailbox contact's ``.../contacts/{id}/photo/$value``; 404 without one.
- Bearer tokens checked with the fake Entra ID (401 when run out), permissions with what the
  admin granted (403 ``Authorization_RequestDenied``).
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

USER_DEFAULT = ("businessPhones", "displayName", "givenName", "id", "jobTitle", "mail",
                "mobilePhone", "officeLocation", "preferredLanguage", "surname",
                "userPrincipalName")  # fmt: skip
USER_PROPERTIES = frozenset({
    *USER_DEFAULT, "accountEnabled", "department", "companyName", "faxNumber", "otherMails",
    "streetAddress", "city", "state", "postalCode", "country", "employeeId", "mailNickname",
    "proxyAddresses", "imAddresses", "usageLocation", "onPremisesExtensionAttributes",
    "onPremisesSamAccountName", "userType",
})  # fmt: skip
ORG_CONTACT_PROPERTIES = frozenset({
    "id", "displayName", "givenName", "surname", "mail", "jobTitle", "department",
    "companyName", "mailNickname", "proxyAddresses", "phones", "addresses",
})  # fmt: skip
CONTACT_PROPERTIES = frozenset({
    "id", "parentFolderId", "changeKey", "createdDateTime", "lastModifiedDateTime",
    "displayName", "givenName", "middleName", "surname", "title", "initials", "nickName",
    "fileAs", "companyName", "department", "jobTitle", "officeLocation", "profession",
    "businessPhones", "homePhones", "mobilePhone", "emailAddresses", "imAddresses",
    "businessAddress", "homeAddress", "otherAddress", "categories", "assistantName",
    "manager", "personalNotes", "businessHomePage",
})  # fmt: skip
DEFAULT_PAGE = 100


@dataclass
class Collection:
    """One delta stream's objects; ``properties``: what ``$select`` may name."""

    name: str
    type_name: str
    properties: frozenset[str]
    permission: str
    default: tuple[str, ...] | None = None  # properties without $select (None: all)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)  # id -> seq of its last change


@dataclass
class Folder:
    id: str
    name: str
    contacts: Collection


class GraphFake(Faults):
    def __init__(self, base_url: str, entra: Entra) -> None:
        super().__init__()
        self.base_url, self.entra = base_url, entra
        self.seq = 0
        self.generation = 0
        self.users = Collection("users", "user", USER_PROPERTIES, "User.Read.All", USER_DEFAULT)
        self.contacts = Collection("contacts", "orgContact", ORG_CONTACT_PROPERTIES,
                                   "OrgContact.Read.All")  # fmt: skip
        self.mailboxes: dict[str, dict[str, Folder]] = {}  # mailbox -> folder id -> folder
        self.groups: dict[str, dict[str, Any]] = {}  # id -> {displayName, members}
        # "users/{id}" or "{mailbox}/{folder}/{id}" -> the photo's bytes
        self.photos: dict[str, bytes] = {}
        self.replay = False  # each page repeats the last object of the one before

    # -- the data -----------------------------------------------------------------------

    def put(self, collection: Collection, obj: dict[str, Any]) -> None:
        """Add or change an object (the whole of it)."""
        with self.lock:
            self.seq += 1
            collection.objects[obj["id"]] = obj
            collection.changed[obj["id"]] = self.seq

    def update(self, collection: Collection, ident: str, **values: Any) -> None:
        with self.lock:
            self.put(collection, {**collection.objects[ident], **values})

    def delete(self, collection: Collection, ident: str) -> None:
        with self.lock:
            self.seq += 1
            del collection.objects[ident]
            collection.changed[ident] = self.seq

    def folder(self, mailbox: str, name: str, ident: str) -> Collection:
        """A contact folder of ``mailbox`` (made on first use); its contacts."""
        with self.lock:
            folders = self.mailboxes.setdefault(mailbox, {})
            if ident not in folders:
                contacts = Collection(f"{mailbox}/{ident}", "contact", CONTACT_PROPERTIES,
                                      "Contacts.Read")  # fmt: skip
                folders[ident] = Folder(ident, name, contacts)
            return folders[ident].contacts

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
        if not request.path.startswith("/v1.0/"):
            return _error(404, "UnknownError", f"no resource {request.path}")
        if fault is not None and (early := self._fault(fault)) is not None:
            return early
        if not self.entra.valid(request.headers.get("authorization")):
            return _error(401, "InvalidAuthenticationToken",
                          "Access token has expired or is not yet valid.")  # fmt: skip
        with self.lock:
            response = self._route(request, request.path.removeprefix("/v1.0/").split("/"))
        if fault is not None and fault == "drop":
            response.drop = True
        if fault is not None and fault == "malformed":
            response.body = response.body[: len(response.body) // 2]
        return response

    def _fault(self, fault: str) -> Response | None:
        if fault.startswith("429"):
            wait = float(fault.partition(":")[2] or 1)
            self.throttled.append((time.monotonic(), wait))
            return _error(429, "TooManyRequests", "Too many requests",
                          **{"Retry-After": f"{wait:g}"})  # fmt: skip
        if fault == "503":
            return _error(503, "serviceNotAvailable", "Service unavailable")
        return None

    def _route(self, request: Request, parts: list[str]) -> Response:
        query = request.query
        match parts:
            case ["users", "delta"]:
                return self._delta(self.users, request)
            case ["contacts", "delta"]:
                return self._delta(self.contacts, request)
            case ["users"] | ["contacts"]:
                collection = self.users if parts[0] == "users" else self.contacts
                if denied := self._denied(collection.permission, "Authorization_RequestDenied"):
                    return denied
                top = int(query.get("$top", DEFAULT_PAGE))
                return json_response({"value": [{"id": i} for i in list(collection.objects)[:top]]})
            case ["users", mailbox, "contactFolders"]:
                if denied := self._denied("Contacts.Read", "ErrorAccessDenied"):
                    return denied
                if mailbox not in self.mailboxes:
                    return _error(
                        404, "ErrorInvalidUser", f"The requested user '{mailbox}' is invalid."
                    )
                folders = [f for i, f in self.mailboxes[mailbox].items() if i != "contacts"]
                return json_response({"value": [{"id": f.id, "displayName": f.name}
                                                for f in folders]})  # fmt: skip
            case ["users", mailbox, "contactFolders", folder, "contacts", "delta"]:
                if denied := self._denied("Contacts.Read", "ErrorAccessDenied"):
                    return denied
                found = self.mailboxes.get(mailbox, {}).get(folder)
                if found is None:
                    return _error(404, "ErrorItemNotFound", "The specified object was not found.")
                return self._delta(found.contacts, request)
            case ["users", ident, "photo" | "photos" as how, *size, "$value"]:
                if denied := self._denied("User.Read.All", "Authorization_RequestDenied"):
                    return denied
                photo = self.photos.get(f"users/{ident}")
                if how == "photos" and photo is not None:
                    photo = f"{size[0]}:".encode() + photo
                return _photo(photo, "ImageNotFound")
            case ["users", mailbox, "contactFolders", folder, "contacts", ident, "photo",
                  "$value"]:  # fmt: skip
                if denied := self._denied("Contacts.Read", "ErrorAccessDenied"):
                    return denied
                return _photo(self.photos.get(f"{mailbox}/{folder}/{ident}"), "ErrorItemNotFound")
            case ["groups"]:
                if denied := self._denied("GroupMember.Read.All", "Authorization_RequestDenied"):
                    return denied
                name = query.get("$filter", "").partition("eq '")[2][:-1].replace("''", "'")
                found = [{"id": i, "displayName": g["displayName"]}
                         for i, g in self.groups.items() if g["displayName"] == name]  # fmt: skip
                return json_response({"value": found})
            case ["groups", group, "transitiveMembers"]:
                if denied := self._denied("GroupMember.Read.All", "Authorization_RequestDenied"):
                    return denied
                if group not in self.groups:
                    return _error(404, "Request_ResourceNotFound", f"'{group}' does not exist")
                return json_response({"value": self._members(group)})
        return _error(400, "BadRequest", f"unsupported request {request.path}")

    def _members(self, group: str) -> list[dict[str, str]]:
        """The group's users and groups, nested ones' too (each once)."""
        seen: dict[str, dict[str, str]] = {}
        todo = [group]
        while todo:
            for member in self.groups[todo.pop()]["members"]:
                if member in self.groups and member not in seen:
                    seen[member] = {"@odata.type": "#microsoft.graph.group", "id": member}
                    todo.append(member)
                elif member not in seen:
                    seen[member] = {"@odata.type": "#microsoft.graph.user", "id": member}
        return list(seen.values())

    def _denied(self, permission: str, code: str) -> Response | None:
        if permission in self.entra.granted:
            return None
        message = ("Insufficient privileges to complete the operation."
                   if code == "Authorization_RequestDenied" else "Access is denied.")  # fmt: skip
        return _error(403, code, message)

    def _delta(self, collection: Collection, request: Request) -> Response:
        if denied := self._denied(collection.permission, "Authorization_RequestDenied"):
            return denied
        query = request.query
        token_text = query.get("$skiptoken") or query.get("$deltatoken")
        if token_text is None:
            select = query.get("$select")
            chosen = select.split(",") if select else None
            unknown = [p for p in chosen or () if p not in collection.properties]
            if unknown:
                return _error(
                    400,
                    "Request_BadRequest",
                    f"Could not find a property named "
                    f"'{unknown[0]}' on type 'microsoft.graph.{collection.type_name}'.",
                )
            token = {"since": None, "upto": self.seq, "offset": 0, "select": chosen}
        else:
            try:
                token = _decode(token_text)
            except ValueError:
                return _error(400, "badRequest", "Invalid delta token")
            if token.get("generation") != self.generation or token.get("c") != collection.name:
                return _error(
                    410,
                    "syncStateNotFound",
                    "The sync state generation is not found.",
                    Location=request.path,
                )
            if "$deltatoken" in query:  # a new round: what changed since the token's position
                token = {**token, "since": token["upto"], "upto": self.seq, "offset": 0}
        size = _page_size(request.headers.get("prefer", ""))
        if token["since"] is None:
            ids = sorted(i for i, s in collection.changed.items()
                         if s <= token["upto"] and i in collection.objects)  # fmt: skip
        else:
            changed = [(s, i) for i, s in collection.changed.items()
                       if token["since"] < s <= token["upto"]]  # fmt: skip
            ids = [i for _, i in sorted(changed)]
        offset = token["offset"]
        start = offset - 1 if self.replay and offset > 0 else offset
        page = [self._shown(collection, i, token["select"]) for i in ids[start : offset + size]]
        context = f"{self.base_url}/v1.0/$metadata#{collection.name}"
        body: dict[str, Any] = {"@odata.context": context, "value": page}
        path = f"{self.base_url}{request.path}"
        marked = {**token, "c": collection.name, "generation": self.generation}
        if offset + size < len(ids):
            body["@odata.nextLink"] = (
                f"{path}?$skiptoken={_encode({**marked, 'offset': offset + size})}"
            )
        else:
            body["@odata.deltaLink"] = f"{path}?$deltatoken={_encode(marked)}"
        headers = {"Preference-Applied": f"odata.maxpagesize={size}"} if "maxpagesize" in \
            request.headers.get("prefer", "") else {}  # fmt: skip
        return json_response(body, **headers)

    def _shown(
        self, collection: Collection, ident: str, select: list[str] | None
    ) -> dict[str, Any]:
        obj = collection.objects.get(ident)
        if obj is None:
            return {"id": ident, "@removed": {"reason": "deleted"}}
        names = select or collection.default
        if names is None:
            return dict(obj)
        return {"id": ident, **{n: obj[n] for n in names if n in obj}}


def _page_size(prefer: str) -> int:
    for part in prefer.split(","):
        name, _, value = part.strip().partition("=")
        if name == "odata.maxpagesize" and value.isdigit():
            return int(value)
    return DEFAULT_PAGE


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


def _photo(photo: bytes | None, missing: str) -> Response:
    if photo is None:
        return _error(404, missing, "The photo wasn't found.")
    return Response(200, photo, {"Content-Type": "image/jpeg"})


def _error(status: int, code: str, message: str, **headers: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status, **headers)
