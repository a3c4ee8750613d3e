"""Caller lookup by number: server time per search on N generated contacts (default 100k).

Generates contacts (scripts/generate_contacts.py), syncs them with the real sync engine into
a temporary SQLite store, loads the server's directory tree as `metadir serve` does, then
times number lookups the way phones send them, two ways:

- index: the directory tree's search alone (filter -> matching entries);
- server: a whole request through the LDAP connection protocol, in process (BER request
  bytes in, encoded result entries and SearchResultDone out): decode, search, encode —
  everything the server does per lookup but the network.

    .venv/bin/python scripts/bench_lookup.py [--count 100000] [--rounds 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import yaml
from ldaptor.protocols import pureldap
from twisted.internet import defer, task
from twisted.internet.testing import StringTransport

from metadir.config import load_config
from metadir.directory.backend import DirectoryBackend
from metadir.directory.tree import DirectoryTree, Scope
from metadir.ldap.decode import parse_filter
from metadir.ldap.protocol import LDAPServerFactory
from metadir.service.load import load_tree
from metadir.store.store import Store
from metadir.sync.engine import run_replicator

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from ldaptor.ldapfilter import parseFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.generate_contacts import contacts, write_csv  # noqa: E402

# how phones and PBXs ask (see README, "Phone numbers"); {n} is the number as E.164 digits
FILTERS = {
    "equality, E.164": "(telephoneNumber=+{n})",
    "equality, national 0…": "(telephoneNumber={national})",
    "equality, 00 international": "(telephoneNumber=00{n})",
    "Yealink (|tel|mobile|ipPhone)": "(|(telephoneNumber={national})(mobile={national})"
    "(ipPhone={national}))",
    "suffix *last 7 digits": "(telephoneNumber=*{last7})",
    "estos (searchNumber=…)": "(|(searchNumber={national}))",
    "innovaphone (metaSearchNumber=+…)": "(metaSearchNumber=+{n})",
    "unknown number (fallback pass too)": "(telephoneNumber=+4930999{last4}0)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2000, help="lookups per filter")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tree, numbers = load(Path(tmp), args.count)
        print(f"{args.count} contacts loaded; {args.rounds} lookups per filter, random numbers")
        print(f"{'filter':38} {'index p50':>10} {'p99':>9} {'server p50':>11} {'p99':>9}")
        factory = LDAPServerFactory(
            DirectoryBackend(tree), [], True, 0, clock=task.Clock(), in_thread=defer.maybeDeferred
        )
        connection = factory.buildProtocol(None)
        transport = StringTransport()
        connection.makeConnection(transport)
        rng = random.Random(7)
        for label, template in FILTERS.items():
            chosen = [rng.choice(numbers) for _ in range(args.rounds)]
            parsed = [parseFilter(template.format(**forms(n))) for n in chosen]
            filters = [parse_filter(template.format(**forms(n))) for n in chosen]
            requests = [request_bytes(p) for p in parsed]
            index = timings(filters, lambda flt: tree.search(tree.root, Scope.SUB, flt, None))

            def serve(data: bytes) -> None:
                transport.clear()
                connection.dataReceived(data)

            server = timings(requests, serve)
            print(
                f"{label:38} {ms(index, 50):>10} {ms(index, 99):>9} "
                f"{ms(server, 50):>11} {ms(server, 99):>9}"
            )


def load(tmp: Path, count: int) -> tuple[DirectoryTree, list[str]]:
    csv = tmp / "contacts.csv"
    write_csv(csv, contacts(count, seed=1))
    demo = yaml.safe_load((ROOT / "demo/metadir.yaml").read_text(encoding="utf-8"))
    demo["store"]["url"] = f"sqlite:///{tmp / 'bench.db'}"
    demo["directories"][0]["replicators"][0]["path"] = str(csv)
    path = tmp / "metadir.yaml"
    path.write_text(yaml.safe_dump(demo), encoding="utf-8")
    config = load_config(path)
    directory = config.directories[0]
    with Store.open(config.store_url()) as store:
        run = run_replicator(store, config.job(directory, directory.replicators[0]))
        assert run.outcome == "ok", run
        _seq, tree = load_tree(store, config)
    numbers = [
        held
        for entry in tree.index.entries.values()
        for held in entry.match_values("telephoneNumber")
        if held.startswith("+49")
    ]
    return tree, [n[1:] for n in numbers]


def forms(digits: str) -> dict[str, str]:
    return {"n": digits, "national": "0" + digits[2:], "last7": digits[-7:], "last4": digits[-4:]}


def request_bytes(filter: object) -> bytes:
    op = pureldap.LDAPSearchRequest(
        baseObject="dc=meta",
        filter=filter,
        sizeLimit=10,
        attributes=["cn", "telephoneNumber", "mobile", "company"],
    )
    return pureldap.LDAPMessage(op, id=2).toWire()


def timings(items: list, run: Callable[[object], None]) -> list[float]:
    out = []
    for item in items:
        start = time.perf_counter()
        run(item)
        out.append(time.perf_counter() - start)
    return out


def ms(samples: list[float], percentile: int) -> str:
    value = statistics.quantiles(samples, n=100)[percentile - 1]
    return f"{value * 1000:.3f} ms"


if __name__ == "__main__":
    main()
