"""The Samba AD DC fixture, and the Active Directory behaviour the AD replicator relies on:
the root DSE's highestCommittedUSN and the DC's invocationId, uSNChanged polling, DirSync
(changed attributes only, renames, moves, deletes), tombstones behind the Show Deleted
control, and what Samba does with more than 1500 values of one attribute."""

from __future__ import annotations

import os
import secrets
import socket
import ssl
from pathlib import Path

import ldap3
import pytest
from ldap3.protocol.microsoft import show_deleted_control
from ldap3.utils.conv import escape_bytes

from tests import samba
from tests.samba import SambaDC, SambaError

DIRSYNC = "1.2.840.113556.1.4.841"
SHOW_DELETED = "1.2.840.113556.1.4.417"
PAGED_RESULTS = "1.2.840.113556.1.4.319"
# AD hands out at most this many values of an attribute at once (MaxValRange)
AD_MAX_VALUES = 1500
JPEG_START = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"  # binary, not UTF-8


def search(dc: SambaDC, base: str, filter_: str, attributes: list[str], **options) -> list[dict]:
    """The entries found (subtree below ``base``), with their dn and attributes."""
    conn = dc.connect()
    try:
        assert conn.search(base, filter_, attributes=attributes, **options), conn.result
        return [r for r in conn.response if r["type"] == "searchResEntry"]
    finally:
        conn.unbind()


def root_dse(dc: SambaDC) -> dict[str, list[str]]:
    return search(dc, "", "(objectClass=*)", ["*"], search_scope=ldap3.BASE)[0]["attributes"]


def highest_usn(dc: SambaDC) -> int:
    return int(root_dse(dc)["highestCommittedUSN"][0])


def guid(dc: SambaDC, dn: str) -> bytes:
    return samba.read(dc, dn, ["objectGUID"])["objectGUID"][0]


def dirsync(dc: SambaDC, filter_: str, cookie: bytes | None = None) -> tuple[list[dict], bytes]:
    """One DirSync round over the whole domain: the entries and the next cookie."""
    conn = dc.connect()
    try:
        sync = conn.extend.microsoft.dir_sync(dc.base_dn, filter_, ["*"], cookie=cookie)
        entries: list[dict] = []
        while sync.more_results:
            entries += [r for r in sync.loop() if r["type"] == "searchResEntry"]
        return entries, sync.cookie
    finally:
        conn.unbind()


def by_guid(entries: list[dict]) -> dict[bytes, dict]:
    return {e["attributes"]["objectGUID"][0]: e for e in entries}


@pytest.fixture
def ou(samba_dc: SambaDC, request: pytest.FixtureRequest) -> str:
    """An OU of this test's own in the session's DC."""
    return samba.add_ou(samba_dc, f"{request.node.name[:50]}-{secrets.token_hex(3)}")


# --- the server ---------------------------------------------------------------------------


def test_root_dse_tells_usn_host_and_the_dc_invocation_id(samba_dc: SambaDC) -> None:
    dse = root_dse(samba_dc)
    assert dse["defaultNamingContext"] == [samba_dc.base_dn]
    assert dse["dnsHostName"] == [f"{samba.HOST_NAME}.{samba.REALM.lower()}"]
    assert {DIRSYNC, PAGED_RESULTS} <= set(dse["supportedControl"])
    assert int(dse["highestCommittedUSN"][0]) > 0
    # the invocationId sits on the nTDSDSA object the root DSE names
    dsa = samba.read(samba_dc, dse["dsServiceName"][0], ["objectClass", "invocationId"])
    assert "nTDSDSA" in dsa["objectClass"]
    assert len(dsa["invocationId"][0]) == 16  # a GUID


def test_simple_bind_over_plain_ldap_checks_the_password(samba_dc: SambaDC) -> None:
    server = ldap3.Server(samba_dc.url(), get_info=ldap3.NONE)
    wrong = ldap3.Connection(server, user=samba_dc.admin, password="wrong")
    assert not wrong.bind()
    assert wrong.result["description"] == "invalidCredentials"
    right = samba_dc.connect()
    assert right.bound
    right.unbind()


def test_ldaps_is_verified_with_the_ca_file_and_only_with_it(samba_dc: SambaDC) -> None:
    conn = samba_dc.connect(ldaps=True)
    assert conn.bound
    conn.unbind()
    address = (samba_dc.host, samba_dc.ldaps_port)
    with (
        socket.create_connection(address, timeout=5) as sock,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ssl.create_default_context().wrap_socket(sock, server_hostname=samba_dc.host)
    context = ssl.create_default_context(cafile=str(samba_dc.ca_file))
    with (
        socket.create_connection(address, timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=samba_dc.host) as tls,
    ):
        assert tls.version() is not None


def test_a_second_dc_gets_another_address_and_stops_completely(
    samba_dc: SambaDC, tmp_path: Path
) -> None:
    with samba.running_dc(tmp_path / "dc") as other:
        assert other.host != samba_dc.host
        assert other.base_dn == samba_dc.base_dn
        pid = int((other.workdir / "run" / "samba.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert all(samba.port_is_free(other.host, port) for port in samba.AD_PORTS)


# --- the helpers --------------------------------------------------------------------------


def test_users_and_contacts_keep_what_they_were_given(samba_dc: SambaDC, ou: str) -> None:
    users = samba.add_users(samba_dc, 3, ou)
    contacts = samba.add_contacts(samba_dc, 2, ou, first=100)
    names = [u.attributes["displayName"][0] for u in users]
    assert names == ["Jürgen Müller", "Øyvind Ødegård", "Łukasz Wójcik"]
    for entry in [*users, *contacts]:
        sent = {k: v for k, v in entry.attributes.items() if k != "unicodePwd"}
        stored = samba.read(samba_dc, entry.dn, [*sent, "objectClass"])
        for name, values in sent.items():
            assert sorted(stored[name]) == sorted(values), (entry.dn, name)
    assert "contact" in samba.read(samba_dc, contacts[0].dn, ["objectClass"])["objectClass"]
    assert len(users[0].attributes["otherTelephone"]) == 2
    # a user with a password is an enabled account: no ACCOUNTDISABLE, no PASSWD_NOTREQD
    flags = samba.read(samba_dc, users[0].dn, ["userAccountControl"])["userAccountControl"]
    assert flags == [str(samba.NORMAL_ACCOUNT)]


def test_disable_expire_and_photo(samba_dc: SambaDC, ou: str) -> None:
    (user,) = samba.add_users(samba_dc, 1, ou)
    samba.disable(samba_dc, user.dn)
    samba.expire(samba_dc, user.dn)
    photo = JPEG_START + bytes(range(256))
    samba.set_photo(samba_dc, user.dn, photo)
    got = samba.read(samba_dc, user.dn, ["userAccountControl", "accountExpires", "thumbnailPhoto"])
    assert int(got["userAccountControl"][0]) == samba.NORMAL_ACCOUNT | samba.ACCOUNTDISABLE
    assert got["accountExpires"] == ["132223104000000000"]  # 2020-01-01 00:00 UTC
    assert got["thumbnailPhoto"] == [photo]


def test_rename_and_move_return_the_new_dn(samba_dc: SambaDC, ou: str) -> None:
    other = samba.add_ou(samba_dc, "moved", parent=ou)
    (user,) = samba.add_users(samba_dc, 1, ou)
    renamed = samba.rename(samba_dc, user.dn, "Müller, Jürgen")
    assert renamed == f"CN=Müller\\, Jürgen,{ou}"
    moved = samba.move(samba_dc, renamed, other)
    assert moved == f"CN=Müller\\, Jürgen,{other}"
    assert samba.read(samba_dc, moved, ["sn"])["sn"] == ["Müller"]


def test_a_refused_operation_names_the_dn_and_the_reason(samba_dc: SambaDC) -> None:
    missing = f"OU=nowhere,{samba_dc.base_dn}"
    with pytest.raises(SambaError, match=r"adding CN=.*,OU=nowhere,.*noSuchObject"):
        samba.add_users(samba_dc, 1, missing)
    with pytest.raises(SambaError, match=r"deleting OU=nowhere,.*noSuchObject"):
        samba.delete(samba_dc, missing)


# --- incremental reads ----------------------------------------------------------------------


def test_usn_changed_polling_and_tombstones(samba_dc: SambaDC, ou: str) -> None:
    users = samba.add_users(samba_dc, 3, ou)
    keep, change, remove = (u.dn for u in users)
    removed_guid = guid(samba_dc, remove)
    usn = highest_usn(samba_dc)
    samba.modify(samba_dc, change, {"mobile": ["+49 151 9999999"]})
    samba.delete(samba_dc, remove)
    assert highest_usn(samba_dc) > usn

    changed = search(samba_dc, ou, f"(uSNChanged>={usn + 1})", ["uSNChanged"])
    assert [e["dn"] for e in changed] == [change]  # the deleted one is gone from its OU
    assert keep not in {e["dn"] for e in changed}

    # the tombstone: only with Show Deleted, named by its GUID, pointing at its old OU
    where = f"(objectGUID={escape_bytes(removed_guid)})"
    attributes = ["isDeleted", "lastKnownParent", "uSNChanged", "objectCategory"]
    assert search(samba_dc, samba_dc.base_dn, where, attributes) == []
    (tombstone,) = search(
        samba_dc, samba_dc.base_dn, where, attributes, controls=[show_deleted_control(True)]
    )
    assert "\\0ADEL:" in tombstone["dn"]
    assert tombstone["dn"].endswith(f"CN=Deleted Objects,{samba_dc.base_dn}")
    assert tombstone["attributes"]["isDeleted"] == ["TRUE"]
    assert tombstone["attributes"]["lastKnownParent"] == [ou]
    assert int(tombstone["attributes"]["uSNChanged"][0]) > usn
    assert not tombstone["attributes"].get("objectCategory")  # why filters must not use it


def test_dirsync_sends_changed_attributes_renames_moves_and_deletes(
    samba_dc: SambaDC, ou: str
) -> None:
    other = samba.add_ou(samba_dc, "moved", parent=ou)
    users = samba.add_users(samba_dc, 5, ou)
    first, cookie = dirsync(samba_dc, "(objectClass=user)")
    _, person_cookie = dirsync(samba_dc, "(&(objectCategory=person)(objectClass=user))")
    assert {guid(samba_dc, u.dn) for u in users} <= set(by_guid(first))
    assert cookie

    untouched, changed, renamed, moved, removed = (u.dn for u in users)
    guids = {dn: guid(samba_dc, dn) for dn in (untouched, changed, renamed, moved, removed)}
    samba.modify(samba_dc, changed, {"mobile": ["+49 151 7777777"]})
    new_name = samba.rename(samba_dc, renamed, "Zoë Weiß-Müller")
    new_place = samba.move(samba_dc, moved, other)
    samba.delete(samba_dc, removed)

    entries, _ = dirsync(samba_dc, "(objectClass=user)", cookie)
    seen = by_guid(entries)
    assert guids[untouched] not in seen
    # only what changed (plus the key), not the whole entry
    assert seen[guids[changed]]["attributes"]["mobile"] == ["+49 151 7777777"]
    assert "givenName" not in seen[guids[changed]]["attributes"]
    # DirSync names entries with extended DNs: <GUID=…>;<SID=…>;CN=…
    assert seen[guids[renamed]]["dn"].endswith(f";{new_name}")
    assert seen[guids[renamed]]["attributes"]["name"] == ["Zoë Weiß-Müller"]
    assert seen[guids[moved]]["dn"].endswith(f";{new_place}")
    assert seen[guids[removed]]["attributes"]["isDeleted"] == ["TRUE"]

    # a filter on objectCategory misses the delete: tombstones have none
    entries, _ = dirsync(samba_dc, "(&(objectCategory=person)(objectClass=user))", person_cookie)
    assert guids[changed] in by_guid(entries)
    assert guids[removed] not in by_guid(entries)


# --- many values ----------------------------------------------------------------------------


def test_samba_sends_all_values_unless_a_range_is_asked_for(samba_dc: SambaDC, ou: str) -> None:
    """AD sends an attribute with more than 1500 values as ``attr;range=0-1499`` and the
    client asks for the rest; Samba sends all values at once, under the plain name, and
    ranges only when the client names a range itself."""
    numbers = [f"+49 89 {n:07d}" for n in range(AD_MAX_VALUES + 100)]
    dn = f"CN=Many Numbers,{ou}"
    samba.add_entry(
        samba_dc, dn, samba.USER_CLASSES, {"sAMAccountName": ["many"], "otherTelephone": numbers}
    )
    # without ldap3's range following and empty-attribute padding: the server's own answer
    conn = samba_dc.connect(auto_range=False, return_empty_attributes=False)
    try:
        for asked, expected in [
            ("otherTelephone", {"otherTelephone": len(numbers)}),
            ("otherTelephone;range=0-1499", {"otherTelephone;range=0-1499": AD_MAX_VALUES}),
            ("otherTelephone;range=1500-*", {"otherTelephone;range=1500-*": 100}),
        ]:
            assert conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[asked])
            raw = conn.response[0]["raw_attributes"]
            assert {name: len(values) for name, values in raw.items()} == expected, asked
    finally:
        conn.unbind()
