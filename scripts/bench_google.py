"""The Google source at scale, against the local People API fake (tests/cloud): COUNT
people — domain profiles (70 %), shared contacts (10 %), and the contacts (15 %) and other
contacts (5 %) of two users, read through a service account with domain-wide delegation —
synced into a SQLite store, then a run after PERCENT of them changed (half renamed, a
quarter deleted, a quarter added). Prints the time, the requests each run made and the
pages they read.

    .venv/bin/python scripts/bench_google.py [--count 50000] [--percent 1] [--page-size 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.job import Job, Numbers
from replicators import kinds
from tests.cloud.google_service import GoogleService, profile_name, shared_contact_name

USERS = ("anna@example.com", "bert@example.com")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--percent", type=float, default=1.0)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    profiles, shared = int(args.count * 0.7), int(args.count * 0.1)
    contacts = int(args.count * 0.15) // len(USERS)
    others = args.count - profiles - shared - contacts * len(USERS)
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        service = GoogleService(where)
        try:
            service.add_users(*USERS)
            service.add_profiles(0, profiles)
            service.add_shared_contacts(0, shared)
            for n, user in enumerate(USERS):
                service.add_contacts(user, n * contacts, contacts)
            service.add_other_contacts(USERS[0], 0, others)
            settings = kinds()["google"].settings.model_validate(
                service.settings(
                    objects=["directory", "contacts", "other_contacts"],
                    users=list(USERS),
                    page_size=args.page_size,
                ),
                context={"base_dir": where},
            )
            with Store.open(f"sqlite:///{where}/metadir.db") as store:
                job = Job(settings, "contacts", "ou=contacts,dc=meta", Numbers(None), where)
                report(service, store, job, "first load")
                change(service, profiles, shared, int(args.count * args.percent / 100))
                report(service, store, job, f"{args.percent:g} % changed")
        finally:
            service.stop()


def change(service: GoogleService, profiles: int, shared: int, changed: int) -> None:
    people = service.people
    for i in range(changed // 2):
        people.update(people.directory, profile_name(i), names=[{"familyName": f"Renamed{i}"}])
    for i in range(changed // 4):
        people.delete(people.directory, shared_contact_name(shared - 1 - i))
    service.add_profiles(profiles, changed - changed // 2 - changed // 4)


def report(service: GoogleService, store: Store, job: Job, what: str) -> None:
    people = service.people
    before = len(people.log)
    pages = len([r for _, r in people.log if r.path != "/token"])
    tokens = len(people.requests_to("/token"))
    started = time.perf_counter()
    run = run_replicator(store, job)
    took = time.perf_counter() - started
    requests = len(people.log) - before
    pages = len([r for _, r in people.log if r.path != "/token"]) - pages
    tokens = len(people.requests_to("/token")) - tokens
    print(
        f"{what}: {took:.2f} s, {run.outcome} ({run.mode}), added {run.added}, updated "
        f"{run.updated}, deleted {run.deleted}, unchanged {run.unchanged}; {requests} "
        f"requests ({pages} People API pages, {tokens} token requests)"
    )


if __name__ == "__main__":
    main()
