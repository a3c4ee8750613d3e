"""The Exchange (EWS) fake on a loopback HTTPS port with a certificate of a test CA, the
contacts the ``type: ews`` tests fill it with, the ``ews_service`` fixture, and the
contract suite's harness (``EwsHarness``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cloud.ews_fake import EwsFake, Folder, serve
from tests.cloud.ews_soap import Contact
from tests.pki import make_authority

SERVICE_USER = "CONTOSO\\svc-metadir"
PASSWORD = "fake-Pa55w0rd!ews"
MAILBOX = "phonebook@contoso.example"


class EwsService:
    """The fake on one server; ``settings`` gives a ``type: ews`` replicator for it."""

    def __init__(self, directory: Path, auth: str = "basic") -> None:
        self.directory = directory
        self.ca = make_authority(directory, "exchange CA")
        self.ews = EwsFake(directory, auth)
        self.server = serve(self.ca, directory, self.ews.handle)
        self.url = f"{self.server.url}{EwsFake.PATH}"
        self.ews.add_account(SERVICE_USER, PASSWORD)
        self.ews.mailbox(MAILBOX)

    def stop(self) -> None:
        self.server.stop()

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "name": "exchange", "type": "ews", "url": self.url, "auth": self.ews.auth,
            "username": SERVICE_USER, "password": PASSWORD, "exchange_version": "2016",
            "mailboxes": [MAILBOX], "tls": {"ca_file": str(self.ca.path)},
            "retry_delay": 0.01, "max_delete": "100%", **overrides,
        }  # fmt: skip

    def contacts(self, mailbox: str = MAILBOX, folder: str = "Contacts") -> Folder:
        return self.ews.folder(mailbox, folder)

    def add(self, start: int, count: int, mailbox: str = MAILBOX,
            folder: str = "Contacts") -> None:  # fmt: skip
        where = self.contacts(mailbox, folder)
        for i in range(start, start + count):
            self.ews.put(where, contact(i))


def item_id(i: int) -> str:
    return f"AAMkADg3-{i:08d}="


def contact(i: int, **plain: str) -> Contact:
    return Contact(
        item_id(i),
        {"DisplayName": f"Dora Delta{i}", "GivenName": "Dora", "Surname": f"Delta{i}",
         "CompanyName": "Contoso Ltd", "Department": "Sales", "JobTitle": "Buyer",
         "OfficeLocation": f"B{i % 7}", **plain},
        {"BusinessPhone": f"+49 89 4711-{i}", "MobilePhone": f"+49 172 {3000000 + i}",
         "BusinessFax": f"+49 89 4711-9{i}"},
        {"EmailAddress1": f"dora{i}@contoso.example", "EmailAddress2": f"d{i}@home.example"},
        {"Business": {"Street": "Leopoldstr. 1", "City": "München", "PostalCode": "80802",
                      "CountryOrRegion": "Germany"}},
    )  # fmt: skip


def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EwsService]:
    """A fixture's body: the fake, started in a new temporary folder and stopped after."""
    service = EwsService(tmp_path_factory.mktemp("ews"))
    yield service
    service.stop()


ews_service = pytest.fixture(serving, name="ews_service")


class EwsHarness:
    """Contacts of the EWS fake's mailbox, read with the preset mapping; the service goes
    away (every connection cut) when sabotaged."""

    sees_deletions = True

    def __init__(self, service: EwsService) -> None:
        self.service = service
        self.folder = service.contacts()

    def settings(self) -> dict[str, Any]:
        return self.service.settings(page_size=2, retries=0)

    def _put(self, i: int, sn: str) -> None:
        self.service.ews.put(self.folder, Contact(
            item_id(i), {"Surname": sn}, {"BusinessPhone": f"+49 40 555-{i}"}))  # fmt: skip

    def fill(self, n: int) -> None:
        for i in range(n):
            self._put(i, f"Person{i}")

    def change(self, n: int) -> None:
        self._put(0, "Changed0")
        self.service.ews.delete(self.folder, item_id(1))
        self._put(n, f"Person{n}")

    def sabotage(self) -> None:
        self.service.ews.down = True

    def repair(self) -> None:
        self.service.ews.down = False
