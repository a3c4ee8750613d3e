"""The service tree of ``metadir serve``, in-process: the store follower on a ``task.Clock``
against a real SQLite store and a real thread pool; the tree's named children started and
stopped on an in-memory reactor; a listener that cannot listen reported, not swallowed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, RaisingMemoryReactor
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from metadir.config import Config
from metadir.directory.tree import DirectoryTree
from metadir.ldap.protocol import LDAPServerFactory
from metadir.ldap.settings import parse_listener
from metadir.service.app import FOLLOWER, NODE, SCHEDULER, THREADPOOL, make_service
from metadir.service.follower import StoreFollower
from metadir.service.listeners import ListenerService
from metadir.service.load import load_tree
from metadir.store.entries import EntryData
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from tests.reactor_threads import ThreadCalls

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
INTERVAL = 2.0
CRM = {"name": "crm", "type": "csv", "path": "crm.csv", "key": "Id", "mapping": {"sn": "Last"}}
# the tree serves what the configured replicators wrote; the source itself is not read here
CONFIG = Config.model_validate({"directories": [{"name": "contacts", "replicators": [CRM]}]})
URLS = ["ldap://127.0.0.1:7712", "ldaps://127.0.0.1:7714"]


def entry(key: str, name: str) -> EntryData:
    attributes = {"cn": [name], "displayName": [name], "sn": [name]}
    return EntryData((key,), attributes, {}, {}, digest=f"d-{name}"[:32])


def commit(store: Store, *entries: EntryData) -> int:
    """A sync run adding ``entries``, committed as ``metadir sync`` would; its sequence."""
    run = RunRecord("crm", "ok", started=T0, finished=T0, added=len(entries))
    seq, _ = store.apply(run, added=entries)
    assert seq is not None
    return seq


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path}/metadir.db") as opened:
        opened.ensure_directory("contacts", "ou=contacts,dc=meta")
        opened.ensure_replicator("crm", "csv", "contacts")
        commit(opened, entry("1", "Alice Example"))
        yield opened


@pytest.fixture
def threadpool() -> Iterator[ThreadPool]:
    pool = ThreadPool(minthreads=0, maxthreads=2, name="test")
    pool.start()
    yield pool
    pool.stop()


@pytest.fixture
def loaded(store: Store) -> tuple[int, DirectoryTree]:
    return load_tree(store, CONFIG)


def follower(
    store: Store, loaded: tuple[int, DirectoryTree], pool: ThreadPool
) -> tuple[StoreFollower, Clock, ThreadCalls]:
    seq, tree = loaded
    clock, calls = Clock(), ThreadCalls()
    service = StoreFollower(
        store, tree, seq, ["contacts"], interval=INTERVAL, clock=clock, reactor=calls,
        threadpool=pool,
    )  # fmt: skip
    return service, clock, calls


def poll(clock: Clock, calls: ThreadCalls) -> None:
    """One interval passes: the follower reads in a worker thread; its answer is applied."""
    clock.advance(INTERVAL)
    calls.run_next()


def server_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "metadir.server"]


# -- the store follower --------------------------------------------------------------------


def test_a_committed_run_becomes_visible_one_interval_later(
    store: Store, loaded: tuple[int, DirectoryTree], threadpool: ThreadPool, caplog
) -> None:
    caplog.set_level(logging.INFO)
    service, clock, calls = follower(store, loaded, threadpool)
    tree = loaded[1]
    service.startService()
    seq = commit(store, entry("2", "Bob Example"), entry("3", "Carol Example"))

    clock.advance(INTERVAL - 0.1)  # not yet: the first look is one interval after start
    assert calls.idle() and tree.size == 1
    clock.advance(0.1)
    calls.run_next()
    assert (service.seq, tree.size) == (seq, 3)
    assert server_lines(caplog) == [
        f"store change {seq} visible: 2 added, 0 updated, 0 deleted; 3 contacts served"
    ]

    poll(clock, calls)  # nothing new: nothing said
    assert len(server_lines(caplog)) == 1
    service.stopService()
    clock.advance(10 * INTERVAL)
    assert calls.idle() and not clock.getDelayedCalls()


def test_an_outage_is_logged_once_and_its_end_once(
    store: Store, loaded: tuple[int, DirectoryTree], threadpool: ThreadPool, caplog
) -> None:
    caplog.set_level(logging.INFO)
    service, clock, calls = follower(store, loaded, threadpool)
    service.startService()
    # the store answers, but not with entries: a real error from a real SQLite database
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE entries RENAME TO entries_away"))
    for _ in range(3):
        poll(clock, calls)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, server_lines(caplog)
    assert errors[0].getMessage().startswith("cannot read the store, serving the last loaded")
    assert "entries" in errors[0].getMessage()
    assert service.failing and loaded[1].size == 1

    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE entries_away RENAME TO entries"))
    seq = commit(store, entry("2", "Bob Example"))
    poll(clock, calls)
    poll(clock, calls)
    assert server_lines(caplog)[1:] == [
        "store reachable again",
        f"store change {seq} visible: 1 added, 0 updated, 0 deleted; 2 contacts served",
    ]
    service.stopService()


def test_stopping_waits_for_a_read_in_progress(
    store: Store, loaded: tuple[int, DirectoryTree], threadpool: ThreadPool
) -> None:
    service, clock, calls = follower(store, loaded, threadpool)
    service.startService()
    seq = commit(store, entry("2", "Bob Example"))
    clock.advance(INTERVAL)  # a read is on its way in a worker thread
    stopped = service.stopService()
    assert not stopped.called  # the store must not be closed under it
    calls.run_next()
    assert stopped.called and service.seq == seq
    clock.advance(10 * INTERVAL)
    assert calls.idle()


def test_a_batch_is_prepared_in_the_worker_and_swapped_in_on_the_reactor(
    store: Store, loaded: tuple[int, DirectoryTree], threadpool: ThreadPool, caplog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO)
    service, clock, calls = follower(store, loaded, threadpool)
    tree = loaded[1]
    threads: dict[str, str] = {}
    prepare, apply_prepared = tree.prepare, tree.apply_prepared

    def prepare_in(changes: Any) -> Any:
        threads["prepare"] = threading.current_thread().name
        return prepare(changes)

    def apply_in(batch: Any) -> Any:
        threads["apply"] = threading.current_thread().name
        return apply_prepared(batch)

    monkeypatch.setattr(tree, "prepare", prepare_in)
    monkeypatch.setattr(tree, "apply_prepared", apply_in)
    service.startService()
    seq = commit(store, entry("2", "Bob Example"))
    clock.advance(INTERVAL)
    calls.run_next()
    assert threads == {"prepare": threads["prepare"], "apply": threading.current_thread().name}
    assert threads["prepare"] != threads["apply"]
    assert (service.seq, tree.size) == (seq, 2)

    # a batch that cannot be prepared: the follower stops, says so, and the tree is as it was
    def broken(changes: Any) -> Any:
        raise ValueError("no such attribute")

    monkeypatch.setattr(tree, "prepare", broken)
    commit(store, entry("3", "Carol Example"))
    poll(clock, calls)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith(f"stopped following the store at change {seq}")
    assert "no such attribute" in errors[0]
    assert (service.seq, tree.size) == (seq, 2)
    service.stopService()


# -- the tree ------------------------------------------------------------------------------


class ListeningReactor(MemoryReactorClock):
    """Records listens; what worker threads hand back (the node's sign-in) is dropped."""

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        pass


def build(
    store: Store, loaded: tuple[int, DirectoryTree], reactor: Any, failed: list[Failure]
) -> Any:
    seq, tree = loaded
    return make_service(
        CONFIG, tree, store, seq,
        reactor=reactor, clock=Clock(), threadpool=ThreadPool(0, 1, name="tree"),
        tls=None, listeners=[parse_listener(url) for url in URLS],
        on_listen_failure=failed.append, node="node-a", may_schedule=lambda: False,
    )  # fmt: skip


def test_the_tree_has_one_named_child_per_job(store: Store, loaded, caplog) -> None:
    caplog.set_level(logging.INFO)
    reactor = ListeningReactor()
    failed: list[Failure] = []
    top = build(store, loaded, reactor, failed)
    names = [child.name for child in top]
    assert names == [THREADPOOL, FOLLOWER, NODE, SCHEDULER, *(f"ldap:{url}" for url in URLS)]
    pool = top.getServiceNamed(THREADPOOL).pool
    ldap, ldaps = (top.getServiceNamed(f"ldap:{url}") for url in URLS)
    assert ldap.factory is ldaps.factory and isinstance(ldap.factory, LDAPServerFactory)

    top.startService()
    assert pool.started and all(child.running for child in top)
    assert [(port, host) for port, _factory, _backlog, host in reactor.tcpServers] == [
        (7712, "127.0.0.1")
    ]
    assert [(s[0], s[4]) for s in reactor.sslServers] == [(7714, "127.0.0.1")]
    assert reactor.tcpServers[0][1] is ldap.factory
    listening = [f"listening on {url}" for url in URLS]
    assert server_lines(caplog) == ["scheduler: no replicator or export has a schedule", *listening]
    assert not failed

    top.stopService()
    assert not pool.started and pool.joined
    assert not any(child.running for child in top)
    assert ldap.port is None and ldaps.port is None


def test_a_listener_that_cannot_listen_is_reported(store: Store, loaded, caplog) -> None:
    reason = CannotListenError("127.0.0.1", 7712, OSError(98, "Address already in use"))
    failed: list[Failure] = []
    top = build(store, loaded, RaisingMemoryReactor(listenException=reason), failed)
    top.startService()
    assert [f.value for f in failed] == [reason, reason]
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert lines[0].startswith(f"cannot listen on {URLS[0]}: Couldn't listen on 127.0.0.1:7712")
    assert "Address already in use" in lines[0]
    top.stopService()


def test_a_port_that_arrives_after_stopping_is_closed() -> None:
    """An endpoint may answer later than ``listen`` returns (TCP ones answer at once)."""

    class Later:
        def __init__(self) -> None:
            self.listening: Deferred[Any] = Deferred()

        def listen(self, factory: object) -> Deferred[Any]:
            return self.listening

    class Port:
        stopped = False

        def stopListening(self) -> None:
            self.stopped = True

    later, port, failed = Later(), Port(), []
    service = ListenerService("ldap://127.0.0.1:7712", later, Factory(), failed.append)
    service.startService()
    service.stopService()
    later.listening.callback(port)
    assert port.stopped and service.port is None and not failed
