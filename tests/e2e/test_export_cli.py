"""``metadir export`` end to end: an installed export kind (the tests' own ``jsonl``) fed
from what ``metadir sync`` imported, selected by a filter, stopped by its delete guard, and
shown by ``metadir status`` and ``metadir history``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.export_kind import install_export_kind, lines

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
store: {url: "sqlite:///metadir.db"}
location: {country: DE, area_code: "89"}
directories:
  - name: staff
    replicators:
      - name: hr
        type: csv
        path: staff.csv
        key: Id
        max_delete: 100%
        mapping: {givenName: First, sn: Last, telephoneNumber: Phone}
exports:
  - {name: everyone, type: jsonl, path: everyone.jsonl, directory: staff}
  - name: callers
    type: jsonl
    path: callers.jsonl
    filter: "(telephoneNumber=089*)"
"""

STAFF = [
    "Id,First,Last,Phone",
    "1,Anna,Berg,089 1234567",
    "2,Jonas,Weber,",
    "3,Eva,Roth,089 7654321",
    "4,Max,Kern,030 111222",
    "5,Lea,Vogt,",
]


def metadir(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "metadir", *args, "-c", str(tmp_path / "metadir.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )


def staff(tmp_path: Path, rows: list[str]) -> None:
    (tmp_path / "staff.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_export_runs_named_exports_and_guards_deletions(tmp_path: Path) -> None:
    install_export_kind(tmp_path / "site")
    (tmp_path / "metadir.yaml").write_text(CONFIG, encoding="utf-8")
    staff(tmp_path, STAFF)
    assert metadir(tmp_path, "check").returncode == 0
    assert metadir(tmp_path, "sync").returncode == 0

    first = metadir(tmp_path, "export")
    assert first.returncode == 0, first.stderr
    said = first.stdout.splitlines()
    assert said[0].startswith("everyone (jsonl <- staff): ok in ")
    assert said[0].endswith(": 5 added, 0 updated, 0 deleted")
    assert said[2].startswith("callers (jsonl <- staff): ok in ")
    assert said[2].endswith(": 2 added, 0 updated, 0 deleted")
    # the filter reads 089… as a number in Munich: +49 89…
    assert sorted(key for key, _ in lines(tmp_path / "callers.jsonl")) == ["1", "3"]

    unknown = metadir(tmp_path, "export", "callers", "nobody")
    assert unknown.returncode == 2
    assert "metadir export: no export named 'nobody'; known: everyone, callers" in unknown.stderr

    # Anna moves to Berlin (out of the selection), three leave: past everyone's guard
    staff(tmp_path, [STAFF[0], "1,Anna,Berg,030 999888", STAFF[2]])
    assert metadir(tmp_path, "sync").returncode == 0
    stopped = metadir(tmp_path, "export", "everyone")
    assert stopped.returncode == 1
    assert "everyone (jsonl <- staff): stopped in " in stopped.stdout
    assert (
        "export everyone: would delete 3 of the 5 entries the target holds (60.0 %), more "
        "than max_delete 20 %; run with --force to apply"
    ) in stopped.stdout
    assert len(lines(tmp_path / "everyone.jsonl")) == 5  # nothing written

    forced = metadir(tmp_path, "export", "--force", "everyone", "callers")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert ": incremental: 0 added, 1 updated, 3 deleted" in forced.stdout
    assert lines(tmp_path / "everyone.jsonl")[5:] == [
        ("1", False), ("3", True), ("4", True), ("5", True)
    ]  # fmt: skip
    # callers had Anna and Eva: both leave it
    assert lines(tmp_path / "callers.jsonl")[2:] == [("1", True), ("3", True)]

    status = metadir(tmp_path, "status")
    assert "exports:" in status.stdout
    assert "  callers (jsonl <- staff): last run " in status.stdout
    assert "    runs after an import into its directories changed something" in status.stdout
    history = metadir(tmp_path, "history", "everyone")
    assert history.returncode == 0
    assert history.stdout.count("export:everyone") == 3
