"""The Salesforce source (``type: salesforce``) against a local HTTPS fake of a Salesforce
org that keeps records, a recycle bin and a delete log (``tests/cloud``), through the real
httpx and PyJWT, and through the sync engine into a real SQLite store."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from metadir.core.errors import SourceError
from metadir.store.store import Store
from replicators.base import Checkpoint, Context, ReplicatorConfig
from tests.cloud.runs import (
    entries,
    everything,
    on_rows,
    settings_of,
    store_fixture,  # noqa: F401  (the fixture `store`)
    sync,
)
from tests.cloud.salesforce_service import (
    CLIENT_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    SalesforceService,
    account_id,
    contact_id,
    lead_id,
    serving,
)
from tests.cloud.service import rsa_certificate

service = pytest.fixture(serving, name="service")
# records filled before the test's first run are an hour old: out of the overlap
AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


def config(service: SalesforceService, jwt: bool = False, **overrides: Any) -> ReplicatorConfig:
    values = service.jwt_settings(**overrides) if jwt else service.settings(**overrides)
    return settings_of("salesforce", values, service.directory)


def queries(service: SalesforceService) -> list[str]:
    """The queries of the reads (not those of the checks: LIMIT 1)."""
    asked = [r.query["q"] for _, r in service.fake.requests_to("/queryAll")]
    return [q for q in asked if not q.endswith(" LIMIT 1")]


def test_a_first_full_load_then_changes(service: SalesforceService, store: Store) -> None:
    service.add_accounts(0, 10, AN_HOUR_AGO)
    service.add_contacts(0, 3000, AN_HOUR_AGO)
    settings = config(service)
    first = sync(store, settings, service.directory)
    assert (first.outcome, first.mode, first.added) == ("ok", "full", 3000), first.message
    anna = entries(store)[contact_id(7)]
    # the preset mapping, with no mapping given; Account.Name from the relationship
    assert anna["sn"] == ["Alpha7"] and anna["company"] == ["Example AG 7"]
    assert anna["telephoneNumber"] == ["+498912347"] and anna["mobile"] == ["+491711000007"]
    assert anna["title"] == ["Sales Manager"] and anna["department"] == ["Sales"]
    assert anna["l"] == ["München"] and anna["mail"] == ["anna7@example.com"]
    # two pages of 2000 and 1000, the second by its nextRecordsUrl
    (first_query,) = queries(service)
    assert "WHERE IsDeleted = false ORDER BY SystemModstamp, Id" in first_query
    assert "Account.Name" in first_query and ",Phone," in first_query
    pages = service.fake.requests_to("/query/01g")
    assert len(pages) == 1 and pages[0][1].path.endswith("-2000")

    fake = service.fake
    fake.update("Contact", contact_id(1), LastName="Renamed", Name="Anna Renamed")
    fake.delete("Contact", contact_id(2))  # into the recycle bin: IsDeleted in queryAll
    # gone for good: the delete log only, which tells a minute once it has passed
    fake.delete(
        "Contact", contact_id(3), hard=True, logged=datetime.now(UTC) - timedelta(minutes=2)
    )
    service.add_contacts(5000, 1)
    run = sync(store, settings, service.directory)
    assert (run.outcome, run.mode, run.note) == ("ok", "incremental", ""), run.message
    assert (run.added, run.updated, run.deleted) == (1, 1, 2)
    since = queries(service)[-1]
    assert "WHERE SystemModstamp > " in since and "IsDeleted = false" not in since
    # only the changes travelled: one delete-log request, one page
    assert len(fake.requests_to("/sobjects/Contact/deleted/")) == 1
    assert len(fake.requests_to("/query/01g")) == 1
    stored = entries(store)
    assert stored[contact_id(1)]["sn"] == ["Renamed"] and stored[contact_id(1)]["cn"]
    assert contact_id(2) not in stored and contact_id(3) not in stored
    assert contact_id(5000) in stored

    # restored from the recycle bin: back, though the delete log names it
    fake.undelete("Contact", contact_id(2))
    again = sync(store, settings, service.directory)
    assert (again.mode, again.added, again.deleted) == ("incremental", 1, 0), again.message
    assert contact_id(2) in entries(store)
    # a run within a minute of the last asks no delete log (the service would refuse a
    # window of a minute or less) and stays incremental
    assert len(fake.requests_to("/sobjects/Contact/deleted/")) == 1
    assert (again.note, sync(store, settings, service.directory).mode) == ("", "incremental")


def test_leads_and_accounts_in_the_same_names(service: SalesforceService, store: Store) -> None:
    service.add_accounts(0, 3, AN_HOUR_AGO)
    service.add_contacts(0, 3, AN_HOUR_AGO)
    service.add_leads(0, 4, AN_HOUR_AGO)
    service.fake.update("Lead", lead_id(3), IsConverted=True)
    settings = config(service, objects=["contacts", "leads", "accounts"], page_size=200)
    first = sync(store, settings, service.directory)
    assert (first.outcome, first.added) == ("ok", 9), first.message
    stored = entries(store)
    assert lead_id(3) not in stored  # converted: its contact carries on
    bert = stored[lead_id(1)]
    assert bert["company"] == ["Prospect GmbH"] and bert["l"] == ["Hamburg"]
    assert bert["sn"] == ["Beta1"] and bert["telephoneNumber"] == ["+49405551"]
    firm = stored[account_id(2)]
    assert firm["displayName"] == ["Example AG 2"] and firm["company"] == ["Example AG 2"]
    assert firm["facsimileTelephoneNumber"] == ["+493077729"] and firm["l"] == ["Berlin"]
    options = {r.headers.get("sforce-query-options") for _, r in service.fake.log
               if "/queryAll" in r.path}  # fmt: skip
    assert options == {"batchSize=200"}

    service.fake.update("Lead", lead_id(0), IsConverted=True)
    run = sync(store, settings, service.directory)
    assert (run.mode, run.deleted) == ("incremental", 1), run.message
    assert lead_id(0) not in entries(store)


def test_a_purged_delete_log_means_a_full_run(service: SalesforceService, store: Store) -> None:
    service.add_contacts(0, 20, AN_HOUR_AGO)
    settings = config(service)
    assert sync(store, settings, service.directory).outcome == "ok"
    service.fake.delete("Contact", contact_id(4), hard=True)
    service.fake.purge_delete_log("Contact")  # the delete of contact 4 is no longer told
    run = sync(store, settings, service.directory)
    assert (run.outcome, run.mode, run.deleted) == ("ok", "full", 1), run.message
    assert "earliestDateAvailable" in run.note and "read whole again" in run.note
    again = sync(store, settings, service.directory)
    assert (again.mode, again.note) == ("incremental", ""), again.note


def test_a_delete_log_older_than_15_days_or_new_settings_mean_a_full_run(
    service: SalesforceService, store: Store, tmp_path: Path
) -> None:
    service.add_contacts(0, 5, AN_HOUR_AGO)
    settings = config(service, full_every="30d")
    assert sync(store, settings, service.directory).outcome == "ok"
    later = Context(tmp_path, clock=lambda: datetime.now(UTC) + timedelta(days=16))
    run = sync(store, settings, service.directory, context=later)
    assert (run.outcome, run.mode) == ("ok", "full"), run.message
    assert "Salesforce keeps it 15 days" in run.note
    other = config(service, full_every="30d", mapping={"ipPhone": "Extension__c"})
    changed = sync(store, other, service.directory)
    assert changed.mode == "full" and "settings changed" in changed.note
    assert entries(store)[contact_id(3)]["ipPhone"] == ["103"]


def test_a_delete_log_the_service_refuses_as_too_old(
    service: SalesforceService, tmp_path: Path
) -> None:
    service.add_contacts(0, 5, AN_HOUR_AGO)
    settings = config(service)
    *_, last = settings.build(Context(tmp_path)).read(None)
    assert isinstance(last, Checkpoint)
    # the position is 15.5 days old, and this host's clock a day behind the service's: the
    # source sees 14.5 days, the service refuses the window (INVALID_REPLICATION_DATE)
    old = (datetime.now(UTC) - timedelta(days=15, hours=12)).isoformat()
    state = {**last.state, "positions": {"contacts": {**last.state["positions"]["contacts"],
                                                      "deleted": old}}}  # fmt: skip
    behind = Context(tmp_path, clock=lambda: datetime.now(UTC) - timedelta(days=1))
    *records, again = settings.build(behind).read(state)
    assert isinstance(again, Checkpoint) and again.full and len(records) == 5
    assert "INVALID_REPLICATION_DATE" in again.note and "read whole again" in again.note


def test_throttling_is_obeyed(service: SalesforceService, tmp_path: Path) -> None:
    service.add_contacts(0, 30)
    service.fake.max_page = 10
    service.fake.fail("/queryAll", "429:1")
    service.fake.fail("/query/01g", "503:0")
    service.fake.fail("/query/01g", "drop")
    items = list(config(service).build(Context(tmp_path)).read(None))
    assert len(items) == 31
    (throttled_at, asked), *_ = service.fake.throttled
    later = [t for t, _ in service.fake.requests_to("/queryAll") if t > throttled_at]
    assert asked == 1 and later[0] - throttled_at >= asked


def test_a_session_that_runs_out_mid_read_is_renewed(
    service: SalesforceService, tmp_path: Path
) -> None:
    service.add_contacts(0, 30)
    service.fake.max_page = 10
    context = on_rows(10, service.fake.revoke, tmp_path)
    items = list(config(service).build(context).read(None))
    assert len(items) == 31 and service.fake.issued == 2


@pytest.mark.parametrize("how", ["down", "malformed"])
def test_a_source_failing_mid_read_changes_nothing(
    service: SalesforceService, store: Store, tmp_path: Path, how: str
) -> None:
    service.add_contacts(0, 30, AN_HOUR_AGO)
    service.fake.max_page = 10
    settings = config(service, retries=1)
    assert sync(store, settings, service.directory).outcome == "ok"
    service.fake.update("Contact", contact_id(0), LastName="Changed")
    service.add_contacts(100, 20)
    before = everything(store, "sf")

    def break_it() -> None:
        if how == "down":
            service.fake.down = True
        else:
            service.fake.fail("/query/01g", "malformed")

    run = sync(store, settings, tmp_path, context=on_rows(10, break_it, tmp_path))
    assert run.outcome == "failed", run
    assert "\n" not in run.message
    assert ("RemoteProtocolError" if how == "down" else "malformed JSON") in run.message
    assert everything(store, "sf") == before
    service.fake.down = False
    assert sync(store, settings, service.directory).outcome == "ok"
    assert entries(store)[contact_id(0)]["sn"] == ["Changed"]


def one_line_failure(service: SalesforceService, tmp_path: Path, jwt: bool = False,
                     **overrides: Any) -> str:  # fmt: skip
    with pytest.raises(SourceError) as caught:
        list(config(service, jwt, **overrides).build(Context(tmp_path)).read(None))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("Salesforce")
    return message


def test_wrong_credentials_are_one_clear_line(service: SalesforceService,
                                              tmp_path: Path) -> None:  # fmt: skip
    wrong = one_line_failure(service, tmp_path, security_token="")
    assert "invalid_grant: authentication failure" in wrong
    assert "check username, password and security_token" in wrong
    secret = one_line_failure(service, tmp_path, client_secret="nope")
    assert "check client_secret" in secret
    app = one_line_failure(service, tmp_path, client_id="3MVG9other")
    assert "check client_id" in app
    service.fake.password_flow = False
    blocked = one_line_failure(service, tmp_path)
    assert "blocks the username-password flow: use the JWT bearer flow" in blocked


def test_the_jwt_bearer_flow(service: SalesforceService, store: Store, tmp_path: Path) -> None:
    service.add_contacts(0, 3)
    run = sync(store, config(service, jwt=True), service.directory)
    assert (run.outcome, run.added) == ("ok", 3), run.message
    # a key the connected app does not know
    _, _, other_key = rsa_certificate()
    (service.directory / "other.key").write_text(other_key)
    wrong = one_line_failure(service, tmp_path, jwt=True, private_key_file="other.key")
    assert "invalid assertion" in wrong and "certificate uploaded" in wrong
    service.fake.pre_authorized = False
    unapproved = one_line_failure(service, tmp_path, jwt=True)
    assert "Admin approved users are pre-authorized" in unapproved
    sandbox = one_line_failure(service, tmp_path, jwt=True,
                               audience="https://test.salesforce.com")  # fmt: skip
    assert "audience is invalid" in sandbox and "check login_url (or audience)" in sandbox
    service.fake.pre_authorized = True
    service.fake.certificates.clear()
    assert "invalid assertion" in one_line_failure(service, tmp_path, jwt=True)


@pytest.mark.parametrize("sobject", ["Contact", "Lead", "Account"])
def test_a_missing_permission_names_what_to_grant(
    service: SalesforceService, tmp_path: Path, sobject: str
) -> None:
    service.fake.readable.discard(sobject)
    message = one_line_failure(service, tmp_path, objects=["contacts", "leads", "accounts"])
    assert f"grant Read on {sobject} (profile or permission set)" in message


def test_api_access_and_the_request_limit(service: SalesforceService, tmp_path: Path) -> None:
    service.fake.api_enabled = False
    disabled = one_line_failure(service, tmp_path)
    assert "API_CURRENTLY_DISABLED" in disabled and "permission API Enabled" in disabled
    service.fake.api_enabled = True
    service.fake.used = service.fake.limit
    limited = one_line_failure(service, tmp_path)
    assert "REQUEST_LIMIT_EXCEEDED, api-usage 15001/15000" in limited


def test_a_mapped_field_the_org_lacks_is_named(service: SalesforceService,
                                               tmp_path: Path) -> None:  # fmt: skip
    message = one_line_failure(service, tmp_path, mapping={"custom1": "Cost_Center__c"})
    assert "Contact has no field Cost_Center__c" in message and "INVALID_FIELD" in message
    relation = one_line_failure(service, tmp_path, mapping={"custom1": "Owner.Phone"})
    assert "no field Owner" in relation
    source = config(service, mapping={"custom1": "Cost_Center__c"}).build(Context(tmp_path))
    with pytest.raises(SourceError, match="Cost_Center__c"):
        source.check()


def test_api_usage_is_logged_and_secrets_never(
    service: SalesforceService, store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service.add_contacts(0, 3)
    caplog.set_level(logging.DEBUG)
    service.fake.fail("/queryAll", "429:0")
    ok = sync(store, config(service), service.directory)
    assert ok.outcome == "ok", ok.message
    assert "sf: Salesforce API usage" in caplog.text and "/15000 requests" in caplog.text
    bad = sync(store, config(service, password="wrong"), service.directory)
    jwt = sync(store, config(service, jwt=True), service.directory)
    key = (service.directory / "sf-app.key").read_text()
    tokens = list(service.fake.tokens)
    told = caplog.text + ok.message + bad.message + jwt.message + repr(config(service))
    assert tokens and bad.outcome == "failed" and jwt.outcome == "ok"
    for secret in (CLIENT_SECRET, PASSWORD, SECURITY_TOKEN, key.splitlines()[1], *tokens):
        assert secret not in told
