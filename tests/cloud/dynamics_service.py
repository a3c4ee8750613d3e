"""Entra ID and the Dataverse Web API fakes served together on one loopback HTTPS port (a
certificate of a test CA), the rows the Dynamics 365 tests fill them with (shaped as the
Web API's ``contact`` and ``account``), the ``dynamics_service`` fixture, and the harness
that makes the source join the replicator contract suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cloud.dataverse_fake import DataverseFake
from tests.cloud.entra import Entra
from tests.cloud.https import HttpsServer
from tests.pki import make_authority

TENANT = "contoso.example"
CLIENT_ID = "5d7e2c1a-8b3f-4e6d-9a0c-1f2e3d4c5b6a"
SECRET = "fake-Dv~Secret.9Lq2wX7pR4mZ"


class DynamicsService:
    """The fakes on one server; ``settings`` gives a ``type: dynamics`` replicator for them
    (the server stands for the environment, its address for ``environment_url``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = make_authority(directory, "dataverse CA")
        self.server = HttpsServer(self.ca, directory, self._handle)
        self.url = self.server.url
        self.entra = Entra(self.url, TENANT, CLIENT_ID, SECRET)
        self.dataverse = DataverseFake(self.url, self.entra)

    def _handle(self, request: Any) -> Any:
        return self.dataverse.handle(request)

    def stop(self) -> None:
        self.server.stop()

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "name": "crm", "type": "dynamics", "environment_url": self.url,
            "tenant_id": TENANT, "client_id": CLIENT_ID, "client_secret": SECRET,
            "login_url": self.url, "tls": {"ca_file": str(self.ca.path)}, "retry_delay": 0.01,
            "max_delete": "100%",
            **overrides,
        }  # fmt: skip

    # -- data ------------------------------------------------------------------------------

    def add_accounts(self, start: int, count: int, **extra: Any) -> None:
        for i in range(start, start + count):
            self.dataverse.put(self.dataverse.accounts, account(i, **extra))

    def add_contacts(self, start: int, count: int, **extra: Any) -> None:
        for i in range(start, start + count):
            self.dataverse.put(self.dataverse.contacts, contact(i, **extra))


def contact_id(i: int) -> str:
    return f"60c4e274-0d87-e711-80e5-{i:012d}"


def account_id(i: int) -> str:
    return f"2e451910-d587-e711-80e5-{i:012d}"


def contact(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "contactid": contact_id(i), "statecode": 0, "statuscode": 1,
        "fullname": f"Anna Alpha{i}", "firstname": "Anna", "lastname": f"Alpha{i}",
        "middlename": None, "nickname": None, "salutation": "Dr.", "jobtitle": "Buyer",
        "department": "Purchasing", "emailaddress1": f"anna{i}@customer.example",
        "emailaddress2": None, "emailaddress3": None, "telephone1": f"+49 89 1234-{i}",
        "telephone2": None, "telephone3": None, "mobilephone": f"+49 171 {1000000 + i}",
        "fax": None, "pager": None, "assistantname": None, "assistantphone": None,
        "websiteurl": None, "address1_line1": "Leopoldstr. 1", "address1_city": "München",
        "address1_stateorprovince": "Bayern", "address1_postalcode": "80802",
        "address1_country": "Germany", "_parentcustomerid_value": account_id(i % 10),
        "preferredcontactmethodcode": 3, "new_extension": f"{100 + i}",
        **extra,
    }  # fmt: skip


def account(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "accountid": account_id(i), "statecode": 0, "statuscode": 1,
        "name": f"Customer AG {i}", "accountnumber": f"K{i:05d}",
        "telephone1": f"+49 30 777-{i}", "telephone2": f"+49 30 778-{i}", "telephone3": None,
        "fax": f"+49 30 777-{i}9", "emailaddress1": f"info@customer{i}.example",
        "websiteurl": f"https://customer{i}.example", "address1_line1": "Unter den Linden 1",
        "address1_city": "Berlin", "address1_stateorprovince": None,
        "address1_postalcode": "10117", "address1_country": "Germany",
        **extra,
    }  # fmt: skip


class DynamicsHarness:
    """Contacts of the Dataverse fake, read with the preset mapping; the service answers
    pages of two rows, and goes away (every connection cut) when sabotaged."""

    sees_deletions = True

    def __init__(self, service: DynamicsService) -> None:
        self.service = service
        self.contacts = service.dataverse.contacts

    def settings(self) -> dict[str, Any]:
        return self.service.settings(objects=["contacts"], page_size=2, retries=0)

    def _put(self, i: int, sn: str) -> None:
        self.service.dataverse.put(self.contacts, {
            "contactid": contact_id(i), "statecode": 0, "lastname": sn,
            "telephone1": f"+49 40 555-{i}",
        })  # fmt: skip

    def fill(self, n: int) -> None:
        for i in range(n):
            self._put(i, f"Person{i}")

    def change(self, n: int) -> None:
        self._put(0, "Changed0")
        self.service.dataverse.delete(self.contacts, contact_id(1))
        self._put(n, f"Person{n}")

    def sabotage(self) -> None:
        self.service.dataverse.down = True

    def repair(self) -> None:
        self.service.dataverse.down = False


def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamicsService]:
    """A fixture's body: the fakes, started in a new temporary folder and stopped after."""
    service = DynamicsService(tmp_path_factory.mktemp("dynamics"))
    yield service
    service.stop()


dynamics_service = pytest.fixture(serving, name="dynamics_service")
