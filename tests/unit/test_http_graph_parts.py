"""The pieces of the HTTP layer and the Microsoft 365 source that need no server: reading
Retry-After and error bodies, what a delta error means, the settings, and how each kind of
Graph object becomes a row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from replicators import kinds
from replicators.graph.objects import row, select
from replicators.http_client import HttpStatusError, error_of, retry_after
from replicators.odata import Changes, expired

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
CLIENT = "0b6f5a52-3c1e-4d7a-9f3e-2a1d7c9e8b41"


def answer(status: int, body: object = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after(answer(429, **{"Retry-After": "7"}), NOW) == 7
    when = "Sun, 01 Nov 2026 10:00:30 GMT"
    assert retry_after(answer(503, **{"Retry-After": when}), NOW) == 30
    assert retry_after(answer(429), NOW) is None
    assert retry_after(answer(429, **{"Retry-After": "soon"}), NOW) is None


def test_error_bodies_of_odata_and_oauth() -> None:
    odata = {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient\nmore"}}
    assert error_of(answer(403, odata)) == ("Authorization_RequestDenied", "Insufficient")
    oauth = {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid secret."}
    assert error_of(answer(401, oauth)) == ("invalid_client", "AADSTS7000215: Invalid secret.")
    assert error_of(httpx.Response(502, text="<html>")) == ("", "")


@pytest.mark.parametrize(
    ("status", "code", "gone"),
    [(410, "", True), (400, "syncStateNotFound", True), (400, "resyncRequired", True),
     (400, "Request_BadRequest", False), (403, "Authorization_RequestDenied", False)],
)  # fmt: skip
def test_which_errors_mean_the_delta_link_expired(status: int, code: str, gone: bool) -> None:
    error = HttpStatusError("Graph", answer(status, {"error": {"code": code, "message": "x"}}))
    assert expired(error) is gone


def test_replayed_objects_merge_and_the_later_wins() -> None:
    changes = Changes()
    changes.add({"id": "a", "surname": "One", "mail": "a@x"})
    changes.add({"id": "b", "@removed": {"reason": "changed"}})
    changes.add({"id": "a", "surname": "Two"})
    changes.add({"id": "b", "surname": "Back"})
    assert changes.objects == {"a": {"id": "a", "surname": "Two", "mail": "a@x"},
                               "b": {"id": "b", "surname": "Back"}}  # fmt: skip


def settings(tmp_path: Path, **values: object) -> Any:
    given = {"name": "m365", "type": "graph", "tenant_id": "contoso.example",
             "client_id": CLIENT, "client_secret": "s", **values}  # fmt: skip
    given = {key: value for key, value in given.items() if value is not None}
    return kinds()["graph"].settings.model_validate(given, context={"base_dir": tmp_path})


@pytest.mark.parametrize(
    ("values", "says"),
    [({"client_id": "app"}, "a GUID"),
     ({"certificate": "c", "private_key": "k"}, "either client_secret or certificate"),
     ({"client_secret": "", "certificate": "c"}, "give both"),
     ({"objects": ["mailbox_contacts"]}, "mailboxes"),
     ({"group": "Sales", "objects": "contacts"}, "only with objects users"),
     ({"graph_url": "http://graph.example"}, "https://"),
     ({"tls": {"start_tls": True}}, "start_tls"),
     ({"objects": ["people"]}, "objects")],
)  # fmt: skip
def test_settings_that_do_not_fit(tmp_path: Path, values: dict, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        settings(tmp_path, **values)


def test_secrets_from_files_and_mailboxes_as_names(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("from-a-file\n")
    read = settings(
        tmp_path,
        client_secret=None,
        client_secret_file="secret.txt",
        objects=["users", "mailbox_contacts"],
        mailboxes=["anna@contoso.example"],
    )
    assert read.client_secret.get_secret_value() == "from-a-file"
    assert "from-a-file" not in repr(read)
    assert read.mailboxes[0].folders == ["Contacts"]


def test_select_names_every_mapped_property(tmp_path: Path) -> None:
    wanted = [
        *settings(tmp_path).wanted_fields,
        "onPremisesExtensionAttributes.extensionAttribute1",
    ]
    users = select("users", wanted)
    assert {
        "department",
        "businessPhones",
        "accountEnabled",
        "onPremisesExtensionAttributes",
    } <= set(users)
    assert "homePhones" not in users and "pager" not in users
    assert {"phones", "addresses", "mail"} <= set(select("contacts", wanted))
    assert {"emailAddresses", "businessAddress", "homePhones"} <= set(
        select("mailbox_contacts", wanted)
    )


def test_each_kind_becomes_the_same_field_names() -> None:
    org = {"id": "x", "phones": [{"type": "business", "number": "040 1"},
                                 {"type": "mobile", "number": "0160 2"},
                                 {"type": "businessFax", "number": None}],
           "addresses": [{"street": "Hafenstr. 1", "city": "Hamburg", "countryOrRegion": "DE",
                          "officeLocation": "3.14"}]}  # fmt: skip
    assert row("contacts", org) == {"businessPhones": ["040 1"], "mobilePhone": "0160 2",
                                    "streetAddress": "Hafenstr. 1", "city": "Hamburg",
                                    "country": "DE", "officeLocation": "3.14"}  # fmt: skip
    outlook = {
        "id": "y",
        "emailAddresses": [{"name": "A", "address": "a@x"}, {"name": "B", "address": "b@x"}],
        "businessAddress": {},
        "homeAddress": {"city": "Köln"},
        "mobilePhone": None,
    }
    assert row("mailbox_contacts", outlook) == {"mail": "a@x", "otherMails": ["b@x"],
                                                "homeAddress.city": "Köln"}  # fmt: skip
    user = {
        "id": "z",
        "accountEnabled": True,
        "businessPhones": [],
        "onPremisesExtensionAttributes": {"extensionAttribute1": "c1", "extensionAttribute2": None},
    }
    assert row("users", user) == {
        "accountEnabled": "true",
        "onPremisesExtensionAttributes.extensionAttribute1": "c1",
    }
