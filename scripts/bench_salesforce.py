"""The Salesforce source at scale, against the local Salesforce fake (tests/cloud): COUNT
records, contacts (80 %), leads (15 %) and accounts (5 %), synced into a SQLite store, then
a run after PERCENT of them changed (half renamed, a quarter deleted: half into the recycle
bin, half for good; a quarter added). Prints the time, the requests each run made (logins,
queries and their further pages, delete-log reads) and the org's API usage.

    .venv/bin/python scripts/bench_salesforce.py [--count 50000] [--percent 1] [--page-size 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.job import Job, Numbers
from replicators import kinds
from tests.cloud.salesforce_service import SalesforceService, contact_id, lead_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--percent", type=float, default=1.0)
    parser.add_argument("--page-size", type=int, default=2000)
    args = parser.parse_args()
    contacts, leads = int(args.count * 0.8), int(args.count * 0.15)
    accounts = args.count - contacts - leads
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        service = SalesforceService(where)
        try:
            # saved an hour ago: the first run's overlap does not reach them
            before = datetime.now(UTC) - timedelta(hours=1)
            service.add_accounts(0, accounts, before)
            service.add_contacts(0, contacts, before)
            service.add_leads(0, leads, before)
            settings = kinds()["salesforce"].settings.model_validate(
                service.settings(objects=["contacts", "leads", "accounts"],
                                 page_size=args.page_size),
                context={"base_dir": where},
            )  # fmt: skip
            with Store.open(f"sqlite:///{where}/metadir.db") as store:
                job = Job(settings, "contacts", "ou=contacts,dc=meta", Numbers(None), where)
                report(service, store, job, "first load")
                change(service, contacts, leads, int(args.count * args.percent / 100))
                report(service, store, job, f"{args.percent:g} % changed")
        finally:
            service.stop()


def change(service: SalesforceService, contacts: int, leads: int, changed: int) -> None:
    fake = service.fake
    for i in range(changed // 2):
        fake.update("Contact", contact_id(i), LastName=f"Renamed{i}")
    deleted = changed // 4
    # the delete log tells a minute once it has passed: these were deleted before
    logged = datetime.now(UTC) - timedelta(minutes=2)
    for i in range(deleted):
        fake.delete("Lead", lead_id(leads - 1 - i), hard=i % 2 == 1, logged=logged)
    service.add_contacts(contacts, changed - changed // 2 - deleted)


def report(service: SalesforceService, store: Store, job: Job, what: str) -> None:
    fake = service.fake
    log, issued = len(fake.log), fake.issued
    started = time.perf_counter()
    run = run_replicator(store, job)
    took = time.perf_counter() - started
    asked = [request for _, request in fake.log[log:]]
    # the engine checks the source first: one record of each kind (LIMIT 1)
    queries = [r.query["q"] for r in asked if r.path.endswith("/queryAll")]
    checks = sum(q.endswith(" LIMIT 1") for q in queries)
    pages = sum("/query/" in r.path for r in asked)
    deleted = sum(r.path.endswith("/deleted/") for r in asked)
    print(
        f"{what}: {took:.2f} s, {run.outcome} ({run.mode}), added {run.added}, updated "
        f"{run.updated}, deleted {run.deleted}, unchanged {run.unchanged}; {len(asked)} "
        f"requests: {fake.issued - issued} login, {checks} checks, {len(queries) - checks} "
        f"queries (+{pages} further pages), {deleted} delete-log reads; api-usage "
        f"{fake.used}/{fake.limit}"
    )


if __name__ == "__main__":
    main()
