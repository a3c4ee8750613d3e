"""Taking in a sync batch (issue 12): the time ``DirectoryTree.prepare`` takes (the store
follower's thread) and ``apply_prepared`` (the one reactor turn) for a batch of changed
entries on a loaded tree; best of 3, each a new batch. Without ``prepare`` (the code before
issue 12) it times ``apply``, which was all of it in the reactor turn.

    .venv/bin/python scripts/bench_apply.py [--count 100000] [--changed 10000] [--warm] [--adds]

``--warm``: with what a serving tree has built by then (sorted views of cn, sn, company; the
searchContact word index); ``--adds``: the batch adds new entries instead of updating.
"""

from __future__ import annotations

import argparse
import gc
import time
import uuid
from datetime import UTC, datetime, timedelta

from metadir.config import Config
from metadir.core.records import StoredEntry
from metadir.directory.attributes import attribute_type
from metadir.directory.tree import DirectoryTree
from metadir.directory.words import words_of

START = datetime(2026, 12, 1, tzinfo=UTC)


def entry(i: int, version: str, when: datetime) -> StoredEntry:
    attrs = {
        "cn": [f"First{i} Last{i}"], "givenName": [f"First{i}"], "sn": [f"Last{i}"],
        "telephoneNumber": [f"+4989{i:07d}"], "mobile": [f"+49171{i:07d}"],
        "mail": [f"first{i}.last{i}@example.com"], "company": [f"Company {i % 500} {version}"],
        "department": [f"Dept {i % 40}"], "l": ["München"], "postalCode": ["80331"],
    }  # fmt: skip
    numbers = {"telephoneNumber": [f"+4989{i:07d}"], "mobile": [f"+49171{i:07d}"]}
    key = (str(i),)
    return StoredEntry(
        i, str(uuid.UUID(int=i)), "contacts", "crm", key, attrs, START, when, False, numbers
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--warm", action="store_true")
    parser.add_argument("--adds", action="store_true")
    args = parser.parse_args()
    config = Config.model_validate(
        {"directories": [{"name": "contacts", "replicators": [
            {"name": "crm", "type": "csv", "path": "x.csv", "key": "Id"}]}]}
    )  # fmt: skip
    tree = DirectoryTree(config.directories, config.location)
    tree.apply(entry(i, "a", START) for i in range(1, args.count + 1))
    if args.warm:
        for name in ("cn", "sn", "company"):
            held = tree.index.attribute(name)
            assert held is not None
            held.sorted_values()
            held.reversed_values()
        attr = attribute_type("searchContact")
        assert attr is not None
        tree.index.words(attr.name, frozenset(attr.virtual), words_of)
    step = max(1, args.count // args.changed)
    best: dict[str, float] = {}
    for n, version in enumerate("bcd", start=1):
        if args.adds:
            first = args.count + n * args.changed
            batch = [entry(i, version, START) for i in range(first, first + args.changed)]
        else:
            when = START + timedelta(minutes=n)
            batch = [entry(i, version, when) for i in range(n, args.count + 1, step)]
        gc.collect()
        times = {}
        if hasattr(tree, "prepare"):
            t0 = time.perf_counter()
            prepared = tree.prepare(batch)
            t1 = time.perf_counter()
            counts = tree.apply_prepared(prepared)
            times = {
                "prepare (thread)": t1 - t0,
                "apply_prepared (reactor)": time.perf_counter() - t1,
            }
        else:
            t0 = time.perf_counter()
            counts = tree.apply(batch)
            times = {"apply (reactor)": time.perf_counter() - t0}
        for name, took in times.items():
            best[name] = min(best.get(name, took), took)
        print(f"run {n}: {counts} " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in times.items()))
    print("best of 3: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in best.items()))


if __name__ == "__main__":
    main()
