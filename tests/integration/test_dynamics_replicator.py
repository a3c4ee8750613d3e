"""The Dynamics 365 / Dataverse source (``type: dynamics``) against a local HTTPS fake of
Entra ID and the Dataverse Web API that keeps rows and a change log (``tests/cloud``),
through the real httpx and msal, and through the sync engine into a real SQLite store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from metadir.config import load_config
from metadir.core.errors import SourceError
from metadir.store.store import Store
from replicators import kinds
from replicators.base import Context, ReplicatorConfig
from tests.cloud.dynamics_service import (
    SECRET,
    DynamicsService,
    account_id,
    contact,
    contact_id,
    serving,
)
from tests.cloud.runs import (
    entries,
    everything,
    on_rows,
    settings_of,
    store_fixture,  # noqa: F401  (the fixture `store`)
    sync,
)
from tests.cloud.service import rsa_certificate

service = pytest.fixture(serving, name="service")


def config(service: DynamicsService, **overrides: Any) -> ReplicatorConfig:
    return settings_of("dynamics", service.settings(**overrides), service.directory)


def test_a_first_full_load_then_changes(service: DynamicsService, store: Store) -> None:
    service.add_accounts(0, 300)
    service.add_contacts(0, 2700)
    settings = config(service, page_size=500)
    first = sync(store, settings, service.directory)
    assert (first.outcome, first.mode, first.added) == ("ok", "full", 3000), first.message
    # the check before the read got the run's one token
    assert service.entra.issued == 1
    stored = entries(store)
    anna = stored[contact_id(7)]
    # the preset mapping, with no mapping given; the company is the account's name (the
    # lookup's formatted value)
    assert anna["sn"] == ["Alpha7"] and anna["givenName"] == ["Anna"]
    assert anna["company"] == ["Customer AG 7"] and anna["title"] == ["Buyer"]
    assert anna["telephoneNumber"] == ["+498912347"] and anna["mobile"] == ["+491711000007"]
    assert anna["l"] == ["München"] and anna["mail"] == ["anna7@customer.example"]
    customer = stored[account_id(3)]
    assert customer["displayName"] == ["Customer AG 3"] and customer["company"] == ["Customer AG 3"]
    assert customer["telephoneNumber"] == ["+49307773"] and customer["otherTelephone"] == [
        "+49307783"
    ]
    assert customer["facsimileTelephoneNumber"] == ["+493077739"]
    tracked = [
        r
        for _, r in service.dataverse.requests_to("/contacts")
        if "$select" in r.query and "odata.track-changes" in r.headers.get("prefer", "")
    ]
    assert len(tracked) == 1
    prefer = tracked[0].headers["prefer"]
    assert "odata.track-changes" in prefer and "odata.maxpagesize=500" in prefer
    assert "OData.Community.Display.V1.FormattedValue" in prefer

    dataverse = service.dataverse
    dataverse.update(dataverse.contacts, contact_id(1), lastname="Renamed", fullname="Anna Renamed")
    dataverse.delete(dataverse.contacts, contact_id(2))
    dataverse.update(dataverse.contacts, contact_id(3), statecode=1, statuscode=2)  # deactivated
    service.add_contacts(5000, 1)
    dataverse.update(dataverse.accounts, account_id(4), telephone1="+49 30 999")
    dataverse.delete(dataverse.accounts, account_id(299))
    before = len(dataverse.log)
    run = sync(store, settings, service.directory)
    assert (run.outcome, run.mode, run.note) == ("ok", "incremental", ""), run.message
    assert (run.added, run.updated, run.deleted) == (1, 2, 3)
    # only the changes travelled: one delta request per table (besides check's two)
    asked = [r.query for _, r in dataverse.log[before:]]
    assert len(asked) == 4 and sum("$deltatoken" in query for query in asked) == 2
    stored = entries(store)
    assert stored[contact_id(1)]["sn"] == ["Renamed"] and contact_id(2) not in stored
    assert contact_id(3) not in stored and contact_id(5000) in stored
    assert stored[account_id(4)]["telephoneNumber"] == ["+4930999"]
    assert account_id(299) not in stored


def test_inactive_rows_only_when_asked_for(service: DynamicsService, store: Store) -> None:
    service.add_contacts(0, 4)
    service.add_contacts(4, 2, statecode=1)
    settings = config(service, objects="contacts")
    assert sync(store, settings, service.directory).added == 4
    service.dataverse.update(service.dataverse.contacts, contact_id(4), statecode=0)  # again
    run = sync(store, settings, service.directory)
    assert (run.mode, run.added) == ("incremental", 1)
    everyone = sync(store, config(service, objects="contacts", active_only=False),
                    service.directory)  # fmt: skip
    assert (everyone.mode, everyone.added) == ("full", 1) and "active_only" in everyone.note
    assert len(entries(store)) == 6


def test_an_expired_delta_token_means_a_full_run(service: DynamicsService, store: Store) -> None:
    service.add_contacts(0, 30)
    settings = config(service, objects=["contacts"], page_size=10)
    assert sync(store, settings, service.directory).outcome == "ok"
    service.dataverse.delete(service.dataverse.contacts, contact_id(3))
    service.dataverse.expire_delta_tokens()
    run = sync(store, settings, service.directory)
    assert (run.outcome, run.mode, run.deleted) == ("ok", "full", 1), run.message
    assert "0x80044352" in run.note and "read whole again" in run.note
    # the new links count
    again = sync(store, settings, service.directory)
    assert (again.mode, again.note) == ("incremental", "")


def test_an_invalid_delta_token_means_a_full_run(service: DynamicsService, tmp_path: Path) -> None:
    service.add_contacts(0, 3)
    settings = config(service, objects=["contacts"])
    *_, last = settings.build(Context(tmp_path)).read(None)
    state = dict(last.state)  # type: ignore[union-attr]
    link = state["delta_links"]["contacts"]
    state["delta_links"] = {"contacts": link.split("$deltatoken=")[0] + "$deltatoken=919042!08"}
    *items, checkpoint = settings.build(Context(tmp_path)).read(state)
    assert len(items) == 3 and checkpoint.full  # type: ignore[union-attr]
    assert "0x80044183" in checkpoint.note  # type: ignore[union-attr]


def test_a_table_without_change_tracking_is_read_whole(
    service: DynamicsService, store: Store
) -> None:
    service.add_contacts(0, 5)
    service.add_accounts(0, 2)
    service.dataverse.accounts.tracked = False
    settings = config(service)
    first = sync(store, settings, service.directory)
    assert (first.outcome, first.added) == ("ok", 7), first.message
    assert "change tracking is off for table account" in first.note
    assert "turn on Track changes" in first.note
    service.dataverse.delete(service.dataverse.accounts, account_id(1))
    run = sync(store, settings, service.directory)
    assert (run.outcome, run.mode, run.deleted) == ("ok", "full", 1), run.message
    assert "no delta link for accounts" in run.note


def test_replayed_rows_count_once(service: DynamicsService, store: Store) -> None:
    service.add_contacts(0, 40)
    service.dataverse.replay = True
    run = sync(store, config(service, objects="contacts", page_size=7), service.directory)
    assert (run.outcome, run.added, run.skipped) == ("ok", 40, 0), run.problems


def test_throttling_is_obeyed(service: DynamicsService, tmp_path: Path) -> None:
    service.add_contacts(0, 20)
    service.dataverse.fail("/contacts", "429:1")
    service.dataverse.fail("/contacts", "503")
    service.dataverse.fail("/contacts", "drop")
    source = config(service, objects="contacts", page_size=5).build(Context(tmp_path))
    assert len(list(source.read(None))) == 21
    (throttled_at, asked), *_ = service.dataverse.throttled
    later = [t for t, _ in service.dataverse.requests_to("/contacts") if t > throttled_at]
    assert asked == 1 and later[0] - throttled_at >= asked


def test_a_token_that_runs_out_mid_read_is_renewed(
    service: DynamicsService, tmp_path: Path
) -> None:
    service.add_contacts(0, 30)
    context = on_rows(10, service.entra.revoke, tmp_path)
    items = list(config(service, objects="contacts", page_size=10).build(context).read(None))
    assert len(items) == 31 and service.entra.issued == 2


@pytest.mark.parametrize("how", ["down", "malformed"])
def test_a_source_failing_mid_read_changes_nothing(
    service: DynamicsService, store: Store, tmp_path: Path, how: str
) -> None:
    service.add_contacts(0, 30)
    settings = config(service, objects="contacts", page_size=10, retries=1)
    assert sync(store, settings, service.directory).outcome == "ok"
    service.dataverse.update(service.dataverse.contacts, contact_id(0), lastname="Changed")
    service.add_contacts(100, 20)
    service.dataverse.expire_delta_tokens()  # a full read, so that it has pages to fail between
    before = everything(store, "crm")

    def break_it() -> None:
        if how == "down":
            service.dataverse.down = True
        else:
            service.dataverse.fail("/contacts", "malformed")

    run = sync(store, settings, tmp_path, context=on_rows(10, break_it, tmp_path))
    assert run.outcome == "failed", run
    assert "\n" not in run.message
    assert ("RemoteProtocolError" if how == "down" else "malformed JSON") in run.message
    assert everything(store, "crm") == before
    service.dataverse.down = False
    assert sync(store, settings, service.directory).outcome == "ok"
    assert entries(store)[contact_id(0)]["sn"] == ["Changed"]


def one_line_failure(service: DynamicsService, tmp_path: Path, **overrides: Any) -> str:
    with pytest.raises(SourceError) as caught:
        list(config(service, **overrides).build(Context(tmp_path)).read(None))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_wrong_credentials_are_one_clear_line(service: DynamicsService, tmp_path: Path) -> None:
    wrong = one_line_failure(service, tmp_path, client_secret="not-the-secret")
    assert "AADSTS7000215" in wrong and "check client_secret" in wrong
    other = one_line_failure(service, tmp_path, client_id="3f1d2c4b-0000-4000-8000-000000000001")
    assert "AADSTS700016" in other and "check client_id" in other
    assert "nowhere.example" in one_line_failure(service, tmp_path, tenant_id="nowhere.example")


def test_a_failed_run_names_the_replicator(service: DynamicsService, store: Store) -> None:
    run = sync(store, config(service, client_secret="not-the-secret"), service.directory)
    assert run.outcome == "failed" and run.message.startswith("replicator crm: Entra ID refused")
    assert "check client_secret" in run.message and "\n" not in run.message


@pytest.mark.parametrize(
    ("privilege", "objects", "table"),
    [("prvReadContact", "contacts", "Contact"), ("prvReadAccount", "accounts", "Account")],
)
def test_a_missing_privilege_names_what_to_grant(
    service: DynamicsService, tmp_path: Path, privilege: str, objects: str, table: str
) -> None:
    service.dataverse.privileges.discard(privilege)
    message = one_line_failure(service, tmp_path, objects=objects)
    assert f"give the application user a security role with Read on {table} ({privilege})" in (
        message
    )
    assert "0x80040220" in message


def test_an_app_without_an_application_user(service: DynamicsService, tmp_path: Path) -> None:
    service.dataverse.app_user = None
    message = one_line_failure(service, tmp_path)
    assert "0x80072560" in message and "add it as an application user" in message
    assert "security role that reads Contact and Account" in message


def test_check_names_the_fields_and_what_to_grant(service: DynamicsService, tmp_path: Path) -> None:
    service.add_contacts(0, 1)
    source = config(service).build(Context(tmp_path))
    fields = source.check()
    assert {"telephone1", "parentcustomerid", "fullname"} <= set(fields)
    service.dataverse.privileges.discard("prvReadAccount")
    with pytest.raises(SourceError, match=r"Read on Account \(prvReadAccount\)"):
        config(service).build(Context(tmp_path)).check()


def test_a_certificate_instead_of_a_secret(service: DynamicsService, tmp_path: Path) -> None:
    service.add_contacts(0, 3)
    cert, cert_pem, key_pem = rsa_certificate()
    (service.directory / "app.pem").write_text(cert_pem)
    (service.directory / "app.key").write_text(key_pem)
    settings = service.settings(certificate_file="app.pem", private_key_file="app.key",
                                objects="contacts")  # fmt: skip
    del settings["client_secret"]
    built = kinds()["dynamics"].settings.model_validate(
        settings, context={"base_dir": service.directory}
    )
    with pytest.raises(SourceError, match="AADSTS700027"):
        list(built.build(Context(tmp_path)).read(None))
    service.entra.certificates.append(cert)
    assert len(list(built.build(Context(tmp_path)).read(None))) == 4


def test_custom_and_choice_columns(service: DynamicsService, store: Store) -> None:
    service.dataverse.put(service.dataverse.contacts, contact(0))
    mapping = {"ipPhone": "new_extension", "info": "preferredcontactmethodcode"}
    run = sync(store, config(service, objects="contacts", mapping=mapping), service.directory)
    assert run.outcome == "ok", run.message
    assert entries(store)[contact_id(0)]["ipPhone"] == ["100"]
    assert entries(store)[contact_id(0)]["info"] == ["Phone"]
    unknown = sync(store, config(service, mapping={"ipPhone": "new_nothing"}), service.directory)
    assert unknown.outcome == "failed" and "new_nothing" in unknown.message


def test_secrets_are_never_logged_or_told(
    service: DynamicsService, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    service.add_contacts(0, 3)
    caplog.set_level(logging.DEBUG)
    service.dataverse.fail("/contacts", "429:0")
    ok = sync(store, config(service), service.directory)
    bad = sync(store, config(service, client_secret=SECRET + "x"), service.directory)
    tokens = list(service.entra.tokens)
    told = caplog.text + ok.message + bad.message + repr(config(service))
    assert tokens and ok.outcome == "ok" and bad.outcome == "failed"
    assert SECRET not in told and not any(token in told for token in tokens)


def test_a_secret_from_the_environment_or_a_file(
    service: DynamicsService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.add_contacts(0, 2)
    (service.directory / "crm.secret").write_text(SECRET + "\n")
    from_env = service.settings(name="env", objects="contacts", client_secret="${DV_SECRET}")
    from_file = service.settings(name="file", objects="contacts", client_secret_file="crm.secret")
    del from_file["client_secret"]
    path = service.directory / "metadir.yaml"
    path.write_text(yaml.safe_dump(
        {"directories": [{"name": "crm", "replicators": [from_env, from_file]}]}
    ))  # fmt: skip
    monkeypatch.setenv("DV_SECRET", SECRET)
    loaded = load_config(path)
    for settings in loaded.directories[0].replicators:
        assert len(list(settings.build(Context(tmp_path)).read(None))) == 3
        assert SECRET not in repr(settings)
