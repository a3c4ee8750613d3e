"""Incremental LDAP reads by modifyTimestamp (``incremental: modify_timestamp``, the default
for OpenLDAP) against a real slapd: changes only, renames keep the entry (entryUUID key),
deletions only at the periodic full read, and when a saved state does not count."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import ldap3
import pytest
from pydantic import ValidationError

from metadir.config import Config
from metadir.core.timestamps import format_generalized_time
from replicators.base import Checkpoint, Context, Record
from replicators.ldap import LdapConfig
from replicators.ldap.source import LdapReplicator
from replicators.ldap.timestamps import OVERLAP, parse_time
from tests.conftest import need_slapd
from tests.integration.test_ldap_replicator import stored, sync, write_config
from tests.servers import SourceSlapd, connect

BASE = SourceSlapd.suffix


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SourceSlapd]:
    need_slapd()
    server = SourceSlapd(tmp_path_factory.mktemp("incremental"))
    server.load(f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: corp\no: C\n")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def writer(source: SourceSlapd) -> Iterator[ldap3.Connection]:
    conn = connect(source.url, source.root_dn, source.root_pw)
    yield conn
    conn.unbind()


@pytest.fixture
def ou(writer: ldap3.Connection) -> str:
    """An OU of this test's own, with three people in it."""
    dn = f"ou=t{secrets.token_hex(4)},{BASE}"
    assert writer.add(dn, ["organizationalUnit"], {"ou": dn[3:11]}), writer.result
    for i in range(3):
        add_person(writer, dn, i)
    return dn


def add_person(conn: ldap3.Connection, ou: str, i: int) -> str:
    dn = f"uid=p{i},{ou}"
    attributes = {"cn": f"Person {i}", "sn": f"Person{i}", "telephoneNumber": f"+49 40 777-{i}"}
    assert conn.add(dn, ["inetOrgPerson"], attributes), conn.result
    return dn


def settings(source: SourceSlapd, ou: str, **more: object) -> dict:
    return {
        "name": "people",
        "type": "ldap",
        "flavor": "openldap",
        "url": source.url,
        "base_dn": ou,
        "bind_dn": source.root_dn,
        "password": source.root_pw,
        "retries": 0,
        "max_delete": "100%",
        **more,
    }


def by_cn(config: Config) -> dict[str, str]:
    """cn -> key (entryUUID) of the stored entries."""
    return {attributes["cn"][0]: key for key, attributes in stored(config).items()}


def save_state(config: Config, name: str, state: object) -> None:
    """Overwrite the replicator's saved state, as a lost or tampered store would have it."""
    path = config.store_url().removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE replicators SET state = ? WHERE name = ?", (json.dumps(state), name))


def test_add_and_modify_are_read_incrementally(
    source: SourceSlapd, writer: ldap3.Connection, ou: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, settings(source, ou))
    first = sync(config)
    assert (first.outcome, first.mode, first.added, first.note) == ("ok", "full", 3, "")
    add_person(writer, ou, 3)
    assert writer.modify(f"uid=p1,{ou}", {"mobile": [(ldap3.MODIFY_REPLACE, ["0172 5550100"])]})
    run = sync(config)
    assert (run.outcome, run.mode, run.added, run.updated, run.deleted) == (
        "ok", "incremental", 1, 1, 0,
    )  # fmt: skip
    entries = stored(config)
    assert len(entries) == 4
    assert [a["mobile"] for a in entries.values() if "mobile" in a] == [["+491725550100"]]


def test_an_incremental_read_asks_only_for_entries_changed_since_the_watermark(
    source: SourceSlapd, writer: ldap3.Connection, ou: str, tmp_path: Path
) -> None:
    rep = LdapReplicator(LdapConfig.model_validate(settings(source, ou)), Context(tmp_path))
    *records, checkpoint = rep.read(None)
    assert isinstance(checkpoint, Checkpoint) and checkpoint.full and len(records) == 3
    time.sleep(1.1)  # modifyTimestamp has whole seconds
    since = datetime.now(UTC)
    assert writer.modify(f"uid=p2,{ou}", {"sn": [(ldap3.MODIFY_REPLACE, ["Changed"])]})
    # the watermark as if the last read had seen entries up to now (minus the overlap)
    state = {**checkpoint.state, "watermark": format_generalized_time(since + OVERLAP)}
    *records, checkpoint = rep.read(state)
    assert [r.values["sn"] for r in records if isinstance(r, Record)] == ["Changed"]
    assert isinstance(checkpoint, Checkpoint) and not checkpoint.full
    watermark = parse_time(checkpoint.state["watermark"])
    assert watermark is not None and watermark >= since.replace(microsecond=0)


def test_a_rename_keeps_the_entry_under_its_entry_uuid(
    source: SourceSlapd, writer: ldap3.Connection, ou: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, settings(source, ou))
    sync(config)
    key = by_cn(config)["Person 0"]
    assert writer.modify_dn(f"uid=p0,{ou}", "uid=renamed"), writer.result
    assert writer.modify(f"uid=renamed,{ou}", {"cn": [(ldap3.MODIFY_REPLACE, ["Renamed"])]})
    run = sync(config)
    assert (run.mode, run.added, run.updated, run.deleted) == ("incremental", 0, 1, 0)
    assert by_cn(config)["Renamed"] == key
    assert len(stored(config)) == 3


def test_a_deletion_is_seen_at_the_periodic_full_read(
    source: SourceSlapd, writer: ldap3.Connection, ou: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, settings(source, ou))
    sync(config)
    assert writer.delete(f"uid=p2,{ou}"), writer.result
    run = sync(config)
    assert (run.mode, run.deleted) == ("incremental", 0)
    assert "Person 2" in by_cn(config)  # modifyTimestamp cannot tell
    config = write_config(tmp_path, settings(source, ou, full_every=0))
    run = sync(config)
    assert (run.outcome, run.mode, run.deleted) == ("ok", "full", 1)
    assert run.note.startswith("periodic full read (full_every 0s): finds deleted entries")
    assert sorted(by_cn(config)) == ["Person 0", "Person 1"]


def test_changed_settings_or_an_unusable_state_mean_a_full_run(
    source: SourceSlapd, ou: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, settings(source, ou))
    sync(config)
    assert sync(config).mode == "incremental"
    config = write_config(tmp_path, settings(source, ou, filter="(sn=Person1)"))
    run = sync(config)
    assert (run.mode, run.deleted) == ("full", 2)
    assert run.note.startswith("settings changed (url, base_dn, filter")
    for state, note in [
        ({"method": "usn", "usn": 5}, "saved state unusable: written by incremental 'usn'"),
        ({"method": "modify_timestamp"}, "saved state unusable: fingerprint is None"),
        ([1, 2], "saved state unusable: not a mapping"),
    ]:
        save_state(config, "people", state)
        run = sync(config)
        assert (run.outcome, run.mode) == ("ok", "full")
        assert run.note.startswith(note), run.note
    assert sync(config).mode == "incremental"
    assert sync(config, full=True).mode == "full"


def test_incremental_none_reads_everything_every_time(
    source: SourceSlapd, ou: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, settings(source, ou, incremental="none"))
    sync(config)
    run = sync(config)
    assert (run.mode, run.unchanged) == ("full", 3)


@pytest.mark.parametrize(
    ("more", "message"),
    [
        ({"full_every": "soon"}, "full_every\n  Value error, expected a duration such as 30s"),
        ({"full_every": -1}, "full_every\n  Value error, must not be negative"),
        ({"incremental": "usn"}, "incremental: usn reads Active Directory's uSNChanged"),
        ({"incremental": "dirsync"}, "'auto', 'usn', 'modify_timestamp' or 'none'"),
    ],
)
def test_bad_incremental_settings_are_named(more: dict, message: str) -> None:
    base = {"name": "x", "type": "ldap", "flavor": "openldap", "url": "ldap://h", "base_dn": "o=x"}
    with pytest.raises(ValidationError, match=message):
        LdapConfig.model_validate({**base, **more})


@pytest.mark.parametrize(
    ("text", "seconds"), [("12h", 43200), ("7d", 604800), (90, 90), ("1h30m", 5400), (0, 0)]
)
def test_full_every_takes_durations(text: object, seconds: float) -> None:
    base = {"name": "x", "type": "ldap", "url": "ldap://h", "base_dn": "o=x"}
    every = LdapConfig.model_validate({**base, "full_every": text}).full_every
    assert every.total_seconds() == seconds
