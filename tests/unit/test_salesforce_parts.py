"""The pieces of the Salesforce source that need no server: the settings, the SOQL it
sends, how each kind of record becomes a row, how the delete log and the overlap combine,
when a run must be whole, and how the service's refusals are told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from replicators import kinds
from replicators.http_client import error_of
from replicators.salesforce.auth import refused
from replicators.salesforce.objects import gone, row, select, soql
from replicators.salesforce.source import Changes, _next_second
from replicators.salesforce.state import Position, checkpoint, full_reason

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
CONTACT = {
    "attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003RO1"},
    "Id": "003RO1", "FirstName": "Anna", "LastName": "Alpha", "Phone": "+49 89 1234-100",
    "HomePhone": None, "Account": {"attributes": {"type": "Account", "url": "…"},
                                   "Name": "Example AG"},
    "MailingAddress": {"city": "München", "latitude": None}, "DoNotCall": False,
    "IsDeleted": False, "SystemModstamp": "2026-11-01T10:00:00.000+0000",
}  # fmt: skip


def settings(tmp_path: Path, **values: object) -> Any:
    given = {"name": "sf", "type": "salesforce", "client_id": "3MVG9key",
             "username": "api@example.com", "client_secret": "s", "password": "p",
             **values}  # fmt: skip
    given = {key: value for key, value in given.items() if value is not None}
    return kinds()["salesforce"].settings.model_validate(given, context={"base_dir": tmp_path})


@pytest.mark.parametrize(
    ("values", "says"),
    [({"username": "api"}, "mail address"),
     ({"private_key": "k"}, "either private_key"),
     ({"client_secret": None, "password": None}, "either private_key"),
     ({"password": None}, "needs client_secret and password"),
     ({"login_url": "http://login.salesforce.com"}, "https://"),
     ({"api_version": "62"}, "REST API version"),
     ({"objects": ["opportunities"]}, "objects"),
     ({"objects": ["leads", "leads"]}, "at most once"),
     ({"page_size": 100}, "page_size"),
     ({"preset_mapping": False}, "mapping: required")],
)  # fmt: skip
def test_settings_say_what_is_wrong(tmp_path: Path, values: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        settings(tmp_path, **values)


def test_settings_defaults_and_secret_files(tmp_path: Path) -> None:
    (tmp_path / "sf.key").write_text("-----BEGIN PRIVATE KEY-----\n…\n")
    given = settings(tmp_path, client_secret=None, password=None, private_key_file="sf.key",
                     api_version=61.0, objects="leads")  # fmt: skip
    assert given.jwt and given.api_version == "61.0" and given.objects == ["leads"]
    assert given.login_url == "https://login.salesforce.com" and given.overlap.seconds == 300
    assert given.mapping["company"] == "Account.Name"
    assert "BEGIN" not in repr(given)
    own = settings(tmp_path, mapping={"telephoneNumber": "Extension__c"})
    assert own.mapping["telephoneNumber"] == "Extension__c" and own.mapping["sn"] == "LastName"


def test_the_soql_of_full_and_incremental_reads() -> None:
    wanted = ["LastName", "Account.Name", "MailingCity", "Extension__c", "Website"]
    assert select("contacts", wanted) == ["Account.Name", "Extension__c", "LastName",
                                          "MailingCity"]  # fmt: skip
    assert select("leads", wanted) == ["City", "Company", "LastName", "Website"]
    assert select("accounts", wanted) == ["BillingCity", "Name", "Website"]
    full = soql("leads", ["Company"], None)
    assert full == ("SELECT Id,Company,IsConverted,IsDeleted,SystemModstamp FROM Lead "
                    "WHERE IsDeleted = false ORDER BY SystemModstamp, Id")  # fmt: skip
    since = datetime(2026, 11, 1, 9, 55, 30, 123000, tzinfo=UTC)
    assert soql("contacts", [], since).endswith(
        "FROM Contact WHERE SystemModstamp > 2026-11-01T09:55:30Z ORDER BY SystemModstamp, Id"
    )


def test_records_become_rows_in_the_contact_names() -> None:
    assert row("contacts", CONTACT) == {
        "FirstName": "Anna", "LastName": "Alpha", "Phone": "+49 89 1234-100",
        "Account.Name": "Example AG", "MailingAddress.city": "München", "DoNotCall": "false",
    }  # fmt: skip
    lead = {"Id": "00Q1", "Company": "Prospect", "Street": "Hafenstr. 1", "Name": "Bert",
            "IsConverted": False}  # fmt: skip
    assert row("leads", lead) == {"Account.Name": "Prospect", "MailingStreet": "Hafenstr. 1",
                                  "Name": "Bert"}  # fmt: skip
    account = {"Id": "0011", "Name": "Example AG", "BillingCity": "Berlin", "Fax": ""}
    assert row("accounts", account) == {"Name": "Example AG", "Account.Name": "Example AG",
                                        "MailingCity": "Berlin"}  # fmt: skip
    assert gone("leads", {**lead, "IsConverted": True}) and not gone("leads", lead)
    assert gone("contacts", {**CONTACT, "IsDeleted": True}) and not gone("contacts", CONTACT)


def test_the_delete_log_against_the_query() -> None:
    changes = Changes()
    changes.add({**CONTACT, "Id": "a", "SystemModstamp": "2026-11-01T10:05:00.000+0000"})
    changes.add({**CONTACT, "Id": "b", "SystemModstamp": "2026-11-01T09:00:00.000+0000"})
    changes.add({**CONTACT, "Id": "b", "SystemModstamp": "2026-11-01T09:01:00.000+0000"})
    changes.deleted = {"a": NOW, "b": NOW, "c": NOW}
    # a: restored after its delete; b: deleted after the query read it; c: not read at all
    assert changes.removed() == ["b", "c"] and len(changes.records) == 2
    assert changes.newest == NOW + timedelta(minutes=5)
    assert _next_second(NOW) == NOW
    assert _next_second(NOW + timedelta(milliseconds=1)) == NOW + timedelta(seconds=1)


def test_when_a_run_must_read_everything(tmp_path: Path) -> None:
    config = settings(tmp_path, objects=["contacts", "leads"])
    assert full_reason(config, None, NOW) == ""
    found = {"contacts": Position(NOW, NOW), "leads": Position(NOW, NOW)}
    state = checkpoint(config, None, "", NOW, found).state
    assert full_reason(config, state, NOW + timedelta(hours=1)) == found
    only_contacts = {**state, "positions": {"contacts": state["positions"]["contacts"]}}
    assert "no position yet for leads" in str(full_reason(config, only_contacts, NOW))
    assert "settings changed" in str(full_reason(settings(tmp_path), state, NOW))
    assert "periodic full read" in str(full_reason(config, state, NOW + timedelta(days=8)))
    rare = settings(tmp_path, objects=["contacts", "leads"], full_every="60d")
    kept = checkpoint(rare, None, "", NOW, found).state
    assert "Salesforce keeps it 15 days" in str(full_reason(rare, kept, NOW + timedelta(days=16)))
    broken = {**state, "positions": {"contacts": {"modstamp": "yesterday", "deleted": "x"}}}
    assert "saved state unusable" in str(full_reason(config, broken, NOW))


def test_salesforce_error_answers() -> None:
    invalid_field = [{"errorCode": "INVALID_FIELD", "message": (
        "\nSELECT Id,Foo__c FROM Contact\n          ^\nERROR at Row:1:Column:11\n"
        "No such column 'Foo__c' on entity 'Contact'.")}]  # fmt: skip
    assert error_of(httpx.Response(400, json=invalid_field)) == (
        "INVALID_FIELD",
        "No such column 'Foo__c' on entity 'Contact'.",
    )
    session = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert error_of(httpx.Response(401, json=session))[0] == "INVALID_SESSION_ID"
    oauth = {"error": "invalid_grant", "error_description": "authentication failure"}
    assert error_of(httpx.Response(400, json=oauth)) == ("invalid_grant", "authentication failure")
    assert error_of(httpx.Response(502, text="<html>")) == ("", "")


def test_login_refusals_say_what_to_check(tmp_path: Path) -> None:
    password = settings(tmp_path)
    said = refused({"error": "invalid_grant", "error_description": "authentication failure"},
                   password)  # fmt: skip
    assert said.startswith("Salesforce refused the login (username-password flow")
    assert "security_token" in said
    jwt = settings(tmp_path, client_secret=None, password=None, private_key="k")
    said = refused({"error": "invalid_grant",
                    "error_description": "user hasn't approved this consumer"}, jwt)  # fmt: skip
    assert "JWT bearer flow" in said and "pre-authorized" in said
    assert "check client_id, username and the private key" in refused({"error": "x"}, jwt)
