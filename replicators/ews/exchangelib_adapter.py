"""Everything metadir asks of exchangelib, in one place: a read's connection (its TLS
settings, retry policy, fixed server version), the chosen contact folders of a mailbox,
one folder's changes by ``SyncFolderItems``, an EWS contact as one row of fields, and
exchangelib's errors told as metadir's.

exchangelib's internals are used here and nowhere else (its contract test is
``tests/unit/test_ews_parts.py``; a new exchangelib release is checked there first):

- ``Protocol.HTTP_ADAPTER_CLS``, ``RETRY_WAIT``, ``TIMEOUT``, ``USERAGENT``: class
  attributes, the library's documented way to choose the HTTP adapter (for a CA file).
  Setting them on ``BaseProtocol`` would change every EWS connection of the process, so each
  read gets a subclass of its own (``_protocol_class``).
- the protocol cache (``CachingProtocol``): exchangelib keeps one ``Protocol`` per
  (endpoint, credentials) for the whole process and ``Account`` takes it from there. Each
  read's credentials carry a read id, so its key is its own: the read's protocol is the one
  its accounts use, two reads never share sessions or TLS settings, and ``close`` removes
  it again (nothing is left behind in a long-running ``metadir serve``).
- ``FaultTolerance.raise_response_errors``: exchangelib takes a 401 for throttling and
  retries it for up to ``max_wait``; a wrong password must fail at once instead.
- a logging filter on ``exchangelib.util``: its debug log prints the request headers,
  among them ``Authorization`` (Basic: the password in base64).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from exchangelib import DELEGATE, IMPERSONATION, Account, Configuration, Credentials
from exchangelib import errors as ews_errors
from exchangelib.ewsdatetime import UTC
from exchangelib.folders import Contacts, FolderCollection, Root
from exchangelib.folders.queryset import DEEP
from exchangelib.items import Contact
from exchangelib.protocol import CachingProtocol, FaultTolerance, Protocol
from exchangelib.transport import BASIC, NTLM
from exchangelib.version import Build, Version

from metadir.core.errors import SourceError
from metadir.core.records import Value
from replicators.ews.settings import DEFAULT_FOLDER, EwsSettings
from replicators.http_client import USER_AGENT

# source field -> Contact attribute
PLAIN = {
    "DisplayName": "display_name", "GivenName": "given_name", "Surname": "surname",
    "MiddleName": "middle_name", "Initials": "initials", "Nickname": "nickname",
    "CompanyName": "company_name", "Department": "department", "JobTitle": "job_title",
    "OfficeLocation": "office", "AssistantName": "assistant_name", "Manager": "manager",
    "BusinessHomePage": "business_homepage", "Profession": "profession",
}  # fmt: skip
# the keys of PhoneNumbers entries (exchangelib's PhoneNumber.LABEL_CHOICES, MS reference)
PHONES = (
    "AssistantPhone", "BusinessFax", "BusinessPhone", "BusinessPhone2", "Callback", "CarPhone",
    "CompanyMainPhone", "HomeFax", "HomePhone", "HomePhone2", "Isdn", "MobilePhone",
    "OtherFax", "OtherTelephone", "Pager", "PrimaryPhone", "RadioPhone", "Telex",
    "TtyTddPhone",
)  # fmt: skip
EMAILS = ("EmailAddress1", "EmailAddress2", "EmailAddress3")
# PhysicalAddresses: key -> parts (source field "Business.City") -> PhysicalAddress attribute
ADDRESSES = ("Business", "Home", "Other")
_PARTS = {"Street": "street", "City": "city", "State": "state", "PostalCode": "zipcode",
          "CountryOrRegion": "country"}  # fmt: skip
FIELDS = (
    *PLAIN, *PHONES, *EMAILS, *(f"{key}.{part}" for key in ADDRESSES for part in _PARTS),
)  # fmt: skip
# release -> build (the EWS schema exchangelib speaks follows from it)
_RELEASES = {"2010": Build(14, 0), "2010_SP1": Build(14, 1), "2010_SP2": Build(14, 2),
             "2013": Build(15, 0), "2013_SP1": Build(15, 0, 847), "2016": Build(15, 1),
             "2019": Build(15, 2)}  # fmt: skip
# what to grant when the service refuses a mailbox, by access
GRANT = {
    "impersonation": "give the service account the ApplicationImpersonation role "
    "(New-ManagementRoleAssignment -Role ApplicationImpersonation -User {user})",
    "delegate": "give the service account full access to the mailbox "
    "(Add-MailboxPermission -Identity {mailbox} -User {user} -AccessRights FullAccess)",
}
_REFUSALS = (ews_errors.ErrorImpersonateUserDenied, ews_errors.ErrorImpersonationDenied,
             ews_errors.ErrorAccessDenied, ews_errors.ErrorNonExistentMailbox,
             ews_errors.ErrorInvalidExchangeImpersonationHeaderData)  # fmt: skip
_EXPIRED = (ews_errors.ErrorInvalidSyncStateData, ews_errors.ErrorSyncFolderNotFound)
# what a read may try again (a dropped connection; exchangelib retries busy answers itself)
_PASSING = (ews_errors.ErrorTimeoutExpired, ews_errors.ErrorInternalServerTransientError)


class SyncStateExpired(SourceError):
    """The server no longer accepts a folder's saved SyncState: read it whole."""

    def __init__(self, code: str, where: str = "") -> None:
        self.code, self.where = code, where
        super().__init__(f"{where}: SyncState refused ({code})" if where else code)


class Passing(SourceError):
    """A failure that a new try may mend (a dropped connection)."""


@dataclass(frozen=True, slots=True)
class Folder:
    """One chosen contact folder: ``ident`` keys its SyncState, ``name`` as asked for."""

    ident: str
    name: str
    handle: Any  # exchangelib's folder


@dataclass(frozen=True, slots=True)
class Change:
    """One contact changed (``values``) or gone (``values`` None), by its item id."""

    ident: str
    values: dict[str, Value] | None


class _Counter:
    requests = 0


class _RedactAuthorization(logging.Filter):
    """Drops the Authorization header from exchangelib's request log (it prints them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict) and "request_headers" in record.args:
            headers = record.args["request_headers"]
            if headers is not None and "Authorization" in headers:
                shown = {k: ("********" if k.lower() == "authorization" else v)
                         for k, v in dict(headers).items()}  # fmt: skip
                record.args = {**record.args, "request_headers": shown}
        return True


_REDACT = _RedactAuthorization()
logging.getLogger("exchangelib.util").addFilter(_REDACT)  # once per process; only hides


class _FailOn401(FaultTolerance):
    """exchangelib's fault tolerance (waits what ErrorServerBusy's BackOffMilliseconds and
    Retry-After ask, up to max_wait), but a 401 is wrong credentials, not throttling."""

    def raise_response_errors(self, response: requests.Response) -> None:
        if response.status_code == 401:
            raise ews_errors.UnauthorizedError(f"HTTP 401 from {response.url}")
        super().raise_response_errors(response)


class _ReadCredentials(Credentials):
    """Credentials with the read's id: the read's own key in exchangelib's protocol cache."""

    def __init__(self, username: str, password: str, read: str) -> None:
        super().__init__(username, password)
        self.read = read


def _adapter_class(verify: bool | str, counter: _Counter) -> type[requests.adapters.HTTPAdapter]:
    """An HTTP adapter that checks the server against ``verify`` (a CA file, True: the
    system's CAs, False: nothing) whatever the environment says, and counts requests."""

    class ReadAdapter(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
            kwargs["verify"] = verify
            counter.requests += 1
            return super().send(request, *args, **kwargs)

    return ReadAdapter


def _protocol_class(settings: EwsSettings, verify: bool | str, counter: _Counter) -> type[Protocol]:
    class ReadProtocol(Protocol):
        HTTP_ADAPTER_CLS = _adapter_class(verify, counter)
        RETRY_WAIT = settings.retry_delay
        TIMEOUT = settings.timeout
        USERAGENT = USER_AGENT

    return ReadProtocol


def version_of(value: str | None) -> Version | None:
    """exchangelib's Version for an ``exchange_version`` setting (None: ask the server)."""
    if value is None:
        return None
    if value in _RELEASES:
        return Version(build=_RELEASES[value])
    return Version(build=Build(*(int(part) for part in value.split("."))))


def exchange_fields(wanted: list[str]) -> list[str]:
    """The Contact fields SyncFolderItems must return for the source fields ``wanted``."""
    chosen: dict[str, None] = {}
    for name in wanted:
        if name in PLAIN:
            chosen[PLAIN[name]] = None
        elif name in PHONES:
            chosen["phone_numbers"] = None
        elif name in EMAILS:
            chosen["email_addresses"] = None
        elif name.split(".", 1)[0] in ADDRESSES:
            chosen["physical_addresses"] = None
    return sorted(chosen) or ["display_name"]


def row(item: Contact) -> dict[str, Value]:
    """One EWS contact as fields named as the EWS elements (``FIELDS``)."""
    values: dict[str, Value] = {}
    for name, attribute in PLAIN.items():
        text = getattr(item, attribute, None)
        if isinstance(text, str) and text.strip():
            values[name] = text.strip()
    for phone in item.phone_numbers or ():
        if phone.label in PHONES and phone.phone_number and phone.phone_number.strip():
            values[phone.label] = phone.phone_number.strip()
    for mail in item.email_addresses or ():
        if mail.label in EMAILS and mail.email and mail.email.strip():
            values[mail.label] = mail.email.strip()
    for address in item.physical_addresses or ():
        if address.label not in ADDRESSES:
            continue
        for part, attribute in _PARTS.items():
            text = getattr(address, attribute, None)
            if isinstance(text, str | int) and str(text).strip():
                values[f"{address.label}.{part}"] = str(text).strip()
    return values


class Session:
    """One read's connection to the EWS endpoint of ``settings``; ``close`` ends it."""

    def __init__(self, settings: EwsSettings, base_dir: Path) -> None:
        self.settings = settings
        self.counter = _Counter()
        verify: bool | str = settings.tls.verify
        if settings.tls.verify and settings.tls.ca_file is not None:
            path = base_dir / settings.tls.ca_file
            if not path.is_file():
                raise SourceError(f"tls.ca_file: cannot read {path}")
            verify = str(path)
        credentials = _ReadCredentials(
            settings.username, settings.password.get_secret_value(), uuid.uuid4().hex
        )
        self.config = Configuration(
            credentials=credentials,
            service_endpoint=settings.url,
            auth_type=NTLM if settings.auth == "ntlm" else BASIC,
            version=version_of(settings.exchange_version),
            retry_policy=_FailOn401(max_wait=settings.max_wait),
        )
        # registered in exchangelib's cache under this read's key (see the module's text)
        self.protocol = _protocol_class(settings, verify, self.counter)(config=self.config)

    @property
    def requests(self) -> int:
        """HTTP requests sent so far, NTLM handshakes and tries included."""
        return self.counter.requests

    def close(self) -> None:
        self.protocol.close()
        with suppress(KeyError):
            del CachingProtocol._protocol_cache[CachingProtocol._cache_key(self.config)]

    def version(self) -> str:
        """The server's version (asked once per read when not set)."""
        with errors(self.settings, "the server's version"):
            return str(self.protocol.version)

    def folders(self, mailbox: str, names: list[str]) -> list[Folder]:
        """The contact folders ``names`` of ``mailbox``; "Contacts" is its own."""
        access = IMPERSONATION if self.settings.access == "impersonation" else DELEGATE
        account = Account(mailbox, access_type=access, config=self.config,
                          default_timezone=UTC, locale="en_US")  # fmt: skip
        chosen: list[Folder] = []
        with errors(self.settings, f"the contact folders of {mailbox}", mailbox):
            root = Root.get_distinguished(account=account)
            named = [n for n in names if n.casefold() != DEFAULT_FOLDER.casefold()]
            found: dict[str, Any] = {}
            if named:
                collection = FolderCollection(account=account, folders=[root])
                for folder in collection.find_folders(depth=DEEP):
                    if isinstance(folder, Exception):
                        raise folder
                    if str(folder.folder_class or "").startswith("IPF.Contact") and folder.name:
                        found.setdefault(folder.name.casefold(), folder)
            for name in names:
                if name.casefold() == DEFAULT_FOLDER.casefold():
                    folder = Contacts.get_distinguished(root=root)
                elif name.casefold() in found:
                    folder = found[name.casefold()]
                else:
                    have = ", ".join(
                        dict.fromkeys([DEFAULT_FOLDER, *(f.name for f in found.values())])
                    )
                    raise SourceError(
                        f"mailboxes: {mailbox} has no contact folder {name!r} (it has {have})"
                    )
                chosen.append(Folder(folder.id, name, folder))
        return chosen

    def sync(
        self,
        folder: Folder,
        state: str | None,
        wanted: list[str],
        on_page: Callable[[int], None],
        what: str,
        mailbox: str,
    ) -> tuple[dict[str, Change], str]:
        """Every change of ``folder`` since ``state`` (None: every contact), later changes
        of an item replacing earlier ones, and the folder's new SyncState. ``on_page`` is
        told each page's count of changes."""
        changes: dict[str, Change] = {}
        handle = folder.handle
        handle.item_sync_state = None
        size, seen = self.settings.page_size, 0
        with errors(self.settings, what, mailbox):
            for change_type, item in handle.sync_items(
                sync_state=state or None,
                only_fields=exchange_fields(wanted),
                max_changes_returned=size,
            ):
                seen += 1
                if change_type == "delete":
                    changes[item.id] = Change(item.id, None)
                elif change_type in ("create", "update") and isinstance(item, Contact):
                    # a distribution list (IPM.DistList) is no contact of the directory
                    changes.pop(item.id, None)  # keep the order of the last change
                    changes[item.id] = Change(item.id, row(item))
                if seen % size == 0:
                    on_page(size)
            on_page(seen % size)
        new_state = handle.item_sync_state
        if not new_state:
            raise SourceError(f"Exchange (EWS): {what}: no SyncState in the answer")
        return changes, str(new_state)


@contextmanager
def errors(settings: EwsSettings, what: str, mailbox: str = "") -> Iterator[None]:
    """exchangelib's errors while reading ``what`` told as one line naming the fix."""
    try:
        yield
    except SourceError:
        raise
    except (ews_errors.EWSError, requests.RequestException) as exc:
        raise translate(exc, settings, what, mailbox) from None


def translate(exc: BaseException, settings: EwsSettings, what: str, mailbox: str) -> SourceError:
    """``exc`` (an exchangelib or requests error) as metadir's error, on one line."""
    code, detail = type(exc).__name__, _first_line(str(exc))
    where = f"Exchange (EWS) {settings.url}"
    if isinstance(exc, ews_errors.UnauthorizedError):
        return SourceError(
            f"{where}: {settings.username} was refused (HTTP 401): check username and "
            f"password, and that the server takes auth {settings.auth}"
        )
    if isinstance(exc, _EXPIRED):
        return SyncStateExpired(code)
    if isinstance(exc, _REFUSALS):
        grant = GRANT[settings.access].format(user=_account(settings.username),
                                              mailbox=mailbox or "MAILBOX")  # fmt: skip
        if isinstance(exc, ews_errors.ErrorNonExistentMailbox):
            return SourceError(
                f"{where}: reading {what}: no mailbox {mailbox} ({code}): check mailboxes "
                f"(primary SMTP addresses)"
            )
        return SourceError(f"{where}: reading {what} was refused ({code}): {grant}")
    if isinstance(exc, ews_errors.RateLimitError):
        return SourceError(
            f"{where}: reading {what}: the server asks to wait {getattr(exc, 'wait', '?')} s, "
            f"more than max_wait ({settings.max_wait:g} s)"
        )
    if isinstance(exc, ews_errors.TransportError) and "certificate" in detail.lower():
        return SourceError(f"{where}: TLS: {detail} (tls.ca_file, tls.verify)")
    if isinstance(exc, (*_PASSING, requests.RequestException)):
        return Passing(f"{where}: reading {what}: {code}: {detail}")
    return SourceError(f"{where}: reading {what}: {code}: {detail}")


def _account(username: str) -> str:
    """The account's name as Exchange's shell takes it (DOMAIN\\user -> user)."""
    return username.rsplit("\\", 1)[-1].split("@", 1)[0]


def _first_line(text: str, limit: int = 200) -> str:
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"
