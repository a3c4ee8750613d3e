"""Export figures for the LDAP export: N generated contacts written into a real slapd (and,
with ``--samba N``, into a Samba AD DC), first whole, then again after 1 % changed.

    .venv/bin/python scripts/bench_export_ldap.py                 # 100k into slapd
    .venv/bin/python scripts/bench_export_ldap.py --count 10000 --samba 5000

For each target: generates the contacts (scripts/generate_contacts.py, seed 1), syncs them
from CSV into a SQLite store (not timed), runs the export (flavor openldap: inetOrgPerson
below an OU of an empty slapd over ldap://; flavor ad: contacts over LDAPS) and reports its
time and entries per second; then changes 1 % of the rows (generate_contacts.changed), syncs
and exports again; then runs once more with nothing changed (the cost of finding the
export's entries). Beside it, the same entries added to the same slapd by OpenLDAP's
ldapadd, as a ratio. The load average is printed: other processes change the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test suite's server processes
from metadir.config import Config, load_config  # noqa: E402
from metadir.store.store import Store  # noqa: E402
from metadir.sync.engine import run_replicator  # noqa: E402
from metadir.sync.export import run_export  # noqa: E402
from scripts.generate_contacts import changed, contacts, write_csv  # noqa: E402
from tests import samba  # noqa: E402
from tests.servers import SourceSlapd  # noqa: E402

MAPPING = {
    "givenName": "FirstName", "sn": "LastName", "company": "Company",
    "department": "Department", "title": "Title", "mail": "Email", "telephoneNumber": "Phone",
    "mobile": "Mobile", "facsimileTelephoneNumber": "Fax", "homePhone": "HomePhone",
    "street": "Street", "postalCode": "PostalCode", "l": "City",
}  # fmt: skip


def configure(work: Path, export: dict[str, Any]) -> Config:
    crm = {"name": "crm", "type": "csv", "path": "contacts.csv", "key": "CustomerNo",
           "mapping": MAPPING, "max_delete": "100%", "max_update": "100%"}  # fmt: skip
    config = {
        "store": {"url": "sqlite:///metadir.db"},
        "location": {"country": "DE", "area_code": "89", "outside_line": "0"},
        "directories": [{"name": "contacts", "replicators": [crm]}],
        "exports": [{"name": "bench", "type": "ldap", "batch_size": 1000, **export}],
    }
    path = work / "metadir.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def rounds(config: Config, rows: list[list[str]], work: Path) -> Iterator[tuple[str, int, float]]:
    """(what, entries sent, seconds) of the first export, the 1 % one and an idle one."""
    for what, data in (("first", rows), ("1 % changed", changed(rows, 1, 2)), ("idle", None)):
        with Store.open(config.store_url()) as store:
            if data is not None:
                write_csv(work / "contacts.csv", data)
                directory = config.directories[0]
                synced = run_replicator(store, config.job(directory, directory.replicators[0]))
                assert synced.outcome == "ok", synced.message
            began = time.perf_counter()
            done = run_export(store, config.export_job(config.exports[0]))
            seconds = time.perf_counter() - began
        assert done.outcome == "ok", done.message
        yield what, done.added + done.updated + done.deleted, seconds


def report(target: str, results: Iterator[tuple[str, int, float]]) -> float:
    """Prints each round; the seconds of the first."""
    first = 0.0
    for what, sent, seconds in results:
        first = first or seconds
        rate = f"{sent / seconds:,.0f} entries/s" if sent else "-"
        print(f"{target:>8} {what:>12}: {sent:>7,} sent in {seconds:7.2f} s  {rate}", flush=True)
    return first


def ldapadd_baseline(server: SourceSlapd, first: float, work: Path) -> None:
    """The same entries added by OpenLDAP's own ldapadd into a second slapd set up as the
    first: how fast this server takes them from a C client, one add after the other."""
    dump = subprocess.run(
        ["ldapsearch", "-LLL", "-o", "ldif-wrap=no", *auth(server), "-b",
         f"ou=phones,{server.suffix}", "-s", "one", "-E", "pr=1000/noprompt"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ldif = work / "copy.ldif"
    ldif.write_text(dump, encoding="utf-8")
    count = dump.count("\ndn") + dump.startswith("dn")
    with empty_slapd(work / "copy") as copy:
        began = time.perf_counter()
        subprocess.run(["ldapadd", *auth(copy), "-f", str(ldif)], capture_output=True, check=True)
        seconds = time.perf_counter() - began
    print(
        f"{'slapd':>8} {'ldapadd':>12}: {count:>7,} added in {seconds:7.2f} s  "
        f"{count / seconds:,.0f} entries/s; metadir's first export takes "
        f"{first / seconds:.2f} x ldapadd's time",
        flush=True,
    )


def auth(server: SourceSlapd) -> list[str]:
    return ["-x", "-H", server.url, "-D", server.root_dn, "-w", server.root_pw]


@contextmanager
def empty_slapd(workdir: Path) -> Iterator[SourceSlapd]:
    """A slapd with the suffix and an empty ou=phones."""
    server = SourceSlapd(workdir)
    server.load(
        "dn: dc=corp,dc=example\nobjectClass: dcObject\nobjectClass: organization\ndc: corp\n"
        "o: corp\n\ndn: ou=phones,dc=corp,dc=example\nobjectClass: organizationalUnit\n"
        "ou: phones\n"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def bench_slapd(count: int, work: Path) -> None:
    with empty_slapd(work / "server") as server:
        export = {
            "flavor": "openldap", "url": server.url, "bind_dn": server.root_dn,
            "password": server.root_pw, "base_dn": f"ou=phones,{server.suffix}",
        }  # fmt: skip
        rows = list(contacts(count, 1))
        first = report("slapd", rounds(configure(work, export), rows, work))
        ldapadd_baseline(server, first, work)


def bench_samba(count: int, work: Path) -> None:
    with samba.running_dc(work / "dc") as dc:
        ou = samba.add_ou(dc, "phones")
        export = {"flavor": "ad", "url": dc.url(ldaps=True), "tls": {"ca_file": str(dc.ca_file)},
                  "bind_dn": dc.admin, "password": dc.password, "base_dn": ou}  # fmt: skip
        rows = list(contacts(count, 1))
        report("samba", rounds(configure(work, export), rows, work))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="contacts into slapd")
    parser.add_argument("--samba", type=int, default=0, help="contacts into Samba AD (0: none)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        for count, bench, name in (
            (args.count, bench_slapd, "slapd"),
            (args.samba, bench_samba, "samba"),
        ):
            if count:
                work = Path(tmp) / name
                work.mkdir()
                bench(count, work)


if __name__ == "__main__":
    main()
