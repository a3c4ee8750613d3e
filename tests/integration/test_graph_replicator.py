"""The Microsoft 365 source (``type: graph``) against a local HTTPS fake of Entra ID and
Microsoft Graph that keeps objects and a change log (``tests/cloud``), through the real
httpx and msal, and through the sync engine into a real SQLite store."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest

from metadir.core.errors import SourceError
from metadir.store.store import Store
from replicators import kinds
from replicators.base import Context, ReplicatorConfig
from tests.cloud.runs import (
    entries,
    everything,
    on_rows,
    settings_of,
    store_fixture,  # noqa: F401  (the fixture `store`)
    sync,
)
from tests.cloud.service import (
    SECRET,
    GraphService,
    org_contact_id,
    rsa_certificate,
    serving,
    user,
    user_id,
)

MAILBOX = "anna0@contoso.example"
WILDIX = (
    "businessPhones",
    "displayName",
    "mail",
    "givenName",
    "jobTitle",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "department",
)


service = pytest.fixture(serving, name="service")


def config(service: GraphService, **overrides: Any) -> ReplicatorConfig:
    return settings_of("graph", service.settings(**overrides), service.directory)


def test_a_first_full_load_then_changes(service: GraphService, store: Store) -> None:
    service.add_users(0, 2000)
    service.add_contacts(0, 500)
    service.add_mailbox_contacts(MAILBOX, "Contacts", "contacts", 0, 150)
    service.add_mailbox_contacts(MAILBOX, "Suppliers", "AQMkSup", 1000, 50)
    service.add_mailbox_contacts(MAILBOX, "Private", "AQMkPriv", 2000, 5)  # not chosen
    settings = config(
        service, objects=["users", "contacts", "mailbox_contacts"],
        mailboxes=[{"mailbox": MAILBOX, "folders": ["Contacts", "suppliers"]}], page_size=250,
    )  # fmt: skip
    first = sync(store, settings, service.directory)
    assert (first.outcome, first.mode, first.added) == ("ok", "full", 2700), first.message
    # the check before the read got the run's one token
    assert service.entra.issued == 1
    stored = entries(store)
    anna = stored[user_id(7)]
    # the Wildix fields, department (no default property) among them, with no mapping given
    assert anna["sn"] == ["Alpha7"] and anna["department"] == ["Sales"]
    assert anna["telephoneNumber"] == ["+498912347"] and anna["title"] == ["Sales Manager"]
    assert anna["physicalDeliveryOfficeName"] == ["18/7"] and anna["preferredLanguage"] == ["de-DE"]
    assert anna["userPrincipalName"] == ["anna7@contoso.example"]
    bert = stored[org_contact_id(3)]
    assert bert["mobile"] == ["+491602000003"] and bert["l"] == ["Hamburg"]
    assert stored["AAMkAG-AQMkSup-00001001"]["mail"] == ["carl1001@supplier.example"]
    assert "AAMkAG-AQMkPriv-00002000" not in stored
    selects = {r.query["$select"] for _, r in service.graph.requests_to("/users/delta")
               if "$select" in r.query}  # fmt: skip
    assert len(selects) == 1 and set(WILDIX) <= set(selects.pop().split(","))

    graph = service.graph
    graph.update(graph.users, user_id(1), surname="Renamed", displayName="Anna Renamed")
    graph.delete(graph.users, user_id(2))
    service.add_users(5000, 1)
    graph.delete(graph.contacts, org_contact_id(0))
    graph.update(graph.folder(MAILBOX, "Suppliers", "AQMkSup"), "AAMkAG-AQMkSup-00001000",
                 mobilePhone="+49 151 999")  # fmt: skip
    before = len(graph.requests_to("/delta"))
    run = sync(store, settings, service.directory)
    assert (run.outcome, run.mode, run.note) == ("ok", "incremental", ""), run.message
    assert (run.added, run.updated, run.deleted) == (1, 2, 2)
    # only the changes travelled: one delta request per stream
    assert len(graph.requests_to("/delta")) - before == 4
    stored = entries(store)
    assert stored[user_id(1)]["sn"] == ["Renamed"] and user_id(2) not in stored
    assert user_id(5000) in stored and org_contact_id(0) not in stored
    assert stored["AAMkAG-AQMkSup-00001000"]["mobile"] == ["+49151999"]


def test_disabled_accounts_are_left_out(service: GraphService, store: Store) -> None:
    service.add_users(0, 5)
    service.add_users(5, 2, accountEnabled=False)
    settings = config(service)
    assert sync(store, settings, service.directory).added == 5
    service.graph.update(service.graph.users, user_id(0), accountEnabled=False)
    run = sync(store, settings, service.directory)
    assert (run.mode, run.deleted) == ("incremental", 1)
    assert set(entries(store)) == {user_id(i) for i in range(1, 5)}


def test_an_expired_delta_token_means_a_full_run(service: GraphService, store: Store) -> None:
    service.add_users(0, 30)
    settings = config(service, page_size=10)
    assert sync(store, settings, service.directory).outcome == "ok"
    service.graph.delete(service.graph.users, user_id(3))
    service.graph.expire_delta_tokens()
    run = sync(store, settings, service.directory)
    assert (run.outcome, run.mode, run.deleted) == ("ok", "full", 1), run.message
    assert "syncStateNotFound" in run.note and "read whole again" in run.note
    # the new links count
    again = sync(store, settings, service.directory)
    assert (again.mode, again.note) == ("incremental", "")


def test_replayed_objects_count_once(service: GraphService, store: Store) -> None:
    service.add_users(0, 40)
    service.graph.replay = True
    run = sync(store, config(service, page_size=7), service.directory)
    assert (run.outcome, run.added, run.skipped) == ("ok", 40, 0), run.problems


def test_throttling_is_obeyed(service: GraphService, tmp_path: Path) -> None:
    service.add_users(0, 20)
    service.graph.fail("/users/delta", "429:1")
    service.graph.fail("/users/delta", "503")
    service.graph.fail("/users/delta", "drop")
    items = list(config(service, page_size=5).build(Context(tmp_path)).read(None))
    assert len(items) == 21
    (throttled_at, asked), *_ = service.graph.throttled
    later = [t for t, _ in service.graph.requests_to("/users/delta") if t > throttled_at]
    assert asked == 1 and later[0] - throttled_at >= asked


def test_a_token_that_runs_out_mid_read_is_renewed(service: GraphService,
                                                    tmp_path: Path) -> None:  # fmt: skip
    service.add_users(0, 30)
    context = on_rows(10, service.entra.revoke, tmp_path)
    items = list(config(service, page_size=10).build(context).read(None))
    assert len(items) == 31 and service.entra.issued == 2


@pytest.mark.parametrize("how", ["down", "malformed"])
def test_a_source_failing_mid_read_changes_nothing(
    service: GraphService, store: Store, tmp_path: Path, how: str
) -> None:
    service.add_users(0, 30)
    settings = config(service, page_size=10, retries=1)
    assert sync(store, settings, service.directory).outcome == "ok"
    service.graph.update(service.graph.users, user_id(0), surname="Changed")
    service.add_users(100, 20)
    service.graph.expire_delta_tokens()  # a full read, so that it has pages to fail between
    before = everything(store, "m365")

    def break_it() -> None:
        if how == "down":
            service.graph.down = True
        else:
            service.graph.fail("/users/delta", "malformed")

    run = sync(store, settings, tmp_path, context=on_rows(10, break_it, tmp_path))
    assert run.outcome == "failed", run
    assert "\n" not in run.message
    assert ("RemoteProtocolError" if how == "down" else "malformed JSON") in run.message
    assert everything(store, "m365") == before
    service.graph.down = False
    assert sync(store, settings, service.directory).outcome == "ok"
    assert entries(store)[user_id(0)]["sn"] == ["Changed"]


def one_line_failure(service: GraphService, tmp_path: Path, **overrides: Any) -> str:
    with pytest.raises(SourceError) as caught:
        list(config(service, **overrides).build(Context(tmp_path)).read(None))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_wrong_credentials_are_one_clear_line(service: GraphService,
                                              tmp_path: Path) -> None:  # fmt: skip
    wrong = one_line_failure(service, tmp_path, client_secret="not-the-secret")
    assert "AADSTS7000215" in wrong and "check client_secret" in wrong
    other = one_line_failure(service, tmp_path, client_id="3f1d2c4b-0000-4000-8000-000000000001")
    assert "AADSTS700016" in other and "check client_id" in other
    tenant = one_line_failure(service, tmp_path, tenant_id="nowhere.example")
    assert "nowhere.example" in tenant


@pytest.mark.parametrize(
    ("permission", "objects"),
    [("User.Read.All", ["users"]), ("OrgContact.Read.All", ["contacts"]),
     ("Contacts.Read", ["mailbox_contacts"])],
)  # fmt: skip
def test_a_missing_permission_names_what_to_grant(
    service: GraphService, tmp_path: Path, permission: str, objects: list[str]
) -> None:
    service.add_mailbox_contacts(MAILBOX, "Contacts", "contacts", 0, 1)
    service.entra.granted.discard(permission)
    mailboxes = [MAILBOX] if objects == ["mailbox_contacts"] else []
    message = one_line_failure(service, tmp_path, objects=objects, mailboxes=mailboxes)
    assert f"grant the application permission {permission} (admin consent)" in message


def test_a_certificate_instead_of_a_secret(service: GraphService, tmp_path: Path) -> None:
    service.add_users(0, 3)
    cert, cert_pem, key_pem = rsa_certificate()
    (service.directory / "app.pem").write_text(cert_pem)
    (service.directory / "app.key").write_text(key_pem)
    settings = service.settings(certificate_file="app.pem", private_key_file="app.key")
    del settings["client_secret"]
    built = kinds()["graph"].settings.model_validate(
        settings, context={"base_dir": service.directory}
    )
    with pytest.raises(SourceError, match="AADSTS700027"):
        list(built.build(Context(tmp_path)).read(None))
    service.entra.certificates.append(cert)
    assert len(list(built.build(Context(tmp_path)).read(None))) == 4


def test_only_members_of_the_group(service: GraphService, store: Store) -> None:
    service.add_users(0, 6)
    groups = service.graph.groups
    groups["9c2d0000-0000-4000-8000-00000000000b"] = {"displayName": "Sales team",
                                                       "members": [user_id(4)]}  # fmt: skip
    groups["9c2d0000-0000-4000-8000-00000000000a"] = {
        "displayName": "Phone book", "members": [user_id(0), user_id(1),
                                                 "9c2d0000-0000-4000-8000-00000000000b"],
    }  # fmt: skip
    settings = config(service, group="Phone book")
    first = sync(store, settings, service.directory)
    assert first.outcome == "ok", first.message
    assert set(entries(store)) == {user_id(0), user_id(1), user_id(4)}
    groups["9c2d0000-0000-4000-8000-00000000000a"]["members"].remove(user_id(1))
    run = sync(store, settings, service.directory)
    assert (run.mode, run.deleted) == ("full", 1) and "group Phone book" in run.note


def test_secrets_are_never_logged_or_told(
    service: GraphService, store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service.add_users(0, 3)
    caplog.set_level(logging.DEBUG)
    service.graph.fail("/users/delta", "429:0")
    ok = sync(store, config(service), service.directory)
    bad = sync(store, config(service, client_secret=SECRET + "x"), service.directory)
    tokens = list(service.entra.tokens)
    told = caplog.text + ok.message + bad.message + repr(config(service))
    assert tokens and bad.outcome == "failed"
    assert SECRET not in told and not any(token in told for token in tokens)


def test_a_user_unknown_property_is_selected(service: GraphService, store: Store) -> None:
    service.graph.put(service.graph.users, user(0))
    mapping = {"custom0": "onPremisesExtensionAttributes.extensionAttribute1"}
    run = sync(store, config(service, mapping=mapping), service.directory)
    assert run.outcome == "ok", run.message
    assert entries(store)[user_id(0)]["custom0"] == ["cost0"]


def test_photos_only_when_mapped(service: GraphService, store: Store) -> None:
    graph = service.graph
    service.add_users(0, 5)
    service.add_mailbox_contacts(MAILBOX, "Contacts", "contacts", 0, 2)
    graph.photos[f"users/{user_id(0)}"] = b"\xff\xd8anna0"
    graph.photos[f"{MAILBOX}/contacts/AAMkAG-contacts-00000001"] = b"\xff\xd8carl1"
    chosen = {"objects": ["users", "mailbox_contacts"], "mailboxes": [MAILBOX]}
    assert sync(store, config(service, **chosen), service.directory).outcome == "ok"
    assert not graph.requests_to("/photo") and "jpegPhoto" not in entries(store)[user_id(0)]

    settings = config(service, mapping={"jpegPhoto": "photo"}, **chosen)
    run = sync(store, settings, service.directory)
    # another mapping: everything read again, each user's and contact's photo once
    assert (run.mode, run.updated) == ("full", 2), run.message
    assert len(graph.requests_to("/photos/96x96/$value")) == 5
    assert len(graph.requests_to("/contacts/AAMkAG-contacts-0000000")) == 2
    stored = entries(store)
    assert stored[user_id(0)]["jpegPhoto"] == [base64.b64encode(b"96x96:\xff\xd8anna0").decode()]
    assert stored["AAMkAG-contacts-00000001"]["jpegPhoto"] == [
        base64.b64encode(b"\xff\xd8carl1").decode()
    ]
    assert "jpegPhoto" not in stored[user_id(1)]

    # a changed user's photo is read again with it, no other
    graph.photos[f"users/{user_id(3)}"] = b"\xff\xd8new"
    graph.update(graph.users, user_id(3), jobTitle="CEO")
    before = len(graph.requests_to("/photo"))
    run = sync(store, settings, service.directory)
    assert (run.mode, run.updated) == ("incremental", 1), run.message
    assert len(graph.requests_to("/photo")) - before == 1
    assert entries(store)[user_id(3)]["jpegPhoto"] == [
        base64.b64encode(b"96x96:\xff\xd8new").decode()
    ]

    original = config(service, mapping={"jpegPhoto": "photo"}, photo_size="original", **chosen)
    run = sync(store, original, service.directory)
    assert (run.mode, run.updated) == ("full", 2), run.message
    assert entries(store)[user_id(0)]["jpegPhoto"] == [base64.b64encode(b"\xff\xd8anna0").decode()]


def test_a_photo_size_graph_does_not_keep_is_refused(service: GraphService) -> None:
    with pytest.raises(ValueError, match=r"48x48, 64x64.*or original"):
        config(service, photo_size="100x100")
