"""The LDAP replicator against a real Active Directory (Samba AD DC, ``samba_dc``): a full
load of users and contacts with what the AD preset promises, then incremental runs by
uSNChanged — additions, changes, renames, moves, deletions (tombstones), disabled and expired
accounts — and the cases that force a full run. Each test writes below an OU of its own."""

from __future__ import annotations

import os
import secrets
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metadir.config import Config
from replicators.base import Checkpoint, Context
from replicators.ldap.connection import close
from replicators.ldap.source import LdapReplicator
from tests import samba
from tests.integration.test_ldap_incremental import save_state
from tests.integration.test_ldap_replicator import stored, sync, write_config
from tests.samba import SambaDC

USERS, CONTACTS = 200, 100


@pytest.fixture
def ou(samba_dc: SambaDC, request: pytest.FixtureRequest) -> str:
    return samba.add_ou(samba_dc, f"{request.node.name[:40]}-{secrets.token_hex(3)}")


def settings(dc: SambaDC, ou: str, **more: object) -> dict:
    return {
        "name": "ad",
        "type": "ldap",
        "flavor": "ad",
        "objects": "all",
        "skip_disabled": True,
        "url": dc.url(),
        "bind_dn": dc.admin,  # Administrator@EXAMPLE.TEST: a user principal name
        "password": dc.password,
        "base_dn": ou,
        "retries": 0,
        "max_delete": "100%",
        **more,
    }


def guid_of(dc: SambaDC, dn: str) -> str:
    return str(uuid.UUID(bytes_le=samba.read(dc, dn, ["objectGUID"])["objectGUID"][0]))


def counts(config: Config, **options: bool) -> tuple[str, str, int, int, int, int]:
    """A sync's outcome, mode, added, updated, deleted, unchanged."""
    run = sync(config, **options)
    assert run.outcome == "ok", run.message
    return run.outcome, run.mode, run.added, run.updated, run.deleted, run.unchanged


def test_a_full_load_gives_what_the_ad_preset_promises(
    samba_dc: SambaDC, ou: str, tmp_path: Path
) -> None:
    users = samba.add_users(samba_dc, USERS, ou)
    contacts = samba.add_contacts(samba_dc, CONTACTS, ou, first=USERS)
    config = write_config(tmp_path, settings(samba_dc, ou, page_size=100))
    run = sync(config)
    assert (run.outcome, run.mode, run.added, run.skipped) == ("ok", "full", USERS + CONTACTS, 0)
    entries = stored(config)
    assert len(entries) == USERS + CONTACTS
    for entry in (users[1], contacts[-1]):
        got = entries[guid_of(samba_dc, entry.dn)]  # the key: objectGUID as Windows writes it
        sent = entry.attributes
        for name in ("givenName", "sn", "displayName", "mail", "company", "department", "title"):
            assert got[name] == sent[name], name
        assert (got["street"], got["l"], got["postalCode"], got["co"]) == (
            sent["streetAddress"], sent["l"], sent["postalCode"], sent["co"],
        )  # fmt: skip
        for name in ("telephoneNumber", "mobile", "ipPhone", "facsimileTelephoneNumber"):
            assert len(got[name]) == 1, name
        assert len(got["otherTelephone"]) == 2  # multi-valued: every number
    again = sync(config)
    assert (again.mode, again.added, again.updated, again.unchanged) == ("incremental", 0, 0, 0)


def test_incremental_runs_follow_every_kind_of_change(
    samba_dc: SambaDC, ou: str, tmp_path: Path
) -> None:
    other = samba.add_ou(samba_dc, "moved", parent=ou)  # below base_dn: still read
    users = [u.dn for u in samba.add_users(samba_dc, 6, ou)]
    (contact,) = samba.add_contacts(samba_dc, 1, ou, first=50)
    keys = {dn: guid_of(samba_dc, dn) for dn in [*users, contact.dn]}
    config = write_config(tmp_path, settings(samba_dc, ou))
    assert counts(config) == ("ok", "full", 7, 0, 0, 0)

    (added,) = samba.add_users(samba_dc, 1, ou, first=10)
    assert counts(config) == ("ok", "incremental", 1, 0, 0, 0)
    samba.modify(samba_dc, users[0], {"mobile": ["+49 151 9999999"], "title": ["Chefin"]})
    assert counts(config) == ("ok", "incremental", 0, 1, 0, 0)
    assert stored(config)[keys[users[0]]]["title"] == ["Chefin"]

    renamed = samba.rename(samba_dc, users[1], "Zoë Weiß-Müller")
    samba.modify(samba_dc, renamed, {"displayName": ["Zoë Weiß-Müller"]})
    samba.move(samba_dc, users[2], other)
    assert counts(config) == ("ok", "incremental", 0, 1, 0, 1)
    entries = stored(config)
    assert entries[keys[users[1]]]["displayName"] == ["Zoë Weiß-Müller"]
    assert keys[users[2]] in entries and len(entries) == 8

    samba.delete(samba_dc, users[3])
    samba.delete(samba_dc, contact.dn)
    assert counts(config) == ("ok", "incremental", 0, 0, 2, 0)
    samba.disable(samba_dc, users[4])
    assert counts(config) == ("ok", "incremental", 0, 0, 1, 0)
    samba.expire(samba_dc, users[5])
    assert counts(config) == ("ok", "incremental", 0, 0, 1, 0)
    assert sorted(stored(config)) == sorted(
        [keys[users[0]], keys[users[1]], keys[users[2]], guid_of(samba_dc, added.dn)]
    )
    assert counts(config) == ("ok", "incremental", 0, 0, 0, 0)  # nothing changed


def test_lost_state_or_a_restored_dc_mean_a_full_run(
    samba_dc: SambaDC, ou: str, tmp_path: Path
) -> None:
    samba.add_users(samba_dc, 3, ou)
    config = write_config(tmp_path, settings(samba_dc, ou))
    assert counts(config)[1] == "full"
    assert counts(config)[1] == "incremental"
    assert counts(config, full=True) == ("ok", "full", 0, 0, 0, 3)
    save_state(config, "ad", None)
    assert counts(config)[1:3] == ("full", 0)
    *_, checkpoint = config.directories[0].replicators[0].build(Context(tmp_path)).read(None)
    assert isinstance(checkpoint, Checkpoint)
    assert checkpoint.state["dc"] == f"{samba.HOST_NAME}.{samba.REALM.lower()}"
    save_state(config, "ad", {**checkpoint.state, "invocation_id": str(uuid.uuid4())})
    run = sync(config)
    assert (run.outcome, run.mode, run.unchanged) == ("ok", "full", 3)
    assert run.note == "domain controller restored (invocationId changed)"
    assert counts(config)[1] == "incremental"


def test_a_wrong_password_is_one_clear_error(samba_dc: SambaDC, ou: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, settings(samba_dc, ou, password="wrong"))
    run = sync(config)
    assert run.outcome == "failed"
    prefix = f"replicator ad: {samba_dc.url()}: cannot bind as {samba_dc.admin}: "
    assert run.message.startswith(prefix + "invalid credentials (49): wrong password ("), (
        run.message
    )
    assert "\n" not in run.message


@pytest.fixture
def second_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    """A DC of this test's own, to be killed: the session's one stays up."""
    with samba.running_dc(tmp_path_factory.mktemp("dc2") / "dc") as dc:
        yield dc


def test_a_dc_killed_mid_load_fails_the_run_and_changes_nothing(
    second_dc: SambaDC, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ou = samba.add_ou(second_dc, "killed")
    samba.add_users(second_dc, 10, ou)
    config = write_config(tmp_path, settings(second_dc, ou, page_size=5, connect_timeout=1))
    assert counts(config)[2] == 10
    samba.add_users(second_dc, 30, ou, first=10)
    before = stored(config)

    read_entries = LdapReplicator.entries

    def killed_after_a_page(self: LdapReplicator, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for number, entry in enumerate(read_entries(self, *args, **kwargs)):
            if number == 7:  # the second page: the read is under way
                pid = int((second_dc.workdir / "run" / "samba.pid").read_text())
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            yield entry

    monkeypatch.setattr(LdapReplicator, "entries", killed_after_a_page)
    run = sync(config, full=True)
    assert run.outcome == "failed"
    assert run.message.startswith(f"replicator ad: {second_dc.url()}: connection lost during")
    assert stored(config) == before


def test_photos_are_read_only_when_mapped_and_served_as_jpeg_photo(
    samba_dc: SambaDC, ou: str, tmp_path: Path, make_metadir: Any
) -> None:
    import ldap3

    users = samba.add_users(samba_dc, 2, ou)
    # JPEG's first bytes and some that are no UTF-8: served as they are, not as text
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256))
    samba.set_photo(samba_dc, users[0].dn, photo)
    unmapped = write_config(tmp_path, settings(samba_dc, ou))
    assert counts(unmapped)[2] == 2
    assert all("jpegPhoto" not in entry for entry in stored(unmapped).values())

    rep = settings(samba_dc, ou, mapping={"jpegPhoto": "thumbnailPhoto"})
    server = make_metadir({"directories": [{"name": "staff", "replicators": [rep]}]})
    conn = ldap3.Connection(server.url.replace("ldap://", ""), auto_bind=True)
    conn.search("dc=meta", "(jpegPhoto=*)", attributes=["jpegPhoto", "cn"])
    assert len(conn.entries) == 1
    assert conn.entries[0].jpegPhoto.raw_values == [photo]
    # Outlook asks for thumbnailPhoto: the same attribute
    dn = conn.entries[0].entry_dn
    conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["thumbnailPhoto"])
    assert [r["raw_attributes"]["jpegPhoto"] for r in conn.response] == [[photo]]
    conn.unbind()


def test_a_value_list_cut_into_ranges_is_completed(
    samba_dc: SambaDC, ou: str, tmp_path: Path
) -> None:
    """AD answers ``otherTelephone;range=0-1499`` for an attribute with more values than
    its MaxValRange and the reader asks for the rest. Samba sends ranges only when a range
    is asked for, so the first answer here is Samba's answer to such a request (the first
    1500 values); completing it runs the replicator's own follow-up search on the DC."""
    import ldap3

    numbers = [f"+49 89 {n:07d}" for n in range(1600)]
    dn = f"CN=Switchboard,{ou}"
    samba.add_entry(
        samba_dc, dn, samba.USER_CLASSES, {"sAMAccountName": [f"sb{secrets.token_hex(3)}"],
                                           "otherTelephone": numbers},
    )  # fmt: skip
    config = write_config(tmp_path, settings(samba_dc, ou))
    rep = LdapReplicator(config.directories[0].replicators[0], Context(tmp_path))
    conn, endpoint = rep.connector.open()
    try:
        answer = rep.search(
            conn, endpoint, dn, "(objectClass=*)", ldap3.BASE, ["otherTelephone;range=0-1499"]
        )
        (_, first), = answer.entries  # fmt: skip
        assert {name: len(values) for name, values in first.items()} == {
            "otherTelephone;range=0-1499": 1500
        }
        completed = rep._complete(conn, endpoint, dn, first)
    finally:
        close(conn)
    assert sorted(v.decode() for v in completed["otherTelephone"]) == sorted(numbers)
