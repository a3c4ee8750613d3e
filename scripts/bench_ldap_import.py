"""Import figures for an LDAP source: N generated contacts in a real slapd, synced by metadir.

    .venv/bin/python scripts/bench_ldap_import.py              # 10k and 100k
    .venv/bin/python scripts/bench_ldap_import.py --count 20000

For each count: generates the contacts (scripts/generate_contacts.py, seed 1), loads them with
slapadd into a throw-away slapd (tests/servers.py SourceSlapd, inetOrgPerson under
ou=people,dc=corp,dc=example), runs ``metadir sync`` (openldap preset, SQLite, the demo's
location DE/89/0) and reports the engine time from the run summary, the process wall time
and the sync process's peak RSS. Then changes 1 % of the entries with ldapmodify (numbers,
titles; a tenth of them added, a tenth deleted) and runs ``metadir sync`` again. The load
average is printed: other processes on the machine change the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test suite's server processes: tests/servers.py
from scripts.generate_contacts import COLUMNS, contacts  # noqa: E402
from tests.servers import SourceSlapd, run_ldap_tool  # noqa: E402

PEOPLE = "ou=people,dc=corp,dc=example"
# generator column -> inetOrgPerson attribute
ATTRIBUTES = {
    "FirstName": "givenName", "LastName": "sn", "Company": "o", "Department": "ou",
    "Title": "title", "Email": "mail", "Phone": "telephoneNumber", "Mobile": "mobile",
    "Fax": "facsimileTelephoneNumber", "HomePhone": "homePhone", "Street": "street",
    "PostalCode": "postalCode", "City": "l",
}  # fmt: skip
AT = {name: i for i, name in enumerate(COLUMNS)}


def entry_ldif(row: list[str]) -> str:
    uid = row[AT["CustomerNo"]]
    cn = " ".join(p for p in (row[AT["FirstName"]], row[AT["LastName"]]) if p) or row[AT["Company"]]
    lines = [f"dn: uid={uid},{PEOPLE}", "objectClass: inetOrgPerson", f"uid: {uid}"]
    lines += [f"cn: {cn}", f"sn: {row[AT['LastName']] or cn}"]
    # empty values are left out; no column of these holds a line break (Notes is not loaded)
    lines += [f"{a}: {row[AT[c]]}" for c, a in ATTRIBUTES.items() if a != "sn" and row[AT[c]]]
    return "\n".join(lines)


def load(server: SourceSlapd, rows: list[list[str]], work: Path) -> None:
    path = work / "data.ldif"
    with path.open("w", encoding="utf-8") as out:
        out.write("dn: dc=corp,dc=example\nobjectClass: dcObject\nobjectClass: organization\n")
        out.write(f"dc: corp\no: corp\n\ndn: {PEOPLE}\nobjectClass: organizationalUnit\n")
        out.write("ou: people\n\n")
        # as in a directory that has been in use: entries last changed a minute apart until
        # yesterday (slapadd would stamp them all with one second, and an incremental read
        # by modifyTimestamp would find every entry as new as the newest)
        yesterday = time.time() - 86_400
        for n, row in enumerate(rows):
            when = time.strftime("%Y%m%d%H%M%SZ", time.gmtime(yesterday - 60 * n))
            stamps = f"createTimestamp: {when}\nmodifyTimestamp: {when}"
            out.write(f"{entry_ldif(row)}\n{stamps}\n\n")
    server.load_file(path)


def change(server: SourceSlapd, rows: list[list[str]], work: Path, seed: int = 2) -> str:
    """1 % of the entries changed over LDAP: 80 % modified, 10 % added, 10 % deleted."""
    rng = random.Random(seed)
    total = max(10, len(rows) // 100)
    picked = rng.sample(range(len(rows)), total)
    ops = []
    modified = added = deleted = 0
    for n, i in enumerate(picked):
        uid = rows[i][AT["CustomerNo"]]
        if n % 10 == 0:
            ops.append(f"dn: uid={uid},{PEOPLE}\nchangetype: delete\n")
            deleted += 1
        elif n % 10 == 1:
            new = list(rows[i])
            new[AT["CustomerNo"]] = f"N{uid}"
            new[AT["Phone"]] = f"+49 89 {7_000_000 + n}"
            ops.append(entry_ldif(new).replace("\n", "\nchangetype: add\n", 1) + "\n")
            added += 1
        else:
            attr, value = (
                ("telephoneNumber", f"+49 (0)89 {8_000_000 + n}")
                if n % 2
                else ("title", f"{rows[i][AT['Title']] or 'Kontakt'} II")
            )
            ops.append(
                f"dn: uid={uid},{PEOPLE}\nchangetype: modify\nreplace: {attr}\n{attr}: {value}\n-\n"
            )
            modified += 1
    path = work / "changes.ldif"
    path.write_text("\n".join(ops), encoding="utf-8")
    code, _, err = run_ldap_tool(
        "ldapmodify", ["-x", "-H", server.url, "-D", server.root_dn, "-w", server.root_pw,
                       "-f", str(path)], timeout=600,
    )  # fmt: skip
    if code != 0:
        raise SystemExit(f"ldapmodify failed with {code}: {err}")
    return f"{modified} modified, {added} added, {deleted} deleted"


def sync(config: Path) -> tuple[float, str, float]:
    """Run ``metadir sync``: wall time, its output, peak RSS of the process in MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "metadir", "sync", "-c", str(config)],
        capture_output=True, text=True, check=False, cwd=config.parent,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"metadir sync failed:\n{done.stdout}\n{done.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: valid for the first, a bound after
    return wall, done.stdout.strip(), max(peak, before) / 1024


def engine_seconds(summary: str) -> str:
    found = re.search(r"\bin ([0-9.]+) ?s\b", summary)
    return f"{found.group(1)} s" if found else "?"


def bench(count: int) -> list[tuple[str, str]]:
    rows = list(contacts(count, 1))
    with tempfile.TemporaryDirectory(prefix="bench-ldap-import-") as tmp:
        work = Path(tmp)
        server = SourceSlapd(work / "slapd")
        started = time.perf_counter()
        load(server, rows, work)
        loaded = time.perf_counter() - started
        server.start()
        try:
            config = work / "metadir.yaml"
            config.write_text(yaml.safe_dump(_config(server)), encoding="utf-8")
            first_wall, first, first_rss = sync(config)
            changed = change(server, rows, work)
            second_wall, second, _ = sync(config)
        finally:
            server.stop()
    incremental = re.search(r"incremental:[^\n]*", second)
    return [
        ("slapadd of the entries", f"{loaded:.1f} s"),
        ("first sync, engine time", engine_seconds(first)),
        ("first sync, process wall time", f"{first_wall:.1f} s"),
        ("first sync, peak RSS", f"{first_rss:.0f} MB"),
        ("changed in slapd (ldapmodify)", changed),
        ("re-sync, engine time", engine_seconds(second)),
        ("re-sync, process wall time", f"{second_wall:.1f} s"),
        ("re-sync, incremental", incremental.group(0) if incremental else "no (full read)"),
        ("re-sync summary", second.splitlines()[0] if second else ""),
    ]


def _config(server: SourceSlapd) -> dict:
    return {
        "store": {"url": "sqlite:///bench.db"},
        "location": {"country": "DE", "area_code": "89", "outside_line": "0"},
        "directories": [
            {
                "name": "contacts",
                "replicators": [
                    {
                        "name": "corp",
                        "type": "ldap",
                        "flavor": "openldap",
                        "url": server.url,
                        "base_dn": PEOPLE,
                        "bind_dn": server.root_dn,
                        "password": server.root_pw,
                    }
                ],
            }
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Import figures for an LDAP source.")
    parser.add_argument("--count", type=int, action="append", help="contacts (default 10k, 100k)")
    args = parser.parse_args(argv)
    for count in args.count or [10_000, 100_000]:
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        results = bench(count)
        print(f"\n| {count:,} contacts | |\n|---|---|")
        for name, value in results:
            print(f"| {name} | {value} |")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
