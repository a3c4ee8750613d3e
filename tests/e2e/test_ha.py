"""High availability on one PostgreSQL store, with real ``metadir serve`` processes: three
nodes run a replicator scheduled every 2 s, each slot exactly once and never two at a time;
a node killed with SIGKILL in the middle of a run has its run taken over once its lease
expires, while LDAP clients on the other nodes see the old directory or the new one, never a
mix; a node frozen (SIGSTOP) past its lease wakes up to find its commit refused."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import ldap3
import pytest
from ldap3.core.exceptions import LDAPException

from metadir.store.leases import LeaseState
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from tests import servers
from tests.servers import MetadirServer

pytestmark = pytest.mark.postgres

LEASE = 10  # seconds; the default is 30
OLD = "Id,First,Last,Phone,Dept\na,Anna,Alpha,+49 89 1111,old\nb,Ben,Beta,+49 89 2222,old\n"


def new_csv(rows: int) -> str:
    """The old two contacts with new numbers, and ``rows`` more."""
    lines = [
        "Id,First,Last,Phone,Dept",
        "a,Anna,Alpha,+49 89 3333,new",
        "b,Ben,Beta,+49 89 4444,new",
    ]
    lines += (f"{i},First{i},Last{i},+49 30 {i:07d},new" for i in range(rows))
    return "\n".join(lines) + "\n"


def node_config(name: str, store_url: str, csv: Path, schedule: dict[str, Any]) -> dict[str, Any]:
    mapping = {"givenName": "First", "sn": "Last", "telephoneNumber": "Phone",
               "department": "Dept"}  # fmt: skip
    rep = {"name": "crm", "type": "csv", "path": str(csv), "key": "Id", "mapping": mapping,
           "schedule": schedule, "max_update": "100%"}  # fmt: skip
    return {
        "node": name,
        "store": {"url": store_url},
        "scheduler": {"lease": f"{LEASE}s"},
        "server": {"refresh_interval": 0.2},
        "directories": [{"name": "contacts", "replicators": [rep]}],
    }


@pytest.fixture
def cluster(tmp_path: Path, postgres_url: str) -> Iterator[Any]:
    """``start(names, schedule)``: nodes of one store, started one after the other."""
    started: list[MetadirServer] = []
    csv = tmp_path / "crm.csv"

    def start(names: list[str], schedule: dict[str, Any]) -> list[MetadirServer]:
        for name in names:
            (tmp_path / name).mkdir()
            node = MetadirServer(tmp_path / name, node_config(name, postgres_url, csv, schedule))
            node.start()
            started.append(node)
        return started

    yield start, csv, postgres_url
    for node in started:
        node.stop()


def runs(url: str) -> list[RunRecord]:
    with Store.open(url) as store:
        return sorted(store.history("crm", limit=10_000), key=lambda run: run.id or 0)


def lease(url: str) -> LeaseState:
    with Store.open(url) as store:
        return next(item for item in store.leases() if item.replicator == "crm")


# the schedule of the three-node test, and how soon after a run ends another may start:
# schedulers look once a second, and the lease is given back once the worker has exited
PERIOD, LOOK = timedelta(seconds=2), timedelta(seconds=1.5)


def wait_for(what: str, check: Any, timeout: float = 120) -> Any:
    return servers.wait_for(what, check, timeout, step=0.1)


def test_three_nodes_run_every_slot_exactly_once(cluster) -> None:
    start, csv, url = cluster
    csv.write_text(OLD)
    nodes = start(["node-a", "node-b", "node-c"], {"every": "2s"})
    time.sleep(60)
    for node in nodes:
        node.stop()
    scheduled = [run for run in runs(url) if run.trigger == "schedule"]
    # a run under way when its node stopped is stopped with it, its slot left to the others
    failed = [(run.node, run.slot, run.message) for run in scheduled if run.outcome != "ok"
              and "metadir serve asked the run to stop" not in run.message
              and run.message != "worker stopped: metadir serve shut down"]  # fmt: skip
    assert not failed
    # each slot's run, a stopped one where no other node ran it
    by_slot = sorted({run.slot: run for run in scheduled}.values(), key=lambda run: run.slot)
    scheduled = [run for run in scheduled if run.outcome == "ok"]
    slots = [run.slot for run in scheduled]
    assert len(slots) == len(set(slots)), "a slot ran twice"
    assert None not in slots
    for before, after in itertools.pairwise(scheduled):
        assert after.started >= before.finished, "two runs overlapped"
    # from the first slot run to the last, every one, 2 s apart, but for slots that passed
    # while the run before them was still under way (a loaded machine): a node that looks
    # after that run gave its lease back runs the latest slot only, a catch-up by design
    for before, after in itertools.pairwise(by_slot):
        skipped = int((after.slot - before.slot) / PERIOD) - 1
        assert after.slot - before.slot == (skipped + 1) * PERIOD
        for n in range(1, skipped + 1):
            slot = before.slot + n * PERIOD
            assert slot + PERIOD <= before.finished + LOOK, (
                f"slot {slot:%H:%M:%S} skipped, though the run before it ended at "
                f"{before.finished:%H:%M:%S.%f}"
            )
    first, last = by_slot[0].slot, by_slot[-1].slot
    # every slot is accounted for above; how many ran depends on how loaded the machine is
    # (30 in the minute on a quiet one, each catch-up one fewer)
    assert len(slots) >= 10, f"only {len(slots)} slots ran from {first} to {last}"
    print(f"\n{len(slots)} slots in {(last - first).total_seconds():.0f} s, run by",
          {node: sum(run.node == node for run in scheduled) for node in ("node-a", "node-b",
                                                                          "node-c")})  # fmt: skip


class Watcher(threading.Thread):
    """Searches a node over and over for the two old contacts and two new ones: each answer
    must be the old directory or the new one."""

    # as served: numbers without a location configured come out as written, spaces dropped
    OLD = frozenset({("Alpha", "+49891111"), ("Beta", "+49892222")})
    NEW = frozenset({("Alpha", "+49893333"), ("Beta", "+49894444"), ("Last0", "+49300000000"),
                     ("Last99999", "+49300099999")})  # fmt: skip

    def __init__(self, node: MetadirServer) -> None:
        super().__init__(daemon=True)
        self.node = node
        self.seen: list[frozenset[tuple[str, str]]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            self._watch()
        except LDAPException:
            if not self.stop.is_set():  # the node was killed under a watcher told to stop
                raise

    def _watch(self) -> None:
        with ldap3.Connection(self.node.url, auto_bind=True) as conn:
            while not self.stop.is_set():
                conn.search("ou=contacts,dc=meta", "(|(sn=Alpha)(sn=Beta)(sn=Last0)(sn=Last99999))",
                            attributes=["sn", "telephoneNumber"])  # fmt: skip
                if conn.result["result"] != 0:  # no answer on the directory's content
                    self.errors.append(f"{conn.result['description']}: {conn.result['message']}")
                    continue
                found = frozenset((str(e.sn), str(e.telephoneNumber)) for e in conn.entries)
                self.seen.append(found)
                time.sleep(0.05)

    def answers(self) -> set[str]:
        kinds = {"old" if s == self.OLD else "new" if s == self.NEW else repr(s) for s in self.seen}
        return kinds


def reading(url: str) -> LeaseState | None:
    """The lease while its holder reads the source (it renews with progress)."""
    try:
        state = lease(url)
    except StopIteration:  # no node has asked for it yet
        return None
    # the holder renews, with its phase, when the phase changes: read, then diff, then write
    return state if state.holder and state.phase == "read" else None


def write(path: Path, text: str) -> None:
    """Replace the file at once, as an export job that renames its output does."""
    part = path.with_suffix(".part")
    part.write_text(text)
    part.rename(path)


def slow_run(
    cluster: Any, names: list[str]
) -> tuple[dict[str, MetadirServer], dict[str, Watcher], LeaseState]:
    """Nodes serving the old directory, each watched by a client; then a new source of 100k
    rows, which the next slot (every 20 s) reads. Returns the nodes, their watchers and the
    lease as the run reads."""
    start, csv, url = cluster
    write(csv, OLD)
    nodes = {node.config_path.parent.name: node for node in start(names, {"every": "20s"})}
    wait_for("the old directory", lambda: any(run.outcome == "ok" for run in runs(url)))
    watchers = {name: Watcher(node) for name, node in nodes.items()}
    for watcher in watchers.values():
        watcher.start()
        wait_for("the old directory served", lambda w=watcher: "old" in w.answers())
    write(csv, new_csv(100_000))
    return nodes, watchers, wait_for("a node reading", lambda: reading(url))


def settled(watchers: list[Watcher]) -> None:
    """Every watcher saw the new directory in the end, and nothing but old or new."""
    for watcher in watchers:
        wait_for("the new directory", lambda w=watcher: w.seen and w.seen[-1] == Watcher.NEW)
        watcher.stop.set()
        watcher.join()
        assert watcher.answers() == {"old", "new"}, (watcher.answers(), watcher.errors[:3])


def test_a_node_killed_mid_run_has_its_run_taken_over(cluster) -> None:
    _start, _csv, url = cluster
    nodes, watchers, held = slow_run(cluster, ["node-a", "node-b", "node-c"])
    victim = nodes[held.holder]
    assert victim.process is not None
    watchers.pop(held.holder).stop.set()
    os.killpg(victim.process.pid, signal.SIGKILL)  # the node and its worker, as a host dies
    killed = time.time()
    taken = wait_for("the takeover", lambda: (state := lease(url)).token > held.token and state)
    takeover = taken.acquired_at.timestamp() - killed
    assert taken.holder != held.holder and taken.slot == held.slot
    assert LEASE - 4 < takeover < LEASE + 5
    done = wait_for("the run taken over", lambda: [
        run for run in runs(url) if run.slot == held.slot and run.outcome == "ok"])  # fmt: skip
    assert [run.node for run in done] == [taken.holder]
    assert not [run for run in runs(url) if run.node == held.holder and run.slot == held.slot]
    settled(list(watchers.values()))
    taker = nodes[taken.holder]
    assert "scheduler: starting crm (schedule for" in taker.stderr
    assert f"(taken over from {held.holder})" in taker.stderr
    print(f"\ntakeover {takeover:.1f} s after kill -9 (lease {LEASE} s)")


def test_a_node_frozen_past_its_lease_cannot_commit(cluster) -> None:
    _start, _csv, url = cluster
    nodes, watchers, held = slow_run(cluster, ["node-a", "node-b"])
    frozen = nodes[held.holder]
    assert frozen.process is not None
    os.killpg(frozen.process.pid, signal.SIGSTOP)  # a VM freeze: the node and its worker
    try:
        done = wait_for("the run taken over", lambda: [
            run for run in runs(url) if run.slot == held.slot and run.outcome == "ok"])  # fmt: skip
        assert done[0].node != held.holder
    finally:
        os.killpg(frozen.process.pid, signal.SIGCONT)
    refused = wait_for("the refused run", lambda: [
        run for run in runs(url) if run.node == held.holder and run.slot == held.slot])  # fmt: skip
    assert refused[0].outcome == "failed" and f"lease {held.token}" in refused[0].message
    settled(list(watchers.values()))
    print(f"\nrefused: {refused[0].message}")
