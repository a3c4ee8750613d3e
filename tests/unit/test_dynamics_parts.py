"""The pieces of the Dynamics 365 / Dataverse source that need no server: the settings, the
columns each table is asked for, how a Web API row becomes fields, which Dataverse errors
mean the delta link expired, the preset mapping, and Entra ID's refusals told as one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from metadir.core import fields
from replicators import kinds
from replicators.dynamics.objects import FORMATTED, row, select
from replicators.dynamics.settings import preset_mapping, privileges
from replicators.entra import refused
from replicators.http_client import HttpStatusError
from replicators.odata import expired

CLIENT = "5d7e2c1a-8b3f-4e6d-9a0c-1f2e3d4c5b6a"
BASE = {
    "name": "crm", "type": "dynamics", "environment_url": "https://contoso.crm4.dynamics.com",
    "tenant_id": "contoso.onmicrosoft.com", "client_id": CLIENT, "client_secret": "s",
}  # fmt: skip


def settings(**overrides: Any) -> Any:
    return kinds()["dynamics"].settings.model_validate({**BASE, **overrides})


def test_the_defaults_read_both_tables_with_the_preset() -> None:
    made = settings(environment_url="https://contoso.crm4.dynamics.com/")
    assert made.objects == ["contacts", "accounts"] and made.active_only
    assert made.api_url == "https://contoso.crm4.dynamics.com/api/data/v9.2"
    assert made.mapping["telephoneNumber"] == "telephone1"
    assert made.mapping["company"] == "parentcustomerid"
    own = settings(mapping={"fax": "new_fax", "ipPhone": "new_extension"})
    # an own mapping extends the preset; an attribute named by an alias replaces its field
    assert own.mapping["fax"] == "new_fax" and "facsimileTelephoneNumber" not in own.mapping
    assert own.mapping["ipPhone"] == "new_extension" and own.mapping["mobile"] == "mobilephone"
    assert settings(preset_mapping=False, mapping={"sn": "lastname"}).mapping == {"sn": "lastname"}


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"environment_url": "http://contoso.crm4.dynamics.com"}, "expected https://HOST"),
        ({"environment_url": "https://contoso.crm4.dynamics.com/api/data/v9.2"}, "alone"),
        ({"client_id": "metadir"}, "a GUID"),
        ({"tenant_id": "contoso onmicrosoft"}, "tenant"),
        ({"client_secret": ""}, "give either client_secret or certificate"),
        ({"certificate": "PEM"}, "give either client_secret or certificate"),
        ({"objects": ["contacts", "leads"]}, "objects"),
        ({"objects": []}, "name contacts or accounts"),
        ({"page_size": 6000}, "page_size"),
        ({"api_version": "8.0"}, "a Web API version"),
        ({"preset_mapping": False}, "mapping: required"),
        ({"login_url": "https://login.example/?x=1"}, "expected https://HOST"),
    ],
)  # fmt: skip
def test_settings_that_are_refused(overrides: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        settings(**overrides)


def test_a_secret_from_a_file_is_never_shown(tmp_path: Path) -> None:
    (tmp_path / "crm.secret").write_text("s3cr3t-value\n")
    given = {k: v for k, v in BASE.items() if k != "client_secret"}
    made: Any = kinds()["dynamics"].settings.model_validate(
        {**given, "client_secret_file": "crm.secret"}, context={"base_dir": tmp_path}
    )
    assert made.client_secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t" not in repr(made) and "s3cr3t" not in str(made.model_dump())


def test_the_columns_each_table_is_asked_for() -> None:
    wanted = ["fullname", "parentcustomerid", "telephone3", "new_extension", "_ownerid_value"]
    assert select("contacts", wanted) == [
        "_ownerid_value", "_parentcustomerid_value", "contactid", "fullname", "new_extension",
        "statecode", "telephone3",
    ]  # fmt: skip
    # an account's name stands for fullname and its company; its other phones for telephone3
    assert select("accounts", wanted) == ["accountid", "name", "statecode", "telephone2",
                                          "telephone3"]  # fmt: skip


def test_a_contact_row_with_formatted_values() -> None:
    item = {
        "@odata.etag": 'W/"915244"', "contactid": "c1", "id": "c1", "fullname": "Anna Alpha",
        "telephone1": "+49 89 1234", "telephone2": None, "donotphone": False, "numberofchildren": 2,
        "_parentcustomerid_value": "a1", f"_parentcustomerid_value{FORMATTED}": "Contoso AG",
        "preferredcontactmethodcode": 3, f"preferredcontactmethodcode{FORMATTED}": "Phone",
        "statecode": 0, f"statecode{FORMATTED}": "Active", "emailaddress1": "",
    }  # fmt: skip
    assert row("contacts", item) == {
        "fullname": "Anna Alpha", "telephone1": "+49 89 1234", "donotphone": "false",
        "numberofchildren": "2", "_parentcustomerid_value": "a1", "parentcustomerid": "Contoso AG",
        "preferredcontactmethodcode": "Phone", "statecode": "Active",
    }  # fmt: skip


def test_an_account_row_in_the_contacts_names() -> None:
    item = {"accountid": "a1", "name": "Contoso AG", "telephone1": "+49 30 1",
            "telephone2": "+49 30 2", "telephone3": "+49 30 3", "fax": None}  # fmt: skip
    assert row("accounts", item) == {
        "fullname": "Contoso AG", "parentcustomerid": "Contoso AG", "telephone1": "+49 30 1",
        "telephone3": ["+49 30 2", "+49 30 3"],
    }  # fmt: skip
    assert row("accounts", {"accountid": "a2", "telephone3": "+49 1"}) == {"telephone3": "+49 1"}


def answer(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": "x"}})


@pytest.mark.parametrize(
    ("status", "code", "gone"),
    [(400, "0x80044352", True), (400, "0x80044183", True), (400, "0x80060888", False),
     (403, "0x80040220", False), (429, "0x80072322", False)],
)  # fmt: skip
def test_which_dataverse_errors_mean_the_delta_link_expired(
    status: int, code: str, gone: bool
) -> None:
    assert expired(HttpStatusError("Dataverse", answer(status, code))) is gone


def test_the_preset_maps_onto_canonical_fields() -> None:
    preset = preset_mapping()
    assert all(fields.lookup(name) is not None for name in preset)
    assert privileges() == {"contacts": "prvReadContact", "accounts": "prvReadAccount"}


def test_entra_refusals_are_one_line_with_a_hint() -> None:
    line = refused({"error": "invalid_client",
                    "error_description": "AADSTS7000222: The provided client secret keys for "
                                         "app are expired.\r\nTrace ID: x"})  # fmt: skip
    assert line == (
        "Entra ID refused the app's credentials (invalid_client: AADSTS7000222: The provided "
        "client secret keys for app are expired.): the client secret has expired: make a new one"
    )
    assert "check tenant_id, client_id" in refused({"error": "unauthorized_client"})


def test_full_every_stays_within_the_changes_dataverse_keeps(tmp_path: Path) -> None:
    given = {"name": "crm", "type": "dynamics", "environment_url": "https://contoso.crm4.dynamics.com",
             "tenant_id": "contoso.example", "client_id": "0b6f5a52-3c1e-4d7a-9f3e-2a1d7c9e8b41",
             "client_secret": "s"}  # fmt: skip
    settings = kinds()["dynamics"].settings
    context = {"base_dir": tmp_path}
    assert settings.model_validate({**given, "full_every": "30d"}, context=context)
    with pytest.raises(ValidationError, match="at most 30d"):
        settings.model_validate({**given, "full_every": "31d"}, context=context)
