"""The Microsoft 365 source at scale, against the local Graph fake (tests/cloud): COUNT
users (80 %), organisational contacts (15 %) and mailbox contacts (5 %) synced into a
SQLite store, then a run after PERCENT of them changed (half renamed, a quarter deleted, a
quarter added). Prints the time, the requests each run made, the pages they read and the
process's peak memory after each run (the fake's tables included: they are filled first).

    .venv/bin/python scripts/bench_graph.py [--count 50000] [--percent 1] [--page-size 999]
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
from tests.cloud.service import GraphService, org_contact_id, user_id

MAILBOX = "anna0@contoso.example"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--percent", type=float, default=1.0)
    parser.add_argument("--page-size", type=int, default=999)
    args = parser.parse_args()
    users, contacts = int(args.count * 0.8), int(args.count * 0.15)
    mailbox = args.count - users - contacts
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        service = GraphService(where)
        try:
            service.add_users(0, users)
            service.add_contacts(0, contacts)
            service.add_mailbox_contacts(MAILBOX, "Contacts", "contacts", 0, mailbox)
            print(f"filled: peak RSS {peak_mb()} MB")
            settings = kinds()["graph"].settings.model_validate(
                service.settings(
                    objects=["users", "contacts", "mailbox_contacts"],
                    mailboxes=[MAILBOX],
                    page_size=args.page_size,
                ),
                context={"base_dir": where},
            )
            with Store.open(f"sqlite:///{where}/metadir.db") as store:
                job = Job(settings, "contacts", "ou=contacts,dc=meta", Numbers(None), where)
                report(service, store, job, "first load")
                change(service, users, contacts, int(args.count * args.percent / 100))
                report(service, store, job, f"{args.percent:g} % changed")
        finally:
            service.stop()


def change(service: GraphService, users: int, contacts: int, changed: int) -> None:
    graph = service.graph
    for i in range(changed // 2):
        graph.update(graph.users, user_id(i), surname=f"Renamed{i}")
    for i in range(changed // 4):
        graph.delete(graph.contacts, org_contact_id(contacts - 1 - i))
    service.add_users(users, changed - changed // 2 - changed // 4)


def report(service: GraphService, store: Store, job: Job, what: str) -> None:
    before, deltas = len(service.graph.log), len(service.graph.requests_to("/delta"))
    started = time.perf_counter()
    run = run_replicator(store, job)
    took = time.perf_counter() - started
    requests = len(service.graph.log) - before
    pages = len(service.graph.requests_to("/delta")) - deltas
    print(
        f"{what}: {took:.2f} s, {run.outcome} ({run.mode}), added {run.added}, updated "
        f"{run.updated}, deleted {run.deleted}, unchanged {run.unchanged}; {requests} Graph "
        f"requests ({pages} delta pages), {service.entra.issued} tokens so far; peak RSS "
        f"{peak_mb()} MB"
    )


def peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


if __name__ == "__main__":
    main()
