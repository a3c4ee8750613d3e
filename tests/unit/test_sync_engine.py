"""The sync engine against real stores (SQLite file, PostgreSQL), fed by a list source.

``ListSource`` implements the replicator interface over items held in memory, so that a
test can change the source between runs and script incremental reads (``Removed``,
``Checkpoint``); CSV files drive the CLI tests, the real incremental sources their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select

from metadir.commands.status import status_command
from metadir.commands.sync import sync_command
from metadir.config import Config, DirectoryConfig, StoreConfig
from metadir.core.errors import SourceError
from metadir.core.phone import Location, _read
from metadir.store.models import entries, sync_runs
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from replicators.base import (
    ChangeLimit,
    Checkpoint,
    Context,
    Problem,
    Record,
    Removed,
    ReplicatorConfig,
    SourceChanged,
)

FIELDS = ["Id", "First", "Last", "Phone", "Company"]
FAIL = object()  # a row at which reading the source fails


class ListSource:
    """A source whose rows are dicts of FIELDS (the key is ``Id``, lines count from 2) or
    items it yields as they are; ``states`` are the states its reads were given."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows
        self.fields = list(FIELDS)
        self.check_error: str | None = None
        self.states: list[dict[str, Any] | None] = []

    def check(self) -> list[str]:
        if self.check_error:
            raise SourceError(self.check_error)
        return self.fields

    def read(self, state: dict[str, Any] | None) -> Iterator[Any]:
        self.states.append(state)
        for line, row in enumerate(self.rows, start=2):
            if row is FAIL:
                raise SourceError(f"connection lost at line {line}")
            yield Record((row.get("Id", ""),), row, line) if isinstance(row, dict) else row


class ListConfig(ReplicatorConfig):
    type: str = "list"
    source: Any = None

    def build(self, context: Context) -> ListSource:
        return self.source


def person(i: int, **changes: str) -> dict[str, str]:
    return {
        "Id": f"C{i:03}",
        "First": f"First{i}",
        "Last": f"Last{i}",
        "Phone": f" +49 89 {i:04} ",
        "Company": "ACME",
        **changes,
    }


MAPPING = {"givenName": "First", "sn": "Last", "telephoneNumber": "Phone", "company": "Company"}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        yield opened


@pytest.fixture
def source() -> ListSource:
    return ListSource([person(i) for i in range(10)])


@pytest.fixture
def crm(source: ListSource) -> ListConfig:
    return ListConfig(name="crm", mapping=dict(MAPPING), source=source)


DIRECTORY = DirectoryConfig(name="contacts")
CONFIG = Config()


def sync(store: Store, rep: ReplicatorConfig, **options: bool) -> RunRecord:
    return run_replicator(store, CONFIG.job(DIRECTORY, rep), **options)


def counts(result: RunRecord) -> tuple:
    return (
        result.outcome,
        result.added,
        result.updated,
        result.deleted,
        result.unchanged,
        result.skipped,
    )


def live(store: Store) -> dict[tuple[str, ...], Any]:
    return {e.key: e for e in store.snapshot()[1]}


# -- runs that apply -----------------------------------------------------------------------


def test_first_sync_adds_every_row(store: Store, crm: ListConfig) -> None:
    result = sync(store, crm)
    assert counts(result) == ("ok", 10, 0, 0, 0, 0)
    assert (result.replicator, result.message) == ("crm", "")
    entry = live(store)[("C003",)]
    assert entry.attributes == {
        "givenName": ["First3"],
        "sn": ["Last3"],
        "telephoneNumber": ["+49890003"],
        "company": ["ACME"],
        "displayName": ["First3 Last3"],
        "cn": ["First3 Last3"],
    }
    assert entry.numbers == {"telephoneNumber": ["+49890003"]}
    with store.engine.connect() as conn:
        raw = conn.execute(
            select(entries.c.raw_numbers).where(entries.c.id == entry.id)
        ).scalar_one()
    assert raw == {"telephoneNumber": [" +49 89 0003 "]}
    run = store.last_runs()["crm"]
    assert (run.outcome, run.added, run.change_seq) == ("ok", 10, 1)


def test_resync_of_the_same_rows_changes_nothing(store: Store, crm: ListConfig) -> None:
    sync(store, crm)
    before = live(store)
    assert counts(sync(store, crm)) == ("ok", 0, 0, 0, 10, 0)
    assert store.current_seq() == 1
    assert live(store) == before
    assert store.last_runs()["crm"].change_seq is None


def test_changes_are_one_sequence_number(store: Store, crm: ListConfig, source: ListSource) -> None:
    sync(store, crm)
    before = live(store)
    source.rows[1] = person(1, Last="Changed")
    source.rows[2] = person(2, Phone="+49 89 9999")
    del source.rows[5]
    source.rows.append(person(50))
    assert counts(sync(store, crm)) == ("ok", 1, 2, 1, 7, 0)
    seq, changed = store.changes_since(1)
    assert seq == 2 == store.current_seq()
    assert {e.key: e.deleted for e in changed} == {
        ("C001",): False,
        ("C002",): False,
        ("C005",): True,
        ("C050",): False,
    }
    after = live(store)
    assert after[("C001",)].attributes["cn"] == ["First1 Changed"]
    # uuids of the entries that stayed are kept, changed or not
    assert all(after[key].uuid == before[key].uuid for key in before if key != ("C005",))


def test_deleted_key_that_comes_back_gets_its_uuid(
    store: Store, crm: ListConfig, source: ListSource
) -> None:
    sync(store, crm)
    uuid = live(store)[("C004",)].uuid
    gone = source.rows.pop(4)
    assert counts(sync(store, crm)) == ("ok", 0, 0, 1, 9, 0)
    assert ("C004",) not in live(store)
    source.rows.append(gone)
    assert counts(sync(store, crm)) == ("ok", 1, 0, 0, 9, 0)
    assert live(store)[("C004",)].uuid == uuid
    assert not live(store)[("C004",)].deleted


def test_uuids_survive_a_restart(store_url: str, crm: ListConfig, source: ListSource) -> None:
    with Store.open(store_url) as store:
        sync(store, crm)
        before = {k: e.uuid for k, e in live(store).items()}
    source.rows[0] = person(0, First="Renamed")
    with Store.open(store_url) as store:
        assert counts(sync(store, crm)) == ("ok", 0, 1, 0, 9, 0)
        assert {k: e.uuid for k, e in live(store).items()} == before


def test_default_mapping_is_fields_named_like_attributes(store: Store) -> None:
    source = ListSource([{"Id": "1", "givenName": "Anna", "SN": "Meier", "Mobile": "0171"}])
    source.fields = ["Id", "givenName", "SN", "Mobile"]
    assert counts(sync(store, ListConfig(name="crm", source=source))) == ("ok", 1, 0, 0, 0, 0)
    assert live(store)[("1",)].attributes == {
        "givenName": ["Anna"],
        "sn": ["Meier"],
        "mobile": ["0171"],
        "displayName": ["Anna Meier"],
        "cn": ["Anna Meier"],
    }


# -- bad rows ------------------------------------------------------------------------------


def test_bad_rows_are_skipped_and_reported_with_their_line(
    store: Store, crm: ListConfig, source: ListSource
) -> None:
    source.rows[2:2] = [
        {"Id": "  ", "First": "No key"},  # line 4
        person(0, First="Again"),  # line 5: C000 is on line 2
        {"Id": "C100", "First": " ", "Last": ""},  # line 6
        Problem("unclosed quote", 7),
    ]
    result = sync(store, crm)
    assert counts(result) == ("ok", 10, 0, 0, 0, 4)
    assert [(p.line, p.message) for p in result.problems] == [
        (4, "empty key"),
        (5, "duplicate key 'C000', first seen on line 2"),
        (6, "row maps to no attribute"),
        (7, "unclosed quote"),
    ]
    assert live(store)[("C000",)].attributes["givenName"] == ["First0"]  # the first one wins
    recorded = store.last_runs()["crm"]
    assert (recorded.skipped, recorded.problems) == (4, result.problems)


# -- guards --------------------------------------------------------------------------------


def test_deleting_more_than_the_share_stops(
    store: Store, crm: ListConfig, source: ListSource
) -> None:
    sync(store, crm)
    before = store.snapshot()
    source.rows[0] = person(0, First="Changed")  # a change that must not be applied either
    del source.rows[1:4]
    result = sync(store, crm)
    assert counts(result) == ("stopped", 0, 0, 0, 0, 0)
    assert result.message == (
        "would delete 3 of 10 entries (30.0 %), more than max_delete 20 %; "
        "run with --force to apply"
    )
    assert store.snapshot() == before
    assert store.last_runs()["crm"].outcome == "stopped"

    forced = sync(store, crm, force=True)
    assert counts(forced) == ("ok", 0, 1, 3, 6, 0)
    assert forced.message.startswith("forced: delete 3 of 10 entries (30.0 %)")
    assert len(live(store)) == 7
    assert store.last_runs()["crm"].forced


def test_deleting_up_to_the_share_applies(
    store: Store, crm: ListConfig, source: ListSource
) -> None:
    sync(store, crm)
    del source.rows[1:3]
    assert counts(sync(store, crm)) == ("ok", 0, 0, 2, 8, 0)


def test_deleting_more_than_the_count_stops(store: Store, source: ListSource) -> None:
    rep = ListConfig(name="crm", mapping=MAPPING, source=source, max_delete=ChangeLimit(count=2))
    sync(store, rep)
    del source.rows[:3]
    result = sync(store, rep)
    assert result.outcome == "stopped"
    assert "would delete 3 of 10 entries (30.0 %), more than max_delete 2;" in result.message
    assert len(live(store)) == 10


@pytest.mark.parametrize("force", [False, True])
def test_an_empty_source_never_deletes(
    store: Store, crm: ListConfig, source: ListSource, force: bool
) -> None:
    sync(store, crm)
    source.rows.clear()
    result = sync(store, crm, force=force)
    assert counts(result) == ("stopped", 0, 0, 0, 0, 0)
    assert result.message == "source returned no rows; refusing to delete 10 entries"
    assert len(live(store)) == 10


def test_a_source_of_only_bad_rows_never_deletes(
    store: Store, crm: ListConfig, source: ListSource
) -> None:
    sync(store, crm)
    source.rows[:] = [Problem("bad", 2), {"Id": ""}]
    result = sync(store, crm, force=True)
    assert result.outcome == "stopped"
    assert result.message == (
        "source returned no usable rows (2 skipped); refusing to delete 10 entries"
    )
    assert len(live(store)) == 10


def test_a_first_run_is_never_guarded(store: Store, crm: ListConfig, source: ListSource) -> None:
    source.rows.clear()
    assert counts(sync(store, crm)) == ("ok", 0, 0, 0, 0, 0)
    source.rows.append(person(1))
    crm.max_delete = ChangeLimit(count=0)
    assert counts(sync(store, crm)) == ("ok", 1, 0, 0, 0, 0)


# -- failures ------------------------------------------------------------------------------


def test_a_source_failing_midway_changes_nothing(
    store: Store, crm: ListConfig, source: ListSource
) -> None:
    sync(store, crm)
    before = store.snapshot()
    source.rows[0] = person(0, First="Changed")
    source.rows[5:] = [FAIL]
    result = sync(store, crm)
    assert counts(result) == ("failed", 0, 0, 0, 0, 0)
    assert result.message == "replicator crm: connection lost at line 7"
    assert store.snapshot() == before
    recorded = store.last_runs()["crm"]
    assert (recorded.outcome, recorded.message) == ("failed", result.message)


def test_a_source_that_cannot_be_opened_fails(
    store: Store, crm: ListConfig, source: ListSource
) -> None:
    source.check_error = "cannot read /data/crm.csv: No such file or directory"
    result = sync(store, crm)
    assert result.outcome == "failed"
    assert result.message == (
        "replicator crm: cannot read /data/crm.csv: No such file or directory"
    )
    assert store.snapshot()[1] == []


def test_a_mapping_field_the_source_lacks_fails(store: Store, crm: ListConfig) -> None:
    crm.mapping["mobile"] = "Handy"
    crm.mapping["displayName"] = "{First} {Middle} {Last}"
    result = sync(store, crm)
    assert result.outcome == "failed"
    assert result.message == (
        "replicator crm: mapping.mobile: the source has no field 'Handy'; "
        "mapping.displayName: the source has no field 'Middle' "
        "(fields: Id, First, Last, Phone, Company)"
    )
    assert store.snapshot()[1] == []


def test_no_mapping_and_no_attribute_named_fields_fails(store: Store) -> None:
    source = ListSource([{"Id": "1", "Vorname": "Anna"}])
    source.fields = ["Id", "Vorname"]
    result = sync(store, ListConfig(name="crm", source=source))
    assert result.outcome == "failed"
    assert result.message == (
        "replicator crm: no mapping given and no source field is named like an attribute "
        "(fields: Id, Vorname)"
    )


# -- dry run -------------------------------------------------------------------------------


def test_a_dry_run_writes_and_records_nothing(
    store: Store, crm: ListConfig, source: ListSource
) -> None:
    result = sync(store, crm, dry_run=True)
    assert counts(result) == ("ok", 10, 0, 0, 0, 0)
    assert store.current_seq() == 0
    assert store.last_runs() == {}
    assert store.directory_sizes() == {}

    sync(store, crm)
    del source.rows[:5]
    assert sync(store, crm, dry_run=True).outcome == "stopped"
    assert counts(sync(store, crm, dry_run=True, force=True)) == ("ok", 0, 0, 5, 5, 0)
    assert len(live(store)) == 10
    with store.engine.connect() as conn:
        assert len(conn.execute(select(sync_runs.c.id)).all()) == 1


# -- the phases a run reports -------------------------------------------------------------


def phases(store: Store, rep: ReplicatorConfig, **options: bool) -> list[str]:
    told: list[str] = []
    context = Context(CONFIG.base_dir, phase=told.append)
    run_replicator(store, CONFIG.job(DIRECTORY, rep), context=context, **options)
    return told


def test_a_run_reports_its_phases(store: Store, crm: ListConfig, source: ListSource) -> None:
    assert phases(store, crm) == ["connect", "read", "diff", "write"]
    assert phases(store, crm, dry_run=True) == ["connect", "read", "diff"]
    # a failed run has nothing to diff, and writes its record
    source.rows[5:] = [FAIL]
    assert phases(store, crm) == ["connect", "read", "write"]
    source.check_error = "cannot connect"
    assert phases(store, crm) == ["connect", "write"]


def test_a_run_asked_to_stop_after_its_read_writes_nothing(store: Store, crm: ListConfig) -> None:
    """A run past its timeout (or without its lease) once the source was read: sources are
    asked between rows, the engine asks once more before it writes."""
    told: list[str] = []

    def cancelled() -> str | bool:
        return "ran past its run_timeout of 1 s" if "diff" in told else False

    context = Context(CONFIG.base_dir, phase=told.append, cancelled=cancelled)
    run = run_replicator(store, CONFIG.job(DIRECTORY, crm), context=context)
    assert counts(run) == ("failed", 0, 0, 0, 0, 0)
    assert run.message == "replicator crm: ran past its run_timeout of 1 s (before writing)"
    assert live(store) == {}
    assert [r.outcome for r in store.history("crm")] == ["failed"]


def test_a_read_again_counts_its_rows_from_zero(store: Store) -> None:
    class Twice(ListSource):
        """Counts its rows on the context; changes while it is read the first time."""

        def __init__(self, rows: list[Any], context: Context) -> None:
            super().__init__(rows)
            self.context = context

        def read(self, state: dict[str, Any] | None) -> Iterator[Any]:
            for item in super().read(state):
                self.context.tick()
                yield item
            if len(self.states) == 1:
                raise SourceChanged("crm.csv: the file changed while it was read")

    counted: list[int] = []
    told: list[str] = []
    context = Context(CONFIG.base_dir, progress=counted.append, phase=told.append)
    rep = ListConfig(name="crm", mapping=dict(MAPPING), source=Twice([person(1)] * 3, context))
    pauses: list[float] = []
    job = CONFIG.job(DIRECTORY, rep)
    run = run_replicator(store, job, context=context, pause=pauses.append)
    assert (run.outcome, len(pauses)) == ("ok", 1)
    assert counted == [1, 2, 3, 1, 2, 3]
    assert told == ["connect", "read", "connect", "read", "diff", "write"]


# -- readers see the old directory or the new one ------------------------------------------


def test_a_reader_sees_the_old_directory_until_the_run_commits(
    store_url: str, crm: ListConfig, source: ListSource
) -> None:
    with Store.open(store_url) as writer, Store.open(store_url) as reader:
        sync(writer, crm)
        old = reader.snapshot()
        source.rows[0] = person(0, First="Changed")
        del source.rows[1]
        source.rows.append(person(77))
        seen_during_write = []

        @event.listens_for(writer.engine, "after_cursor_execute")
        def peek(conn, cursor, statement, parameters, context, executemany) -> None:
            if statement.lstrip().upper().startswith(("INSERT INTO ENTRIES", "UPDATE ENTRIES")):
                seen_during_write.append((reader.snapshot(), reader.changes_since(old[0])))

        result = sync(writer, crm)
        event.remove(writer.engine, "after_cursor_execute", peek)

        assert counts(result) == ("ok", 1, 1, 1, 8, 0)
        assert len(seen_during_write) == 3  # insert, update, delete
        for snapshot, changes in seen_during_write:
            assert snapshot == old
            assert changes == (old[0], [])
        seq, new = reader.snapshot()
        assert seq == old[0] + 1
        assert {e.key for e in new} == {e.key for e in old[1]} - {("C001",)} | {("C077",)}
        assert {e.key for e in reader.changes_since(old[0])[1]} == {("C000",), ("C001",), ("C077",)}


# -- phone numbers ---------------------------------------------------------------------------


def test_numbers_are_read_with_the_location_and_served_in_the_directory_format(
    store: Store, source: ListSource, crm: ListConfig
) -> None:
    source.rows[1] = person(1, Phone="(089) 1234-567")
    source.rows[2] = person(2, Phone="n/a")
    munich = Config(location=Location(country="DE", area_code="89"))
    readable = DirectoryConfig(name="contacts", phone_format="readable")
    run = run_replicator(store, munich.job(readable, crm))
    assert (run.outcome, run.numbers_kept) == ("ok", 1)
    assert Problem("telephoneNumber 'n/a' is no phone number: kept as written", 4) in run.problems
    entry = live(store)[("C001",)]
    assert entry.attributes["telephoneNumber"] == ["+49 89 1234567"]
    assert entry.numbers == {"telephoneNumber": ["+49891234567"]}
    assert live(store)[("C002",)].attributes["telephoneNumber"] == ["n/a"]

    # unchanged rows are not read again, yet what they keep as written is still reported
    again = run_replicator(store, munich.job(readable, crm))
    assert (again.unchanged, again.numbers_kept) == (10, 1)
    assert again.problems == run.problems

    # reading numbers differently (another format) rewrites every entry
    e164 = DirectoryConfig(name="contacts")
    changed = run_replicator(store, munich.job(e164, crm))
    assert (changed.updated, changed.unchanged) == (10, 0)
    assert live(store)[("C001",)].attributes["telephoneNumber"] == ["+49891234567"]


def test_a_re_sync_reads_the_numbers_of_changed_rows_only(
    store: Store, source: ListSource, crm: ListConfig
) -> None:
    """Reading numbers is most of a first sync; a re-sync reads those of the rows it writes."""
    munich = Config(location=Location(country="DE", area_code="89"))
    run_replicator(store, munich.job(DIRECTORY, crm))
    source.rows[3] = person(3, Phone="089 7654321")
    before = _read.cache_info()
    again = run_replicator(store, munich.job(DIRECTORY, crm))
    after = _read.cache_info()
    assert (again.updated, again.unchanged) == (1, 9)
    # one number read (found in the cache or not): the changed row's
    assert (after.hits + after.misses) - (before.hits + before.misses) == 1
    assert live(store)[("C003",)].numbers == {"telephoneNumber": ["+49897654321"]}


# -- incremental runs ------------------------------------------------------------------------


def gone(i: int) -> Removed:
    return Removed((f"C{i:03}",))


def since(usn: int) -> Checkpoint:
    return Checkpoint({"usn": usn}, full=False)


def state(store: Store) -> dict[str, Any] | None:
    return store.replicator_state("crm")


def given(store: Store, rep: ListConfig, **options: bool) -> dict[str, Any] | None:
    """Run ``rep``; the state its source's read was given."""
    sync(store, rep, **options)
    return rep.source.states[-1]


@pytest.fixture
def synced(store: Store, crm: ListConfig, source: ListSource) -> Store:
    """The store after a full read of the ten persons that saved the state usn 1."""
    source.rows.append(Checkpoint({"usn": 1}, full=True, note="no saved state"))
    first = sync(store, crm)
    assert counts(first) == ("ok", 10, 0, 0, 0, 0)
    assert (first.mode, first.note) == ("full", "no saved state")
    return store


def test_the_saved_state_is_passed_to_the_next_read(
    synced: Store, crm: ListConfig, source: ListSource
) -> None:
    assert state(synced) == {"usn": 1}
    source.rows[:] = [since(2)]
    result = sync(synced, crm)
    assert counts(result) == ("ok", 0, 0, 0, 0, 0)
    assert (result.mode, result.note) == ("incremental", "")
    assert source.states == [None, {"usn": 1}]
    assert state(synced) == {"usn": 2}
    recorded = synced.last_runs()["crm"]
    assert (recorded.mode, recorded.outcome) == ("incremental", "ok")


def test_an_incremental_read_adds_updates_deletes_and_keeps_the_rest(
    synced: Store, crm: ListConfig, source: ListSource
) -> None:
    before = live(synced)
    source.rows[:] = [person(1, Last="Changed"), person(3), gone(2), person(50), since(2)]
    assert counts(sync(synced, crm)) == ("ok", 1, 1, 1, 1, 0)
    after = live(synced)
    assert set(after) == set(before) - {("C002",)} | {("C050",)}
    assert after[("C001",)].attributes["sn"] == ["Changed"]
    assert after[("C001",)].uuid == before[("C001",)].uuid
    # what the read did not mention is neither deleted nor rewritten
    seq, changed = synced.changes_since(1)
    assert seq == 2
    assert {e.key: e.deleted for e in changed} == {
        ("C001",): False,
        ("C002",): True,
        ("C050",): False,
    }
    assert after[("C003",)] == before[("C003",)]

    source.rows[:] = [person(2), since(3)]  # C002 is back: its tombstone revives
    assert counts(sync(synced, crm)) == ("ok", 1, 0, 0, 0, 0)
    assert live(synced)[("C002",)].uuid == before[("C002",)].uuid


def test_an_incremental_read_of_unchanged_rows_takes_no_sequence_number(
    synced: Store, crm: ListConfig, source: ListSource
) -> None:
    before = synced.snapshot()
    source.rows[:] = [person(4), person(5), since(2)]
    assert counts(sync(synced, crm)) == ("ok", 0, 0, 0, 2, 0)
    assert synced.snapshot() == before
    assert synced.current_seq() == 1
    assert state(synced) == {"usn": 2}


def test_removals_the_store_does_not_hold_are_ignored_and_the_later_item_wins(
    synced: Store, crm: ListConfig, source: ListSource
) -> None:
    source.rows[:] = [gone(3), since(2)]
    assert counts(sync(synced, crm)) == ("ok", 0, 0, 1, 0, 0)
    source.rows[:] = [
        gone(3),  # a tombstone already
        gone(999),  # never held
        Removed(("  C004 ",)),  # keys are read as rows' keys are: stripped
        person(4, Last="Back"),  # the later item: C004 stays, updated
        person(5, Last="Short-lived"),
        gone(5),  # the later item: C005 goes
        person(6),
        person(6, Last="Duplicate"),  # still a duplicate row
        since(3),
    ]
    result = sync(synced, crm)
    assert counts(result) == ("ok", 0, 1, 1, 1, 1)
    assert [(p.line, p.message) for p in result.problems] == [
        (9, "duplicate key 'C006', first seen on line 8")
    ]
    after = live(synced)
    assert after[("C004",)].attributes["sn"] == ["Back"]
    assert ("C005",) not in after
    assert after[("C006",)].attributes["sn"] == ["Last6"]
    assert len(after) == 8


def test_max_delete_counts_removals(synced: Store, crm: ListConfig, source: ListSource) -> None:
    before = synced.snapshot()
    source.rows[:] = [person(0, First="Changed"), gone(1), gone(2), gone(3), since(2)]
    stopped = sync(synced, crm)
    assert counts(stopped) == ("stopped", 0, 0, 0, 0, 0)
    assert stopped.message == (
        "would delete 3 of 10 entries (30.0 %), more than max_delete 20 %; "
        "run with --force to apply"
    )
    assert stopped.mode == "incremental"
    assert synced.snapshot() == before
    assert state(synced) == {"usn": 1}  # the next run reads the same changes again

    forced = sync(synced, crm, force=True)
    assert counts(forced) == ("ok", 0, 1, 3, 0, 0)
    assert forced.message.startswith("forced: delete 3 of 10 entries (30.0 %)")
    assert source.states[-1] == {"usn": 1}
    assert state(synced) == {"usn": 2}
    assert len(live(synced)) == 7


def test_an_empty_incremental_read_is_no_empty_source(
    synced: Store, crm: ListConfig, source: ListSource
) -> None:
    source.rows[:] = [Problem("bad entry", None), since(2)]
    assert counts(sync(synced, crm)) == ("ok", 0, 0, 0, 0, 1)
    assert len(live(synced)) == 10
    # a full read with a checkpoint is guarded as any full read
    source.rows[:] = [Checkpoint({"usn": 3}, full=True)]
    stopped = sync(synced, crm, force=True)
    assert stopped.outcome == "stopped"
    assert stopped.message == "source returned no rows; refusing to delete 10 entries"
    assert state(synced) == {"usn": 2}


@pytest.mark.parametrize("how", ["failed", "stopped", "dry run"])
def test_a_run_that_writes_nothing_keeps_the_state(
    synced: Store, crm: ListConfig, source: ListSource, how: str
) -> None:
    before = synced.snapshot()
    rows = {
        "failed": [person(1, Last="Changed"), FAIL, since(2)],
        "stopped": [gone(1), gone(2), gone(3), since(2)],
        "dry run": [person(1, Last="Changed"), gone(2), since(2)],
    }[how]
    source.rows[:] = rows
    result = sync(synced, crm, dry_run=how == "dry run")
    assert result.outcome == ("ok" if how == "dry run" else how)
    assert result.mode == "incremental"
    assert source.states[-1] == {"usn": 1}  # a dry run shows what an incremental run would do
    assert state(synced) == {"usn": 1}
    assert synced.snapshot() == before
    assert synced.last_runs()["crm"].mode == ("full" if how == "dry run" else "incremental")


def test_full_reads_the_source_without_state(
    synced: Store, crm: ListConfig, source: ListSource
) -> None:
    source.rows[:] = [person(i) for i in range(1, 10)]
    source.rows.append(Checkpoint({"usn": 7}, full=True, note="asked for a full read"))
    result = sync(synced, crm, full=True)
    # a full read deletes what it lacks
    assert counts(result) == ("ok", 0, 0, 1, 9, 0)
    assert (result.mode, result.note) == ("full", "asked for a full read")
    assert source.states[-1] is None
    assert state(synced) == {"usn": 7}
    # a read without a checkpoint is a full read that keeps no state
    source.rows.pop()
    assert given(synced, crm) == {"usn": 7}
    assert state(synced) is None
    assert given(synced, crm) is None


def test_another_type_does_not_get_the_state(
    synced: Store, crm: ListConfig, source: ListSource
) -> None:
    retyped = ListConfig(name="crm", type="other", mapping=dict(MAPPING), source=source)
    source.rows[:] = [FAIL]
    assert given(synced, retyped, dry_run=True) is None
    assert state(synced) == {"usn": 1}
    # a real run records the new type and drops the old state, even when it fails
    assert given(synced, retyped) is None
    assert state(synced) is None
    assert given(synced, crm) is None


def test_a_source_breaking_the_read_protocol_fails(
    synced: Store, crm: ListConfig, source: ListSource
) -> None:
    for rows, message in [
        (
            [since(2), person(1)],
            "replicator crm: read on after its checkpoint (next: Record(key=('C001',), ",
        ),
        (
            [Checkpoint({"when": object()}, full=False)],
            "replicator crm: its checkpoint state cannot be saved as JSON: "
            "Object of type object is not JSON serializable",
        ),
        (
            [Checkpoint({"usn": float("nan")}, full=False)],
            "replicator crm: its checkpoint state cannot be saved as JSON: "
            "Out of range float values are not JSON compliant",
        ),
        (
            [("C001",)],
            "replicator crm: yielded ('C001',), not a Record, Problem, Removed or Checkpoint",
        ),
    ]:
        source.rows[:] = rows
        result = sync(synced, crm)
        assert (result.outcome, result.message[: len(message)]) == ("failed", message)
        assert state(synced) == {"usn": 1}


# -- what `metadir sync` and `metadir status` print ------------------------------------------


def test_sync_and_status_say_how_each_run_read(
    store_url: str,
    synced: Store,
    crm: ListConfig,
    source: ListSource,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # built, not loaded: a config file knows only the registered replicator types
    directory = DirectoryConfig.model_construct(name="contacts", replicators=[crm])
    config = Config(store=StoreConfig(url=store_url), directories=[directory])

    def printed() -> list[str]:
        return re.sub(r"in \d+\.\d\d s", "in N s", capsys.readouterr().out).splitlines()

    source.rows[:] = [
        person(1, Last="Changed"),
        gone(2),
        Checkpoint({"usn": 2}, full=False, note="changes since usn 1"),
    ]
    assert sync_command(config, [], force=False, dry_run=False) == 0
    assert printed() == [
        "crm (list -> contacts): ok in N s: incremental: 0 added, 1 updated, 1 deleted, "
        "0 unchanged, 0 skipped",
        "  incremental: changes since usn 1",
    ]
    source.rows[:] = [person(i) for i in range(10)]
    source.rows.append(Checkpoint({"usn": 3}, full=True, note="DirSync cookie rejected"))
    assert sync_command(config, ["crm"], force=False, dry_run=False, full=True) == 0
    assert source.states[-1] is None
    assert printed() == [
        "crm (list -> contacts): ok in N s: 1 added, 1 updated, 0 deleted, 8 unchanged, 0 skipped",
        "  full run: DirSync cookie rejected",
    ]
    assert status_command(config) == 0
    lines = printed()
    assert lines[0] == "directory contacts (ou=contacts,dc=meta): 10 entries"
    assert re.fullmatch(
        r"  crm \(list\): last run [-\d]{10} [:\d]{8} UTC, ok in N s: 1 added, 1 updated, "
        r"0 deleted, 8 unchanged, 0 skipped",
        lines[1],
    )
    assert lines[2:] == ["    full run: DirSync cookie rejected"]

    source.rows[:] = [gone(1), gone(3), gone(4), since(4)]
    assert sync_command(config, [], force=False, dry_run=False) == 1
    assert printed() == [
        "crm (list -> contacts): stopped in N s: nothing changed",
        "  would delete 3 of 10 entries (30.0 %), more than max_delete 20 %; "
        "run with --force to apply",
    ]
    source.rows[:] = [person(11), since(4)]
    assert sync_command(config, [], force=False, dry_run=False) == 0
    assert "ok in N s: incremental: 1 added, 0 updated, 0 deleted, 0 unchanged" in printed()[0]
    status_command(config)
    assert "ok in N s: incremental: 1 added, 0 updated, 0 deleted, 0 unchanged" in printed()[1]
