"""File exports at scale: COUNT generated contacts synced from CSV into a SQLite store, then
the time of the first CSV and XML export, and of a re-export after 1 % of the contacts
changed (only their rows are rendered again; the whole file is still written).

    .venv/bin/python scripts/bench_export.py [--count 100000] [--percent 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# run as a script: the repository's scripts and packages
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from metadir.core.phone import Location
from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.export import ExportJob, run_export
from metadir.sync.job import Job, Numbers
from replicators.base import ExportConfig
from replicators.csv import CsvConfig
from replicators.targets.csv import CsvExportConfig
from replicators.targets.xml import XmlExportConfig
from scripts.generate_contacts import changed, contacts, read_csv, write_csv

# demo/metadir.yaml's mapping of the generated columns
MAPPING = {
    "givenName": "FirstName", "sn": "LastName", "displayName": "{FirstName} {LastName}",
    "company": "Company", "department": "Department", "title": "Title", "mail": "Email",
    "telephoneNumber": "Phone", "mobile": "Mobile", "facsimileTelephoneNumber": "Fax",
    "homePhone": "HomePhone", "street": "Street", "postalCode": "PostalCode", "l": "City",
    "c": "Country", "info": "Notes",
}  # fmt: skip
EXPORTS: list[ExportConfig] = [
    CsvExportConfig(name="csv", type="csv", path="out/contacts.csv", encoding="utf-8-sig",
                    delimiter=";", preset="estos", batch_size=2000),
    XmlExportConfig(name="xml", type="xml", path="out/contacts.xml", batch_size=2000),
    XmlExportConfig(name="yealink", type="xml", format="yealink", path="out/yealink.xml",
                    batch_size=2000),
]  # fmt: skip


def sync(store: Store, folder: Path) -> float:
    source = CsvConfig(name="crm", type="csv", path="crm.csv", key=["CustomerNo"],
                       mapping=MAPPING)  # fmt: skip
    numbers = Numbers(Location(country="DE", area_code="89", outside_line="0"), "e164", "DE")
    began = time.perf_counter()
    run = run_replicator(store, Job(source, "contacts", "ou=contacts,dc=meta", numbers, folder),
                         force=True)  # fmt: skip
    assert run.outcome == "ok", run.message
    return time.perf_counter() - began


def exports(store: Store, folder: Path, label: str) -> None:
    for export in EXPORTS:
        began = time.perf_counter()
        run = run_export(store, ExportJob(export, ("contacts",), folder))
        took = time.perf_counter() - began
        assert run.outcome == "ok", run.message
        size = (folder / export.path).stat().st_size / 1e6  # type: ignore[attr-defined]
        sent = run.added + run.updated + run.deleted
        print(f"{label:<12} {export.name:<8} {took:7.2f} s  {sent:>7} changes  {size:6.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--percent", type=float, default=1.0)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-export-"))
    (folder / "out").mkdir(parents=True, exist_ok=True)
    write_csv(folder / "crm.csv", contacts(args.count, seed=1))
    with Store.open(f"sqlite:///{folder}/metadir.db") as store:
        print(f"sync of {args.count} contacts: {sync(store, folder):.1f} s")
        exports(store, folder, "first")
        exports(store, folder, "unchanged")
        rows = read_csv(folder / "crm.csv")
        write_csv(folder / "crm.csv", changed(rows, args.percent, seed=2))
        print(f"re-sync, {args.percent:g} % changed: {sync(store, folder):.1f} s")
        exports(store, folder, f"{args.percent:g} % changed")
    print(f"files in {folder}")


if __name__ == "__main__":
    main()
