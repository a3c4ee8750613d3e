"""Exports: fed from the store's change feed, from their own saved position."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from metadir.core.records import StoredEntry
from metadir.store.entries import EntryData
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.export import PREFIX, ExportJob, run_export
from replicators.base import Context, ExportConfig, Target, TargetError


class JsonLinesTarget:
    """Appends each change as a JSON line to a file; fails on the write it is told to."""

    def __init__(self, config: JsonLinesExport, context: Context) -> None:
        self.path = context.base_dir / config.path
        self.fail_on = config.fail_on
        self.written = 0
        self.started_with: dict[str, Any] | None = None

    def start(self, state: dict[str, Any] | None) -> None:
        self.started_with = state
        self.written = state["written"] if state else 0
        STARTS.append(state)

    def write(self, changes: Sequence[StoredEntry]) -> None:
        if self.fail_on is not None and any(e.key == (self.fail_on,) for e in changes):
            raise TargetError(f"{self.path}: disk full")
        with self.path.open("a", encoding="utf-8") as file:
            for entry in changes:
                line = {"uuid": entry.uuid, "key": entry.key[0], "deleted": entry.deleted}
                file.write(json.dumps(line) + "\n")
        self.written += len(changes)

    def finish(self) -> dict[str, Any]:
        return {"written": self.written}


STARTS: list[dict[str, Any] | None] = []


class JsonLinesExport(ExportConfig):
    type: Literal["jsonl"] = "jsonl"
    path: str = "export.jsonl"
    fail_on: str | None = None

    def build(self, context: Context) -> Target:
        return JsonLinesTarget(self, context)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    STARTS.clear()
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


def lines(path: Path) -> list[tuple[str, bool]]:
    if not path.exists():
        return []
    read = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [(line["key"], line["deleted"]) for line in read]


def job(tmp_path: Path, directories: tuple[str, ...] = ("people",), **settings: Any) -> ExportJob:
    return ExportJob(JsonLinesExport(name="phones", **settings), directories, tmp_path)


def test_first_run_all_then_only_changes(store: Store, tmp_path: Path) -> None:
    write(store, "people-src", added=["a", "b", "c", "gone"])
    write(store, "people-src", deleted=["gone"])
    write(store, "rooms-src", added=["room"])  # another directory: not exported
    out = tmp_path / "export.jsonl"

    first = run_export(store, job(tmp_path))
    assert (first.outcome, first.mode, first.updated, first.deleted) == ("ok", "full", 3, 0)
    # a first run sends no tombstone: the target never had the entry
    assert sorted(lines(out)) == [("a", False), ("b", False), ("c", False)]

    write(store, "people-src", added=["d"], updated=["a"], deleted=["b"])
    write(store, "rooms-src", updated=["room"])
    out.unlink()
    second = run_export(store, job(tmp_path))
    assert (second.outcome, second.mode, second.updated, second.deleted) == (
        "ok",
        "incremental",
        2,
        1,
    )
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

    failed = run_export(store, job(tmp_path, fail_on="c"))
    assert failed.outcome == "failed"
    assert failed.message == f"export phones: {tmp_path / 'export.jsonl'}: disk full"
    assert store.last_runs()[PREFIX + "phones"].outcome == "failed"

    again = run_export(store, job(tmp_path))
    assert again.outcome == "ok"
    assert sorted(lines(out)) == [("a", False), ("c", False)]


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
