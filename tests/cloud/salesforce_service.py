"""The Salesforce fake (login and REST API on one loopback HTTPS port, a certificate of a
test CA), the records the Salesforce tests fill it with (shaped as the REST API's
``Contact``, ``Lead`` and ``Account``), the ``salesforce_service`` fixture, and the
harness that makes the source join the replicator contract suite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cloud.https import HttpsServer
from tests.cloud.salesforce_fake import SalesforceFake
from tests.cloud.service import rsa_certificate
from tests.pki import make_authority

CLIENT_ID = "3MVG9fakeConsumerKey.metadir_test_app_0001"
CLIENT_SECRET = "FAKE5EC7E7A1B2C3D4E5F60718293A4B5C6D7E8F9"
USERNAME = "integration@example.com.metadir"
PASSWORD = "fake-Passw0rd!"
SECURITY_TOKEN = "fakeTok3nXyZ"


class SalesforceService:
    """The fake on one server; ``settings`` gives a ``type: salesforce`` replicator for it
    (username-password flow), ``jwt_settings`` one that logs in with the JWT bearer flow
    (its certificate uploaded to the fake's connected app)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = make_authority(directory, "salesforce CA")
        self.server = HttpsServer(self.ca, directory, self._handle)
        self.url = self.server.url
        self.fake = SalesforceFake(
            self.url, CLIENT_ID, CLIENT_SECRET, USERNAME, PASSWORD, SECURITY_TOKEN
        )
        cert, cert_pem, key_pem = rsa_certificate()
        (directory / "sf-app.pem").write_text(cert_pem)
        (directory / "sf-app.key").write_text(key_pem)
        self.certificate = cert
        self.fake.certificates.append(cert)

    def _handle(self, request: Any) -> Any:
        return self.fake.handle(request)

    def stop(self) -> None:
        self.server.stop()

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "name": "sf", "type": "salesforce", "client_id": CLIENT_ID, "username": USERNAME,
            "client_secret": CLIENT_SECRET, "password": PASSWORD,
            "security_token": SECURITY_TOKEN, "login_url": self.url,
            "tls": {"ca_file": str(self.ca.path)}, "retry_delay": 0.01, "max_delete": "100%",
            **overrides,
        }  # fmt: skip

    def jwt_settings(self, **overrides: Any) -> dict[str, Any]:
        settings = self.settings(**{"private_key_file": "sf-app.key", **overrides})
        for name in ("client_secret", "password", "security_token"):
            del settings[name]
        return settings

    # -- data ------------------------------------------------------------------------------

    def add_accounts(self, start: int, count: int, at: datetime | None = None) -> None:
        for i in range(start, start + count):
            self.fake.put("Account", account(i), at)

    def add_contacts(self, start: int, count: int, at: datetime | None = None,
                     **extra: Any) -> None:  # fmt: skip
        for i in range(start, start + count):
            self.fake.put("Contact", contact(i, **extra), at)

    def add_leads(self, start: int, count: int, at: datetime | None = None) -> None:
        for i in range(start, start + count):
            self.fake.put("Lead", lead(i), at)


def contact_id(i: int) -> str:
    return f"003RO{i:013d}"


def lead_id(i: int) -> str:
    return f"00QRO{i:013d}"


def account_id(i: int) -> str:
    return f"001RO{i:013d}"


def contact(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "Id": contact_id(i), "Salutation": "Dr.", "FirstName": "Anna", "LastName": f"Alpha{i}",
        "Name": f"Anna Alpha{i}", "Title": "Sales Manager", "Department": "Sales",
        "Email": f"anna{i}@example.com", "Phone": f"+49 89 1234-{i}",
        "MobilePhone": f"+49 171 {1000000 + i}", "HomePhone": None, "OtherPhone": None,
        "AssistantPhone": None, "AssistantName": None, "Fax": None,
        "AccountId": account_id(i % 10), "MailingStreet": "Hauptstr. 1",
        "MailingCity": "München", "MailingState": None, "MailingPostalCode": "80331",
        "MailingCountry": "Germany", "Extension__c": f"{100 + i}",
        **extra,
    }  # fmt: skip


def lead(i: int) -> dict[str, Any]:
    return {
        "Id": lead_id(i), "FirstName": "Bert", "LastName": f"Beta{i}", "Name": f"Bert Beta{i}",
        "Company": "Prospect GmbH", "Title": "Buyer", "Email": f"bert{i}@prospect.example",
        "Phone": f"+49 40 555-{i}", "MobilePhone": None, "Fax": None, "Street": "Hafenstr. 1",
        "City": "Hamburg", "State": None, "PostalCode": "20095", "Country": "Germany",
        "IsConverted": False,
    }  # fmt: skip


def account(i: int) -> dict[str, Any]:
    return {
        "Id": account_id(i), "Name": f"Example AG {i}", "Phone": f"+49 30 777-{i}",
        "Fax": f"+49 30 777-{i}9", "Website": "https://example.com",
        "BillingStreet": "Unter den Linden 1", "BillingCity": "Berlin", "BillingState": None,
        "BillingPostalCode": "10117", "BillingCountry": "Germany",
    }  # fmt: skip


class SalesforceHarness:
    """Contacts of the Salesforce fake, read with the preset mapping; the service answers
    pages of two records, and goes away (every connection cut) when sabotaged."""

    sees_deletions = True

    def __init__(self, service: SalesforceService) -> None:
        self.service = service
        service.fake.max_page = 2

    def settings(self) -> dict[str, Any]:
        return self.service.settings(retries=0)

    def _put(self, i: int, sn: str) -> None:
        self.service.fake.put("Contact", {"Id": contact_id(i), "LastName": sn,
                                          "Phone": f"+49 40 555-{i}"})  # fmt: skip

    def fill(self, n: int) -> None:
        for i in range(n):
            self._put(i, f"Person{i}")

    def change(self, n: int) -> None:
        self._put(0, "Changed0")
        # the delete log tells a minute once it has passed
        before = datetime.now(UTC) - timedelta(minutes=2)
        self.service.fake.delete("Contact", contact_id(1), hard=True, logged=before)
        self._put(n, f"Person{n}")

    def sabotage(self) -> None:
        self.service.fake.down = True

    def repair(self) -> None:
        self.service.fake.down = False


def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SalesforceService]:
    """A fixture's body: the fake, started in a new temporary folder and stopped after."""
    service = SalesforceService(tmp_path_factory.mktemp("salesforce"))
    yield service
    service.stop()


salesforce_service = pytest.fixture(serving, name="salesforce_service")
