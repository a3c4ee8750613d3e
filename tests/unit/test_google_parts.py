"""The pieces of the Google source that need no server: the httpx transport for
google-auth (held to google-auth's own interface), how a Person becomes a row, the field
masks, Google's error statuses, the settings, and the fake's schema checker against the
discovery document shipped with google-api-python-client."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from google.auth import exceptions, transport
from google.oauth2 import credentials
from pydantic import ValidationError

from replicators import kinds
from replicators.google.auth import HttpxRequest
from replicators.google.people import FIELDS, person_fields, row, unknown_fields
from replicators.google.settings import preset_mapping
from replicators.google.status import explain as explain_status
from replicators.google.status import parse
from replicators.http_client import error_of
from tests.cloud.google_fake import valid_masks, violations
from tests.cloud.google_service import contact, other_contact, profile, shared_contact

TOKEN_URL = "https://oauth2.example.test/token"


def token_endpoint(request: httpx.Request) -> httpx.Response:
    """Google's token endpoint for one refresh token, as the adapter's contract test
    needs it."""
    form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()}
    if request.url != TOKEN_URL or request.method != "POST":
        return httpx.Response(404)
    if form.get("refresh_token") != "rt" or form.get("client_secret") != "cs":
        said = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        return httpx.Response(400, json=said)
    return httpx.Response(200, json={"access_token": "ya29.fresh", "expires_in": 3599,
                                     "token_type": "Bearer"})  # fmt: skip


def adapter(handler: Any = token_endpoint) -> HttpxRequest:
    return HttpxRequest(httpx.Client(transport=httpx.MockTransport(handler)))


def test_the_adapter_is_a_google_auth_transport() -> None:
    request = adapter()
    assert isinstance(request, transport.Request)
    answer = request(TOKEN_URL, method="POST", body=b"refresh_token=rt&client_secret=cs",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert isinstance(answer, transport.Response)
    assert answer.status == 200 and isinstance(answer.data, bytes)
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.data)["access_token"] == "ya29.fresh"


def test_google_auth_refreshes_through_the_adapter() -> None:
    made = credentials.Credentials(None, refresh_token="rt", client_id="c", client_secret="cs",
                                   token_uri=TOKEN_URL)  # fmt: skip
    made.refresh(adapter())
    assert made.token == "ya29.fresh" and made.valid
    assert made.expiry is not None and made.expiry > datetime.now(UTC).replace(tzinfo=None)
    revoked = credentials.Credentials(None, refresh_token="gone", client_id="c",
                                      client_secret="cs", token_uri=TOKEN_URL)  # fmt: skip
    with pytest.raises(exceptions.RefreshError) as caught:
        revoked.refresh(adapter())
    assert caught.value.args[1]["error"] == "invalid_grant"


def test_transport_failures_are_google_auth_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(exceptions.TransportError, match="ConnectError: connection refused"):
        adapter(refuse)(TOKEN_URL, method="POST", body=b"")


def test_a_person_becomes_one_row() -> None:
    person = {
        "resourceName": "people/c1",
        "metadata": {"sources": [{"type": "CONTACT", "id": "1"}]},
        "names": [{"givenName": "Other"},
                  {"metadata": {"primary": True}, "givenName": "Anna", "familyName": "Alpha"}],
        "phoneNumbers": [{"value": "089 1234-100", "canonicalForm": "+49891234100", "type": "work"},
                         {"value": "0171 1", "type": "mobile"},
                         {"value": "0171 2", "type": "mobile"},
                         {"value": "555", "type": "Reception desk"}],
        "emailAddresses": [{"value": "b@x", "type": "home"},
                           {"value": "a@x", "type": "work", "metadata": {"primary": True}}],
        "addresses": [{"city": "Köln", "type": "home"}, {"city": "München", "type": "work"}],
        "userDefined": [{"key": "room", "value": "3.14"}],
        "externalIds": [{"type": "organization", "value": "E17"}],
    }  # fmt: skip
    assert row("contacts", "anna@example.com", person) == {
        "object": "contacts", "owner": "anna@example.com", "resourceName": "people/c1",
        "source": "CONTACT", "names.givenName": "Anna", "names.familyName": "Alpha",
        "addresses.city": "München", "addresses.home.city": "Köln",
        "addresses.work.city": "München",
        "phoneNumbers": ["+49891234100", "0171 1", "0171 2", "555"],
        "phoneNumbers.work": "+49891234100", "phoneNumbers.mobile": ["0171 1", "0171 2"],
        "phoneNumbers.other": "555",
        "emailAddresses": ["a@x", "b@x"], "emailAddresses.work": "a@x",
        "emailAddresses.home": "b@x", "userDefined.room": "3.14",
        "externalIds.organization": "E17",
    }  # fmt: skip


def test_the_masks_ask_for_what_the_mapping_reads() -> None:
    wanted = ["names.givenName", "organizations.title", "phoneNumbers.work", "owner"]
    assert person_fields("contacts", wanted) == "metadata,names,organizations,phoneNumbers"
    # other contacts have no organisations
    assert person_fields("other_contacts", wanted) == "metadata,names,phoneNumbers"
    assert unknown_fields(["names.givenName", "surname", "owner"]) == ["surname"]


def test_the_masks_are_ones_the_api_takes() -> None:
    """Every Person field a row can come from is named in each method's mask description
    of the discovery document."""
    tops = {name.split(".", 1)[0] for name in FIELDS} - {"resourceName", "source", "owner",
                                                         "object"}  # fmt: skip
    for method in ("contacts", "directory"):
        assert tops - {"fileAses"} <= valid_masks(method)
    assert "metadata" in valid_masks("other_contacts")


def test_the_preset_reads_fields_a_row_has() -> None:
    assert unknown_fields(preset_mapping().values()) == []
    assert set(preset_mapping().values()) <= set(FIELDS)


@pytest.mark.parametrize("person", [profile(1), shared_contact(2), contact(3), other_contact(4)])
def test_the_test_people_fit_the_discovery_document(person: dict[str, Any]) -> None:
    assert violations("Person", person) == []


def test_the_schema_checker_finds_what_does_not_fit() -> None:
    bad = {"connections": [{"resourceName": 7, "names": [{"givenNme": "A"}],
                            "metadata": {"objectType": "ROBOT", "deleted": "yes"}}],
           "nextPageTokn": "x", "totalItems": "3"}  # fmt: skip
    found = violations("ListConnectionsResponse", bad)
    assert set(found) == {
        "ListConnectionsResponse.connections[0].resourceName: not a string",
        "ListConnectionsResponse.connections[0].names[0].givenNme: no such property",
        "ListConnectionsResponse.connections[0].metadata.objectType: 'ROBOT' is none of "
        "['OBJECT_TYPE_UNSPECIFIED', 'PERSON', 'PAGE']",
        "ListConnectionsResponse.connections[0].metadata.deleted: not a boolean",
        "ListConnectionsResponse.nextPageTokn: no such property",
        "ListConnectionsResponse.totalItems: not an integer",
    }


def error(code: int, status: str, reason: str = "", **metadata: str) -> bytes:
    body: dict[str, Any] = {"code": code, "message": "Said.\nMore.", "status": status}
    if reason:
        body["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": reason, "metadata": metadata}]  # fmt: skip
    return json.dumps({"error": body}).encode()


def test_google_error_statuses() -> None:
    expired = parse(400, error(400, "FAILED_PRECONDITION", "EXPIRED_SYNC_TOKEN"))
    assert expired.expired_sync_token and expired.said() == "EXPIRED_SYNC_TOKEN: Said."
    assert parse(410, b"").expired_sync_token
    assert not parse(400, error(400, "INVALID_ARGUMENT")).expired_sync_token
    disabled = parse(403, error(403, "PERMISSION_DENIED", "SERVICE_DISABLED",
                                consumer="projects/42"))  # fmt: skip
    assert explain_status(disabled, "the directory", "scope").startswith(
        "Google People API is not enabled in project 42 (SERVICE_DISABLED: Said.)"
    )
    scopes = parse(403, error(403, "PERMISSION_DENIED", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"))
    assert explain_status(scopes, "the contacts of me", "https://x/contacts.readonly") == (
        "Google People API denied reading the contacts of me (ACCESS_TOKEN_SCOPE_INSUFFICIENT: "
        "Said.): grant the scope https://x/contacts.readonly"
    )
    assert parse(502, b"<html>").said() == "HTTP 502"
    # the shared layer's error names the reason, else the status
    answer = httpx.Response(400, content=error(400, "FAILED_PRECONDITION", "EXPIRED_SYNC_TOKEN"))
    assert error_of(answer) == ("EXPIRED_SYNC_TOKEN", "Said.")
    assert error_of(httpx.Response(403, content=error(403, "PERMISSION_DENIED"))) == (
        "PERMISSION_DENIED",
        "Said.",
    )


def settings(tmp_path: Path, **values: object) -> Any:
    given = {"name": "g", "type": "google", "client_id": "c", "client_secret": "s",
             "refresh_token": "r", **values}  # fmt: skip
    given = {key: value for key, value in given.items() if value is not None}
    return kinds()["google"].settings.model_validate(given, context={"base_dir": tmp_path})


KEY = json.dumps({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
                  "client_id": "1", "private_key": "-----BEGIN PRIVATE KEY-----",
                  "private_key_id": "k"})  # fmt: skip
AS_SERVICE = {"client_id": None, "client_secret": None, "refresh_token": None,
              "service_account_key": KEY}  # fmt: skip


@pytest.mark.parametrize(
    ("values", "says"),
    [({"service_account_key": KEY}, "either service_account_key or client_id"),
     ({"refresh_token": None}, "give all three"),
     ({**AS_SERVICE, "service_account_key": "{}"}, "has no type"),
     ({**AS_SERVICE, "service_account_key": "not json"}, "not JSON"),
     ({**AS_SERVICE, "objects": ["contacts"]}, "users: whose contacts"),
     ({**AS_SERVICE}, "subject: the user"),
     ({**AS_SERVICE, "subject": "a@b", "users": ["a@b"]}, "users: only with objects contacts"),
     ({"users": ["a@b"], "objects": "contacts"}, "only with service_account_key"),
     ({"users": ["nobody"], "objects": "contacts"}, "a user's address"),
     ({"objects": ["people"]}, "objects"),
     ({"sources": []}, "sources"),
     ({"people_url": "http://people.example"}, "https://"),
     ({"mapping": {"sn": "surname"}}, "'surname' is no field of a Google person"),
     ({"page_size": 5000}, "less than or equal to 1000")],
)  # fmt: skip
def test_settings_that_do_not_fit(tmp_path: Path, values: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        settings(tmp_path, **values)


def test_secrets_from_files_and_scopes(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("from-a-file\n")
    read = settings(tmp_path, refresh_token=None, refresh_token_file="token.txt",
                    objects=["contacts", "other_contacts"])  # fmt: skip
    assert read.refresh_token.get_secret_value() == "from-a-file"
    assert "from-a-file" not in repr(read)
    assert read.scopes() == ["https://www.googleapis.com/auth/contacts.readonly",
                             "https://www.googleapis.com/auth/contacts.other.readonly"]  # fmt: skip
    service = settings(tmp_path, **AS_SERVICE, users="anna@example.com", objects="contacts")
    assert service.acting_as == "anna@example.com" and service.users == ["anna@example.com"]
