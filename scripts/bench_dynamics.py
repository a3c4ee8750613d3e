"""The Dynamics 365 / Dataverse source at scale, against the local Dataverse fake
(tests/cloud): COUNT rows, contacts (85 %) and accounts (15 %), synced into a SQLite store,
then a run after PERCENT of them changed (half renamed, a quarter deleted, a quarter added).
Prints the time, the requests each run made, the change-tracking pages they read and the
process's peak memory after each run (the fake's tables included: they are filled first).

    .venv/bin/python scripts/bench_dynamics.py [--count 50000] [--percent 1] [--page-size 5000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.job import Job, Numbers
from replicators import kinds
from tests.cloud.dynamics_service import DynamicsService, account_id, contact_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--percent", type=float, default=1.0)
    parser.add_argument("--page-size", type=int, default=5000)
    args = parser.parse_args()
    accounts = int(args.count * 0.15)
    contacts = args.count - accounts
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        service = DynamicsService(where)
        try:
            service.add_accounts(0, accounts)
            service.add_contacts(0, contacts)
            print(f"filled: peak RSS {peak_mb()} MB")
            settings = kinds()["dynamics"].settings.model_validate(
                service.settings(page_size=args.page_size), context={"base_dir": where}
            )
            with Store.open(f"sqlite:///{where}/metadir.db") as store:
                job = Job(settings, "contacts", "ou=contacts,dc=meta", Numbers(None), where)
                report(service, store, job, "first load")
                change(service, contacts, accounts, int(args.count * args.percent / 100))
                report(service, store, job, f"{args.percent:g} % changed")
        finally:
            service.stop()


def change(service: DynamicsService, contacts: int, accounts: int, changed: int) -> None:
    dataverse = service.dataverse
    for i in range(changed // 2):
        dataverse.update(dataverse.contacts, contact_id(i), lastname=f"Renamed{i}")
    for i in range(changed // 4):
        dataverse.delete(dataverse.accounts, account_id(accounts - 1 - i))
    service.add_contacts(contacts, changed - changed // 2 - changed // 4)


def report(service: DynamicsService, store: Store, job: Job, what: str) -> None:
    log = service.dataverse.log
    before = len(log)
    started = time.perf_counter()
    run = run_replicator(store, job)
    took = time.perf_counter() - started
    asked = [request for _, request in log[before:]]
    pages = sum("odata.track-changes" in r.headers.get("prefer", "") for r in asked)
    print(
        f"{what}: {took:.2f} s, {run.outcome} ({run.mode}), added {run.added}, updated "
        f"{run.updated}, deleted {run.deleted}, unchanged {run.unchanged}; {len(asked)} "
        f"Dataverse requests ({pages} change-tracking pages), {service.entra.issued} tokens "
        f"so far; peak RSS {peak_mb()} MB"
    )


def peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


if __name__ == "__main__":
    main()
