"""The meta database on real SQLite files and the real PostgreSQL: API, sequence, migrations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text

from metadir.core.errors import StoreError
from metadir.store.entries import EntryData
from metadir.store.migrate import migration_config
from metadir.store.models import metadata, replicators
from metadir.store.runs import PROBLEMS_KEPT, RunRecord
from metadir.store.store import Store
from replicators.base import Problem

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        opened.ensure_directory("contacts", "ou=contacts,dc=meta")
        opened.ensure_replicator("crm", "csv", "contacts")
        yield opened


def entry(key: str | tuple[str, ...], name: str, phone: str | None = None) -> EntryData:
    key = (key,) if isinstance(key, str) else key
    attributes = {"cn": [name], "displayName": [name]}
    raw = {}
    if phone:
        attributes["telephoneNumber"] = [phone.strip()]
        raw["telephoneNumber"] = [phone]
    numbers = {name: [value.strip()] for name, (value,) in raw.items()}
    return EntryData(key, attributes, raw, numbers, digest=f"d-{name}-{phone}"[:32])


def run(replicator: str = "crm", outcome: str = "ok", **counts: object) -> RunRecord:
    return RunRecord(replicator, outcome, started=T0, finished=T0 + timedelta(seconds=2), **counts)


def by_key(entries: list) -> dict:
    return {e.key: e for e in entries}


# -- opening -------------------------------------------------------------------------------


def test_open_creates_parent_directory_and_uses_wal(tmp_path) -> None:
    path = tmp_path / "a" / "b" / "metadir.db"
    with Store.open(f"sqlite:///{path}") as store, store.engine.connect() as conn:
        assert path.exists()
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_open_where_no_directory_can_be_made(tmp_path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the directory"):
        Store.open(f"sqlite:///{tmp_path}/file/metadir.db")


def test_open_bad_url() -> None:
    with pytest.raises(StoreError, match="bad store URL"):
        Store.open("not a url")
    with pytest.raises(StoreError, match="expected sqlite"):
        Store.open("mysql://localhost/x")


def test_open_unreachable_postgres_names_the_store_without_password() -> None:
    with pytest.raises(StoreError, match=r"cannot open") as caught:
        Store.open("postgresql+psycopg://postgres:secret@127.0.0.1:1/nothing")
    assert "127.0.0.1:1/nothing" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_reopened_store_keeps_its_entries(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/metadir.db"
    with Store.open(url) as store:
        store.ensure_directory("contacts", "ou=contacts,dc=meta")
        store.ensure_replicator("crm", "csv", "contacts")
        store.apply(run(added=1), added=[entry("1", "Anna")])
        before = store.snapshot()
    with Store.open(url) as store:
        assert store.snapshot() == before


# -- layout --------------------------------------------------------------------------------


def test_ensure_directory_and_replicator(store: Store) -> None:
    store.ensure_directory("contacts", "ou=phones,dc=meta")  # a new base DN, same directory
    store.ensure_replicator("crm", "ldap", "contacts")  # retyped
    store.ensure_replicator("crm", "ldap", "contacts")  # again: nothing to do
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT name, base_dn FROM directories")).all()
        reps = conn.execute(text("SELECT name, type FROM replicators")).all()
    assert [tuple(r) for r in rows] == [("contacts", "ou=phones,dc=meta")]
    assert [tuple(r) for r in reps] == [("crm", "ldap")]
    assert store.current_seq() == 0
    with pytest.raises(StoreError, match="no directory named 'nowhere'"):
        store.ensure_replicator("erp", "csv", "nowhere")


def test_moving_a_replicator_moves_its_entries_under_a_new_sequence_number(store: Store) -> None:
    store.ensure_directory("staff", "ou=staff,dc=meta")
    store.apply(run(added=2), added=[entry("1", "Anna"), entry("2", "Ben")])
    store.ensure_replicator("crm", "csv", "staff")
    seq, changed = store.changes_since(1)
    assert seq == 2
    assert {(e.key, e.directory) for e in changed} == {(("1",), "staff"), (("2",), "staff")}
    assert store.snapshot(["contacts"])[1] == []
    assert store.directory_sizes() == {"contacts": 0, "staff": 2}


# -- entries and the change sequence -------------------------------------------------------


def test_a_run_writes_all_its_changes_under_one_sequence_number(store: Store) -> None:
    seq, first_run = store.apply(
        run(added=3),
        added=[entry("1", "Anna", " 089 1 "), entry("2", "Ben"), entry("3", "Cem")],
    )
    assert seq == 1
    seq, live = store.snapshot()
    assert seq == 1
    first = by_key(live)
    assert first[("1",)].attributes == {
        "cn": ["Anna"],
        "displayName": ["Anna"],
        "telephoneNumber": ["089 1"],
    }
    assert {e.directory for e in live} == {"contacts"}
    assert {e.replicator for e in live} == {"crm"}
    assert len({e.uuid for e in live}) == 3
    assert first[("1",)].created.tzinfo is not None
    assert first[("1",)].created.utcoffset() == timedelta(0)
    assert abs(first[("1",)].modified - datetime.now(UTC)) < timedelta(minutes=1)

    stored = store.digests("crm")
    seq, second_run = store.apply(
        run(updated=1, deleted=1),
        updated=[(stored[("2",)].id, entry("2", "Ben Born"))],
        deleted=[stored[("3",)].id],
    )
    assert (seq, second_run) == (2, first_run + 1)
    seq, changed = store.changes_since(1)
    assert seq == 2
    changed_by_key = by_key(changed)
    assert set(changed_by_key) == {("2",), ("3",)}
    assert changed_by_key[("2",)].attributes["cn"] == ["Ben Born"]
    assert changed_by_key[("2",)].uuid == first[("2",)].uuid
    assert changed_by_key[("2",)].created == first[("2",)].created
    assert changed_by_key[("3",)].deleted
    assert store.changes_since(2) == (2, [])
    assert {e.key for e in store.snapshot()[1]} == {("1",), ("2",)}
    assert store.digests("crm")[("3",)].deleted

    # a run that changes nothing takes no number
    assert store.apply(run(unchanged=2)) == (None, second_run + 1)
    assert store.current_seq() == 2


def test_a_tombstone_comes_back_with_its_uuid(store: Store) -> None:
    store.apply(run(), added=[entry("1", "Anna")])
    (old,) = store.snapshot()[1]
    store.apply(run(), deleted=[old.id])
    assert store.snapshot()[1] == []
    store.apply(run(), updated=[(old.id, entry("1", "Anna"))])
    (back,) = store.snapshot()[1]
    assert (back.id, back.uuid, back.deleted) == (old.id, old.uuid, False)


def test_tuple_keys_are_stored_unambiguously(store: Store) -> None:
    store.apply(run(), added=[entry(("a,b",), "One"), entry(("a", "b"), "Two")])
    assert set(store.digests("crm")) == {("a,b",), ("a", "b")}


def test_snapshot_and_changes_filter_by_directory(store: Store) -> None:
    store.ensure_directory("staff", "ou=staff,dc=meta")
    store.ensure_replicator("hr", "csv", "staff")
    store.apply(run(), added=[entry("1", "Anna")])
    store.apply(run("hr"), added=[entry("1", "Hanna")])
    assert [e.replicator for e in store.snapshot(["staff"])[1]] == ["hr"]
    assert len(store.snapshot()[1]) == 2
    assert [e.replicator for e in store.changes_since(0, ["contacts"])[1]] == ["crm"]
    assert store.snapshot([])[1] == []


def test_apply_for_an_unknown_replicator(store: Store) -> None:
    with pytest.raises(StoreError, match="no replicator named 'nope'"):
        store.apply(run("nope"), added=[entry("1", "Anna")])
    assert store.current_seq() == 0


def test_a_failing_write_changes_nothing(store: Store) -> None:
    store.apply(run(), added=[entry("1", "Anna")])
    # the same key again violates (replicator, source_key): the whole run rolls back
    with pytest.raises(StoreError, match="cannot write"):
        store.apply(run(), added=[entry("2", "Ben"), entry("1", "Anna")])
    assert store.current_seq() == 1
    assert [e.key for e in store.snapshot()[1]] == [("1",)]
    assert store.last_runs()["crm"].change_seq == 1


def test_a_run_saves_the_replicator_state_with_its_changes(store: Store) -> None:
    assert store.replicator_state("crm") is None
    assert store.replicator_state("nope") is None
    state = {"cookie": "AAEC/w==", "full_at": "2024-05-01T12:00:00Z", "pages": [1, 2]}
    store.apply(run(mode="incremental"), added=[entry("1", "Anna")], state=state)
    assert store.replicator_state("crm") == state
    assert store.replicator_state("crm", "csv") == state
    assert store.replicator_state("crm", "ldap") is None
    # a run that changes no entry still moves the state on
    store.apply(run(mode="incremental"), state={"cookie": "next"})
    assert store.replicator_state("crm") == {"cookie": "next"}
    assert store.current_seq() == 1

    # the run's changes and the state are one transaction: a failed write keeps both
    with pytest.raises(StoreError, match="cannot write"):
        store.apply(run(), added=[entry("1", "Anna")], state={"cookie": "lost"})
    assert store.replicator_state("crm") == {"cookie": "next"}
    # recording a failed or stopped run leaves it too
    store.record_run(run(outcome="failed"))
    assert store.replicator_state("crm") == {"cookie": "next"}

    store.apply(run())  # a run of a source that keeps no state
    assert store.replicator_state("crm") is None
    with store.engine.connect() as conn:
        # SQL NULL, not JSON null
        assert conn.execute(select(replicators.c.state.is_(None))).scalar()


def test_another_replicator_type_drops_the_state(store: Store) -> None:
    store.apply(run(), state={"cookie": "x"})
    store.ensure_replicator("crm", "csv", "contacts")
    assert store.replicator_state("crm") == {"cookie": "x"}
    store.ensure_replicator("crm", "ldap", "contacts")
    assert store.replicator_state("crm") is None


# -- runs ----------------------------------------------------------------------------------


def test_runs_are_recorded_with_capped_problems(store: Store) -> None:
    assert store.last_runs() == {}
    problems = [Problem(f"bad row {i}", i + 2) for i in range(PROBLEMS_KEPT + 500)]
    run_id = store.record_run(
        run(
            outcome="stopped",
            skipped=len(problems),
            message="would delete",
            problems=problems,
            forced=True,
        )
    )
    last = store.last_runs()["crm"]
    assert (last.outcome, last.skipped, last.message, last.forced) == (
        "stopped",
        PROBLEMS_KEPT + 500,
        "would delete",
        True,
    )
    assert last.problems == problems[:PROBLEMS_KEPT]
    assert last.started == T0
    assert last.finished == T0 + timedelta(seconds=2)
    assert last.change_seq is None
    assert (last.id, last.directory) == (run_id, "contacts")
    assert (last.mode, last.note, last.node, last.trigger) == ("full", "", "", "manual")

    store.apply(
        run(
            added=1,
            skipped=1,
            problems=[Problem("empty key", None)],
            mode="incremental",
            note="resumed at usn 7",
            node="node-a",
            trigger="schedule",
        ),
        added=[entry("1", "Anna")],
    )
    last = store.last_runs()["crm"]
    assert (last.outcome, last.added, last.change_seq) == ("ok", 1, 1)
    assert last.problems == [Problem("empty key", None)]
    assert (last.mode, last.note) == ("incremental", "resumed at usn 7")
    assert (last.node, last.trigger) == ("node-a", "schedule")


def test_every_run_keeps_its_problems_until_pruned(store: Store) -> None:
    for i in range(13):
        store.record_run(run(outcome="failed", skipped=1, problems=[Problem(f"run {i}", 1)]))
    with store.engine.connect() as conn:
        kept = conn.execute(text("SELECT message FROM sync_problems ORDER BY id")).scalars().all()
    assert kept == [f"run {i}" for i in range(13)]


def test_directory_sizes_count_live_entries(store: Store) -> None:
    store.ensure_directory("empty", "ou=empty,dc=meta")
    store.apply(run(), added=[entry("1", "Anna"), entry("2", "Ben")])
    store.apply(run(), deleted=[store.digests("crm")[("2",)].id])
    assert store.directory_sizes() == {"contacts": 1, "empty": 0}


# -- migrations ----------------------------------------------------------------------------


def alembic(url: str, action: Callable, revision: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            config = migration_config()
            config.attributes["connection"] = conn
            action(config, revision)
    finally:
        engine.dispose()


def revisions() -> list[tuple[str, str]]:
    """(revision, the one before it or "base"), oldest first."""
    script = ScriptDirectory.from_config(migration_config())
    return [
        (r.revision, r.down_revision or "base") for r in reversed(list(script.walk_revisions()))
    ]


def schema_differences(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()


def test_migration_stairway(store_url: str) -> None:
    """Every revision upgrades, downgrades and upgrades again; the end is the models."""
    for revision, previous in revisions():
        alembic(store_url, command.upgrade, revision)
        alembic(store_url, command.downgrade, previous)
        alembic(store_url, command.upgrade, revision)
    assert schema_differences(store_url) == []
    alembic(store_url, command.downgrade, "base")
    engine = create_engine(store_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    with Store.open(store_url) as store:
        assert store.current_seq() == 0


def test_store_open_migrates_to_the_models(store_url: str) -> None:
    Store.open(store_url).close()
    assert schema_differences(store_url) == []


# a directory and a replicator with a saved state, as every revision can hold them
LAYOUT = [
    "INSERT INTO directories (id, name, base_dn, created_at) "
    "VALUES (1, 'contacts', 'ou=contacts,dc=meta', :t)",
    "INSERT INTO replicators (id, name, type, directory_id, state, created_at) "
    "VALUES (1, 'crm', 'csv', 1, '{\"cursor\": 7}', :t)",
]


def write_at(url: str, revision: str, statements: list[str]) -> None:
    """Migrate the store at ``url`` to ``revision`` and run ``statements`` (``:t`` is T0)."""
    alembic(url, command.upgrade, revision)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement), {"t": T0})
    finally:
        engine.dispose()


def test_store_written_at_0001_opens_with_its_data(store_url: str) -> None:
    entry = (
        "INSERT INTO entries (id, replicator_id, source_key, uuid, attributes, "
        "raw_numbers, digest, created_at, modified_at, change_seq) "
        "VALUES (1, 1, '[\"C1\"]', '4b1f8f2c-1111-4222-8333-444455556666', "
        "'{\"cn\": [\"Anna\"]}', '{}', 'd', :t, :t, 5)"
    )
    write_at(store_url, "0001", [*LAYOUT, entry, "UPDATE change_counter SET value = 5"])
    with Store.open(store_url) as store:
        seq, (anna,) = store.snapshot()
        assert seq == 5
        assert (anna.uuid, anna.key, anna.attributes) == (
            "4b1f8f2c-1111-4222-8333-444455556666",
            ("C1",),
            {"cn": ["Anna"]},
        )
        assert anna.created == T0
        assert anna.numbers == {}  # added by 0002; filled by the next sync
        assert store.digests("crm")[("C1",)].digest == "d"
        assert store.replicator_state("crm") == {"cursor": 7}


def test_runs_recorded_at_0002_read_as_full_runs(store_url: str) -> None:
    sync_run = (
        "INSERT INTO sync_runs (replicator_id, started_at, finished_at, outcome, added, "
        "updated, deleted, unchanged, skipped, message, forced) "
        "VALUES (1, :t, :t, 'ok', 3, 0, 0, 0, 0, '', false)"
    )
    write_at(store_url, "0002", [*LAYOUT, sync_run])
    with Store.open(store_url) as store:
        last = store.last_runs()["crm"]
        assert (last.added, last.mode, last.note) == (3, "full", "")


def test_runs_recorded_at_0003_read_as_manual_runs_of_no_node(store_url: str) -> None:
    sync_runs = [
        # no ids given: a PostgreSQL sequence would not know of them (these become 1 and 2)
        "INSERT INTO sync_runs (replicator_id, started_at, finished_at, outcome, added, "
        "updated, deleted, unchanged, skipped, message, forced, mode, note) "
        f"VALUES (1, :t, :t, '{outcome}', {i}, 0, 0, 0, 1, '', false, 'incremental', 'n')"
        for i, outcome in ((1, "ok"), (2, "failed"))
    ]
    problems = [
        "INSERT INTO sync_problems (run_id, line, message) VALUES (1, 3, 'bad row')",
        "INSERT INTO sync_problems (run_id, line, message) VALUES (2, NULL, 'no key')",
    ]
    write_at(store_url, "0003", [*LAYOUT, *sync_runs, *problems])
    with Store.open(store_url) as store:
        history = store.history()
        assert [(r.id, r.outcome, r.added) for r in history] == [(2, "failed", 2), (1, "ok", 1)]
        assert {(r.trigger, r.node, r.mode, r.directory) for r in history} == {
            ("manual", "", "incremental", "contacts")
        }
        assert store.problems(1) == [Problem("bad row", 3)]
        assert store.problems(2) == [Problem("no key", None)]
        assert store.leases() == []
        assert store.nodes() == []
        # the ids go on after the migrated runs
        assert store.record_run(run()) == 3


def test_store_from_a_newer_metadir_is_refused(store_url: str) -> None:
    Store.open(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"schema revision 0099_future.*newer metadir"):
        Store.open(store_url)


def open_together(url: str, processes: int = 4) -> list[BaseException]:
    """Open the store at ``url`` from several threads at the same moment; their errors."""
    errors: list[BaseException] = []
    start = threading.Barrier(processes)

    def open_store() -> None:
        start.wait()
        try:
            Store.open(url).close()
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=open_store, daemon=True) for _ in range(processes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "migrations deadlocked"
    return errors


def test_processes_starting_together_migrate_once(store_url: str) -> None:
    assert open_together(store_url) == []
    assert schema_differences(store_url) == []


def test_new_sqlite_store_created_by_several_at_once(tmp_path) -> None:
    # switching a new file to WAL does not wait for locks: a race lost now and then
    for attempt in range(30):
        assert open_together(f"sqlite:///{tmp_path}/store{attempt}.db") == []
