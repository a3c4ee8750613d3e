"""The Exchange on-premises source (``type: ews``) against a local HTTPS fake of Exchange
Web Services that keeps mailboxes, contact folders and a change log (``tests/cloud``),
through the real exchangelib (Basic and a real NTLM handshake), and through the sync engine
into a real SQLite store."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metadir.core.errors import SourceError
from metadir.store.store import Store
from replicators.base import Context, ReplicatorConfig
from tests.cloud.ews_service import (
    MAILBOX,
    PASSWORD,
    SERVICE_USER,
    EwsService,
    contact,
    item_id,
    serving,
)
from tests.cloud.ews_soap import Contact
from tests.cloud.runs import (
    entries,
    everything,
    on_rows,
    settings_of,
    store_fixture,  # noqa: F401  (the fixture `store`)
    sync,
)
from tests.pki import make_authority

OTHER = "sales@contoso.example"

service = pytest.fixture(serving, name="service")


@pytest.fixture
def ntlm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EwsService]:
    served = EwsService(tmp_path_factory.mktemp("ntlm"), "ntlm")
    yield served
    served.stop()


def config(service: EwsService, **overrides: Any) -> ReplicatorConfig:
    return settings_of("ews", service.settings(**overrides), service.directory)


def test_a_first_full_load_then_changes(service: EwsService, store: Store) -> None:
    ews = service.ews
    service.add(0, 2500)
    service.add(5000, 300, folder="Shared numbers")
    service.add(7000, 5, folder="Private")  # not chosen
    ews.mailbox(OTHER)
    service.add(9000, 200, mailbox=OTHER)
    contacts = service.contacts()
    ews.put(contacts, Contact("AAMkDL-1=", {"DisplayName": "All sales"},
                              kind="DistributionList"))  # fmt: skip
    settings = config(service, page_size=500, mailboxes=[
        {"mailbox": MAILBOX, "folders": ["Contacts", "shared NUMBERS"]}, OTHER])  # fmt: skip
    first = sync(store, settings, service.directory)
    assert (first.outcome, first.mode, first.added) == ("ok", "full", 3000), first.message
    stored = entries(store)
    dora = stored[item_id(7)]
    # the preset mapping: a useful directory with no mapping given
    assert dora["sn"] == ["Delta7"] and dora["givenName"] == ["Dora"]
    assert dora["telephoneNumber"] == ["+498947117"] and dora["mobile"] == ["+491723000007"]
    assert dora["facsimileTelephoneNumber"] == ["+4989471197"] and dora["title"] == ["Buyer"]
    assert dora["mail"] == ["dora7@contoso.example"] and dora["mail2"] == ["d7@home.example"]
    assert dora["l"] == ["München"] and dora["company"] == ["Contoso Ltd"]
    assert item_id(5001) in stored and item_id(9001) in stored
    assert item_id(7000) not in stored and "AAMkDL-1=" not in stored
    # paged: 2500 contacts + a list at 500 a page
    assert len([r for r in ews.requests_of("SyncFolderItems") if MAILBOX.encode() in r.body]) \
        == 6 + 1  # fmt: skip

    shared = service.contacts(folder="Shared numbers")
    ews.update(contacts, item_id(1), Surname="Renamed", DisplayName="Dora Renamed")
    ews.delete(contacts, item_id(2))
    ews.put(contacts, contact(6000))
    ews.delete(shared, item_id(5000))
    ews.mark_read(contacts, item_id(3))  # a read flag: no change
    before = len(ews.requests_of("SyncFolderItems"))
    run = sync(store, settings, service.directory)
    assert (run.outcome, run.mode, run.note) == ("ok", "incremental", ""), run.message
    assert (run.added, run.updated, run.deleted) == (1, 1, 2)
    # only the changes travelled: one SyncFolderItems per folder
    assert len(ews.requests_of("SyncFolderItems")) - before == 3
    stored = entries(store)
    assert stored[item_id(1)]["sn"] == ["Renamed"] and item_id(2) not in stored
    assert item_id(6000) in stored and item_id(5000) not in stored


def test_only_the_mapped_properties_are_asked_for(service: EwsService, store: Store) -> None:
    service.add(0, 3)
    mapping = {"sn": "Surname", "telephoneNumber": "BusinessPhone"}
    run = sync(store, config(service, mapping=mapping, preset_mapping=False),
               service.directory)  # fmt: skip
    assert run.outcome == "ok", run.message
    body = service.ews.requests_of("SyncFolderItems")[-1].body.decode()
    assert "contacts:Surname" in body and "contacts:PhoneNumber" in body
    assert "contacts:GivenName" not in body and "contacts:EmailAddress" not in body
    assert entries(store)[item_id(0)].keys() >= {"sn", "telephoneNumber"}


def test_an_invalid_sync_state_means_a_full_run(service: EwsService, store: Store) -> None:
    service.add(0, 30)
    settings = config(service, page_size=10)
    assert sync(store, settings, service.directory).outcome == "ok"
    service.ews.delete(service.contacts(), item_id(3))
    service.ews.expire_sync_states()
    run = sync(store, settings, service.directory)
    assert (run.outcome, run.mode, run.deleted) == ("ok", "full", 1), run.message
    assert "ErrorInvalidSyncStateData" in run.note and "read whole again" in run.note
    again = sync(store, settings, service.directory)
    assert (again.mode, again.note) == ("incremental", "")


def test_changed_settings_mean_a_full_run(service: EwsService, store: Store) -> None:
    service.add(0, 5)
    assert sync(store, config(service), service.directory).outcome == "ok"
    run = sync(store, config(service, mapping={"custom0": "Nickname"}), service.directory)
    assert run.mode == "full" and "settings changed" in run.note


def test_throttling_is_obeyed(service: EwsService, tmp_path: Path) -> None:
    service.add(0, 20)
    ews = service.ews
    ews.fail("SyncFolderItems", "busy:300")
    ews.fail("SyncFolderItems", "503")
    ews.fail("SyncFolderItems", "drop")
    items = list(config(service, page_size=5).build(Context(tmp_path)).read(None))
    assert len(items) == 21
    (throttled_at, asked), *_ = ews.throttled
    later = [r.at for r in ews.requests_of("SyncFolderItems") if r.at > throttled_at]
    assert asked == 0.3 and later[0] - throttled_at >= asked


@pytest.mark.parametrize("how", ["down", "malformed"])
def test_a_source_failing_mid_read_changes_nothing(
    service: EwsService, store: Store, tmp_path: Path, how: str
) -> None:
    service.add(0, 30)
    settings = config(service, page_size=10, retries=1)
    assert sync(store, settings, service.directory).outcome == "ok"
    service.ews.update(service.contacts(), item_id(0), Surname="Changed")
    service.add(100, 20)
    service.ews.expire_sync_states()  # a full read, so that it has pages to fail between
    before = everything(store, "exchange")

    def break_it() -> None:
        if how == "down":
            service.ews.down = True
        else:
            service.ews.fail("SyncFolderItems", "malformed")

    run = sync(store, settings, tmp_path, context=on_rows(10, break_it, tmp_path))
    assert run.outcome == "failed", run
    assert "\n" not in run.message and "Exchange (EWS)" in run.message
    assert ("tried 2 times" if how == "down" else "SOAPError") in run.message
    assert everything(store, "exchange") == before
    service.ews.down = False
    assert sync(store, settings, service.directory).outcome == "ok"
    assert entries(store)[item_id(0)]["sn"] == ["Changed"]


def one_line_failure(service: EwsService, tmp_path: Path, **overrides: Any) -> str:
    with pytest.raises(SourceError) as caught:
        list(config(service, **overrides).build(Context(tmp_path)).read(None))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_wrong_credentials_are_one_clear_line(service: EwsService, tmp_path: Path) -> None:
    wrong = one_line_failure(service, tmp_path, password="not-the-password")
    assert "HTTP 401" in wrong and "check username and password" in wrong
    # at once: a 401 is no throttling to wait out
    assert len(service.ews.log) == 0


def test_ntlm_signs_in_once_per_connection(ntlm: EwsService, tmp_path: Path) -> None:
    ntlm.add(0, 12)
    source = config(ntlm, page_size=5).build(Context(tmp_path))
    items = list(source.read(None))
    assert len(items) == 13 and ntlm.ews.ntlm_logins == 1
    wrong = one_line_failure(ntlm, tmp_path, password="nope")
    assert "HTTP 401" in wrong and "auth ntlm" in wrong


def test_a_missing_impersonation_right_names_the_role(service: EwsService,
                                                     tmp_path: Path) -> None:  # fmt: skip
    service.ews.impersonators.clear()
    message = one_line_failure(service, tmp_path)
    assert "ErrorImpersonateUserDenied" in message
    assert "New-ManagementRoleAssignment -Role ApplicationImpersonation -User svc-metadir" \
        in message  # fmt: skip


def test_delegate_access(service: EwsService, tmp_path: Path) -> None:
    service.add(0, 3)
    message = one_line_failure(service, tmp_path, access="delegate")
    assert "ErrorAccessDenied" in message and "Add-MailboxPermission" in message
    service.ews.mailbox(MAILBOX).delegates.add(SERVICE_USER.casefold())
    items = list(config(service, access="delegate").build(Context(tmp_path)).read(None))
    assert len(items) == 4


def test_an_unknown_mailbox_or_folder_is_named(service: EwsService, tmp_path: Path) -> None:
    message = one_line_failure(service, tmp_path, mailboxes=["nobody@contoso.example"])
    assert "ErrorNonExistentMailbox" in message and "nobody@contoso.example" in message
    service.contacts(folder="Shared numbers")
    folder = one_line_failure(service, tmp_path,
                              mailboxes=[{"mailbox": MAILBOX, "folders": ["Nope"]}])  # fmt: skip
    assert "has no contact folder 'Nope' (it has Contacts, Shared numbers)" in folder


def test_an_untrusted_certificate_is_refused(service: EwsService, tmp_path: Path) -> None:
    stranger = make_authority(tmp_path, "stranger CA")
    message = one_line_failure(service, tmp_path, tls={"ca_file": str(stranger.path)})
    assert "TLS" in message and "certificate" in message


def test_the_version_is_asked_once(service: EwsService, tmp_path: Path) -> None:
    service.add(0, 3)
    source = config(service, exchange_version=None).build(Context(tmp_path))
    assert len(list(source.read(None))) == 4
    assert len(service.ews.requests_of("ConvertId")) == 1


def test_secrets_are_never_logged_or_told(
    service: EwsService, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    service.add(0, 3)
    caplog.set_level(logging.DEBUG)
    ok = sync(store, config(service), service.directory)
    bad = sync(store, config(service, password=PASSWORD + "x"), service.directory)
    basic = base64.b64encode(f"{SERVICE_USER}:{PASSWORD}".encode()).decode()
    told = caplog.text + ok.message + bad.message + repr(config(service))
    assert ok.outcome == "ok" and bad.outcome == "failed"
    assert "exchangelib" in caplog.text  # its debug log was on
    assert PASSWORD not in told and basic not in told
