"""Google's token endpoint and People API fakes (``google_fake``) served on one loopback
HTTPS port with a certificate of a test CA; the people the Google tests fill them with
(shaped as ``Person`` in the discovery document); the ``google_service`` fixture and the
contract suite's ``GoogleHarness``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.cloud.google_fake import SCOPE, Accounts, Book, PeopleFake
from tests.cloud.https import HttpsServer, Request, Response
from tests.pki import make_authority

DOMAIN = "example.com"
ADMIN = f"admin@{DOMAIN}"
SERVICE_ACCOUNT = "metadir-sync@metadir-test.iam.gserviceaccount.com"
SA_CLIENT_ID = "113370001234567890123"
OAUTH_CLIENT = "123456789012-abcdefg.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-fake-Secret7Qv"
REFRESH_TOKEN = "1//0fake-refresh-Token-xyz"
ALL_SCOPES = {SCOPE + s for s in ("directory.readonly", "contacts.readonly",
                                  "contacts.other.readonly")}  # fmt: skip


class _Query(threading.local):
    """The raw query of the request a connection thread is answering: ``https.Request``
    keeps one value per parameter, and ``sources`` is repeated."""

    text = ""


class GoogleService:
    """The fakes on one server; ``settings`` gives a ``type: google`` replicator for them
    (a service account with domain-wide delegation, or ``oauth=True``: a refresh token)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = make_authority(directory, "cloud CA")
        self.query = _Query()
        self.server = HttpsServer(self.ca, directory, self._handle)
        self._keep_raw_query()
        self.url = self.server.url
        self.accounts = Accounts(f"{self.url}/token", users={ADMIN})
        self.people = PeopleFake(self.accounts)
        self.key_json = self.new_service_account_key()
        self.accounts.delegated[SA_CLIENT_ID] = set(ALL_SCOPES)
        self.accounts.clients[OAUTH_CLIENT] = CLIENT_SECRET
        self.accounts.refresh_tokens[REFRESH_TOKEN] = (OAUTH_CLIENT, ADMIN, frozenset(ALL_SCOPES))
        (directory / "sa-key.json").write_text(self.key_json, encoding="utf-8")

    def _keep_raw_query(self) -> None:
        query = self.query
        base: Any = self.server.httpd.RequestHandlerClass

        class Connection(base):
            def _handle(self) -> None:
                query.text = urlsplit(self.path).query
                super()._handle()

        self.server.httpd.RequestHandlerClass = Connection

    def _handle(self, request: Request) -> Response | None:
        params = parse_qs(self.query.text, keep_blank_values=True)
        return self.people.handle(request, params)

    def stop(self) -> None:
        self.server.stop()

    def new_service_account_key(self, key_id: str = "4f2a9c0d1e") -> str:
        """A service account key file's JSON; its public key is the account's from now on."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()  # fmt: skip
        self.accounts.service_accounts[SERVICE_ACCOUNT] = (SA_CLIENT_ID, key_id, key.public_key())
        return json.dumps({
            "type": "service_account", "project_id": "metadir-test", "private_key_id": key_id,
            "private_key": pem, "client_email": SERVICE_ACCOUNT, "client_id": SA_CLIENT_ID,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "universe_domain": "googleapis.com",
        })  # fmt: skip

    def settings(self, oauth: bool = False, **overrides: Any) -> dict[str, Any]:
        account: dict[str, Any] = (
            {"client_id": OAUTH_CLIENT, "client_secret": CLIENT_SECRET,
             "refresh_token": REFRESH_TOKEN}
            if oauth else {"service_account_key": self.key_json, "subject": ADMIN}
        )  # fmt: skip
        return {
            "name": "workspace", "type": "google", **account, "people_url": self.url,
            "token_url": f"{self.url}/token", "tls": {"ca_file": str(self.ca.path)},
            "retry_delay": 0.01, "max_delete": "100%", **overrides,
        }  # fmt: skip

    # -- data ------------------------------------------------------------------------------

    def add_users(self, *users: str) -> None:
        self.accounts.users.update(users)

    def add_profiles(self, start: int, count: int) -> None:
        for i in range(start, start + count):
            self.people.put(self.people.directory, profile(i))

    def add_shared_contacts(self, start: int, count: int) -> None:
        for i in range(start, start + count):
            self.people.put(self.people.directory, shared_contact(i))

    def add_contacts(self, user: str, start: int, count: int) -> Book:
        book = self.people.book("contacts", user)
        for i in range(start, start + count):
            self.people.put(book, contact(i))
        return book

    def add_other_contacts(self, user: str, start: int, count: int) -> Book:
        book = self.people.book("other_contacts", user)
        for i in range(start, start + count):
            self.people.put(book, other_contact(i))
        return book


def _meta(kind: str, ident: str, primary: bool = True) -> dict[str, Any]:
    return {"primary": primary, "source": {"type": kind, "id": ident}}


def profile_name(i: int) -> str:
    return f"people/1{i:020d}"


def profile(i: int, **extra: Any) -> dict[str, Any]:
    """A user's domain profile, as listDirectoryPeople gives one."""
    ident, m = f"1{i:020d}", _meta("DOMAIN_PROFILE", f"1{i:020d}")
    return {
        "resourceName": profile_name(i),
        "metadata": {"sources": [{"type": "DOMAIN_PROFILE", "id": ident, "etag": "#p"}],
                     "objectType": "PERSON"},
        "names": [{"metadata": m, "displayName": f"Anna Alpha{i}", "givenName": "Anna",
                   "familyName": f"Alpha{i}", "displayNameLastFirst": f"Alpha{i}, Anna",
                   "unstructuredName": f"Anna Alpha{i}"}],
        "emailAddresses": [{"metadata": m, "value": f"anna{i}@{DOMAIN}", "type": "work"}],
        "phoneNumbers": [
            {"metadata": m, "value": f"089 1234-{i}", "canonicalForm": f"+49891234{i}",
             "type": "work", "formattedType": "Work"},
            {"metadata": _meta("DOMAIN_PROFILE", ident, False), "value": f"0171 {1000000 + i}",
             "canonicalForm": f"+49171{1000000 + i}", "type": "mobile", "formattedType": "Mobile"},
        ],
        "organizations": [{"metadata": m, "name": "Example AG", "title": "Sales Manager",
                           "department": "Sales", "location": f"Munich 3.{i}", "type": "work",
                           "current": True}],
        "addresses": [{"metadata": m, "streetAddress": "Hauptstr. 1", "city": "München",
                       "region": "BY", "postalCode": "80331", "country": "Germany",
                       "countryCode": "DE", "type": "work", "formattedType": "Work"}],
        **extra,
    }  # fmt: skip


def shared_contact_name(i: int) -> str:
    return f"people/c9{i:018d}"


def shared_contact(i: int) -> dict[str, Any]:
    """A domain shared contact (the directory's ``DOMAIN_CONTACT``)."""
    m = _meta("DOMAIN_CONTACT", f"9{i:018d}")
    return {
        "resourceName": shared_contact_name(i),
        "metadata": {"sources": [{"type": "DOMAIN_CONTACT", "id": f"9{i:018d}"}]},
        "names": [{"metadata": m, "displayName": f"Bert Beta{i}", "givenName": "Bert",
                   "familyName": f"Beta{i}"}],
        "organizations": [{"metadata": m, "name": "Partner GmbH"}],
        "phoneNumbers": [{"metadata": m, "value": f"040 555-{i}", "type": "main"},
                         {"metadata": m, "value": f"040 555-9{i}", "type": "workFax"}],
    }  # fmt: skip


def contact_name(i: int) -> str:
    return f"people/c{i:019d}"


def contact(i: int) -> dict[str, Any]:
    """A user's own contact ("My contacts"); Google made no E.164 form of its number."""
    m = _meta("CONTACT", f"{i:x}")
    return {
        "resourceName": contact_name(i),
        "metadata": {"sources": [{"type": "CONTACT", "id": f"{i:x}",
                                  "updateTime": "2026-11-01T10:00:00Z"}],
                     "objectType": "PERSON"},
        "names": [{"metadata": m, "displayName": f"Carl Gamma{i}", "givenName": "Carl",
                   "familyName": f"Gamma{i}", "honorificPrefix": "Dr."}],
        "phoneNumbers": [{"metadata": m, "value": f"030 777-{i}", "type": "work"},
                         {"metadata": m, "value": f"+49 160 {2000000 + i}", "type": "mobile",
                          "canonicalForm": f"+49160{2000000 + i}"},
                         {"metadata": m, "value": "0800 1234567", "type": "Hotline"}],
        "emailAddresses": [{"metadata": _meta("CONTACT", f"{i:x}", False),
                            "value": f"carl{i}@home.example", "type": "home"},
                           {"metadata": m, "value": f"carl{i}@supplier.example", "type": "work"}],
        "organizations": [{"metadata": m, "name": "Supplier GmbH", "title": "Buyer"}],
        "userDefined": [{"metadata": m, "key": "customer", "value": f"K{i}"}],
    }  # fmt: skip


def other_contact_name(i: int) -> str:
    return f"otherContacts/c{i:019d}"


def other_contact(i: int) -> dict[str, Any]:
    m = _meta("OTHER_CONTACT", f"{i:x}")
    return {
        "resourceName": other_contact_name(i),
        "metadata": {"sources": [{"type": "OTHER_CONTACT", "id": f"{i:x}"}]},
        "names": [{"metadata": m, "displayName": f"Dora Delta{i}", "givenName": "Dora",
                   "familyName": f"Delta{i}"}],
        "emailAddresses": [{"metadata": m, "value": f"dora{i}@mail.example"}],
        "phoneNumbers": [{"metadata": m, "value": f"0221 {300000 + i}"}],
    }  # fmt: skip


def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoogleService]:
    """A fixture's body: the fakes, started in a new temporary folder and stopped after.
    Every payload the fake served fitted the discovery document."""
    service = GoogleService(tmp_path_factory.mktemp("google"))
    yield service
    service.stop()
    assert service.people.violations == []


google_service = pytest.fixture(serving, name="google_service")


class GoogleHarness:
    """Domain profiles of the Google fake, read with the preset mapping through a service
    account; the service goes away (every connection cut) when sabotaged."""

    sees_deletions = True

    def __init__(self, service: GoogleService) -> None:
        self.service = service
        self.book = service.people.directory

    def settings(self) -> dict[str, Any]:
        return self.service.settings(page_size=2, retries=0)

    def _put(self, i: int, sn: str) -> None:
        m = _meta("DOMAIN_PROFILE", f"{i}")
        self.service.people.put(self.book, {
            "resourceName": f"people/{i}", "metadata": {"sources": [m["source"]]},
            "names": [{"metadata": m, "familyName": sn}],
            "phoneNumbers": [{"metadata": m, "value": f"+49 40 555-{i}", "type": "work"}],
        })  # fmt: skip

    def fill(self, n: int) -> None:
        for i in range(n):
            self._put(i, f"Person{i}")

    def change(self, n: int) -> None:
        self._put(0, "Changed0")
        self.service.people.delete(self.book, "people/1")
        self._put(n, f"Person{n}")

    def sabotage(self) -> None:
        self.service.people.down = True

    def repair(self) -> None:
        self.service.people.down = False
