"""File exports across runs: only changed rows rendered, the kept rows and the saved state
consistent through failures, the file replaced atomically. Driven through ``run_export``
over a real SQLite store that ``metadir sync``'s engine fills from a CSV file.

``Crm`` (a CRM's CSV export, synced) and ``export`` are shared with the other
``test_targets_*`` modules."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from metadir.core.phone import Location
from metadir.store.entries import EntryData
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.export import PREFIX, ExportJob, run_export
from metadir.sync.job import Job, Numbers
from replicators.base import Context, ExportConfig, TargetError, TargetNeedsFull
from replicators.csv import CsvConfig
from replicators.targets.csv import CsvExportConfig
from replicators.targets.rows import RowCache

FIELDS = ["Id", "First", "Last", "Company", "Phone", "Mobile", "Home", "Mail", "Street", "City"]
MAPPING = {
    "givenName": "First",
    "sn": "Last",
    "displayName": "{First} {Last}",
    "company": "Company",
    "telephoneNumber": "Phone",
    "mobile": "Mobile",
    "homePhone": "Home",
    "mail": "Mail",
    "street": "Street",
    "l": "City",
}
# a Munich office dialling 0 for an outside line; numbers served as E.164
NUMBERS = Numbers(Location(country="DE", area_code="89", outside_line="0"), "e164", "DE")


class Crm:
    """A CRM whose contacts (rows of FIELDS by Id) are exported to a CSV file and synced into
    the store by the sync engine, as ``metadir sync`` does."""

    def __init__(self, folder: Path, store: Store) -> None:
        self.folder = folder
        self.store = store
        source = CsvConfig(name="crm", type="csv", path="crm.csv", key=["Id"], mapping=MAPPING)
        self.job = Job(source, "contacts", "ou=contacts,dc=meta", NUMBERS, folder)
        self.rows: dict[str, dict[str, str]] = {}

    def set(self, key: str, first: str, last: str, **fields: str) -> None:
        self.rows[key] = {"Id": key, "First": first, "Last": last, **fields}

    def sync(self) -> RunRecord:
        with (self.folder / "crm.csv").open("w", encoding="utf-8", newline="") as file:
            writer = csv.DictWriter(file, FIELDS, delimiter=";", restval="")
            writer.writeheader()
            writer.writerows(self.rows.values())
        run = run_replicator(self.store, self.job, force=True)
        assert run.outcome == "ok", run.message
        return run


def people(crm: Crm, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        crm.set(f"K{i:05}", f"First{i:05}", f"Last{i:05}", Phone=f"089 1234{i:05}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path}/metadir.db") as opened:
        opened.ensure_directory("contacts", "ou=contacts,dc=meta")
        opened.ensure_replicator("crm", "csv", "contacts")
        yield opened


@pytest.fixture
def crm(tmp_path: Path, store: Store) -> Crm:
    return Crm(tmp_path, store)


def export(store: Store, folder: Path, config: ExportConfig, **options: Any) -> RunRecord:
    return run_export(store, ExportJob(config, ("contacts",), folder), **options)


def csv_export(**settings: Any) -> CsvExportConfig:
    return CsvExportConfig.model_validate(
        {"name": "book", "type": "csv", "path": "out/book.csv", **settings}
    )


def cache_rows(folder: Path) -> dict[str, int]:
    """uuid -> the generation (run) that last rendered its row, read from the cache file."""
    with sqlite3.connect(folder / "out" / ".book.csv.metadir-cache") as db:
        return dict(db.execute("SELECT uuid, generation FROM rows"))


def names(folder: Path) -> list[str]:
    lines = (folder / "out" / "book.csv").read_text(encoding="utf-8").splitlines()
    return [row[0] for row in csv.reader(lines[1:])]


def entry_data(key: str, name: str) -> EntryData:
    attributes = {"cn": [name], "displayName": [name], "sn": [name]}
    return EntryData((key,), attributes, {}, {}, f"digest-{key}-{name}")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path / "out"


# -- only what changed is rendered ---------------------------------------------------------


def test_a_second_run_renders_only_the_changed_rows(crm: Crm, store: Store, out: Path) -> None:
    tmp = out.parent
    people(crm, 50)
    crm.sync()
    first = export(store, tmp, csv_export(columns=["displayName", "telephoneNumber"]))
    assert (first.outcome, first.mode, first.added) == ("ok", "full", 50)
    assert set(cache_rows(tmp).values()) == {1}
    assert names(tmp)[:2] == ["First00000 Last00000", "First00001 Last00001"]

    crm.set("K00003", "Aaron", "Zander", Phone="089 555")  # renamed: moves to the top
    crm.set("K99999", "Zoë", "Öztürk", Phone="089 556")  # added
    del crm.rows["K00007"]  # deleted
    crm.sync()
    second = export(store, tmp, csv_export(columns=["displayName", "telephoneNumber"]))
    assert (second.outcome, second.mode) == ("ok", "incremental")
    assert (second.added, second.updated, second.deleted) == (1, 1, 1)

    rendered = cache_rows(tmp)
    assert len(rendered) == 50
    # the two rows of changed entries were rendered by run 2, the other 48 kept from run 1
    assert sorted(rendered.values()).count(2) == 2
    shown = names(tmp)
    assert shown[0] == "Aaron Zander" and shown[-1] == "Zoë Öztürk"
    assert "First00007 Last00007" not in shown and "First00003 Last00003" not in shown
    assert len(shown) == 50
    assert (out / "book.csv").read_text(encoding="utf-8").count("+49895") == 2


def test_sort_order_is_by_display_name_without_accents_then_case(store: Store, out: Path) -> None:
    tmp = out.parent
    now = datetime.now(UTC)
    spelled = ["Zoë", "bauer", "Ärzte", "Adam", "Ångström", "Bauer", "ärzte", "Éva", "eva"]
    store.apply(
        RunRecord("crm", "ok", now, now),
        added=[entry_data(str(i), name) for i, name in enumerate(spelled)],
    )
    assert export(store, tmp, csv_export(columns=["displayName"])).outcome == "ok"
    shown = names(tmp)
    assert shown[:2] == ["Adam", "Ångström"]
    assert set(shown[2:4]) == {"Ärzte", "ärzte"} and set(shown[4:6]) == {"bauer", "Bauer"}
    assert shown[6:] == ["eva", "Éva", "Zoë"]
    # equal keys keep one order from run to run: the uuid decides
    export(store, tmp, csv_export(columns=["displayName"]), full=True)
    assert names(tmp) == shown


def test_an_unchanged_run_leaves_the_file_alone_but_restores_a_lost_one(
    crm: Crm, store: Store, out: Path
) -> None:
    tmp = out.parent
    people(crm, 5)
    crm.sync()
    export(store, tmp, csv_export())
    before = (out / "book.csv").stat()
    assert export(store, tmp, csv_export()).outcome == "ok"
    after = (out / "book.csv").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    written = (out / "book.csv").read_bytes()
    (out / "book.csv").unlink()
    assert export(store, tmp, csv_export()).outcome == "ok"
    assert (out / "book.csv").read_bytes() == written
    # an edited file is put right again too
    (out / "book.csv").write_text("edited by hand\n", encoding="utf-8")
    export(store, tmp, csv_export())
    assert (out / "book.csv").read_bytes() == written


# -- the cache and the saved state ---------------------------------------------------------


def saved_target_state(store: Store) -> dict[str, Any]:
    state = store.replicator_state(PREFIX + "book")
    assert state is not None
    return state["target"]


def test_a_lost_cache_makes_a_full_export(crm: Crm, store: Store, out: Path) -> None:
    tmp = out.parent
    people(crm, 10)
    crm.sync()
    export(store, tmp, csv_export())
    written = (out / "book.csv").read_bytes()
    (out / ".book.csv.metadir-cache").unlink()

    crm.set("K00002", "Berta", "Neu")
    crm.sync()
    again = export(store, tmp, csv_export())
    assert (again.outcome, again.mode) == ("ok", "full")
    assert "the target asked for a full export: its cache" in again.note
    assert "is missing" in again.note
    assert len(names(tmp)) == 10 and "Berta Neu" in names(tmp)
    assert (out / "book.csv").read_bytes() != written


def test_a_lost_cache_and_the_delete_guard(crm: Crm, store: Store, out: Path) -> None:
    """The full export a lost cache asks for stops at the guard when many contacts went
    meanwhile: the file stays as it was, and the next run says why it starts over."""
    tmp = out.parent
    people(crm, 10)
    crm.sync()
    export(store, tmp, csv_export())
    written = (out / "book.csv").read_bytes()
    cache = out / ".book.csv.metadir-cache"
    cache.unlink()
    crm.rows = dict(list(crm.rows.items())[:5])
    crm.sync()
    stopped = export(store, tmp, csv_export())
    assert (stopped.outcome, stopped.deleted) == ("stopped", 0)
    assert "would delete 5 of the 10 entries" in stopped.message
    assert (out / "book.csv").read_bytes() == written

    forced = export(store, tmp, csv_export(), force=True)
    assert (forced.outcome, forced.mode, forced.deleted) == ("ok", "full", 5)
    assert f"its cache {cache} holds no finished run: a full export rebuilds it" in forced.note
    assert len(names(tmp)) == 5


def test_a_cache_older_than_the_state_makes_a_full_export(
    crm: Crm, store: Store, out: Path
) -> None:
    tmp = out.parent
    people(crm, 10)
    crm.sync()
    export(store, tmp, csv_export())
    shutil.copy(out / ".book.csv.metadir-cache", tmp / "old-cache")
    crm.set("K00001", "Anna", "Alt")
    crm.sync()
    export(store, tmp, csv_export())
    # a backup of the folder put back: the cache lacks run 2's changes
    shutil.copy(tmp / "old-cache", out / ".book.csv.metadir-cache")
    del crm.rows["K00005"]
    crm.sync()
    again = export(store, tmp, csv_export())
    assert "its cache" in again.note and "is older than the saved state" in again.note
    assert "Anna Alt" in names(tmp) and len(names(tmp)) == 9


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ({"cache": "0123456789abcdef", "generation": 1}, "is not the one the saved state names"),
        ({"cache": None}, "is not the one the saved state names"),
    ],
)
def test_a_cache_that_is_not_the_states_is_refused(
    crm: Crm, store: Store, out: Path, state: dict[str, Any], why: str
) -> None:
    people(crm, 2)
    crm.sync()
    export(store, out.parent, csv_export())
    target = csv_export().build(Context(out.parent))
    with pytest.raises(TargetNeedsFull, match=why):
        target.start(state)


def test_other_settings_rebuild_the_rows(crm: Crm, store: Store, out: Path) -> None:
    tmp = out.parent
    people(crm, 3)
    crm.sync()
    export(store, tmp, csv_export())
    # a header-only setting keeps the rows
    same = export(store, tmp, csv_export(header=False))
    assert "full export" not in same.note
    assert (out / "book.csv").read_text(encoding="utf-8").startswith("First00000 Last00000,")
    other = export(store, tmp, csv_export(delimiter=";"))
    assert other.mode == "full"
    assert "was written with other settings" in other.note
    assert (out / "book.csv").read_text(encoding="utf-8").splitlines()[1].count(";") == 14


def test_a_run_whose_state_was_not_saved_is_sent_again_harmlessly(
    crm: Crm, store: Store, out: Path
) -> None:
    tmp = out.parent
    people(crm, 6)
    crm.sync()
    export(store, tmp, csv_export())
    crm.set("K00001", "Anna", "Alt")
    del crm.rows["K00002"]
    crm.sync()
    # a run that wrote the file and its cache, but whose state the engine never saved
    state = saved_target_state(store)
    target = csv_export().build(Context(tmp))
    target.start(state)
    _, changes = store.changes_since(store.replicator_state(PREFIX + "book")["seq"])
    target.write(changes)
    ahead = target.finish()
    assert ahead["generation"] == state["generation"] + 1
    expected = (out / "book.csv").read_bytes()

    again = export(store, tmp, csv_export())
    assert (again.outcome, again.mode, again.note.startswith("exported up to")) == (
        "ok",
        "incremental",
        True,
    )
    assert (out / "book.csv").read_bytes() == expected
    assert "Anna Alt" in names(tmp) and len(names(tmp)) == 5


def test_a_second_run_at_the_same_time_is_refused(crm: Crm, store: Store, out: Path) -> None:
    people(crm, 2)
    crm.sync()
    export(store, out.parent, csv_export())
    running = csv_export().build(Context(out.parent))
    running.start(saved_target_state(store))
    crm.set("K00001", "Anna", "Alt")
    crm.sync()
    second = export(store, out.parent, csv_export())
    assert second.outcome == "failed"
    assert second.message == (
        f"export book: its cache {out / '.book.csv.metadir-cache'} is in use by another run"
    )
    running.finish()  # the first run ends normally
    assert export(store, out.parent, csv_export()).outcome == "ok"
    assert "Anna Alt" in names(out.parent)


def test_a_damaged_cache_is_rebuilt(crm: Crm, store: Store, out: Path) -> None:
    people(crm, 3)
    crm.sync()
    export(store, out.parent, csv_export())
    (out / ".book.csv.metadir-cache").write_bytes(b"not a database at all" * 100)
    again = export(store, out.parent, csv_export())
    assert (again.outcome, again.mode) == ("ok", "full")
    assert "is unreadable" in again.note
    assert len(names(out.parent)) == 3


# -- failures leave the previous file --------------------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_run_failing_midway_leaves_the_file_and_the_cache(
    crm: Crm, store: Store, out: Path
) -> None:
    tmp = out.parent
    people(crm, 1200)
    crm.sync()
    settings = {"encoding": "cp1252", "batch_size": 100}
    assert export(store, tmp, csv_export(**settings)).outcome == "ok"
    written = (out / "book.csv").read_bytes()
    generation = saved_target_state(store)["generation"]
    for i in range(0, 1200, 2):
        crm.set(f"K{i:05}", f"Neu{i:05}", "Müller")
    crm.set("K00601", "Łukasz", "Wójcik")  # cp1252 has no Ł: fails in a later batch
    crm.sync()

    failed = export(store, tmp, csv_export(**settings))
    assert failed.outcome == "failed"
    uuid = next(e.uuid for e in store.snapshot()[1] if e.key == ("K00601",))
    assert failed.message == (
        f"export book: entry {uuid} (Łukasz Wójcik), column 'Display name': 'Ł' (U+0141) "
        "cannot be written in cp1252 (unencodable: replace writes '?' instead)"
    )
    assert (out / "book.csv").read_bytes() == written
    assert leftovers(out) == [".book.csv.metadir-cache", "book.csv"]
    assert set(cache_rows(tmp).values()) == {generation}

    # the same run with a replacement character: the rows changed since are re-rendered
    crm.set("K00601", "Lukasz", "Wójcik")
    crm.sync()
    fixed = export(store, tmp, csv_export(**settings))
    assert (fixed.outcome, fixed.mode) == ("ok", "incremental")
    text = (out / "book.csv").read_bytes().decode("cp1252")
    lines = text.split("\r\n")
    assert sum(line.startswith("Neu") for line in lines) == 600 and "Lukasz Wójcik" in text
    assert sorted(cache_rows(tmp).values()).count(generation + 1) == 601


def test_a_file_that_cannot_be_replaced_leaves_everything_as_it_was(
    crm: Crm, store: Store, out: Path
) -> None:
    tmp = out.parent
    people(crm, 3)
    crm.sync()
    export(store, tmp, csv_export())
    crm.set("K00001", "Anna", "Alt")
    crm.sync()
    # the output's name taken by a folder (root ignores permissions; a rename onto a
    # folder fails for root too)
    (out / "book.csv").rename(tmp / "kept.csv")
    (out / "book.csv").mkdir()
    failed = export(store, tmp, csv_export())
    assert failed.outcome == "failed"
    assert failed.message.startswith(f"export book: cannot write {out / 'book.csv'}: ")
    assert leftovers(out) == [".book.csv.metadir-cache", "book.csv"]
    (out / "book.csv").rmdir()
    again = export(store, tmp, csv_export())
    assert (again.outcome, again.mode) == ("ok", "incremental")
    assert "Anna Alt" in names(tmp)


def test_a_missing_folder_is_named(store: Store, tmp_path: Path) -> None:
    failed = export(store, tmp_path, csv_export(path="nowhere/book.csv"))
    assert failed.outcome == "failed"
    assert failed.message.startswith(
        f"export book: cannot open its cache {tmp_path / 'nowhere' / '.book.csv.metadir-cache'}"
    )


# reads the file until told to stop: whole reads only, every line complete, the last one
# too, valid UTF-8; prints how many reads and what was wrong
READER = """
import json, sys
path, lines, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
reads, problems = 0, []
while True:
    done = open(stop).read() == "stop"
    with open(path, "rb") as file:
        text = file.read().decode("utf-8")
    reads += 1
    if not text.endswith("\\r\\n") or text.count("\\r\\n") != lines:
        problems.append(f"{len(text)} characters, {text.count(chr(10))} lines")
    if done:
        break
print(json.dumps([reads, problems]))
"""


def test_a_reader_never_sees_a_partial_file(store: Store, out: Path) -> None:
    tmp = out.parent
    now = datetime.now(UTC)
    count = 20_000
    store.apply(
        RunRecord("crm", "ok", now, now),
        added=[entry_data(f"{i}", f"Name {i:05} Müller") for i in range(count)],
    )
    assert export(store, tmp, csv_export()).outcome == "ok"
    # another process, as a web server serving the file to phones would be
    stop = tmp / "stop"
    stop.write_text("", encoding="utf-8")
    args = [str(out / "book.csv"), str(count + 1), str(stop)]
    with subprocess.Popen(
        [sys.executable, "-c", READER, *args], stdout=subprocess.PIPE, text=True
    ) as reader:
        try:
            for _ in range(3):
                assert export(store, tmp, csv_export(), full=True).outcome == "ok"
        finally:
            stop.write_text("stop", encoding="utf-8")
        output, _ = reader.communicate(timeout=60)
    reads, problems = json.loads(output)
    assert problems == []
    assert reads >= 3
    assert leftovers(out) == [".book.csv.metadir-cache", "book.csv"]


def test_the_cache_refuses_writes_after_a_failed_run(tmp_path: Path) -> None:
    """A write that failed closes the run's cache: nothing of it is committed."""
    cache = RowCache.open(tmp_path / "c", "s", None)
    cache.put([("u1", ("a", "a"), b"row")])
    cache.close()
    reopened = RowCache.open(tmp_path / "c", "s", None)
    assert list(reopened.bodies()) == []
    reopened.close()
    with pytest.raises(TargetError, match="cannot open its cache"):
        RowCache.open(tmp_path / "missing" / "c", "s", None)
