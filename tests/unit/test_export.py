"""Exports: fed from the store's change feed, from their own saved position."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from metadir.core.records import StoredEntry
from metadir.store.entries import EntryData
from metadir.store.leases import Busy, Lease
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.export import PREFIX, ExportJob, run_export
from replicators.base import Context
from tests.export_kind import ENDS, STARTS, JsonLinesExport, lines


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    STARTS.clear()
    ENDS.clear()
    with Store.open(store_url) as opened:
        for name in ("people", "rooms"):
            opened.ensure_directory(name, f"ou={name},dc=meta")
            opened.ensure_replicator(f"{name}-src", "csv", name)
        yield opened


def entry(key: str, name: str = "") -> EntryData:
    attributes = {"cn": [name or key], "sn": [name or key]}
    return EntryData((key,), attributes, {}, {}, f"digest-{key}-{name}")


def write(store: Store, replicator: str, **changes: Any) -> None:
    """A sync run's write: ``added`` entries, ``updated`` / ``deleted`` keys."""
    digests = store.digests(replicator)
    now = datetime.now(UTC)
    store.apply(
        RunRecord(replicator, "ok", now, now),
        added=[entry(k) for k in changes.get("added", ())],
        updated=[(digests[(k,)].id, entry(k, "new")) for k in changes.get("updated", ())],
        deleted=[digests[(k,)].id for k in changes.get("deleted", ())],
    )


def job(
    tmp_path: Path,
    directories: tuple[str, ...] = ("people",),
    select: Any = None,
    **settings: Any,
) -> ExportJob:
    # deletions of a few test entries are a large share: guarded only where a test says so
    settings.setdefault("max_delete", "100%")
    return ExportJob(JsonLinesExport(name="phones", **settings), directories, tmp_path, select)


def test_first_run_all_then_only_changes(store: Store, tmp_path: Path) -> None:
    write(store, "people-src", added=["a", "b", "c", "gone"])
    write(store, "people-src", deleted=["gone"])
    write(store, "rooms-src", added=["room"])  # another directory: not exported
    out = tmp_path / "export.jsonl"

    first = run_export(store, job(tmp_path))
    assert (first.outcome, first.mode, first.added, first.deleted) == ("ok", "full", 3, 0)
    # a first run sends no tombstone: the target never had the entry
    assert sorted(lines(out)) == [("a", False), ("b", False), ("c", False)]

    write(store, "people-src", added=["d"], updated=["a"], deleted=["b"])
    write(store, "rooms-src", updated=["room"])
    out.unlink()
    second = run_export(store, job(tmp_path))
    assert (second.mode, second.added, second.updated, second.deleted) == ("incremental", 1, 1, 1)
    assert sorted(lines(out)) == [("a", False), ("b", True), ("d", False)]
    # the target's own state came back to it
    assert STARTS == [None, {"written": 3}]

    out.unlink()
    idle = run_export(store, job(tmp_path))
    assert (idle.outcome, idle.updated, idle.deleted) == ("ok", 0, 0)
    assert lines(out) == []
    assert store.last_runs()[PREFIX + "phones"].outcome == "ok"


def test_failing_target_keeps_the_old_position(store: Store, tmp_path: Path) -> None:
    write(store, "people-src", added=["a", "b"])
    assert run_export(store, job(tmp_path)).outcome == "ok"
    write(store, "people-src", added=["c"], updated=["a"])
    out = tmp_path / "export.jsonl"
    out.unlink()

    ENDS.clear()
    failed = run_export(store, job(tmp_path, fail_on="c"))
    assert (failed.outcome, ENDS) == ("failed", ["closed"])
    assert failed.message == f"export phones: {tmp_path / 'export.jsonl'}: disk full"
    assert store.last_runs()[PREFIX + "phones"].outcome == "failed"

    again = run_export(store, job(tmp_path))
    assert again.outcome == "ok"
    assert sorted(lines(out)) == [("a", False), ("c", False)]


def test_entries_the_target_refuses_are_problems_not_counts(store: Store, tmp_path: Path) -> None:
    write(store, "people-src", added=["a", "b", "c"])
    first = run_export(store, job(tmp_path, refuse=["b"]))
    assert (first.outcome, first.added, first.skipped) == ("ok", 2, 1)
    assert [(p.message, p.line) for p in first.problems] == [("b: refused", None)]
    assert first.note.endswith("the target holds 2")

    # refused again as an update: b was never held, so the target still holds 2
    write(store, "people-src", updated=["b"], deleted=["a"])
    second = run_export(store, job(tmp_path, refuse=["b"]))
    assert (second.added, second.updated, second.deleted, second.skipped) == (0, 0, 1, 1)
    assert second.note.endswith("the target holds 1")

    # taken once the target takes it; a refused deletion leaves the entry held
    write(store, "people-src", updated=["b"])
    assert run_export(store, job(tmp_path)).added == 1
    write(store, "people-src", deleted=["b"])
    refused = run_export(store, job(tmp_path, refuse=["b"]))
    assert (refused.deleted, refused.skipped) == (0, 1)
    assert refused.note.endswith("the target holds 2")


def test_batches_and_cancellation(store: Store, tmp_path: Path) -> None:
    write(store, "people-src", added=[f"k{i}" for i in range(5)])
    stop = threading.Event()
    progress: list[int] = []

    def seen(rows: int) -> None:
        progress.append(rows)
        if rows >= 2:
            stop.set()  # asked to stop after the first batch

    context = Context(tmp_path, cancelled=stop.is_set, progress=seen)
    cancelled = run_export(store, job(tmp_path, batch_size=2), context=context)
    assert cancelled.outcome == "failed"
    assert "cancelled after 4 rows" in cancelled.message
    assert len(lines(tmp_path / "export.jsonl")) == 2  # one batch went out

    rerun = run_export(store, job(tmp_path, batch_size=2), context=Context(tmp_path, progress=seen))
    assert rerun.outcome == "ok"
    assert progress[-3:] == [2, 4, 5]
    # the batch sent before the cancel is sent again: writes are idempotent by uuid
    assert len(lines(tmp_path / "export.jsonl")) == 7


def test_changed_directories_export_everything_again(store: Store, tmp_path: Path) -> None:
    write(store, "people-src", added=["a"])
    write(store, "rooms-src", added=["room"])
    run_export(store, job(tmp_path))
    (tmp_path / "export.jsonl").unlink()

    widened = run_export(store, job(tmp_path, ("people", "rooms")))
    assert (widened.mode, widened.note) == ("full", "directories changed: full export")
    assert sorted(lines(tmp_path / "export.jsonl")) == [("a", False), ("room", False)]

    # --full sends tombstones too: the target may hold those entries
    write(store, "people-src", deleted=["a"])
    (tmp_path / "export.jsonl").unlink()
    full = run_export(store, job(tmp_path, ("people", "rooms")), full=True)
    assert sorted(lines(tmp_path / "export.jsonl")) == [("a", True), ("room", False)]
    assert full.mode == "full"


def test_a_job_names_its_directories(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="export phones: no directory to export"):
        job(tmp_path, ())


def no_new(batch: Sequence[StoredEntry]) -> set[int]:
    """A filter of the tests' own: entries whose name is not "new"."""
    return {entry.id for entry in batch if entry.attributes["cn"] != ["new"]}


def test_an_entry_that_leaves_the_selection_is_deleted_from_the_target(
    store: Store, tmp_path: Path
) -> None:
    write(store, "people-src", added=["a", "b", "c"])
    out = tmp_path / "export.jsonl"
    assert run_export(store, job(tmp_path, select=no_new)).added == 3
    write(store, "people-src", updated=["a"])  # a no longer matches
    out.unlink()
    left = run_export(store, job(tmp_path, select=no_new))
    assert (left.added, left.updated, left.deleted) == (0, 0, 1)
    assert lines(out) == [("a", True)]

    # a changed entry the target never held is not sent at all, not even as a tombstone
    write(store, "people-src", updated=["a"], added=["d"])
    write(store, "people-src", deleted=["a"])
    out.unlink()
    assert run_export(store, job(tmp_path, select=no_new)).added == 1
    assert lines(out) == [("d", False)]

    # a first run skips what does not match
    (tmp_path / "other").mkdir()
    fresh = ExportJob(JsonLinesExport(name="other"), ("people",), tmp_path / "other", no_new)
    assert run_export(store, fresh).added == 3
    assert sorted(lines(tmp_path / "other" / "export.jsonl")) == [
        ("b", False), ("c", False), ("d", False)
    ]  # fmt: skip


def test_a_changed_filter_exports_everything_again(store: Store, tmp_path: Path) -> None:
    write(store, "people-src", added=["a", "b"])
    write(store, "people-src", updated=["a"])
    run_export(store, job(tmp_path, filter="(cn=*)"))
    (tmp_path / "export.jsonl").unlink()
    narrowed = run_export(store, job(tmp_path, select=no_new, filter="(!(cn=new))"))
    assert (narrowed.mode, narrowed.note) == ("full", "filter changed: full export")
    assert sorted(lines(tmp_path / "export.jsonl")) == [("a", True), ("b", False)]


def test_the_delete_guard_stops_before_writing(store: Store, tmp_path: Path) -> None:
    write(store, "people-src", added=[f"k{i}" for i in range(10)])
    guarded = job(tmp_path, max_delete="20%")
    assert run_export(store, guarded).added == 10
    write(store, "people-src", deleted=["k0", "k1", "k2"], added=["new"])
    out = tmp_path / "export.jsonl"
    out.unlink()

    stopped = run_export(store, guarded)
    assert stopped.outcome == "stopped"
    assert stopped.message == (
        "export phones: would delete 3 of the 10 entries the target holds (30.0 %), "
        "more than max_delete 20 %; run with --force to apply"
    )
    assert not out.exists()  # nothing written
    assert store.last_runs()[PREFIX + "phones"].outcome == "stopped"
    assert ENDS == ["finished", "closed", "closed"]  # the stopped run closed its target

    # the position stayed: a forced run sends the same changes
    forced = run_export(store, guarded, force=True)
    assert (forced.outcome, forced.forced, forced.added, forced.deleted) == ("ok", True, 1, 3)
    assert sorted(lines(out)) == [("k0", True), ("k1", True), ("k2", True), ("new", False)]
    # a count: two of eight may go
    write(store, "people-src", deleted=["k3", "k4"])
    assert run_export(store, job(tmp_path, max_delete=2)).outcome == "ok"


def test_a_target_that_lost_its_state_gets_everything(store: Store, tmp_path: Path) -> None:
    write(store, "people-src", added=["a", "b"])
    run_export(store, job(tmp_path))
    write(store, "people-src", added=["c"])
    (tmp_path / "export.seen").unlink()
    (tmp_path / "export.jsonl").unlink()

    again = run_export(store, job(tmp_path))
    assert (again.outcome, again.mode) == ("ok", "full")
    assert again.note == "the target asked for a full export: export.seen is gone"
    assert sorted(lines(tmp_path / "export.jsonl")) == [("a", False), ("b", False), ("c", False)]
    # started with its state, then again without
    assert STARTS == [None, {"written": 2}, None]
    # what it held counts as held: updated, not added
    assert (again.added, again.updated) == (1, 2)


def test_an_unusable_held_set_sends_every_tombstone(store: Store, tmp_path: Path) -> None:
    write(store, "people-src", added=["a", "b"])
    run_export(store, job(tmp_path))
    write(store, "people-src", deleted=["a"])
    state = store.replicator_state(PREFIX + "phones")
    assert state is not None
    now = datetime.now(UTC)
    run = RunRecord(PREFIX + "phones", "ok", now, now)
    store.apply(run, state={**state, "held": "not base64!", "seq": 0})
    (tmp_path / "export.jsonl").unlink()
    again = run_export(store, job(tmp_path))
    assert sorted(lines(tmp_path / "export.jsonl")) == [("a", True), ("b", False)]
    assert (again.outcome, again.mode) == ("ok", "full")


def test_an_export_lease_neither_waits_for_nor_blocks_imports(store: Store) -> None:
    store.ensure_replicator(PREFIX + "phones", "jsonl", "people")
    importing = store.acquire_lease("people-src", "node-a", 30, "manual")
    exporting = store.acquire_lease(PREFIX + "phones", "node-b", 30, "manual")
    assert isinstance(importing, Lease) and isinstance(exporting, Lease)
    store.release_lease(importing)
    assert isinstance(store.acquire_lease("people-src", "node-a", 30, "manual"), Lease)
    # but one run of the export at a time
    again = store.acquire_lease(PREFIX + "phones", "node-c", 30, "manual")
    assert isinstance(again, Busy) and (again.reason, again.holder) == ("running", "node-b")
