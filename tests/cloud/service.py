"""Entra ID and Microsoft Graph fakes served together on one loopback HTTPS port, with a
certificate of a test CA, and the data the Microsoft 365 tests fill them with (objects
shaped as the Graph resources: ``user``, ``orgContact``, Outlook ``contact``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.cloud.entra import Entra
from tests.cloud.graph_fake import GraphFake
from tests.cloud.https import HttpsServer
from tests.pki import make_authority

TENANT = "contoso.example"
CLIENT_ID = "0b6f5a52-3c1e-4d7a-9f3e-2a1d7c9e8b41"
SECRET = "fake-Secret~7Qv.kS1mX9zR2pL"


class GraphService:
    """The fakes on one server; ``settings`` gives a ``type: graph`` replicator for them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = make_authority(directory, "cloud CA")
        self.server = HttpsServer(self.ca, directory, self._handle)
        self.url = self.server.url
        self.entra = Entra(self.url, TENANT, CLIENT_ID, SECRET)
        self.graph = GraphFake(self.url, self.entra)

    def _handle(self, request: Any) -> Any:
        return self.graph.handle(request)

    def stop(self) -> None:
        self.server.stop()

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "name": "m365", "type": "graph", "tenant_id": TENANT, "client_id": CLIENT_ID,
            "client_secret": SECRET, "graph_url": self.url, "login_url": self.url,
            "tls": {"ca_file": str(self.ca.path)}, "retry_delay": 0.01, "max_delete": "100%",
            **overrides,
        }  # fmt: skip

    # -- data ------------------------------------------------------------------------------

    def add_users(self, start: int, count: int, **extra: Any) -> None:
        for i in range(start, start + count):
            self.graph.put(self.graph.users, user(i, **extra))

    def add_contacts(self, start: int, count: int) -> None:
        for i in range(start, start + count):
            self.graph.put(self.graph.contacts, org_contact(i))

    def add_mailbox_contacts(self, mailbox: str, folder: str, ident: str, start: int,
                             count: int) -> None:  # fmt: skip
        contacts = self.graph.folder(mailbox, folder, ident)
        for i in range(start, start + count):
            self.graph.put(contacts, outlook_contact(i, ident))


def user_id(i: int) -> str:
    return f"87d349ed-44d7-43e1-9a83-{i:012d}"


def user(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": user_id(i), "accountEnabled": True,
        "displayName": f"Anna Alpha{i}", "givenName": "Anna", "surname": f"Alpha{i}",
        "mail": f"anna{i}@contoso.example", "userPrincipalName": f"anna{i}@contoso.example",
        "jobTitle": "Sales Manager", "officeLocation": f"18/{i}", "preferredLanguage": "de-DE",
        "businessPhones": [f"+49 89 1234-{i}"], "mobilePhone": f"+49 171 {1000000 + i}",
        "department": "Sales", "companyName": "Contoso", "city": "München",
        "onPremisesExtensionAttributes": {"extensionAttribute1": f"cost{i}"},
        **extra,
    }  # fmt: skip


def org_contact_id(i: int) -> str:
    return f"5a1c0e3b-0000-4000-8000-{i:012d}"


def org_contact(i: int) -> dict[str, Any]:
    return {
        "id": org_contact_id(i), "displayName": f"Bert Beta{i}", "givenName": "Bert",
        "surname": f"Beta{i}", "mail": f"bert{i}@partner.example", "companyName": "Partner AG",
        "jobTitle": None, "department": "Purchasing",
        "phones": [{"type": "business", "number": f"+49 40 555-{i}"},
                   {"type": "mobile", "number": f"+49 160 {2000000 + i}"},
                   {"type": "businessFax", "number": None}],
        "addresses": [{"city": "Hamburg", "countryOrRegion": "Germany", "officeLocation": None,
                       "postalCode": "20095", "state": None, "street": "Hafenstr. 1"}],
    }  # fmt: skip


def outlook_contact(i: int, folder: str) -> dict[str, Any]:
    return {
        "id": f"AAMkAG-{folder}-{i:08d}", "parentFolderId": folder, "changeKey": "EQAAABY",
        "createdDateTime": "2017-09-04T15:54:01Z", "lastModifiedDateTime": "2017-09-04T15:54:02Z",
        "displayName": f"Carl Gamma{i}", "givenName": "Carl", "middleName": None,
        "surname": f"Gamma{i}", "title": None, "initials": None, "nickName": None, "fileAs": "",
        "companyName": "Supplier GmbH", "department": None, "jobTitle": None,
        "officeLocation": None, "profession": None,
        "businessPhones": [f"+49 30 777-{i}"], "homePhones": [], "mobilePhone": None,
        "emailAddresses": [{"name": f"carl{i}@supplier.example",
                            "address": f"carl{i}@supplier.example"}],
        "imAddresses": [], "businessAddress": {}, "homeAddress": {}, "otherAddress": {},
        "categories": [], "assistantName": None, "manager": None, "personalNotes": "",
    }  # fmt: skip


def rsa_certificate() -> tuple[x509.Certificate, str, str]:
    """A self-signed RSA certificate as an app registration holds one: (certificate,
    certificate PEM, private key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "metadir-test-app")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()  # fmt: skip
    return cert, cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphService]:
    """A fixture's body: the fakes, started in a new temporary folder and stopped after."""
    service = GraphService(tmp_path_factory.mktemp("graph"))
    yield service
    service.stop()


graph_service = pytest.fixture(serving, name="graph_service")
