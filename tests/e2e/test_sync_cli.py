"""``metadir sync`` and ``metadir status`` as an admin runs them: a subprocess, a real config,
real CSV files, a real store."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from metadir.store.runs import RunRecord
from metadir.store.store import Store

CRM_CSV = """\
CustomerNo;FirstName;LastName;Company;Phone
1001;Anna;Meier;ACME;+49 89 1234-567
1002;Ben;Schulz;;089 7654321
1003;;;Müller GmbH;
1004;broken
1005;Eva;Roth;ACME;0171 5550100 0171 5550101
"""


def write_config(tmp_path: Path, store_url: str = "sqlite:///var/metadir.db") -> Path:
    config = {
        "store": {"url": store_url},
        "location": {"country": "DE", "area_code": "89"},
        "directories": [
            {
                "name": "contacts",
                "replicators": [
                    {
                        "name": "crm",
                        "type": "csv",
                        "path": "crm.csv",
                        "key": "CustomerNo",
                        "mapping": {
                            "givenName": "FirstName",
                            "sn": "LastName",
                            "company": "Company",
                            "telephoneNumber": "Phone",
                            "displayName": "{FirstName} {LastName} ({Company})",
                        },
                    },
                    {"name": "erp", "type": "csv", "path": "erp.csv", "key": "Id"},
                ],
            },
            {"name": "staff", "base_dn": "ou=staff,dc=meta"},
        ],
    }
    path = tmp_path / "metadir.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    (tmp_path / "crm.csv").write_text(CRM_CSV, encoding="utf-8")
    (tmp_path / "erp.csv").write_text(
        "Id,cn,mobile\nE1,Otto Lager,0171 5550102\n", encoding="utf-8"
    )
    return path


def metadir(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command, *rest = args
    return subprocess.run(
        [sys.executable, "-m", "metadir", command, "-c", str(config), *rest],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config.parent,
    )


def seconds(text: str) -> str:
    return re.sub(r"in \d+\.\d\d s", "in N s", text)


def bad_row(line: int, indent: str = "  ") -> re.Pattern[str]:
    """How a problem line for a CSV row with 2 of 5 fields is printed."""
    return re.compile(rf"{indent}line {line}: .*\b2 fields\b.*header has 5\b.*")


def test_sync_prints_a_summary_per_replicator(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    done = metadir(config, "sync")
    assert done.returncode == 0, done.stderr
    lines = seconds(done.stdout).splitlines()
    assert lines[0] == (
        "crm (csv -> contacts): ok in N s: 4 added, 0 updated, 0 deleted, 0 unchanged, "
        "1 skipped, 1 number kept as written"
    )
    assert bad_row(5).fullmatch(lines[1])
    # two numbers in one field are none: served as written, and said so
    assert lines[2] == (
        "  line 6: telephoneNumber '0171 5550100 0171 5550101' is no phone number: kept as written"
    )
    assert lines[3:] == [
        "erp (csv -> contacts): ok in N s: 1 added, 0 updated, 0 deleted, 0 unchanged, 0 skipped"
    ]
    assert (tmp_path / "var" / "metadir.db").exists()

    # --full changes nothing for a file: every read of it is whole
    again = metadir(config, "sync", "crm", "--full")
    assert again.returncode == 0, again.stderr
    assert seconds(again.stdout).splitlines()[0] == (
        "crm (csv -> contacts): ok in N s: 0 added, 0 updated, 0 deleted, 4 unchanged, "
        "1 skipped, 1 number kept as written"
    )


def test_status_shows_sizes_and_last_runs(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    before = metadir(config, "status")
    assert before.returncode == 0, before.stderr
    assert before.stdout.splitlines() == [
        "directory contacts (ou=contacts,dc=meta): 0 entries",
        "  crm (csv): never run",
        "  erp (csv): never run",
        "directory staff (ou=staff,dc=meta): 0 entries",
    ]
    assert metadir(config, "sync", "crm").returncode == 0
    status = metadir(config, "status")
    assert status.returncode == 0, status.stderr
    lines = seconds(status.stdout).splitlines()
    assert lines[0] == "directory contacts (ou=contacts,dc=meta): 4 entries"
    assert re.fullmatch(
        r"  crm \(csv\): last run \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, ok in N s: "
        r"4 added, 0 updated, 0 deleted, 0 unchanged, 1 skipped, 1 number kept as written",
        lines[1],
    )
    assert bad_row(5, indent="    ").fullmatch(lines[2])
    assert "'0171 5550100 0171 5550101' is no phone number" in lines[3]
    assert lines[4:] == [
        "  erp (csv): never run",
        "directory staff (ou=staff,dc=meta): 0 entries",
    ]


def test_unknown_replicator_name(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    done = metadir(config, "sync", "crm", "nope")
    assert done.returncode == 2
    assert "no replicator named 'nope'; known: crm, erp" in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "var").exists()


def test_delete_guard_stops_until_forced(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert metadir(config, "sync", "crm").returncode == 0
    (tmp_path / "crm.csv").write_text(CRM_CSV.split("1002")[0], encoding="utf-8")
    stopped = metadir(config, "sync", "crm")
    assert stopped.returncode == 1
    assert seconds(stopped.stdout).splitlines()[:2] == [
        "crm (csv -> contacts): stopped in N s: nothing changed",
        "  would delete 3 of 4 entries (75.0 %), more than max_delete 20 %; "
        "run with --force to apply",
    ]
    assert "4 entries" in metadir(config, "status").stdout

    forced = metadir(config, "sync", "crm", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "ok in" in forced.stdout and "3 deleted" in forced.stdout
    assert "directory contacts (ou=contacts,dc=meta): 1 entry" in metadir(config, "status").stdout


def test_empty_source_is_refused_even_when_forced(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert metadir(config, "sync", "crm").returncode == 0
    (tmp_path / "crm.csv").write_text(CRM_CSV.splitlines()[0] + "\n", encoding="utf-8")
    done = metadir(config, "sync", "--force", "crm")
    assert done.returncode == 1
    assert "  source returned no rows; refusing to delete 4 entries" in done.stdout


def test_a_failed_source_fails_the_command_but_not_the_others(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "crm.csv").unlink()
    done = metadir(config, "sync")
    assert done.returncode == 1
    lines = seconds(done.stdout).splitlines()
    assert lines[0] == "crm (csv -> contacts): failed in N s: nothing changed"
    assert lines[1].startswith("  replicator crm: ")
    assert "crm.csv: cannot read: No such file or directory" in lines[1]
    assert lines[2].startswith("erp (csv -> contacts): ok in N s: 1 added")
    status = metadir(config, "status").stdout
    assert "  crm (csv): last run" in status and ", failed in" in status


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    done = metadir(config, "sync", "--dry-run", "crm")
    assert done.returncode == 0, done.stderr
    assert seconds(done.stdout).splitlines()[0] == (
        "crm (csv -> contacts): ok in N s (dry run, nothing written): "
        "4 added, 0 updated, 0 deleted, 0 unchanged, 1 skipped, 1 number kept as written"
    )
    status = metadir(config, "status").stdout
    assert "  crm (csv): never run" in status
    assert "directory contacts (ou=contacts,dc=meta): 0 entries" in status


def test_status_shows_an_incremental_run_and_its_note(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert metadir(config, "sync", "erp").returncode == 0
    # what a source that reports its changes (AD DirSync, say) leaves in the store
    with Store.open(f"sqlite:///{tmp_path}/var/metadir.db") as store:
        now = datetime.now(UTC)
        run = RunRecord(
            "erp", "ok", now, now, updated=2, unchanged=1, mode="incremental", note="usn 4711"
        )
        store.apply(run, state={"usn": 4711})
    lines = seconds(metadir(config, "status").stdout).splitlines()
    assert lines[2].startswith("  erp (csv): last run ")
    assert lines[2].endswith(
        ", ok in N s: incremental: 0 added, 2 updated, 0 deleted, 1 unchanged, 0 skipped"
    )
    assert lines[3] == "    incremental: usn 4711"


def test_many_problems_are_cut_short(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    rows = [CRM_CSV.splitlines()[0]] + [f"{i};x" for i in range(30)] + ["1;Anna;Meier;;"]
    (tmp_path / "crm.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    done = metadir(config, "sync", "crm")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "1 added" in lines[0] and "30 skipped" in lines[0]
    assert [bool(bad_row(n).fullmatch(line)) for n, line in enumerate(lines[1:21], 2)] == [
        True
    ] * 20
    assert lines[21:] == ["  … and 10 more (see `metadir status`)"]
    status = metadir(config, "status").stdout.splitlines()
    assert [bool(bad_row(n, "    ").fullmatch(line)) for n, line in enumerate(status[2:32], 2)] == [
        True
    ] * 30


def test_an_unreachable_store_is_an_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/metadir")
    done = metadir(config, "sync")
    assert done.returncode == 1
    assert done.stderr.startswith(
        "metadir: store postgresql+psycopg://postgres@127.0.0.1:1/metadir: cannot open: "
    )
    assert "Connection refused" in done.stderr
    assert "alembic" not in done.stderr


@pytest.mark.postgres
def test_sync_and_status_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    config = write_config(tmp_path, postgres_url)
    done = metadir(config, "sync")
    assert done.returncode == 0, done.stderr
    assert "4 added" in done.stdout
    assert "directory contacts (ou=contacts,dc=meta): 5 entries" in metadir(config, "status").stdout


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        # Anna's row cannot be read, but its key can: her contact stays as it was
        ('1001;"Anna;Meier;ACME;+49 89 1234-567', "  kept as it was: line 2"),
        # nor can its key: the run deletes nothing
        (
            '"1001;Anna;Meier;ACME;+49 89 1234-567',
            "  1 deletion held back: 1 skipped row (line 2) without a readable key, so the run "
            "cannot tell which entries the source really lacks; fix them or run with --force",
        ),
    ],
)
def test_rows_that_cannot_be_read_delete_no_contact(
    tmp_path: Path, broken: str, message: str
) -> None:
    config = write_config(tmp_path)
    assert metadir(config, "sync", "crm").returncode == 0
    lines = CRM_CSV.splitlines()
    lines[1] = broken
    (tmp_path / "crm.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = metadir(config, "sync", "crm")
    assert done.returncode == 0, done.stderr
    out = seconds(done.stdout).splitlines()
    assert out[:2] == [
        "crm (csv -> contacts): ok in N s: 0 added, 0 updated, 0 deleted, 3 unchanged, "
        "2 skipped, 1 number kept as written",
        message,
    ]
    assert out[2].startswith("  line 2: unclosed quote")
    with Store.open(f"sqlite:///{tmp_path / 'var' / 'metadir.db'}") as store:
        names = {e.attributes.get("givenName", [""])[0] for e in store.snapshot()[1]}
    assert "Anna" in names


def test_update_guard_stops_a_garbled_rewrite_until_forced(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    header = CRM_CSV.splitlines()[0]
    rows = [f"{i};Jürgen;Müller;Bäckerei Köhler;" for i in range(2000, 2020)]
    text = "\n".join([header, *rows]) + "\n"
    (tmp_path / "crm.csv").write_text(text, encoding="utf-8")
    assert metadir(config, "sync", "crm").returncode == 0
    # the same file, plus one row of Windows bytes: encoding: auto takes it all for cp1252
    garbled = text.encode() + f"2999;{'Ä' * 100};Öl;;\n".encode("cp1252")
    (tmp_path / "crm.csv").write_bytes(garbled)
    for dry_run in (["--dry-run"], []):
        stopped = metadir(config, "sync", "crm", *dry_run)
        assert stopped.returncode == 1
        lines = seconds(stopped.stdout).splitlines()
        assert lines[0].startswith("crm (csv -> contacts): stopped in N s")
        assert lines[1] == (
            "  would update 20 of 20 entries (100.0 %), more than max_update 50 %; the file was "
            "read as cp1252 (guessed: encoding: auto); if the entries' text now looks garbled, "
            "set encoding: to the file's own (utf-8 or cp1252); if the change is meant (a new "
            "mapping, location or phone format), run with --force to apply"
        )
    with Store.open(f"sqlite:///{tmp_path / 'var' / 'metadir.db'}") as store:
        assert {e.attributes["givenName"][0] for e in store.snapshot()[1]} == {"Jürgen"}
    forced = metadir(config, "sync", "crm", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "1 added, 20 updated" in forced.stdout
    assert "forced: update 20 of 20 entries (100.0 %)" in forced.stdout
