"""A fake of Exchange Web Services (on-premises Exchange 2016) for the ``type: ews`` tests:
the Exchange behind the SOAP operations exchangelib sends for metadir's reads (ConvertId
for the version, GetFolder, FindFolder, SyncFolderItems). This module holds its state and
decisions (mailboxes, folders, contacts, the change log and SyncState tokens, sign-in,
impersonation and delegate checks, faults, routing an operation to its handler);
``tests.cloud.ews_soap`` reads the requests and writes the answers as Exchange does.

It keeps mailboxes with contact folders and contacts, and a change log: SyncFolderItems
without a SyncState lists every item as Create, with one the changes after it (Create,
Update, Delete; a ReadFlagChange too, as Outlook makes them), ``MaxChangesReturned`` at a
time with ``IncludesLastItemInRange`` false until the last; its SyncStates are opaque
base64 tokens it can refuse (``expire_sync_states``: ErrorInvalidSyncStateData). Sign-in is
Basic, or NTLM with a real handshake (pyspnego is the acceptor; a connection stays signed in
as IIS keeps it); the ExchangeImpersonation header is checked against the accounts with the
ApplicationImpersonation role, delegate access against each mailbox's delegates.

Faults on demand (``fail``): ErrorServerBusy with BackOffMilliseconds (the time it was sent
and the wait asked are kept in ``throttled``), 503, a connection dropped halfway through an
answer, malformed XML, ErrorInvalidSyncStateData; ``down`` cuts every connection.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import spnego

from tests.cloud.ews_soap import (
    SOAP,
    XML_HEADERS,
    Contact,
    M,
    MalformedRequest,
    SoapFault,
    T,
    contact_xml,
    envelope,
    error_message,
    fault_envelope,
    folder_xml,
    read_request,
    requested_properties,
    response,
    success_message,
    sync_error_message,
    with_empty_sync_state,
)
from tests.cloud.https import HttpsServer, Request, Response, _Connection
from tests.pki import Authority

CONNECTION = "x-fake-connection"


@dataclass
class Folder:
    ident: str
    name: str
    parent: str | None
    folder_class: str = "IPF.Contact"
    distinguished: str | None = None
    items: dict[str, Contact] = field(default_factory=dict)
    # item id -> (sequence of its creation, of its last change, gone)
    log: dict[str, tuple[int, int, bool]] = field(default_factory=dict)
    epoch: int = 0


@dataclass
class Mailbox:
    address: str
    folders: dict[str, Folder] = field(default_factory=dict)
    delegates: set[str] = field(default_factory=set)


@dataclass
class Logged:
    at: float
    operation: str
    mailbox: str
    user: str
    body: bytes


class EwsFake:
    """The EWS endpoint at ``/EWS/Exchange.asmx``; ``auth`` "basic" or "ntlm"."""

    PATH = "/EWS/Exchange.asmx"

    def __init__(self, directory: Path, auth: str = "basic") -> None:
        self.auth = auth
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}
        # username (as signed in; case-insensitive) -> password; who has the role
        self.accounts: dict[str, str] = {}
        self.impersonators: set[str] = set()
        self.seq = 0
        self.log: list[Logged] = []
        self.throttled: list[tuple[float, float]] = []
        self.faults: list[tuple[str, str]] = []
        self.down = False
        self.signed_in: dict[str, str] = {}  # connection -> user (NTLM)
        self.handshakes: dict[str, Any] = {}  # connection -> pyspnego acceptor
        self.ntlm_logins = 0
        self.read_flags: set[str] = set()  # items whose last change is their read flag
        self.user_file = directory / "ntlm-users"
        self.user_file.write_text("")

    # -- data --------------------------------------------------------------------------------

    def add_account(self, username: str, password: str, impersonation: bool = True) -> None:
        with self.lock:
            self.accounts[username.casefold()] = password
            if impersonation:
                self.impersonators.add(username.casefold())
            # pyspnego's acceptor reads DOMAIN:USER:PASSWORD lines from NTLM_USER_FILE
            domain, _, user = username.rpartition("\\")
            with self.user_file.open("a") as out:
                out.write(f"{domain}:{user}:{password}\n")

    def mailbox(self, address: str) -> Mailbox:
        with self.lock:
            if address.casefold() not in self.mailboxes:
                box = Mailbox(address)
                key = address.split("@")[0]
                box.folders[f"root-{key}"] = Folder(f"root-{key}", "", None, "", "root")
                box.folders[f"top-{key}"] = Folder(
                    f"top-{key}",
                    "Top of Information Store",
                    f"root-{key}",
                    "IPF.Note",
                    "msgfolderroot",
                )
                box.folders[f"contacts-{key}"] = Folder(
                    f"contacts-{key}", "Contacts", f"top-{key}", distinguished="contacts"
                )
                box.folders[f"inbox-{key}"] = Folder(f"inbox-{key}", "Inbox", f"top-{key}",
                                                     "IPF.Note", "inbox")  # fmt: skip
                self.mailboxes[address.casefold()] = box
            return self.mailboxes[address.casefold()]

    def folder(self, address: str, name: str, parent: str = "Contacts") -> Folder:
        """The contact folder ``name`` of mailbox ``address`` (made below ``parent``)."""
        box = self.mailbox(address)
        with self.lock:
            for folder in box.folders.values():
                if folder.name == name:
                    return folder
            above = next(f for f in box.folders.values() if f.name == parent)
            ident = f"fld-{len(box.folders)}-{address.split('@')[0]}"
            box.folders[ident] = Folder(ident, name, above.ident)
            return box.folders[ident]

    def put(self, folder: Folder, contact: Contact) -> None:
        with self.lock:
            self.seq += 1
            known = folder.log.get(contact.ident)
            if known is not None and not known[2]:
                contact.change_key = folder.items[contact.ident].change_key + 1
                folder.log[contact.ident] = (known[0], self.seq, False)
            else:
                folder.log[contact.ident] = (self.seq, self.seq, False)
            folder.items[contact.ident] = contact

    def update(self, folder: Folder, ident: str, **plain: str) -> None:
        with self.lock:
            old = folder.items[ident]
            self.put(
                folder,
                Contact(
                    ident,
                    {**old.plain, **plain},
                    dict(old.phones),
                    dict(old.emails),
                    dict(old.addresses),
                    old.kind,
                ),
            )

    def delete(self, folder: Folder, ident: str) -> None:
        with self.lock:
            self.seq += 1
            created = folder.log[ident][0]
            del folder.items[ident]
            folder.log[ident] = (created, self.seq, True)

    def mark_read(self, folder: Folder, ident: str) -> None:
        """A read flag change (Outlook's): no change of the contact's properties."""
        with self.lock:
            self.seq += 1
            folder.log[ident] = (folder.log[ident][0], self.seq, False)
            self.read_flags.add(ident)

    def expire_sync_states(self) -> None:
        with self.lock:
            for box in self.mailboxes.values():
                for folder in box.folders.values():
                    folder.epoch += 1

    def fail(self, operation: str, how: str) -> None:
        """The next ``operation`` request fails: "busy:MS", "503", "drop", "malformed",
        "expired" (ErrorInvalidSyncStateData)."""
        with self.lock:
            self.faults.append((operation, how))

    def requests_of(self, operation: str) -> list[Logged]:
        with self.lock:
            return [entry for entry in self.log if entry.operation == operation]

    # -- HTTP --------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        if self.down:
            return None
        if request.method != "POST" or request.path.casefold() != self.PATH.casefold():
            return Response(404, b"not found")
        user = self._user(request)
        if isinstance(user, Response):
            return user
        try:
            soap = read_request(request.body)
        except MalformedRequest as exc:
            return Response(400, str(exc).encode())
        operation, impersonated = soap.operation, soap.impersonated
        with self.lock:
            self.log.append(Logged(time.monotonic(), operation, impersonated or "", user,
                                   request.body))  # fmt: skip
            fault = self._next_fault(operation)
        if fault == "drop":
            return Response(200, envelope(f"<m:{operation}Response/>" * 40), XML_HEADERS, drop=True)
        if fault == "503":
            return Response(503, b"Service Unavailable")
        if fault == "malformed":
            return Response(200, b"<?xml version='1.0'?><s:Envelope xmlns:s='" +
                            SOAP.encode() + b"'><s:Body><m:Sync", XML_HEADERS)  # fmt: skip
        try:
            if fault is not None and fault.startswith("busy:"):
                wait = int(fault.split(":")[1])
                with self.lock:
                    self.throttled.append((time.monotonic(), wait / 1000))
                raise SoapFault("ErrorServerBusy", "The server cannot service this request "
                                "right now. Try again later.", xml='<t:Value Name="BackOff'
                                f'Milliseconds">{wait}</t:Value>')  # fmt: skip
            if impersonated is not None and user.casefold() not in self.impersonators:
                raise SoapFault("ErrorImpersonateUserDenied", "The account does not have "
                                "permission to impersonate the requested user.")  # fmt: skip
            answer = self._answer(operation, soap.element, user, impersonated, fault)
        except SoapFault as exc:
            return Response(exc.status, fault_envelope(exc), XML_HEADERS)
        return Response(200, envelope(answer), XML_HEADERS)

    def _next_fault(self, operation: str) -> str | None:
        """The fault ``fail`` asked for the next ``operation`` request (used up by it)."""
        for i, (name, how) in enumerate(self.faults):
            if name == operation:
                del self.faults[i]
                return how
        return None

    def _user(self, request: Request) -> str | Response:
        """Who signs in with ``request``, or the 401 answer (a step of NTLM's handshake)."""
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if self.auth == "basic":
            if scheme.casefold() == "basic":
                try:
                    name, _, password = base64.b64decode(token).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    name, password = "", ""
                if self.accounts.get(name.casefold()) == password and password:
                    return name
            return _unauthorized('Basic realm="mail.example.com"')
        connection = request.headers.get(CONNECTION, "")
        with self.lock:
            if not given and connection in self.signed_in:
                return self.signed_in[connection]
        if scheme.casefold() != "ntlm" or not token:
            return _unauthorized("NTLM")
        data = base64.b64decode(token)
        with self.lock:
            acceptor = self.handshakes.pop(connection, None)
        if acceptor is None:  # NEGOTIATE_MESSAGE: answer the CHALLENGE_MESSAGE
            os.environ["NTLM_USER_FILE"] = str(self.user_file)
            acceptor = spnego.server(protocol="ntlm")
            challenge = acceptor.step(data) or b""
            with self.lock:
                self.handshakes[connection] = acceptor
            return _unauthorized("NTLM " + base64.b64encode(challenge).decode())
        try:  # AUTHENTICATE_MESSAGE
            acceptor.step(data)
        except spnego.exceptions.SpnegoError:
            return _unauthorized("NTLM")
        user = str(acceptor.client_principal)
        with self.lock:
            self.signed_in[connection] = user
            self.ntlm_logins += 1
        return user

    # -- operations --------------------------------------------------------------------------

    def _answer(self, operation: str, request: Any, user: str, impersonated: str | None,
                fault: str | None) -> str:  # fmt: skip
        if operation == "ConvertId":
            return response(
                "ConvertId", error_message("ErrorInvalidIdMalformed", "Id is malformed.")
            )
        handler: Callable[..., str] | None = getattr(self, f"_{operation}", None)
        if handler is None:
            raise SoapFault("ErrorInvalidRequest", f"the fake does not answer {operation}")
        with self.lock:
            return handler(request, user, impersonated, fault)

    def _box(self, element: Any, user: str, impersonated: str | None) -> Mailbox | str:
        """The mailbox a request is about, or the error message why it cannot be read."""
        given = element.find(f".//{{{T}}}Mailbox/{{{T}}}EmailAddress")
        address = impersonated or (given.text if given is not None else "")
        box = self.mailboxes.get(address.casefold())
        if box is None:
            return error_message(
                "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."
            )
        if impersonated is None and user.casefold() not in box.delegates:
            return error_message(
                "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        return box

    def _folder_of(self, box: Mailbox, element: Any) -> Folder | None:
        """The folder a FolderId or DistinguishedFolderId names (or the one inside
        ``element``)."""
        if element.tag not in (f"{{{T}}}FolderId", f"{{{T}}}DistinguishedFolderId"):
            element = element[0]
        if element.tag == f"{{{T}}}DistinguishedFolderId":
            name = element.get("Id")
            return next((f for f in box.folders.values() if f.distinguished == name), None)
        return box.folders.get(element.get("Id"))

    def _GetFolder(self, request: Any, user: str, impersonated: str | None,
                   fault: str | None) -> str:  # fmt: skip
        ids = request.find(f"{{{M}}}FolderIds")
        answers = []
        for element in ids:
            box = self._box(element, user, impersonated)
            if isinstance(box, str):
                answers.append(box)
                continue
            found = self._folder_of(box, element)
            if found is None:
                answers.append(
                    error_message(
                        "ErrorFolderNotFound",
                        "The specified folder could not be found in the store.",
                    )
                )
            else:
                answers.append(
                    success_message(f"<m:Folders>{self._folder_xml(box, found)}</m:Folders>")
                )
        return response("GetFolder", "".join(answers))

    def _FindFolder(self, request: Any, user: str, impersonated: str | None,
                    fault: str | None) -> str:  # fmt: skip
        parents = request.find(f"{{{M}}}ParentFolderIds")
        view = request.find(f"{{{M}}}IndexedPageFolderView")
        size = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
        offset = int(view.get("Offset", "0")) if view is not None else 0
        deep = request.get("Traversal") == "Deep"
        element = parents[0]
        box = self._box(element, user, impersonated)
        if isinstance(box, str):
            return response("FindFolder", box)
        parent = self._folder_of(box, element)
        if parent is None:
            return response("FindFolder", error_message("ErrorFolderNotFound", "not found"))
        below = [f for f in box.folders.values() if self._below(box, f, parent.ident, deep)]
        page = below[offset : offset + size]
        last = offset + len(page) >= len(below)
        folders = "".join(self._folder_xml(box, f) for f in page)
        paging = (f'IndexedPagingOffset="{offset + len(page)}" TotalItemsInView="{len(below)}" '
                  f'IncludesLastItemInRange="{str(last).lower()}"')  # fmt: skip
        return response(
            "FindFolder",
            success_message(
                f"<m:RootFolder {paging}><t:Folders>{folders}</t:Folders></m:RootFolder>"
            ),
        )

    def _below(self, box: Mailbox, folder: Folder, parent: str, deep: bool) -> bool:
        above = folder.parent
        while above is not None:
            if above == parent:
                return True
            if not deep:
                return False
            above = box.folders[above].parent
        return False

    def _folder_xml(self, box: Mailbox, folder: Folder) -> str:
        children = sum(1 for f in box.folders.values() if f.parent == folder.ident)
        return folder_xml(folder.ident, folder.parent, folder.folder_class, folder.name,
                          len(folder.items), children)  # fmt: skip

    def _SyncFolderItems(self, request: Any, user: str, impersonated: str | None,
                         fault: str | None) -> str:  # fmt: skip
        where = request.find(f"{{{M}}}SyncFolderId")
        box = self._box(where, user, impersonated)
        if isinstance(box, str):
            return response("SyncFolderItems", with_empty_sync_state(box))
        folder = self._folder_of(box, where)
        if folder is None:
            return response(
                "SyncFolderItems", sync_error_message("ErrorSyncFolderNotFound", "not found")
            )
        given = request.findtext(f"{{{M}}}SyncState")
        cursor = 0
        if given:
            try:
                token = json.loads(base64.b64decode(given))
                valid = token["f"] == folder.ident and token["e"] == folder.epoch
                cursor = int(token["s"])
            except (ValueError, KeyError, TypeError):
                valid = False
            if not valid or fault == "expired":
                return response("SyncFolderItems", sync_error_message(
                    "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or "
                    "otherwise invalid."))  # fmt: skip
        limit = int(request.findtext(f"{{{M}}}MaxChangesReturned") or "100")
        wanted = requested_properties(request.find(f"{{{M}}}ItemShape"))
        pending = sorted(
            (
                (last, ident, gone, created)
                for ident, (created, last, gone) in folder.log.items()
                if last > cursor and not (gone and created > cursor)
            ),
        )
        page, more = pending[:limit], len(pending) > limit
        changes = []
        for _last, ident, gone, created in page:
            if gone:
                changes.append(f'<t:Delete><t:ItemId Id="{ident}" ChangeKey="AQ"/></t:Delete>')
            elif ident in self.read_flags and created <= cursor:
                self.read_flags.discard(ident)
                changes.append(f'<t:ReadFlagChange><t:ItemId Id="{ident}" ChangeKey="AQ"/>'
                               "<t:IsRead>true</t:IsRead></t:ReadFlagChange>")  # fmt: skip
            else:
                kind = "Create" if created > cursor else "Update"
                changes.append(f"<t:{kind}>{contact_xml(folder.items[ident], wanted)}</t:{kind}>")
        new_cursor = page[-1][0] if more else self.seq
        state = base64.b64encode(
            json.dumps({"f": folder.ident, "s": new_cursor, "e": folder.epoch}).encode()
        ).decode()
        return response("SyncFolderItems", success_message(
            f"<m:SyncState>{state}</m:SyncState><m:IncludesLastItemInRange>"
            f"{str(not more).lower()}</m:IncludesLastItemInRange>"
            f"<m:Changes>{''.join(changes)}</m:Changes>"))  # fmt: skip


def _unauthorized(challenge: str) -> Response:
    return Response(401, b"401 - Unauthorized", {"WWW-Authenticate": challenge})


class _Tagged(_Connection):
    """The tests' HTTPS connection, each request told which connection it came on (NTLM
    signs in a connection, not a request)."""

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if parsed:
            self.headers[CONNECTION] = str(id(self))
        return parsed


def serve(ca: Authority, directory: Path, handler: Callable[[Request], Response | None]
          ) -> HttpsServer:  # fmt: skip
    """``tests.cloud.https.HttpsServer`` whose requests carry their connection's id."""
    server = HttpsServer(ca, directory, handler)

    class Connection(_Tagged):
        answer = staticmethod(handler)

    server.httpd.RequestHandlerClass = Connection
    return server
