"""Import figures for a SQL source: contacts in a real PostgreSQL table, synced by metadir.

    .venv/bin/python scripts/bench_sql.py                 # 100k synced, 1M read
    .venv/bin/python scripts/bench_sql.py --count 20000 --stream 200000

Makes a throw-away database on the test server (``METADIR_TEST_POSTGRES``, default
postgres@127.0.0.1:5432) and fills a table with ``--count`` contacts (generate_series:
names, company, two numbers, mail, city, updated_at a minute apart until yesterday, an index
on (updated_at, id)). Runs ``metadir sync`` (SQLite store, ``changed_column: updated_at``)
and reports the engine time from the run summary, the process wall time and its peak RSS.
Then changes 1 % of the rows (new number, updated_at now) and runs ``metadir sync`` again:
an incremental read. Last, the replicator alone reads ``--stream`` rows of a query over
generate_series in this process, sampling RSS every tenth of the way: memory stays flat
because rows are streamed by a server-side cursor. The load average is printed: other
processes on the machine change the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import secrets
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import yaml
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from replicators.base import Context  # noqa: E402
from replicators.sql.config import SqlConfig  # noqa: E402
from scripts.bench_ldap_import import sync  # noqa: E402

ADMIN_URL = os.environ.get("METADIR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
COLUMNS = """
    id::text AS id, 'Vorname' || id AS first_name, 'Nachname' || id AS last_name,
    'Firma ' || (id % 5000) AS company, '+49 89 ' || (1000000 + id) AS phone,
    '0171 ' || (2000000 + id) AS mobile, 'p' || id || '@example.com' AS email,
    'München' AS city
"""
MAPPING = {
    "givenName": "first_name", "sn": "last_name", "company": "company",
    "telephoneNumber": "phone", "mobile": "mobile", "mail": "email", "l": "city",
}  # fmt: skip


def fill(dbname: str, count: int) -> float:
    """The contacts table with ``count`` rows; seconds it took."""
    started = time.perf_counter()
    with psycopg.connect(ADMIN_URL, dbname=dbname, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE contacts AS SELECT {COLUMNS}, "
            "now() - interval '1 day' - id * interval '1 minute' AS updated_at "
            f"FROM generate_series(1, {count}) AS id"
        )
        conn.execute("ALTER TABLE contacts ADD PRIMARY KEY (id)")
        conn.execute("CREATE INDEX ON contacts (updated_at, id)")
        conn.execute("ANALYZE contacts")
    return time.perf_counter() - started


def change(dbname: str, count: int) -> int:
    """1 % of the rows get a new number and updated_at now; how many."""
    with psycopg.connect(ADMIN_URL, dbname=dbname, autocommit=True) as conn:
        done = conn.execute(
            "UPDATE contacts SET phone = '+49 89 9' || id, updated_at = now() "
            "WHERE id::int % 100 = 7"
        )
        return done.rowcount


def engine_seconds(summary: str) -> str:
    found = re.search(r"\bin ([0-9.]+) ?s\b", summary)
    return f"{found.group(1)} s" if found else "?"


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def stream(url: str, rows: int) -> list[tuple[str, str]]:
    """The replicator reads ``rows`` rows of a query; RSS sampled along the way."""
    query = f"SELECT {COLUMNS} FROM generate_series(1, {rows}) AS id"
    config = SqlConfig.model_validate(
        {"name": "stream", "type": "sql", "url": url, "query": query, "key": "id",
         "mapping": MAPPING}
    )  # fmt: skip
    samples: list[str] = []
    step = max(1, rows // 10)
    before = rss_mb()
    started = time.perf_counter()
    seen = 0
    for _ in config.build(Context(Path("."))).read(None):
        seen += 1
        if seen % step == 0:
            samples.append(f"{rss_mb():.0f}")
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [
        (f"read {seen:,} rows (query, no store)", f"{elapsed:.1f} s, {seen / elapsed:,.0f} rows/s"),
        ("RSS before the read", f"{before:.0f} MB"),
        ("RSS every tenth of the read (MB)", " ".join(samples)),
        ("peak RSS of this process", f"{peak:.0f} MB"),
    ]


def bench(count: int, streamed: int) -> list[tuple[str, str]]:
    dbname = f"metadir_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
    url = make_url(ADMIN_URL).set(drivername="postgresql+psycopg", database=dbname)
    source = url.render_as_string(hide_password=False)
    try:
        loaded = fill(dbname, count)
        with tempfile.TemporaryDirectory(prefix="bench-sql-") as tmp:
            config = Path(tmp) / "metadir.yaml"
            config.write_text(yaml.safe_dump(_config(source)), encoding="utf-8")
            first_wall, first, first_rss = sync(config)
            changed = change(dbname, count)
            second_wall, second, _ = sync(config)
        streaming = stream(source, streamed)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    return [
        ("table filled (generate_series)", f"{loaded:.1f} s"),
        ("first sync, engine time", engine_seconds(first)),
        ("first sync, process wall time", f"{first_wall:.1f} s"),
        ("first sync, peak RSS", f"{first_rss:.0f} MB"),
        ("changed in PostgreSQL", f"{changed} rows"),
        ("re-sync, engine time", engine_seconds(second)),
        ("re-sync, process wall time", f"{second_wall:.1f} s"),
        ("re-sync summary", second.splitlines()[0] if second else ""),
        *streaming,
    ]


def _config(url: str) -> dict:
    replicator = {"name": "crm", "type": "sql", "url": url, "table": "contacts", "key": "id",
                  "changed_column": "updated_at", "mapping": MAPPING}  # fmt: skip
    return {
        "store": {"url": "sqlite:///bench.db"},
        "location": {"country": "DE", "area_code": "89", "outside_line": "0"},
        "directories": [{"name": "contacts", "replicators": [replicator]}],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Import figures for a SQL source.")
    parser.add_argument("--count", type=int, default=100_000, help="rows synced (100k)")
    parser.add_argument("--stream", type=int, default=1_000_000, help="rows only read (1M)")
    args = parser.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = bench(args.count, args.stream)
    print(f"\n| {args.count:,} contacts from PostgreSQL | |\n|---|---|")
    for name, value in results:
        print(f"| {name} | {value} |")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
