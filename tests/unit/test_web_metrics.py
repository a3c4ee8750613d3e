"""``/metrics``: what a scrape holds after LDAP operations and reads of the store, parsed with
prometheus_client's own parser; and the LDAP connection's ``on_operation`` hook."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from ldaptor.protocols import pureber, pureldap
from pydantic import SecretStr
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.python.threadpool import ThreadPool

from metadir.config import DirectoryConfig
from metadir.directory.tree import DirectoryTree
from metadir.ldap.passwords import hash_password
from metadir.ldap.results import INVALID_CREDENTIALS, NAMES, result_name
from metadir.ldap.settings import Account
from metadir.store.store import Store
from metadir.web.metrics import Metrics
from metadir.web.status import StatusPoller
from tests.reactor_threads import ThreadCalls
from tests.unit.test_ldap_protocol import Client, make_factory, search
from tests.unit.test_web_status import T0, run, store

__all__ = ["store"]  # the fixture, for pytest

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(metrics: Metrics, accept: str | None = None) -> Samples:
    from prometheus_client.parser import text_string_to_metric_families

    body, content_type = metrics.render(accept)
    assert content_type.startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def tree() -> DirectoryTree:
    reps = [{"name": "crm", "type": "csv", "path": "x.csv", "key": "k"}]
    return DirectoryTree(
        [DirectoryConfig.model_validate({"name": n, "replicators": reps}) for n in ("a", "b")]
    )


def test_ldap_operations_are_counted_and_timed(store: Store, pool: ThreadPool) -> None:
    poller = StatusPoller(store, clock=Clock(), reactor=ThreadCalls(), threadpool=pool)
    metrics = Metrics(tree(), poller, lambda: 7, node="node-a", version="9.9")
    for seconds in (0.0002, 0.0003, 0.004):
        metrics.ldap_operation("search", 0, seconds)
    metrics.ldap_operation("search", 4, 0.2)
    metrics.ldap_operation("bind", 49, 1.5)
    samples = scrape(metrics)
    requests = "metadir_ldap_requests_total"
    assert value(samples, requests, operation="search", result="success") == 3
    assert value(samples, requests, operation="search", result="sizeLimitExceeded") == 1
    assert value(samples, requests, operation="bind", result="invalidCredentials") == 1
    bucket = "metadir_ldap_request_duration_seconds_bucket"
    assert value(samples, bucket, operation="search", le="0.0005") == 2
    assert value(samples, bucket, operation="search", le="0.005") == 3
    assert value(samples, bucket, operation="search", le="+Inf") == 4
    assert value(samples, bucket, operation="bind", le="1.0") == 0
    assert value(samples, "metadir_ldap_request_duration_seconds_count", operation="bind") == 1
    assert value(samples, "metadir_ldap_connections") == 7
    assert value(samples, "metadir_directory_entries", directory="a") == 0
    assert value(samples, "metadir_info", version="9.9", node="node-a") == 1
    # never read: unreachable, and nothing from the store
    assert value(samples, "metadir_store_reachable") == 0
    assert not any(name.startswith("metadir_sync_") for name, _ in samples)
    # OpenMetrics when asked for
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_the_store_status_as_scraped(store: Store, pool: ThreadPool) -> None:
    store.record_run(run("crm", 0, added=5, unchanged=90, skipped=3))
    store.record_run(run("crm", 10, "failed", message="source gone"))
    store.record_run(run("hr", 10, added=1, updated=2, unchanged=3, skipped=4))
    store.acquire_lease("hr", "node-b", 30, "manual")
    store.register_node("node-b", "0.1.0", "host-b", 42, T0, True)
    clock, calls = Clock(), ThreadCalls()
    poller = StatusPoller(store, clock=clock, reactor=calls, threadpool=pool, interval=2)
    metrics = Metrics(tree(), poller, lambda: 0, node="node-a")
    poller.startService()
    calls.run_next()  # the first read: the runs above were before this process
    store.record_run(run("crm", 20))
    store.record_run(run("crm", 21, "failed"))
    store.record_run(run("hr", 22, "stopped"))
    clock.advance(2)
    calls.run_next()
    samples = scrape(metrics)
    poller.stopService()

    assert value(samples, "metadir_store_reachable") == 1
    success = "metadir_sync_last_success_timestamp_seconds"
    assert value(samples, success, replicator="crm") == (T0 + timedelta(minutes=20)).timestamp()
    assert value(samples, success, replicator="hr") == (T0 + timedelta(minutes=10)).timestamp()
    # the latest run: crm's failed one read nothing, hr's stopped one nothing
    assert value(samples, "metadir_sync_rows_read", replicator="crm") == 0
    assert value(samples, "metadir_sync_problems", replicator="hr") == 0
    assert value(samples, "metadir_sync_running", replicator="hr") == 1
    assert value(samples, "metadir_sync_running", replicator="crm") == 0
    assert value(samples, "metadir_lease_holder", replicator="hr", node="node-b") == 1
    assert not any(
        name == "metadir_lease_holder" and ("replicator", "crm") in labels
        for name, labels in samples
    )
    seen = value(samples, "metadir_node_last_seen_timestamp_seconds", node="node-b")
    assert seen is not None and seen > T0.timestamp()
    runs = "metadir_sync_runs_total"
    assert value(samples, runs, replicator="crm", outcome="ok") == 1
    assert value(samples, runs, replicator="crm", outcome="failed") == 1
    assert value(samples, runs, replicator="hr", outcome="stopped") == 1
    assert value(samples, runs, replicator="hr", outcome="ok") is None


def test_rows_read_and_problems_of_the_last_run(store: Store, pool: ThreadPool) -> None:
    store.record_run(run("hr", 10, added=1, updated=2, unchanged=3, skipped=4))
    clock, calls = Clock(), ThreadCalls()
    poller = StatusPoller(store, clock=clock, reactor=calls, threadpool=pool)
    metrics = Metrics(tree(), poller, lambda: 0, node="node-a")
    poller.startService()
    calls.run_next()
    poller.stopService()
    samples = scrape(metrics)
    assert value(samples, "metadir_sync_rows_read", replicator="hr") == 10
    assert value(samples, "metadir_sync_problems", replicator="hr") == 4
    # the last known state is kept while the store cannot be read
    poller.reachable = False
    samples = scrape(metrics)
    assert value(samples, "metadir_store_reachable") == 0
    assert value(samples, "metadir_sync_rows_read", replicator="hr") == 10


def test_result_names_are_rfc_4511s() -> None:
    assert result_name(0) == "success" and result_name(32) == "noSuchObject"
    assert result_name(INVALID_CREDENTIALS) == "invalidCredentials" and result_name(999) == "999"
    assert len(set(NAMES.values())) == len(NAMES)


# -- the LDAP connection's hook --------------------------------------------------------------


def test_every_answered_operation_reaches_on_operation_without_the_access_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "metadir.access")
    heard: list[tuple[str, int, float]] = []
    clock = Clock()
    account = Account(dn="cn=pbx,dc=meta", password=SecretStr(hash_password("s3cret")))
    factory = make_factory(
        accounts=[account], clock=clock, in_thread=defer.maybeDeferred,
        on_operation=lambda *args: heard.append(args),
    )  # fmt: skip
    assert not factory.log_operations
    client = Client(factory)
    *_, done = client.send(search("ou=contacts,dc=meta", scope=1), mid=1)
    assert done.value.resultCode == 0
    client.send(pureldap.LDAPBindRequest(dn="cn=pbx,dc=meta", auth="wrong"), mid=2)
    clock.advance(0)  # a first failed bind is answered on the next turn
    ava = pureldap.LDAPAttributeValueAssertion(
        pureber.BEROctetString("sn"), pureber.BEROctetString("Name2")
    )
    client.send(
        pureldap.LDAPCompareRequest(entry="entryUUID=u2,ou=contacts,dc=meta", ava=ava), mid=3
    )
    client.send(pureldap.LDAPDelRequest(entry="cn=x,dc=meta"), mid=4)
    client.send(pureldap.LDAPExtendedRequest(requestName="1.3.6.1.4.1.4203.1.11.3"), mid=5)
    client.send(pureldap.LDAPAbandonRequest(id=1), mid=6)  # no answer: not counted
    assert [(name, code) for name, code, _ in heard] == [
        ("search", 0), ("bind", 49), ("compare", 6), ("delete", 53), ("extended", 0),
    ]  # fmt: skip
    assert all(seconds > 0 for _, _, seconds in heard)
    assert not [r for r in caplog.records if r.name == "metadir.access"]
    client.send(pureldap.LDAPUnbindRequest(), mid=7)
    assert len(heard) == 5


def test_the_access_log_and_on_operation_together(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "metadir.access")
    heard: list[tuple[str, int, float]] = []
    factory = make_factory(log_operations=True, on_operation=lambda *args: heard.append(args))
    client = Client(factory)
    client.send(search("ou=contacts,dc=meta", "(sn=Name1)", scope=1), mid=1)
    [line] = [r.getMessage() for r in caplog.records if r.name == "metadir.access"]
    assert 'op=SEARCH base="ou=contacts,dc=meta" scope=one filter="(sn=Name1)"' in line
    assert "result=0 entries=1" in line
    assert [(name, code) for name, code, _ in heard] == [("search", 0)]


def test_a_failing_hook_costs_no_answer(caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("broken hook")

    client = Client(make_factory(on_operation=broken))
    responses = client.send(search("ou=contacts,dc=meta", scope=1), mid=1)
    assert len(responses) == 6 and responses[-1].value.resultCode == 0
    assert not client.transport.disconnecting
    assert "on_operation failed for search" in caplog.text


def test_the_factory_feeds_the_metrics(store: Store, pool: ThreadPool) -> None:
    poller = StatusPoller(store, clock=Clock(), reactor=ThreadCalls(), threadpool=pool)
    factory = make_factory()
    metrics = Metrics(tree(), poller, lambda: factory.connections, node="node-a")
    factory.on_operation = metrics.ldap_operation
    client = Client(factory)
    client.send(search("ou=nowhere,dc=meta", scope=1), mid=1)
    samples = scrape(metrics)
    requests = "metadir_ldap_requests_total"
    assert value(samples, requests, operation="search", result="noSuchObject") == 1
    assert value(samples, "metadir_ldap_connections") == 1
    client.protocol.connectionLost()
    assert value(scrape(metrics), "metadir_ldap_connections") == 0
