"""The Google source (``type: google``) against a local HTTPS fake of Google's token
endpoint and the People API that keeps people and a change log (``tests/cloud``), through
the real httpx and google-auth, and through the sync engine into a real SQLite store."""

from __future__ import annotations

import json
import logging
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from metadir.core.errors import SourceError
from metadir.core.phone import Location
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from replicators import kinds
from replicators.base import Context, ReplicatorConfig
from tests.cloud.google_fake import SCOPE
from tests.cloud.google_service import (
    ADMIN,
    CLIENT_SECRET,
    OAUTH_CLIENT,
    REFRESH_TOKEN,
    SA_CLIENT_ID,
    GoogleService,
    contact,
    contact_name,
    other_contact_name,
    profile_name,
    serving,
    shared_contact_name,
)
from tests.cloud.runs import (
    entries,
    everything,
    on_rows,
    settings_of,
    store_fixture,  # noqa: F401  (the fixture `store`)
)
from tests.cloud.runs import sync as sync_into

GERMANY = Location(country="DE")


def sync(store: Store, settings: ReplicatorConfig, base_dir: Path, **options: Any) -> RunRecord:
    """A run whose numbers are written as in Germany (the test people's local numbers)."""
    return sync_into(store, settings, base_dir, GERMANY, **options)


ANNA, BERT = "anna@example.com", "bert@example.com"

service = pytest.fixture(serving, name="service")


def config(service: GoogleService, **overrides: Any) -> ReplicatorConfig:
    return settings_of("google", service.settings(**overrides), service.directory)


def test_a_first_full_load_then_changes(service: GoogleService, store: Store) -> None:
    service.add_users(ANNA, BERT)
    service.add_profiles(0, 2000)
    service.add_shared_contacts(0, 300)
    anna = service.add_contacts(ANNA, 0, 400)
    service.add_contacts(BERT, 1000, 200)
    others = service.add_other_contacts(ANNA, 0, 100)
    settings = config(service, objects=["directory", "contacts", "other_contacts"],
                      users=[ANNA, BERT], page_size=250)  # fmt: skip
    first = sync(store, settings, service.directory)
    assert (first.outcome, first.mode, first.added) == ("ok", "full", 3000), first.message
    stored = entries(store)
    profile = stored[profile_name(7)]
    # the preset mapping: names, organisation, work address, phones by type in E.164
    assert profile["sn"] == ["Alpha7"] and profile["givenName"] == ["Anna"]
    assert profile["telephoneNumber"] == ["+498912347"] and profile["mobile"] == ["+491711000007"]
    assert profile["title"] == ["Sales Manager"] and profile["department"] == ["Sales"]
    assert profile["company"] == ["Example AG"] and profile["l"] == ["München"]
    assert profile["mail"] == ["anna7@example.com"] and profile["c"] == ["DE"]
    shared = stored[shared_contact_name(3)]
    assert shared["telephoneNumberCompanyMain"] == ["+49405553"]
    assert shared["facsimileTelephoneNumber"] == ["+494055593"]
    carl = stored[f"{ANNA}/{contact_name(5)}"]
    # no canonicalForm: the number as typed, normalised by metadir; the primary address first
    assert carl["telephoneNumber"] == ["+49307775"] and carl["mail"] == ["carl5@supplier.example"]
    assert carl["otherTelephone"] == ["+498001234567"]
    assert f"{BERT}/{contact_name(1005)}" in stored
    assert stored[f"{ANNA}/{other_contact_name(9)}"]["sn"] == ["Delta9"]
    # each user is read as that user: one assertion with sub per account
    assert {sub for sub, _ in service.accounts.assertions} == {ADMIN, ANNA, BERT}
    masks = {r.query.get("readMask") for _, r in service.people.requests_to("/otherContacts")}
    assert masks == {"emailAddresses,metadata,names,phoneNumbers"}
    connections = service.people.requests_to("/connections")
    assert {r.query["personFields"] for _, r in connections} == {
        "addresses,emailAddresses,metadata,names,organizations,phoneNumbers,sipAddresses,urls"
    }

    people = service.people
    people.update(people.directory, profile_name(1), names=[{"familyName": "Renamed"}])
    people.delete(people.directory, profile_name(2))
    service.add_profiles(5000, 1)
    people.delete(anna, contact_name(0))
    people.rename(anna, contact_name(1), "people/c7777")
    people.update(others, other_contact_name(4), phoneNumbers=[{"value": "0221 999"}])
    before = len(people.log)
    run = sync(store, settings, service.directory)
    assert (run.outcome, run.mode, run.note) == ("ok", "incremental", ""), run.message
    assert (run.added, run.updated, run.deleted) == (2, 2, 3)
    # only the changes travelled: one request per stream with its sync token, and the
    # check's one person
    sent = [r for _, r in people.log[before:] if r.path != "/token"]
    assert len(sent) == 6 and len([r for r in sent if "syncToken" in r.query]) == 5
    stored = entries(store)
    assert stored[profile_name(1)]["sn"] == ["Renamed"] and profile_name(2) not in stored
    assert profile_name(5000) in stored and f"{ANNA}/{contact_name(0)}" not in stored
    assert f"{ANNA}/{contact_name(1)}" not in stored
    assert stored[f"{ANNA}/people/c7777"]["sn"] == ["Gamma1"]
    assert stored[f"{ANNA}/{other_contact_name(4)}"]["otherTelephone"] == ["+49221999"]


def test_a_refresh_token_reads_its_own_account(service: GoogleService, store: Store) -> None:
    service.add_contacts(ADMIN, 0, 30)
    service.add_profiles(0, 10)
    settings = config(service, oauth=True, objects=["contacts", "directory"], page_size=7)
    run = sync(store, settings, service.directory)
    assert (run.outcome, run.added) == ("ok", 40), run.message
    assert f"me/{contact_name(3)}" in entries(store) and not service.accounts.assertions


def test_directory_sources_are_chosen(service: GoogleService, store: Store) -> None:
    service.add_profiles(0, 5)
    service.add_shared_contacts(0, 3)
    run = sync(store, config(service, sources="shared_contacts"), service.directory)
    assert (run.outcome, run.added) == ("ok", 3), run.message
    asked = service.people.requests_to(":listDirectoryPeople")[-1][1]
    assert asked.query["sources"] == "DIRECTORY_SOURCE_TYPE_DOMAIN_CONTACT"


@pytest.mark.parametrize("how", ["generation", "seven days", "410"])
def test_an_expired_sync_token_means_a_full_run(
    service: GoogleService, store: Store, how: str
) -> None:
    service.add_profiles(0, 30)
    settings = config(service, page_size=10, full_every="30d")
    assert sync(store, settings, service.directory).outcome == "ok"
    service.people.delete(service.people.directory, profile_name(3))
    if how == "seven days":
        service.people.clock_offset = 7 * 24 * 3600 + 60
    else:
        service.people.legacy_expiry = how == "410"
        service.people.expire_sync_tokens()
    run = sync(store, settings, service.directory)
    assert (run.outcome, run.mode, run.deleted) == ("ok", "full", 1), run.message
    said = "HTTP 410" if how == "410" else "EXPIRED_SYNC_TOKEN"
    assert said in run.note and "the directory" in run.note and "read whole again" in run.note
    # the new tokens count
    service.people.clock_offset = 0
    again = sync(store, settings, service.directory)
    assert (again.mode, again.note) == ("incremental", "")


def test_other_parameters_mean_a_full_run(service: GoogleService, store: Store) -> None:
    """A sync token is good only with the parameters of the call that gave it."""
    service.add_profiles(0, 12)
    assert sync(store, config(service, page_size=5), service.directory).outcome == "ok"
    run = sync(store, config(service, page_size=4), service.directory)
    assert (run.outcome, run.mode) == ("ok", "full"), run.message
    assert run.note.startswith("settings changed")
    again = sync(store, config(service, page_size=4), service.directory)
    assert (again.mode, again.unchanged + again.updated + again.added) == ("incremental", 0)


def test_paging_parameters_must_match_the_first_call(service: GoogleService) -> None:
    """The fake holds Google's rule, so the source is shown to keep it."""
    service.add_profiles(0, 5)
    token = service.accounts._issue(ADMIN, frozenset({SCOPE + "directory.readonly"}))
    bearer = {"Authorization": f"Bearer {json.loads(token.body)['access_token']}"}
    url = f"{service.url}/v1/people:listDirectoryPeople"
    first: list[tuple[str, str | int | float | bool | None]] = [
        ("readMask", "names"), ("sources", "DIRECTORY_SOURCE_TYPE_DOMAIN_PROFILE"), ("pageSize", 2)
    ]  # fmt: skip
    with httpx.Client(verify=ssl.create_default_context(cafile=service.ca.path)) as client:
        page = client.get(url, params=first, headers=bearer).json()
        assert len(page["people"]) == 2 and "nextSyncToken" not in page
        other = [*first[:2], ("pageSize", 3), ("pageToken", page["nextPageToken"])]
        refused = client.get(url, params=other, headers=bearer)
        assert refused.status_code == 400 and "must match" in refused.json()["error"]["message"]


def test_throttling_is_obeyed(service: GoogleService, tmp_path: Path) -> None:
    service.add_profiles(0, 20)
    service.people.fail(":listDirectoryPeople", "429:1")
    service.people.fail(":listDirectoryPeople", "503")
    service.people.fail(":listDirectoryPeople", "drop")
    items = list(config(service, page_size=5).build(Context(tmp_path)).read(None))
    assert len(items) == 21
    (throttled_at, asked), *_ = service.people.throttled
    later = [t for t, _ in service.people.requests_to(":listDirectoryPeople") if t > throttled_at]
    assert asked == 1 and later[0] - throttled_at >= asked


def test_a_token_that_runs_out_mid_read_is_renewed(service: GoogleService,
                                                    tmp_path: Path) -> None:  # fmt: skip
    service.add_profiles(0, 30)
    context = on_rows(10, service.accounts.revoke, tmp_path)
    items = list(config(service, page_size=10).build(context).read(None))
    assert len(items) == 31 and service.accounts.issued == 2


@pytest.mark.parametrize("how", ["down", "malformed"])
def test_a_source_failing_mid_read_changes_nothing(
    service: GoogleService, store: Store, tmp_path: Path, how: str
) -> None:
    service.add_profiles(0, 30)
    settings = config(service, page_size=10, retries=1)
    assert sync(store, settings, service.directory).outcome == "ok"
    people = service.people
    people.update(people.directory, profile_name(0), names=[{"familyName": "Changed"}])
    service.add_profiles(100, 20)
    people.expire_sync_tokens()  # a full read, so that it has pages to fail between
    before = everything(store, "workspace")

    def break_it() -> None:
        if how == "down":
            people.down = True
        else:
            people.fail(":listDirectoryPeople", "malformed")

    run = sync(store, settings, tmp_path, context=on_rows(10, break_it, tmp_path))
    assert run.outcome == "failed", run
    assert "\n" not in run.message
    assert ("RemoteProtocolError" if how == "down" else "malformed JSON") in run.message
    assert everything(store, "workspace") == before
    people.down = False
    assert sync(store, settings, service.directory).outcome == "ok"
    assert entries(store)[profile_name(0)]["sn"] == ["Changed"]


def one_line_failure(service: GoogleService, tmp_path: Path, **overrides: Any) -> str:
    with pytest.raises(SourceError) as caught:
        list(config(service, **overrides).build(Context(tmp_path)).read(None))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_wrong_credentials_are_one_clear_line(service: GoogleService,
                                              tmp_path: Path) -> None:  # fmt: skip
    stale = service.key_json
    service.new_service_account_key("5e3b0a1f2d")  # the old key was deleted
    wrong = one_line_failure(service, tmp_path, service_account_key=stale)
    assert "Invalid JWT Signature" in wrong and "make a new key" in wrong
    service.key_json = service.new_service_account_key()
    nobody = one_line_failure(service, tmp_path, subject="nobody@example.com")
    assert "nobody@example.com is no user" in nobody
    secret = one_line_failure(service, tmp_path, oauth=True, client_secret="wrong")
    assert "invalid_client" in secret and "check client_id and client_secret" in secret
    del service.accounts.refresh_tokens[REFRESH_TOKEN]
    revoked = one_line_failure(service, tmp_path, oauth=True)
    assert "invalid_grant: Token has been expired or revoked." in revoked
    assert "make a new one and set refresh_token" in revoked


def test_delegation_not_granted_names_the_scopes(service: GoogleService, tmp_path: Path) -> None:
    service.add_users(ANNA)
    service.accounts.delegated[SA_CLIENT_ID] = {SCOPE + "directory.readonly"}
    message = one_line_failure(service, tmp_path, objects=["directory", "contacts"],
                               users=[ANNA])  # fmt: skip
    assert "unauthorized_client" in message and f"client ID {SA_CLIENT_ID}" in message
    assert "Domain-wide delegation" in message
    assert message.endswith(
        "https://www.googleapis.com/auth/directory.readonly,"
        "https://www.googleapis.com/auth/contacts.readonly"
    )


def test_the_people_api_not_enabled_is_named(service: GoogleService, tmp_path: Path) -> None:
    service.people.enabled = False
    message = one_line_failure(service, tmp_path)
    assert "Google People API is not enabled in project 123456789012" in message
    assert "SERVICE_DISABLED" in message and "people.googleapis.com" in message


def test_a_refresh_token_without_the_scope(service: GoogleService, tmp_path: Path) -> None:
    directory_only = frozenset({SCOPE + "directory.readonly"})
    service.accounts.refresh_tokens[REFRESH_TOKEN] = (OAUTH_CLIENT, ADMIN, directory_only)
    message = one_line_failure(service, tmp_path, oauth=True, objects=["contacts"])
    assert "invalid_scope" in message
    assert "not granted the scopes https://www.googleapis.com/auth/contacts.readonly" in message


def test_secrets_are_never_logged_or_told(
    service: GoogleService, store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service.add_profiles(0, 3)
    service.add_contacts(ADMIN, 0, 2)
    caplog.set_level(logging.DEBUG)
    service.people.fail(":listDirectoryPeople", "429:0")
    ok = sync(store, config(service), service.directory)
    oauth = sync(store, config(service, oauth=True, objects=["contacts"]), service.directory)
    bad = sync(store, config(service, oauth=True, client_secret=CLIENT_SECRET + "x"),
               service.directory)  # fmt: skip
    tokens = list(service.accounts.tokens)
    told = caplog.text + ok.message + oauth.message + bad.message + repr(config(service))
    key = json.loads(service.key_json)["private_key"]
    assert tokens and ok.outcome == "ok" and bad.outcome == "failed"
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, key, key.splitlines()[1], *tokens):
        assert secret not in told


def test_secrets_from_files(service: GoogleService, store: Store) -> None:
    service.add_profiles(0, 2)
    values = service.settings()
    del values["service_account_key"]
    values["service_account_key_file"] = "sa-key.json"
    settings = kinds()["google"].settings.model_validate(
        values, context={"base_dir": service.directory}
    )
    assert sync(store, settings, service.directory).added == 2


def test_a_custom_field_mapped(service: GoogleService, store: Store) -> None:
    service.people.put(service.people.book("contacts", ADMIN), contact(3))
    settings = config(service, oauth=True, objects=["contacts"],
                      mapping={"custom0": "userDefined.customer"})  # fmt: skip
    run = sync(store, settings, service.directory)
    assert run.outcome == "ok", run.message
    assert entries(store)[f"me/{contact_name(3)}"]["custom0"] == ["K3"]
    asked = service.people.requests_to("/connections")[-1][1].query["personFields"]
    assert "userDefined" in asked.split(",")
