"""The LDAP export against a real slapd (inetOrgPerson, over StartTLS and LDAPS): contacts
synced from a CSV file into the store, then exported into an OU that also holds an admin's
own entries — adds, changes, renames, deletions, names taken, an entry deleted by hand, a
run that dies between batches, and the errors an admin makes."""

from __future__ import annotations

import csv
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest
import yaml

from metadir.commands.check import check_command
from metadir.config import Config, load_config
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.export import run_export
from replicators.base import Context
from tests.conftest import need_slapd
from tests.pki import Authority, issue, make_authority, write_pair
from tests.servers import SourceSlapd, connect

BASE = "dc=corp,dc=example"
ADMIN, SECRET = "cn=admin,dc=corp,dc=example", "secret"
INET = {"top", "person", "organizationalPerson", "inetOrgPerson"}
Row = dict[str, str]


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("ca"), "target CA")


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory, authority: Authority) -> Iterator[SourceSlapd]:
    """An empty directory (dc=corp,dc=example) speaking StartTLS and LDAPS."""
    need_slapd()
    workdir = tmp_path_factory.mktemp("target")
    cert, key = workdir / "server.pem", workdir / "server.key"
    write_pair(issue(authority, "target", 11), cert, key)
    server = SourceSlapd(workdir, tls=(cert, key))
    server.load(
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: corp\no: Corp\n"
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def admin(slapd: SourceSlapd) -> Iterator[ldap3.Connection]:
    """Writes as an admin would, by hand."""
    conn = connect(slapd.url, ADMIN, SECRET)
    yield conn
    conn.unbind()


@pytest.fixture
def ou(admin: ldap3.Connection) -> str:
    """An OU of the test's own, holding an admin's entries: one named like a contact."""
    dn = f"ou=phones-{secrets.token_hex(3)},{BASE}"
    assert admin.add(dn, ["organizationalUnit"], {"ou": dn[3:].split(",")[0]})
    for cn in ("Anna Berg", "Reception"):
        attributes = {"sn": cn.split()[-1], "telephoneNumber": "+49 89 999", "description": "mine"}
        assert admin.add(f"cn={cn},{dn}", ["inetOrgPerson"], attributes), admin.result
    return dn


def contacts(*rows: Row) -> list[Row]:
    return [{"Key": "", "First": "", "Last": "", "Company": "", "Phone": "", **r} for r in rows]


ROWS = contacts(
    {"Key": "1", "First": "Anna", "Last": "Berg", "Phone": "089 1234-1"},
    {"Key": "2", "First": "Max", "Last": "Muster", "Phone": "089 1234-2"},
    {"Key": "3", "First": "Max", "Last": "Muster", "Phone": "089 1234-3"},
    {"Key": "4", "Company": "Acme Hotline", "Phone": "0800 123456"},  # no name: no surname
    {"Key": "5", "First": "Jürgen", "Last": "Groß, Dr.", "Company": "Bäckerei"},
)


def write_config(tmp_path: Path, rows: list[Row], export: dict[str, Any]) -> Config:
    with (tmp_path / "contacts.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    crm = {
        "name": "crm", "type": "csv", "path": "contacts.csv", "key": "Key", "max_delete": "100%",
        "mapping": {"givenName": "First", "sn": "Last", "company": "Company",
                    "telephoneNumber": "Phone", "displayName": "{First} {Last}"},
    }  # fmt: skip
    config = {
        "store": {"url": "sqlite:///metadir.db"},
        "location": {"country": "DE", "area_code": "89"},
        "directories": [{"name": "phonebook", "replicators": [crm]}],
        "exports": [{"name": "phones", "type": "ldap", "max_delete": "100%", **export}],
    }
    path = tmp_path / "metadir.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def export_settings(slapd: SourceSlapd, authority: Authority, ou: str, **more: object) -> dict:
    return {
        "flavor": "openldap", "url": slapd.url, "tls": {"start_tls": True,
        "ca_file": str(authority.path)}, "bind_dn": ADMIN, "password": SECRET,
        "base_dn": ou, "retries": 0, **more,
    }  # fmt: skip


def run(config: Config, **options: Any) -> RunRecord:
    """Sync the CSV file into the store, then run the export."""
    with Store.open(config.store_url()) as store:
        directory = config.directories[0]
        synced = run_replicator(store, config.job(directory, directory.replicators[0]))
        assert synced.outcome == "ok", synced.message
        return run_export(store, config.export_job(config.exports[0]), **options)


def tree(admin: ldap3.Connection, ou: str) -> dict[str, dict[str, list[str]]]:
    """The OU's entries: cn -> attributes (the OU itself left out)."""
    admin.search(ou, "(objectClass=person)", attributes=["*", "entryCSN"])
    return {
        item["attributes"]["cn"][0]: {
            name: [value.decode() for value in values]
            for name, values in item["raw_attributes"].items()
        }
        for item in admin.response
    }


def ours(entries: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
    return {cn: e for cn, e in entries.items() if "employeeType" in e}


def test_contacts_are_written_and_kept_in_step_beside_foreign_entries(
    slapd: SourceSlapd, authority: Authority, ou: str, admin: ldap3.Connection, tmp_path: Path
) -> None:
    config = write_config(tmp_path, ROWS, export_settings(slapd, authority, ou))
    foreign = tree(admin, ou)
    first = run(config)
    assert (first.outcome, first.added, first.deleted) == ("ok", 5, 0), first.message
    entries = tree(admin, ou)
    written = ours(entries)
    assert len(written) == 5
    # an admin's entries are untouched, even the one named like a contact
    assert {cn: entries[cn] for cn in foreign} == foreign
    anna = next(e for cn, e in written.items() if cn.startswith("Anna Berg ("))
    assert set(anna["objectClass"]) == INET
    assert (anna["givenName"], anna["sn"], anna["telephoneNumber"]) == (
        ["Anna"], ["Berg"], ["+498912341"],
    )  # fmt: skip
    assert anna["employeeType"][0].startswith("metadir:phones:")
    # two contacts of one name: the second takes its uuid's start
    assert "Max Muster" in written and len([cn for cn in written if "Max Muster" in cn]) == 2
    # no surname: person's sn is the name shown
    assert written["Acme Hotline"]["sn"] == ["Acme Hotline"]
    # a comma in a name is escaped in the DN
    assert written["Jürgen Groß, Dr."]["o"] == ["Bäckerei"]

    again = run(config)
    assert (again.outcome, again.updated) == ("ok", 0)
    assert tree(admin, ou) == entries  # nothing rewritten (entryCSN unchanged)

    # a change, a rename, a deletion in the source
    rows = [dict(r) for r in ROWS if r["Key"] != "2"]
    rows[0]["Phone"] = "089 1234-9"
    rows[-1]["Last"] = "Klein"
    config = write_config(tmp_path, rows, export_settings(slapd, authority, ou))
    changed = run(config)
    assert (changed.outcome, changed.updated, changed.deleted) == ("ok", 2, 1), changed.message
    entries = tree(admin, ou)
    assert {cn: entries[cn] for cn in foreign} == foreign
    written = ours(entries)
    assert len(written) == 4 and {"Acme Hotline", "Jürgen Klein", anna["cn"][0]} < set(written)
    assert len([cn for cn in written if "Max Muster" in cn]) == 1
    assert written[anna["cn"][0]]["telephoneNumber"] == ["+498912349"]
    assert "Jürgen Groß, Dr." not in written


def test_an_entry_deleted_by_hand_comes_back_when_its_contact_changes(
    slapd: SourceSlapd, authority: Authority, ou: str, admin: ldap3.Connection, tmp_path: Path
) -> None:
    config = write_config(tmp_path, ROWS, export_settings(slapd, authority, ou))
    assert run(config).outcome == "ok"
    assert admin.delete(f"cn=Acme Hotline,{ou}")
    rows = [dict(r) for r in ROWS]
    rows[3]["Phone"] = "0800 654321"
    config = write_config(tmp_path, rows, export_settings(slapd, authority, ou))
    assert run(config).outcome == "ok"
    assert ours(tree(admin, ou))["Acme Hotline"]["telephoneNumber"] == ["+49800654321"]
    # an entry whose mark an admin removed is the admin's now: left alone, and the contact
    # gets an entry of its own again
    assert admin.modify(f"cn=Max Muster,{ou}", {"employeeType": [(ldap3.MODIFY_DELETE, [])]})
    rows[1]["Phone"] = "089 777"
    config = write_config(tmp_path, rows, export_settings(slapd, authority, ou))
    assert run(config).outcome == "ok"
    entries = tree(admin, ou)
    assert "employeeType" not in entries["Max Muster"]
    assert entries["Max Muster"]["telephoneNumber"] == ["+498912342"]
    phones = sorted(e["telephoneNumber"][0] for cn, e in ours(entries).items() if "Max" in cn)
    assert phones == ["+498912343", "+4989777"]


def test_a_run_that_dies_between_batches_is_finished_by_the_next(
    slapd: SourceSlapd, authority: Authority, ou: str, tmp_path: Path
) -> None:
    rows = contacts(*({"Key": str(i), "First": "P", "Last": f"N{i:03}"} for i in range(60)))
    config = write_config(tmp_path, rows, export_settings(slapd, authority, ou, batch_size=20))
    batches = 0

    def stop_slapd_before_the_second_batch() -> bool:
        nonlocal batches
        batches += 1
        if batches == 2:
            slapd.stop()
        return False

    failed = run(config, context=Context(tmp_path, cancelled=stop_slapd_before_the_second_batch))
    assert failed.outcome == "failed"
    assert "export phones: " in failed.message and "connection lost" in failed.message
    assert SECRET not in failed.message
    slapd.start()
    admin = connect(slapd.url, ADMIN, SECRET)  # the fixture's went down with slapd
    assert len(ours(tree(admin, ou))) == 20
    assert run(config).outcome == "ok"
    written = ours(tree(admin, ou))
    admin.unbind()
    assert sorted(written) == [f"P N{i:03}" for i in range(60)]
    uuids = [e["employeeType"][0].split(":")[2] for e in written.values()]
    assert len(set(uuids)) == 60


def test_ldaps_and_a_schema_refusal_of_one_contact(
    slapd: SourceSlapd,
    authority: Authority,
    ou: str,
    admin: ldap3.Connection,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """c (mapped here from the company) takes a two-letter code: the contact with a
    longer one is refused and reported, the others are written, and the run goes on."""
    assert slapd.ldaps_url is not None
    rows = contacts(
        {"Key": "1", "First": "A", "Last": "B"}, {"Key": "2", "First": "C", "Last": "D"}
    )
    settings = export_settings(slapd, authority, ou, url=slapd.ldaps_url, mapping={"c": "company"})
    del settings["tls"]["start_tls"]
    rows[1]["Company"] = "Germany"
    config = write_config(tmp_path, rows, settings)
    with caplog.at_level(logging.WARNING):
        done = run(config)
    assert done.outcome == "ok", done.message
    assert (done.added, done.skipped) == (1, 1)
    assert sorted(ours(tree(admin, ou))) == ["A B"]
    (problem,) = done.problems
    assert "'C D'" in problem.message and f"adding cn=C D,{ou}" in problem.message
    assert "(21)" in problem.message
    assert done.note.endswith("the target holds 1")
    (line,) = [r.getMessage() for r in caplog.records if "export phones" in r.getMessage()]
    assert problem.message in line


def test_another_target_ou_gets_every_contact(
    slapd: SourceSlapd, authority: Authority, ou: str, admin: ldap3.Connection, tmp_path: Path
) -> None:
    assert run(write_config(tmp_path, ROWS, export_settings(slapd, authority, ou))).outcome == "ok"
    other = f"ou=other-{secrets.token_hex(3)},{BASE}"
    assert admin.add(other, ["organizationalUnit"], {"ou": other[3:].split(",")[0]})
    moved = run(write_config(tmp_path, ROWS, export_settings(slapd, authority, other)))
    assert (moved.outcome, moved.mode, moved.updated + moved.added) == ("ok", "full", 5)
    assert "the target asked for a full export: base_dn is now" in moved.note
    assert len(ours(tree(admin, other))) == 5


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"password": "wrong"}, f"cannot bind as {ADMIN}: invalid credentials (49)"),
        ({"base_dn": f"ou=nowhere,{BASE}"}, f"base_dn 'ou=nowhere,{BASE}' does not exist"),
        ({"url": "ldap://127.0.0.1:1", "tls": {}}, "cannot connect (1 attempt): ldap://127.0.0.1:1:"),
        ({"tls": {"start_tls": True}}, "StartTLS failed: TLS:"),
    ],
)  # fmt: skip
def test_errors_are_one_line_naming_the_export(
    slapd: SourceSlapd,
    authority: Authority,
    ou: str,
    tmp_path: Path,
    change: dict[str, Any],
    expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, ROWS, {**export_settings(slapd, authority, ou), **change})
    failed = run(config)
    assert failed.outcome == "failed"
    assert failed.message.startswith("export phones: ") and expected in failed.message
    assert "\n" not in failed.message
    assert SECRET not in failed.message and "wrong" not in failed.message
    # metadir check finds it too, without writing
    capsys.readouterr()
    assert check_command(config) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{config.path}: exports[0] (phones): target: ") and expected in line


def test_check_binds_and_reads_the_target_ou(
    slapd: SourceSlapd, authority: Authority, ou: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config = write_config(tmp_path, ROWS, export_settings(slapd, authority, ou))
    assert check_command(config) == 0
    assert ", 1 exports, " in capsys.readouterr().out
