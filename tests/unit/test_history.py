"""The run history: the store's pages of runs and problems, pruning, and ``metadir history``
as text and JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from metadir.cli import main
from metadir.core.records import Problem
from metadir.store.runs import RunRecord
from metadir.store.store import Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def run(replicator: str, at: datetime, outcome: str = "ok", **fields: object) -> RunRecord:
    return RunRecord(replicator, outcome, started=at, finished=at + timedelta(seconds=2), **fields)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        opened.ensure_directory("contacts", "ou=contacts,dc=meta")
        opened.ensure_directory("staff", "ou=staff,dc=meta")
        opened.ensure_replicator("crm", "csv", "contacts")
        opened.ensure_replicator("hr", "csv", "staff")
        yield opened


def test_history_pages_newest_first(store: Store) -> None:
    ids = [
        store.record_run(run("crm" if i % 2 else "hr", T0 + timedelta(hours=i))) for i in range(7)
    ]
    assert [r.id for r in store.history()] == ids[::-1]
    page = store.history(limit=3)
    assert [r.id for r in page] == ids[:3:-1]
    assert [r.id for r in store.history(limit=3, before_id=page[-1].id)] == ids[3:0:-1]
    crm = store.history("crm")
    assert [r.id for r in crm] == ids[5::-2]
    assert {(r.replicator, r.directory) for r in crm} == {("crm", "contacts")}
    assert store.history("hr", before_id=ids[2])[0].id == ids[0]
    assert store.history("nobody") == []


def test_a_run_and_its_problems_a_page_at_a_time(store: Store) -> None:
    problems = [Problem(f"row {i}", i + 2) for i in range(250)]
    run_id = store.record_run(
        run("crm", T0, "stopped", skipped=300, problems=problems, node="n1", trigger="start")
    )
    recorded = store.run(run_id)
    assert recorded is not None
    assert (recorded.id, recorded.outcome, recorded.node, recorded.trigger) == (
        run_id,
        "stopped",
        "n1",
        "start",
    )
    assert recorded.problems == []  # without problems: those are paged
    assert store.problem_count(run_id) == 250
    assert store.problems(run_id) == problems[:100]
    assert store.problems(run_id, offset=200, limit=100) == problems[200:]
    assert store.problems(run_id, offset=250) == []
    assert store.run(run_id + 1) is None
    assert store.problem_count(run_id + 1) == 0


def test_prune_deletes_old_runs_and_their_problems_but_each_latest(store: Store) -> None:
    old = [
        store.record_run(run("crm", T0 - timedelta(days=d), problems=[Problem("x", 1)]))
        for d in (100, 95)
    ]
    hr_only = store.record_run(run("hr", T0 - timedelta(days=120)))
    recent = store.record_run(run("crm", T0, problems=[Problem("y", 2)]))
    assert store.prune_runs(T0 - timedelta(days=90)) == 2
    # hr's only run is kept however old: it is what `metadir status` shows
    assert [r.id for r in store.history()] == [recent, hr_only]
    assert all(store.problem_count(i) == 0 for i in old)
    assert store.problems(recent) == [Problem("y", 2)]
    assert store.prune_runs(T0 - timedelta(days=90)) == 0


# -- metadir history -------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "crm.csv").write_text("Id;Name\n1;Anna\n", encoding="utf-8")
    settings = {
        "store": {"url": "sqlite:///metadir.db"},
        "directories": [
            {
                "name": "contacts",
                "replicators": [
                    {"name": n, "type": "csv", "path": "crm.csv", "key": "Id"}
                    for n in ("crm", "erp")
                ],
            }
        ],
    }
    path = tmp_path / "metadir.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    with Store.open(f"sqlite:///{tmp_path}/metadir.db") as store:
        store.ensure_directory("contacts", "ou=contacts,dc=meta")
        for name in ("crm", "erp", "gone"):
            store.ensure_replicator(name, "csv", "contacts")
        store.record_run(
            run("crm", T0, added=3, unchanged=10, node="node-a", trigger="schedule", slot=T0)
        )
        problems = [Problem(f"bad row {i}", i + 2) for i in range(120)]
        store.record_run(
            run(
                "erp",
                T0 + timedelta(minutes=5),
                "stopped",
                skipped=1500,
                problems=problems,
                message="would delete 5 of 6 entries",
                note="read in full",
            )
        )
        store.record_run(run("gone", T0 - timedelta(days=1)))
    return path


def history(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    status = main(["history", "-c", str(config), *args])
    out, err = capsys.readouterr()
    return status, out, err


def local(at: datetime) -> str:
    return at.astimezone().isoformat(timespec="seconds")


def test_history_lists_runs_newest_first(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = history(capsys, config)
    assert status == 0
    # by the order they were recorded in (when they ended), the last first
    header, gone, erp, crm = out.splitlines()
    assert header.split() == [
        "ID",
        "STARTED",
        "REPLICATOR",
        "TRIGGER",
        "NODE",
        "MODE",
        "OUTCOME",
        "SECONDS",
        "ADDED",
        "UPDATED",
        "DELETED",
        "UNCHANGED",
        "SKIPPED",
    ]
    assert erp.split() == [
        "2",
        local(T0 + timedelta(minutes=5)),
        "erp",
        "manual",
        "-",
        "full",
        "stopped",
        "2.00",
        "0",
        "0",
        "0",
        "0",
        "1500",
    ]
    assert crm.split()[:4] == ["1", local(T0), "crm", "schedule"]
    assert crm.split()[4:] == ["node-a", "full", "ok", "2.00", "3", "0", "0", "10", "0"]
    assert gone.split()[2] == "gone"

    status, out, _ = history(capsys, config, "crm")
    assert [line.split()[0] for line in out.splitlines()] == ["ID", "1"]
    # a replicator gone from the config keeps its history
    assert history(capsys, config, "gone")[1].splitlines()[1].split()[2] == "gone"
    status, out, _ = history(capsys, config, "--limit", "1")
    assert out.splitlines()[1].split()[0] == "3"
    assert out.splitlines()[-1] == f"… older runs: metadir history -c {config} --limit 2"


def test_history_of_one_run_pages_its_problems(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = history(capsys, config, "--run", "2", "--limit", "50")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "run 2: erp (directory contacts)"
    assert f"  started:  {local(T0 + timedelta(minutes=5))}" in lines
    assert "  trigger:  manual" in lines
    assert "  outcome:  stopped" in lines
    assert "  counts:   nothing changed (1500 skipped)" in lines
    assert "  message:  would delete 5 of 6 entries" in lines
    assert "  note:     read in full" in lines
    assert "problems 1-50 of 120 (1500 skipped, the first 120 recorded):" in lines
    assert lines[lines.index("  line 2: bad row 0") + 49] == "  line 51: bad row 49"
    assert lines[-1] == f"… 70 more: metadir history -c {config} --run 2 --offset 50"

    _, out, _ = history(capsys, config, "--run", "2", "--limit", "50", "--offset", "100")
    assert out.splitlines()[-1] == "  line 121: bad row 119"
    _, out, _ = history(capsys, config, "--run", "2", "--offset", "500")
    assert (
        out.splitlines()[-1]
        == "no problems from offset 500: 120 recorded (1500 skipped, the first 120 recorded)"
    )
    _, out, _ = history(capsys, config, "--run", "1")
    assert "  node:     node-a" in out.splitlines()
    assert out.splitlines()[-1] == "no problems recorded"


def test_history_as_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = history(capsys, config, "--json", "crm")
    assert status == 0
    assert json.loads(out) == [
        {
            "id": 1,
            "replicator": "crm",
            "directory": "contacts",
            "trigger": "schedule",
            "slot": "2024-05-01T12:00:00+00:00",
            "node": "node-a",
            "started": "2024-05-01T12:00:00+00:00",
            "ended": "2024-05-01T12:00:02+00:00",
            "seconds": 2.0,
            "mode": "full",
            "outcome": "ok",
            "forced": False,
            "message": "",
            "note": "",
            "change_seq": None,
            "numbers_kept": 0,
            "counts": {"added": 3, "updated": 0, "deleted": 0, "unchanged": 10, "skipped": 0},
        }
    ]
    _, out, _ = history(capsys, config, "--json")
    assert [r["id"] for r in json.loads(out)] == [3, 2, 1]
    _, out, _ = history(capsys, config, "--json", "--run", "2", "--limit", "2", "--offset", "3")
    shown = json.loads(out)
    assert (shown["id"], shown["outcome"], shown["counts"]["skipped"]) == (2, "stopped", 1500)
    assert shown["problems"] == [
        {"line": 5, "message": "bad row 3"},
        {"line": 6, "message": "bad row 4"},
    ]
    assert shown["problems_total"] == 120


def test_history_with_nothing_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "metadir.yaml"
    path.write_text(yaml.safe_dump({"store": {"url": "sqlite:///metadir.db"}}), encoding="utf-8")
    assert history(capsys, path) == (0, "no runs recorded\n", "")
    assert history(capsys, path, "--json") == (0, "[]\n", "")


def test_history_of_an_export_not_run_yet(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["exports"] = [{"name": "book", "type": "csv", "path": "book.csv"}]
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    assert history(capsys, config, "book") == (0, "no runs recorded for export:book\n", "")
    assert history(capsys, config, "nope")[2] == (
        "metadir history: no replicator named 'nope'; known: crm, erp, book\n"
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["nope"], "metadir history: no replicator named 'nope'; known: crm, erp\n"),
        (["--run", "99"], "metadir history: no run 99 in the store\n"),
        (["crm", "--run", "2"], "metadir history: run 2 is one of 'erp', not of 'crm'\n"),
        (["--limit", "0"], "metadir history: --limit must be at least 1, not 0\n"),
        (["--run", "2", "--offset", "-1"], "metadir history: --offset must be 0 or more, not -1\n"),
        (
            ["--offset", "5"],
            "metadir history: --offset pages through the problems of one run: give --run ID too\n",
        ),
    ],
)
def test_history_refuses(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], error: str
) -> None:
    assert history(capsys, config, *args) == (2, "", error)
