"""``/metrics``: what Prometheus scrapes from ``metadir serve``.

Counted as it happens: LDAP operations (the LDAP factory's ``on_operation`` hook) and sync
runs (the status poller's new runs). Read at scrape time: open connections, directory sizes,
and from the poller's latest snapshot the replicators' runs, leases and nodes; a scrape never
touches the store. Each ``Metrics`` has its own registry, so tests (and two front ends in one
process) do not share counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from metadir import __version__
from metadir.directory.tree import DirectoryTree
from metadir.ldap.results import result_name
from metadir.store.store import RunRecord
from metadir.web.status import StatusPoller, StoreStatus

# a number lookup takes well under a millisecond; a big subtree search or a bind with its
# failed-bind brake takes seconds
DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


class Metrics:
    """The metrics of one ``metadir serve``: ``tree`` served, ``poller`` reading the store,
    ``connections`` counting the open LDAP connections, ``node`` this node's name."""

    def __init__(
        self,
        tree: DirectoryTree,
        poller: StatusPoller,
        connections: Callable[[], int],
        *,
        node: str,
        version: str = __version__,
    ) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "metadir_ldap_requests",
            "LDAP operations answered, by operation and RFC 4511 result name",
            ["operation", "result"],
            registry=self.registry,
        )
        self._durations = Histogram(
            "metadir_ldap_request_duration_seconds",
            "Seconds from an LDAP request's arrival to its final response",
            ["operation"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self._runs = Counter(
            "metadir_sync_runs",
            "Sync and export runs recorded in the store (by any node) since this process started",
            ["replicator", "outcome"],
            registry=self.registry,
        )
        info = Info("metadir", "This metadir serve", registry=self.registry)
        info.info({"version": version, "node": node})
        self.registry.register(_ScrapeTime(tree, poller, connections))
        # the process's CPU, memory and file descriptors, and the Python version
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        # the labelled children by (operation, result code): the hot path is one dict lookup
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        poller.add_listener(self.runs_recorded)

    def ldap_operation(self, operation: str, result: int, seconds: float) -> None:
        """One LDAP operation answered (``LDAPServerFactory(on_operation=...)``)."""
        children = self._children.get((operation, result))
        if children is None:
            children = (
                self._requests.labels(operation, result_name(result)),
                self._durations.labels(operation),
            )
            self._children[operation, result] = children
        children[0].inc()
        children[1].observe(seconds)

    def runs_recorded(self, status: StoreStatus, runs: list[RunRecord]) -> None:
        """The poller's listener: ``runs`` were recorded since its previous read."""
        for run in runs:
            self._runs.labels(run.replicator, run.outcome).inc()

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The body and content type of a scrape whose ``Accept`` header was ``accept``
        (Prometheus' text format, or OpenMetrics when asked for)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class _ScrapeTime:
    """The gauges read when scraped (a ``prometheus_client`` collector)."""

    def __init__(
        self, tree: DirectoryTree, poller: StatusPoller, connections: Callable[[], int]
    ) -> None:
        self.tree = tree
        self.poller = poller
        self.connections = connections

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "metadir_ldap_connections", "Open LDAP connections", value=self.connections()
        )
        entries = GaugeMetricFamily(
            "metadir_directory_entries", "Contacts served per directory", labels=["directory"]
        )
        for name, container in self.tree.containers.items():
            entries.add_metric([name], len(container.members))
        yield entries
        yield GaugeMetricFamily(
            "metadir_store_reachable",
            "Whether the last read of the store's status succeeded (1) or failed (0)",
            value=1 if self.poller.reachable else 0,
        )
        # the last good read, also while the store is unreachable: the last known state
        if self.poller.snapshot is not None:
            yield from _status(self.poller.snapshot)


def _status(status: StoreStatus) -> Iterator[Metric]:
    """The gauges of one read of the store's status."""
    success = GaugeMetricFamily(
        "metadir_sync_last_success_timestamp_seconds",
        "When the replicator's latest successful run finished (Unix time)",
        labels=["replicator"],
    )
    for name, finished in sorted(status.last_success.items()):
        success.add_metric([name], finished.timestamp())
    rows = GaugeMetricFamily(
        "metadir_sync_rows_read",
        "Source rows the replicator's latest run read: added, updated, unchanged and skipped",
        labels=["replicator"],
    )
    problems = GaugeMetricFamily(
        "metadir_sync_problems",
        "Source rows the replicator's latest run skipped as unreadable (its problems)",
        labels=["replicator"],
    )
    for name, run in sorted(status.last_runs.items()):
        rows.add_metric([name], run.added + run.updated + run.unchanged + run.skipped)
        problems.add_metric([name], run.skipped)
    running = GaugeMetricFamily(
        "metadir_sync_running",
        "Whether a run of the replicator holds its lease now (1) or not (0)",
        labels=["replicator"],
    )
    holders = GaugeMetricFamily(
        "metadir_lease_holder",
        "1 for the node holding the replicator's lease; no sample while none does",
        labels=["replicator", "node"],
    )
    for name in sorted(status.last_runs.keys() | status.leases.keys()):
        lease = status.leases.get(name)
        # a holder whose lease expired stopped renewing it: down, not running
        holder = lease.holder if lease is not None and not lease.expired else None
        running.add_metric([name], 0 if holder is None else 1)
        if holder is not None:
            holders.add_metric([name, holder], 1)
    seen = GaugeMetricFamily(
        "metadir_node_last_seen_timestamp_seconds",
        "When each node running metadir serve on this store last said it was there",
        labels=["node"],
    )
    for node in status.nodes:
        seen.add_metric([node.name], node.last_seen.timestamp())
    yield from (success, rows, problems, running, holders, seen)
