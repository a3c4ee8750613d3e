"""The Exchange on-premises source (EWS) at scale, against the local EWS fake
(tests/cloud): COUNT contacts in a mailbox's Contacts folder (90 %) and a "Shared numbers"
folder (10 %) synced into a SQLite store, then a run after PERCENT of them changed (half
renamed, a quarter deleted, a quarter added). Prints the time, the HTTP requests each run
made (NTLM handshakes included), the SyncFolderItems pages they read and the process's peak
memory after each run (the fake's tables included: they are filled first).

    .venv/bin/python scripts/bench_ews.py [--count 50000] [--percent 1] [--page-size 512]
        [--auth basic|ntlm]
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
from tests.cloud.ews_service import MAILBOX, EwsService, contact, item_id

SHARED = "Shared numbers"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--percent", type=float, default=1.0)
    parser.add_argument("--page-size", type=int, default=512)
    parser.add_argument("--auth", choices=["basic", "ntlm"], default="ntlm")
    args = parser.parse_args()
    main_folder = int(args.count * 0.9)
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        service = EwsService(where, args.auth)
        try:
            service.add(0, main_folder)
            service.add(main_folder, args.count - main_folder, folder=SHARED)
            print(f"filled: peak RSS {peak_mb()} MB")
            settings = kinds()["ews"].settings.model_validate(
                service.settings(
                    mailboxes=[{"mailbox": MAILBOX, "folders": ["Contacts", SHARED]}],
                    page_size=args.page_size,
                ),
                context={"base_dir": where},
            )
            with Store.open(f"sqlite:///{where}/metadir.db") as store:
                job = Job(settings, "contacts", "ou=contacts,dc=meta", Numbers(None), where)
                report(service, store, job, "first load")
                change(service, main_folder, args.count, int(args.count * args.percent / 100))
                report(service, store, job, f"{args.percent:g} % changed")
        finally:
            service.stop()


def change(service: EwsService, main_folder: int, count: int, changed: int) -> None:
    ews, contacts = service.ews, service.contacts()
    for i in range(changed // 2):
        ews.update(contacts, item_id(i), Surname=f"Renamed{i}")
    shared = service.contacts(folder=SHARED)
    for i in range(changed // 4):
        ews.delete(shared, item_id(count - 1 - i))
    for i in range(changed - changed // 2 - changed // 4):
        ews.put(contacts, contact(count + i))


def report(service: EwsService, store: Store, job: Job, what: str) -> None:
    before, pages = len(service.ews.log), len(service.ews.requests_of("SyncFolderItems"))
    started = time.perf_counter()
    run = run_replicator(store, job)
    took = time.perf_counter() - started
    soap = len(service.ews.log) - before
    pages = len(service.ews.requests_of("SyncFolderItems")) - pages
    print(
        f"{what}: {took:.2f} s, {run.outcome} ({run.mode}), added {run.added}, updated "
        f"{run.updated}, deleted {run.deleted}, unchanged {run.unchanged}; {soap} SOAP "
        f"requests ({pages} SyncFolderItems pages), {service.ews.ntlm_logins} NTLM sign-ins "
        f"so far; peak RSS {peak_mb()} MB"
    )


def peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


if __name__ == "__main__":
    main()
