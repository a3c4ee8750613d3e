"""The LDAP export into a real Active Directory (Samba AD DC, ``samba_dc``) over LDAPS:
contact objects with AD's attribute names, beside an admin's own contacts, through adds,
changes, renames and deletions; and AD's words for a wrong password."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests import samba
from tests.integration.test_ldap_export import ROWS, contacts, run, write_config
from tests.samba import CONTACT_CLASSES, SambaDC


@pytest.fixture
def ou(samba_dc: SambaDC) -> str:
    """An OU of the test's own with an admin's contacts, one named like a contact."""
    dn = samba.add_ou(samba_dc, f"phones-{secrets.token_hex(3)}")
    for cn in ("Anna Berg", "Empfang"):
        mine = {"displayName": [cn], "telephoneNumber": ["+49 89 999"], "info": ["mine"]}
        samba.add_entry(samba_dc, f"CN={cn},{dn}", CONTACT_CLASSES, mine)
    return dn


def settings(dc: SambaDC, ou: str, **more: object) -> dict:
    return {
        "flavor": "ad", "url": dc.url(ldaps=True), "tls": {"ca_file": str(dc.ca_file)},
        "bind_dn": dc.admin, "password": dc.password, "base_dn": ou, "retries": 0, **more,
    }  # fmt: skip


WANTED = ["objectClass", "cn", "displayName", "givenName", "sn", "company", "telephoneNumber",
          "adminDescription", "info", "whenChanged"]  # fmt: skip


def contacts_in(dc: SambaDC, ou: str) -> dict[str, dict[str, list]]:
    conn = dc.connect()
    try:
        conn.search(ou, "(objectClass=contact)", attributes=WANTED)
        found = {}
        for item in conn.response:
            if item.get("type") == "searchResEntry":
                raw = item["raw_attributes"]
                attributes = {k: [v.decode() for v in vs] for k, vs in raw.items() if vs}
                found[attributes["cn"][0]] = attributes
        return found
    finally:
        conn.unbind()


def test_contacts_in_active_directory(samba_dc: SambaDC, ou: str, tmp_path: Path) -> None:
    foreign = contacts_in(samba_dc, ou)
    config = write_config(tmp_path, ROWS, settings(samba_dc, ou))
    first = run(config)
    assert (first.outcome, first.added) == ("ok", 5), first.message
    found = contacts_in(samba_dc, ou)
    assert {cn: found[cn] for cn in foreign} == foreign
    ours = {cn: e for cn, e in found.items() if "adminDescription" in e}
    assert len(ours) == 5
    anna = next(e for cn, e in ours.items() if cn.startswith("Anna Berg ("))
    assert [c.lower() for c in anna["objectClass"]] == [c.lower() for c in CONTACT_CLASSES]
    assert (anna["givenName"], anna["sn"], anna["displayName"]) == (
        ["Anna"],
        ["Berg"],
        ["Anna Berg"],
    )
    assert ours["Jürgen Groß, Dr."]["company"] == ["Bäckerei"]
    assert "sn" not in ours["Acme Hotline"]  # a contact needs no surname in AD

    assert run(config).outcome == "ok"
    assert contacts_in(samba_dc, ou) == found  # nothing rewritten: whenChanged stands

    rows = [dict(r) for r in ROWS if r["Key"] != "4"]
    rows[0]["Phone"] = "089 1234-9"
    rows[-1]["Last"] = "Klein"
    changed = run(write_config(tmp_path, rows, settings(samba_dc, ou)))
    assert (changed.outcome, changed.updated, changed.deleted) == ("ok", 2, 1), changed.message
    found = contacts_in(samba_dc, ou)
    assert {cn: found[cn] for cn in foreign} == foreign
    ours = {cn: e for cn, e in found.items() if "adminDescription" in e}
    assert "Acme Hotline" not in ours and "Jürgen Klein" in ours and len(ours) == 4
    assert ours[anna["cn"][0]]["telephoneNumber"] == ["+498912349"]


def test_a_wrong_password_in_ads_words(samba_dc: SambaDC, ou: str, tmp_path: Path) -> None:
    rows = contacts({"Key": "1", "First": "A", "Last": "B"})
    config = write_config(tmp_path, rows, settings(samba_dc, ou, password="Wrong-123"))
    failed = run(config)
    assert failed.outcome == "failed"
    assert failed.message.startswith(f"export phones: {samba_dc.url(ldaps=True)}: cannot bind as ")
    assert "invalid credentials (49)" in failed.message and "Wrong-123" not in failed.message
