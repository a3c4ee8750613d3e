"""Hostile and unlucky sources against the real sync engine and a real SQLite store: rows
that cannot be read are no deletions, and a file rewritten while it is read changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from metadir.config import Config, DirectoryConfig
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.engine import REREAD_AFTER, run_replicator
from replicators.base import (
    Checkpoint,
    Context,
    Problem,
    Record,
    Removed,
    Replicator,
    SourceChanged,
)
from replicators.csv import CsvConfig, CsvReplicator
from tests.unit.test_sync_engine import MAPPING, ListConfig, ListSource, person

HEADER = "Nr;Vorname;Nachname;Ort"


def rows(count: int) -> list[str]:
    return [f"{i};Vorname{i};Nachname{i};Ort{i}" for i in range(1, count + 1)]


def csv_text(lines: list[str]) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'metadir.db'}") as opened:
        yield opened


def sync(store: Store, config: CsvConfig | ListConfig, base: Path, **options: Any) -> RunRecord:
    job = Config(path=base / "metadir.yaml").job(DirectoryConfig(name="contacts"), config)
    return run_replicator(store, job, **options)


def counts(run: RunRecord) -> tuple[str, int, int, int, int, int]:
    return (run.outcome, run.added, run.updated, run.deleted, run.unchanged, run.skipped)


def live_keys(store: Store) -> list[str]:
    return sorted((e.key[0] for e in store.snapshot()[1]), key=int)


CRM = CsvConfig(
    name="crm",
    type="csv",
    path="crm.csv",
    key=["Nr"],
    mapping={"givenName": "Vorname", "sn": "Nachname"},
)


# -- a row that cannot be read is not a deletion ----------------------------------------------


# row 3 (line 4) broken as an export breaks it, row 5 gone from the source
@pytest.mark.parametrize(
    ("broken", "kept"),
    [
        # the key can still be read: row 3's contact stays as it was, row 5's goes
        ("3;Vorname3", True),  # too few fields
        ("3;Vorname3;Nachname;3;Ort3", True),  # an unquoted delimiter in a name
        ("3;Vor\x00name3;Nachname3;Ort3", True),  # a NUL byte
        ('3;"Vorname3;Nachname3;Ort3', True),  # an opening quote never closed
        ('3;"Vor"name3;Nachname3;Ort3', True),  # a stray quote
        # the key cannot be read: nothing is deleted, not even row 5's contact
        ("3\x00;Vorname3;Nachname3;Ort3", False),  # a NUL byte in the key
        ('"3;Vorname3;Nachname3;Ort3', False),  # the key's quote never closed
        (";Vorname3;Nachname3;Ort3", False),  # an empty key
    ],
)
def test_broken_rows_keep_their_contacts_or_hold_deletions_back(
    tmp_path: Path, store: Store, broken: str, kept: bool
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(csv_text(rows(10)), encoding="utf-8")
    assert counts(sync(store, CRM, tmp_path)) == ("ok", 10, 0, 0, 0, 0)
    before = {e.key: e for e in store.snapshot()[1]}

    lines = rows(10)
    lines[2] = broken
    del lines[4]
    source.write_text(csv_text(lines), encoding="utf-8")
    run = sync(store, CRM, tmp_path)

    after = {e.key: e for e in store.snapshot()[1]}
    assert after[("3",)] == before[("3",)]
    if kept:
        assert counts(run) == ("ok", 0, 0, 1, 8, 1)
        assert run.message == "kept as it was: line 4"
        assert live_keys(store) == ["1", "2", "3", "4", "6", "7", "8", "9", "10"]
    else:
        assert counts(run) == ("ok", 0, 0, 0, 8, 1)
        assert run.message == (
            "2 deletions held back: 1 skipped row (line 4) without a readable key, so the run "
            "cannot tell which entries the source really lacks; fix them or run with --force"
        )
        assert live_keys(store) == [str(i) for i in range(1, 11)]
    assert [p.line for p in run.problems] == [4]


def test_a_row_of_the_wrong_width_has_a_key_only_in_its_first_column(
    tmp_path: Path, store: Store
) -> None:
    # an unquoted ';' in a name before the key column shifts the key: it cannot be trusted
    (tmp_path / "crm.csv").write_text("Vorname;Nr\nAnna;1\nBen;2\n", encoding="utf-8")
    sync(store, CRM.model_copy(update={"mapping": {"givenName": "Vorname"}}), tmp_path)
    (tmp_path / "crm.csv").write_text("Vorname;Nr\nAnna; Lena;1\n", encoding="utf-8")
    run = sync(store, CRM.model_copy(update={"mapping": {"givenName": "Vorname"}}), tmp_path)
    assert run.outcome == "stopped"  # no usable row at all
    (tmp_path / "crm.csv").write_text("Vorname;Nr\nAnna; Lena;1\nBen;2\n", encoding="utf-8")
    run = sync(store, CRM.model_copy(update={"mapping": {"givenName": "Vorname"}}), tmp_path)
    assert counts(run) == ("ok", 0, 0, 0, 1, 1)
    assert run.message.startswith("1 deletion held back: 1 skipped row (line 2) without")


def test_ten_bad_rows_delete_no_contact(tmp_path: Path, store: Store) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(csv_text(rows(20)), encoding="utf-8")
    sync(store, CRM, tmp_path)
    lines = [f"{i};kaputt" if i % 2 else row for i, row in enumerate(rows(20), 1)]
    source.write_text(csv_text(lines), encoding="utf-8")
    run = sync(store, CRM, tmp_path)
    assert counts(run) == ("ok", 0, 0, 0, 10, 10)
    assert run.message == "10 entries kept as they were: lines 2, 4, 6, 8, 10 and 5 more"
    assert len(live_keys(store)) == 20


def test_held_back_deletions_are_applied_when_forced(tmp_path: Path, store: Store) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(csv_text(rows(10)), encoding="utf-8")
    sync(store, CRM, tmp_path)
    source.write_text(csv_text(['"1;x', *rows(10)[2:]]), encoding="utf-8")
    run = sync(store, CRM, tmp_path, force=True)
    assert counts(run) == ("ok", 0, 0, 2, 8, 1)
    assert run.message == (
        "forced: 2 deleted although 1 skipped row (line 2) without a readable key"
    )


@pytest.mark.parametrize(
    ("problem", "deleted", "message"),
    [
        (Problem("unreadable entry", 3, ("C001",)), 1, "kept as it was: line 3"),
        (Problem("unreadable entry", None, ("C001",)), 1, "kept as it was: no line known"),
        (Problem("unreadable entry", 3), 0, "2 deletions held back: 1 skipped row (line 3) "),
        (Problem("unreadable entry"), 0, "2 deletions held back: 1 skipped row (no line known)"),
    ],
)
def test_the_rule_holds_for_every_source(
    tmp_path: Path, store: Store, problem: Problem, deleted: int, message: str
) -> None:
    source = ListSource([person(i) for i in range(5)])
    crm = ListConfig(name="crm", mapping=dict(MAPPING), source=source, max_delete=5)
    sync(store, crm, tmp_path)
    source.rows[1:3] = [problem]  # C001's row cannot be read, C002 is gone
    run = sync(store, crm, tmp_path)
    assert (run.outcome, run.deleted, run.unchanged) == ("ok", deleted, 3)
    assert run.message.startswith(message)
    assert ("C001",) in {e.key for e in store.snapshot()[1]}


def test_an_incremental_read_keeps_a_skipped_key_the_source_had_said_was_gone(
    tmp_path: Path, store: Store
) -> None:
    source = ListSource([person(i) for i in range(3)])
    crm = ListConfig(name="crm", mapping=dict(MAPPING), source=source)
    sync(store, crm, tmp_path)
    # the later item counts: a row of C001 that cannot be read after its removal
    source.rows[:] = [Removed(("C001",)), Problem("bad", 2, ("C001",)), Checkpoint({}, False)]
    run = sync(store, crm, tmp_path)
    assert (run.outcome, run.deleted) == ("ok", 0)
    assert ("C001",) in {e.key for e in store.snapshot()[1]}


# -- one stray byte does not garble a UTF-8 file -------------------------------------------------


def test_a_stray_byte_in_a_utf8_file_skips_its_row_and_garbles_nothing(
    tmp_path: Path, store: Store
) -> None:
    source = tmp_path / "crm.csv"
    lines = [f"{i};Günther;Pfeiffer & Kovačević {i};Köln" for i in range(1, 21)]
    source.write_text(csv_text(lines), encoding="utf-8")
    sync(store, CRM, tmp_path)
    before = store.snapshot()
    data = source.read_bytes().replace(b"\n5;G\xc3\xbc", b"\n5;G\xfc")  # cp1252 ü
    source.write_bytes(data)
    run = sync(store, CRM, tmp_path)
    assert counts(run) == ("ok", 0, 0, 0, 19, 1)
    assert run.message == "kept as it was: line 6"
    assert [(p.line, p.message) for p in run.problems] == [
        (6, "holds byte 0xfc, which is no UTF-8")
    ]
    assert store.snapshot()[1] == before[1]


# -- a file rewritten while it is read ---------------------------------------------------------

BIG = csv_text(rows(3000))  # larger than one read of the text stream: truncation cuts the read


def truncate(path: Path) -> None:
    path.write_text(csv_text(rows(2)), encoding="utf-8")


def grow(path: Path) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write("3001;Neu;Neu;Neu\n")


def touch(path: Path) -> None:
    # same size, other bytes: only the modification time tells
    data = path.read_bytes()
    stat = path.stat()
    path.write_bytes(data.replace(b"Vorname1;", b"Vorname9;", 1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def cut_line_end(path: Path) -> None:
    # rewritten in place and cut mid-line, with the size and time it had: only the missing
    # line end at the end tells
    data = path.read_bytes()
    stat = path.stat()
    path.write_bytes(data[:-1] + b"x")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def replace_file(path: Path) -> None:
    new = path.with_suffix(".new")
    new.write_text(csv_text(rows(3000)), encoding="utf-8")
    os.replace(new, path)


def remove(path: Path) -> None:
    path.unlink()


class Rewriting(CsvReplicator):
    """A CSV replicator whose file is changed by ``change`` after the first row of each of
    its first ``times`` reads: the ERP that rewrites the file while metadir reads it."""

    def __init__(self, config: RewritingConfig, context: Context) -> None:
        super().__init__(config, context)
        self.settings = config

    def read(self, state: dict[str, Any] | None = None) -> Iterator[Record | Problem]:
        items = super().read(state)
        yield next(items)
        if self.settings.times:
            self.settings.times -= 1
            self.settings.change(self.path)
        yield from items


class RewritingConfig(CsvConfig):
    change: Any = None
    times: int = 1

    def build(self, context: Context) -> Replicator:
        return Rewriting(self, context)


def rewriting(change: Callable[[Path], None], times: int = 1) -> RewritingConfig:
    return RewritingConfig(
        **CRM.model_dump(exclude={"max_delete", "max_update"}), change=change, times=times
    )


CHANGES: list[tuple[Callable[[Path], None], str]] = [
    (truncate, r"crm\.csv: the file changed while it was read \(\d+ of its \d+ bytes read, size"),
    (grow, r"crm\.csv: the file changed while it was read \(size \d+ -> \d+ bytes, modified\)"),
    (touch, r"crm\.csv: the file changed while it was read \(modified\)"),
    (cut_line_end, r"crm\.csv: the file changed while it was read \(its last line lost its line"),
    (replace_file, r"crm\.csv: the file was replaced or removed while it was read"),
    (remove, r"crm\.csv: the file was replaced or removed while it was read"),
]


@pytest.mark.parametrize(("change", "message"), CHANGES, ids=[c.__name__ for c, _ in CHANGES])
def test_the_replicator_notices_a_file_changed_while_it_is_read(
    tmp_path: Path, change: Callable[[Path], None], message: str
) -> None:
    (tmp_path / "crm.csv").write_text(BIG, encoding="utf-8")
    replicator = rewriting(change=change).build(Context(tmp_path))
    with pytest.raises(SourceChanged, match=message):
        list(replicator.read())


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-32", "cp1252"])
@pytest.mark.parametrize("text", [BIG, BIG.removesuffix("\n"), BIG.replace("\n", "\r\n")])
def test_a_stable_file_reads_without_complaint(tmp_path: Path, encoding: str, text: str) -> None:
    # also one whose last line never had a line end: only a line end lost counts
    (tmp_path / "crm.csv").write_text(text, encoding=encoding, newline="")
    assert len(list(CRM.build(Context(tmp_path)).read())) == 3000


@pytest.mark.parametrize(("change", "message"), CHANGES[:3], ids=["truncate", "grow", "touch"])
def test_a_file_changing_during_both_reads_fails_the_run_without_changes(
    tmp_path: Path, store: Store, change: Callable[[Path], None], message: str
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(BIG, encoding="utf-8")
    sync(store, CRM, tmp_path)
    before = store.snapshot()
    pauses: list[float] = []
    config = rewriting(change=change, times=2)
    run = sync(store, config, tmp_path, pause=pauses.append)
    assert counts(run) == ("failed", 0, 0, 0, 0, 0)
    assert run.message.startswith("replicator crm: ")
    assert run.message.endswith(f"(also when read again {REREAD_AFTER:g} s later)")
    assert pauses == [REREAD_AFTER]
    assert store.snapshot() == before
    assert store.last_runs()["crm"].outcome == "failed"


def test_a_file_that_settles_is_read_again_after_a_pause(tmp_path: Path, store: Store) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(BIG, encoding="utf-8")
    sync(store, CRM, tmp_path)
    pauses: list[float] = []
    # the ERP truncated the file while it was read; by the second read it has written it
    config = rewriting(change=truncate, times=1)
    run = sync(store, config, tmp_path, pause=pauses.append)
    assert pauses == [REREAD_AFTER]
    # the settled file has 2 rows: the guard, not a half read, decides about the rest
    assert run.outcome == "stopped"
    assert run.message.startswith("would delete 2998 of 3000 entries")
    assert len(store.snapshot()[1]) == 3000


def test_a_file_replaced_once_is_read_again_and_applied(tmp_path: Path, store: Store) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(csv_text(rows(2999)), encoding="utf-8")
    sync(store, CRM, tmp_path)
    pauses: list[float] = []
    config = rewriting(change=replace_file, times=1)
    run = sync(store, config, tmp_path, pause=pauses.append)
    assert (counts(run), pauses) == (("ok", 1, 0, 0, 2999, 0), [REREAD_AFTER])


# -- a run that would rewrite most entries stops ------------------------------------------------

UMLAUTS = [f"{i};Günther{i};Pfeiffer & Söhne;Köln" for i in range(1, 41)]


def garbled(lines: list[str]) -> bytes:
    """The UTF-8 file with enough cp1252 bytes in its last row that ``encoding: auto``
    takes it for a Windows file and reads every umlaut as two letters."""
    return csv_text(lines).encode("utf-8") + f"99;Ärger;{'Ö' * 200};Köln\n".encode("cp1252")


@pytest.mark.parametrize(
    ("size", "settings", "second", "outcome", "updated"),
    [
        # the issue's case: UTF-8 read as cp1252 rewrites all 40 entries' text
        (40, {}, garbled, "stopped", 0),
        (40, {"encoding": "cp1252"}, lambda lines: csv_text(lines).encode(), "stopped", 0),
        # a normal re-sync: a few entries changed
        (
            40,
            {},
            lambda lines: csv_text([*lines[:3], "4;Gina;Neu;Köln", *lines[4:]]).encode(),
            "ok",
            1,
        ),
        # a small directory: 10 entries or fewer may all change
        (10, {}, garbled, "ok", 10),
        # the admin allows more
        (40, {"max_update": "100%"}, garbled, "ok", 40),
        (40, {"max_update": 39}, garbled, "stopped", 0),
    ],
    ids=["auto-guessed-cp1252", "cp1252-set", "few-changes", "small", "max_update-100%", "count"],
)
def test_a_run_rewriting_most_entries_stops(
    tmp_path: Path,
    store: Store,
    size: int,
    settings: dict[str, Any],
    second: Callable[[list[str]], bytes],
    outcome: str,
    updated: int,
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(csv_text(UMLAUTS[:size]), encoding="utf-8")
    sync(store, CRM, tmp_path)
    before = store.snapshot()
    source.write_bytes(second(UMLAUTS[:size]))
    config = CsvConfig(**{**CRM.model_dump(exclude={"max_delete", "max_update"}), **settings})
    run = sync(store, config, tmp_path)
    assert (run.outcome, run.updated) == (outcome, updated)
    if outcome == "stopped":
        assert store.snapshot()[1] == before[1]
        assert run.message.startswith(
            f"would update 40 of 40 entries (100.0 %), more than max_update "
            f"{config.max_update}; the file was read as cp1252"
        )
        assert run.message.endswith(
            "if the entries' text now looks garbled, set encoding: to the file's own "
            "(utf-8 or cp1252); if the change is meant (a new mapping, location or phone "
            "format), run with --force to apply"
        )
        guessed = "the file was read as cp1252 (guessed: encoding: auto);"
        assert (guessed in run.message) == ("encoding" not in settings)
    else:
        assert run.message == ""


def test_a_forced_or_dry_run_rewriting_most_entries(tmp_path: Path, store: Store) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(csv_text(UMLAUTS), encoding="utf-8")
    sync(store, CRM, tmp_path)
    source.write_bytes(garbled(UMLAUTS))
    dry = sync(store, CRM, tmp_path, dry_run=True)
    assert dry.outcome == "stopped"
    assert dry.message.startswith("would update 40 of 40 entries (100.0 %)")
    run = sync(store, CRM, tmp_path, force=True)
    assert counts(run) == ("ok", 1, 40, 0, 0, 0)  # and row 99, added
    assert run.message == "forced: update 40 of 40 entries (100.0 %), more than max_update 50 %"
    names = {e.key: e.attributes["givenName"] for e in store.snapshot()[1]}
    assert names[("1",)] == ["GÃ¼nther1"]


def test_the_update_guard_holds_for_every_source(tmp_path: Path, store: Store) -> None:
    source = ListSource([person(i) for i in range(1, 21)])
    crm = ListConfig(name="crm", mapping=dict(MAPPING), source=source)
    sync(store, crm, tmp_path)
    source.rows = [person(i, Last="Neu") for i in range(1, 21)]
    run = sync(store, crm, tmp_path)
    assert run.outcome == "stopped"
    assert run.message == (
        "would update 20 of 20 entries (100.0 %), more than max_update 50 %; if the change "
        "is meant (a new mapping, location or phone format), run with --force to apply"
    )
