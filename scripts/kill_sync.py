"""Kill ``metadir sync`` at random moments: the store and the server hold all-old or all-new.

    .venv/bin/python scripts/kill_sync.py [--store sqlite|postgres] [--trials 20]
        [--count 2000] [--change-percent 40] [--seed 1]

Two replicators (``crm`` into directory ``contacts``, ``erp`` into ``partners``) each read a
CSV that exists in two versions, A and B, written by scripts/generate_contacts.py (B: A with
CHANGE_PERCENT % of the rows changed; under 50 %, the sync's max_update guard). Before the
trials A and B are each synced once in full; the store's digests per replicator after each
are the references, and that full sync's time bounds the kill moments. Each replicator's run
is a transaction of its own, so a kill may leave ``crm`` new and ``erp`` old: that is whole.
``metadir serve`` runs on the same store all along.

Each trial swaps the other version into place (an atomic rename: the source never changes
under a reader), starts ``metadir sync`` as a real process, kills it with SIGKILL after a
random delay (seeded) and checks:

- every replicator's live contacts are exactly its A set or its B set (by source key and
  digest), never a mix;
- the change sequence is consistent: every sequence number on an entry belongs to a recorded
  run, none is above the counter, the counter never goes back and moves on whenever a
  replicator's contacts changed;
- the server, asked over LDAP until it shows the store's state, shows on every answer some
  whole version of each directory, and in the end exactly what the store holds (entryUUID,
  title, department, street, telephoneNumber);
- the next sync completes (exit 0) and leaves each replicator on the new version; it waits
  (``--wait``) for the lease the killed one left to run out (``scheduler.lease``: 5 s).

PostgreSQL: a throw-away database on 127.0.0.1:5432 (user postgres, trust auth), dropped at
the end. Exit 0 when every trial passed.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/servers.py, scripts/generate_contacts.py

from metadir.store.store import Store  # noqa: E402
from scripts.generate_contacts import changed, contacts, write_csv  # noqa: E402
from tests.servers import MetadirServer, parse_ldif, run_ldapsearch  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
REPLICATORS = {"crm": "contacts", "erp": "partners"}  # replicator -> its directory
SEEDS = {"crm": 1, "erp": 2}
COMPARED = ("title", "department", "street", "telephoneNumber")  # what B changes
CATCH_UP = 20.0  # seconds the server may take to show a committed sync
SYNC_TIMEOUT = 300

State = dict[str, str]  # source key -> digest: one replicator's live contacts
Served = dict[str, tuple]  # entryUUID -> the COMPARED values


class TrialFailed(AssertionError):
    """A check failed; the message starts with "mixed:" when a directory was half old."""


@dataclass
class Report:
    store: str
    trials: int = 0
    mixed: int = 0  # a replicator neither all-A nor all-B, in the store or as served
    failures: list[str] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)  # how each kill ended
    sync_seconds: float = 0.0  # the second reference sync: B to A, what a trial does

    def summary(self) -> str:
        ends = ", ".join(f"{n} {what}" for what, n in sorted(self.outcomes.items()))
        return (
            f"{self.store}: {self.trials} trials, {self.mixed} mixed outcomes, "
            f"{len(self.failures)} failed checks ({ends}; unkilled sync {self.sync_seconds:.2f} s)"
        )


@contextmanager
def postgres_database() -> Iterator[str]:
    """A store URL for a new, empty PostgreSQL database, dropped afterwards."""
    import psycopg

    name = f"metadir_kill_{secrets.token_hex(6)}"
    admin = dict(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True)
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG}/{name}"
    finally:
        with psycopg.connect(**admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def config(store_url: str) -> dict:
    """demo/metadir.yaml's mapping for both replicators, the server following quickly."""
    demo = yaml.safe_load((ROOT / "demo/metadir.yaml").read_text(encoding="utf-8"))
    (replicator,) = demo["directories"][0]["replicators"]
    return {
        "store": {"url": store_url},
        "location": demo["location"],
        # refresh often: a trial waits for the server to show each committed sync
        "server": {"size_limit": 0, "access_log": False, "refresh_interval": 0.1},
        # a killed sync keeps its replicator's lease until it runs out: the next sync waits
        # for it (--wait), as little as the lease allows
        "scheduler": {"lease": "5s"},
        "directories": [
            {
                "name": directory,
                "replicators": [{**replicator, "name": name, "path": f"{name}.csv"}],
            }
            for name, directory in REPLICATORS.items()
        ],
    }


class Trials:
    """The two versions of both sources, the store, the server, and the checks."""

    def __init__(self, workdir: Path, store_url: str, count: int, percent: float) -> None:
        self.workdir = workdir
        self.store_url = store_url
        for name, seed in SEEDS.items():
            a = list(contacts(count, seed=seed))
            write_csv(workdir / f"{name}.A.csv", a)
            write_csv(workdir / f"{name}.B.csv", changed(a, percent, seed=seed + 100))
        self.server = MetadirServer(workdir, config(store_url))
        self.refs: dict[str, dict[str, State]] = {}  # version -> replicator -> state
        self.version = "A"  # what the store holds for every replicator between trials
        self.seq = 0
        self.sync_seconds = 0.0
        self.shown: dict[str, Served] = {}  # directory -> what the server showed last

    def start(self, serve: bool = True) -> None:
        """Sync B, then A, in full (the references), and start the server on A."""
        for version in ("B", "A"):
            self.use(version)
            began = time.monotonic()
            self.server.sync()
            self.sync_seconds = time.monotonic() - began  # the last one: B to A
            self.refs[version] = {name: self.state(name) for name in REPLICATORS}
        for name in REPLICATORS:
            if self.refs["A"][name] == self.refs["B"][name]:
                raise TrialFailed(f"{name}: versions A and B do not differ")
        self.seq = self.counter()
        if serve:
            self.server.start()
            self.expect_served("A")

    def stop(self) -> None:
        if self.server.process is not None:
            self.server.stop()

    def use(self, version: str) -> None:
        """Put ``version`` of every source in place, atomically."""
        for name in REPLICATORS:
            staged = self.workdir / f"{name}.staged"
            staged.write_bytes((self.workdir / f"{name}.{version}.csv").read_bytes())
            os.replace(staged, self.workdir / f"{name}.csv")

    # -- what the store holds -----------------------------------------------------------

    def state(self, name: str) -> State:
        with Store.open(self.store_url) as store:
            digests = store.digests(name)
        return {repr(key): d.digest for key, d in digests.items() if not d.deleted}

    def versions(self) -> dict[str, str]:
        """Replicator -> "A" or "B"; raises TrialFailed on a mix."""
        found = {}
        for name in REPLICATORS:
            state = self.state(name)
            match = [v for v in ("A", "B") if self.refs[v][name] == state]
            if not match:
                raise TrialFailed(
                    f"mixed: {name} holds neither all-A nor all-B ({mixed(state, self.refs, name)})"
                )
            found[name] = match[0]
        return found

    def counter(self) -> int:
        engine = create_engine(self.store_url)
        try:
            with engine.connect() as conn:
                counter = conn.execute(text("SELECT value FROM change_counter")).scalar_one()
                on_entries = set(
                    conn.execute(text("SELECT DISTINCT change_seq FROM entries")).scalars()
                )
                runs = list(
                    conn.execute(
                        text("SELECT change_seq FROM sync_runs WHERE change_seq IS NOT NULL")
                    ).scalars()
                )
        finally:
            engine.dispose()
        if not on_entries <= set(runs):
            raise TrialFailed(f"entries carry sequence numbers of no run: {on_entries - set(runs)}")
        if len(runs) != len(set(runs)):
            raise TrialFailed(f"two runs share a sequence number: {sorted(runs)}")
        if runs and max(runs) != counter:
            raise TrialFailed(f"the counter is {counter}, the last run wrote {max(runs)}")
        return counter

    # -- what the server shows ----------------------------------------------------------

    def served(self, directory: str) -> Served:
        code, out, err = run_ldapsearch(
            ["-x", "-LLL", "-o", "ldif-wrap=no", "-H", self.server.url, "-b",
             f"ou={directory},dc=meta", "(entryUUID=*)", "entryUUID", *COMPARED]
        )  # fmt: skip
        if code != 0:
            raise TrialFailed(f"ldapsearch on {directory} failed with {code}: {err}")
        return {
            attrs["entryUUID"][0]: values(attrs)
            for dn, attrs in parse_ldif(out)
            if dn.lower().startswith("entryuuid=")  # not the directory's own entry
        }

    def stored_served(self) -> dict[str, Served]:
        """Directory -> what the server should show of the store's live entries."""
        with Store.open(self.store_url) as store:
            _seq, stored = store.snapshot()
        by_dir: dict[str, Served] = {d: {} for d in REPLICATORS.values()}
        for entry in stored:
            by_dir[entry.directory][entry.uuid] = values(entry.attributes)
        return by_dir

    def expect_served(self, version: str, previous: dict[str, Served] | None = None) -> None:
        """Ask the server until it shows the store; every answer must be a whole version
        (the store's now, or what it showed before)."""
        want = self.stored_served()
        deadline = time.monotonic() + CATCH_UP
        while True:
            seen = {d: self.served(d) for d in want}
            if seen == want:
                self.shown = seen
                return
            for d, got in seen.items():
                if got != want[d] and (previous is None or got != previous[d]):
                    raise TrialFailed(f"mixed: the server shows a mix in {d} ({version})")
            if time.monotonic() > deadline:
                raise TrialFailed(f"the server did not show the store within {CATCH_UP:g} s")

    # -- one trial ------------------------------------------------------------------------

    def trial(self, rng: random.Random) -> str:
        """Sync towards the other version, kill it at a random moment, check; returns how the
        kill ended."""
        target = "B" if self.version == "A" else "A"
        self.use(target)
        # the first part of a run is Python starting and importing, before any store access
        # (a kill there is the trivial case); up to the whole run's time, so that most kills
        # land in flight, on a busy machine too (a sync that ends first still counts)
        delay = rng.uniform(0.3 * self.sync_seconds, self.sync_seconds)
        sync = subprocess.Popen(
            self.server.argv("sync"),
            cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            sync.wait(delay)
            ended = f"exited {sync.returncode} before the kill"
        except subprocess.TimeoutExpired:
            sync.kill()
            sync.wait()
            ended = "killed"
        found = self.versions()
        seq = self.counter()
        if seq < self.seq:
            raise TrialFailed(f"the change sequence went back from {self.seq} to {seq}")
        moved = [n for n, v in found.items() if v != self.version]
        if moved and seq == self.seq:
            raise TrialFailed(f"{moved} changed without a new sequence number")
        self.seq = seq
        self.expect_served(target, self.shown)

        done = subprocess.run(
            self.server.argv("sync", "--wait"),
            cwd=self.workdir, capture_output=True, text=True, timeout=SYNC_TIMEOUT, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise TrialFailed(
                f"the sync after the kill failed ({done.returncode}): {done.stdout}{done.stderr}"
            )
        if set(self.versions().values()) != {target}:
            raise TrialFailed(f"the sync after the kill did not reach version {target}")
        self.seq = self.counter()
        self.expect_served(target, self.shown)
        self.version = target
        stage = ", ".join(f"{n} {'new' if v == target else 'old'}" for n, v in found.items())
        return f"{ended}: {stage}" if ended == "killed" else ended


def values(attrs: dict[str, list[str]]) -> tuple:
    return tuple(tuple(sorted(attrs.get(a, ()))) for a in COMPARED)


def mixed(state: State, refs: dict[str, dict[str, State]], name: str) -> str:
    a, b = refs["A"][name], refs["B"][name]
    as_a = sum(1 for k, d in state.items() if a.get(k) == d)
    as_b = sum(1 for k, d in state.items() if b.get(k) == d)
    return f"{len(state)} contacts, {as_a} as in A, {as_b} as in B"


def run(store_url: str, label: str, trials: int, count: int, percent: float, seed: int) -> Report:
    """``trials`` kills of a sync on the store at ``store_url`` (empty)."""
    report = Report(label)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="metadir-kill-") as tmp:
        runner = Trials(Path(tmp), store_url, count, percent)
        try:
            runner.start()
            report.sync_seconds = runner.sync_seconds
            for _ in range(trials):
                report.trials += 1
                try:
                    report.outcomes[runner.trial(rng)] += 1
                except TrialFailed as failure:
                    report.mixed += str(failure).startswith("mixed")
                    report.failures.append(str(failure))
                    break  # the store is no longer in a known state
        finally:
            runner.stop()
            log = runner.server.stderr
        if "Traceback" in log:
            report.failures.append(f"traceback in the server log:\n{log}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--count", type=int, default=2000, help="contacts per replicator")
    parser.add_argument("--change-percent", type=float, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    failed = False
    for kind in stores:
        began = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            if kind == "sqlite":
                report = run(f"sqlite:///{tmp}/metadir.db", kind, args.trials, args.count,
                             args.change_percent, args.seed)  # fmt: skip
            else:
                with postgres_database() as url:
                    report = run(url, kind, args.trials, args.count, args.change_percent, args.seed)
        print(f"{report.summary()} in {time.monotonic() - began:.0f} s", flush=True)
        for failure in report.failures:
            print(f"  FAILED: {failure}", flush=True)
        failed |= bool(report.failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
