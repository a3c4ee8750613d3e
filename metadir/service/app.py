"""The service tree of ``metadir serve``: one parent, one child per job.

Children start in the order they were added and are told to stop in reverse: the thread
pool first up and last told, then the store follower, this node's registration, the
scheduler (its leases and worker processes), one listener per LDAP address, then the web
front end's status poller and listeners when ``http:`` is configured. The children are
given the clock, reactor and thread pool they use (a listener its endpoint on the
reactor), so a test builds the tree on ``task.Clock`` and an in-memory reactor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from twisted.application.service import MultiService, Service
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from metadir.config import Config
from metadir.directory.tree import DirectoryTree
from metadir.ldap.settings import Listener
from metadir.ldap.tls import ServerTls
from metadir.service.follower import StoreFollower
from metadir.service.ldap import ldap_factory
from metadir.service.listeners import ListenerService, listener_endpoint
from metadir.service.node import NodeService
from metadir.service.scheduler import Scheduler
from metadir.service.web import add_web
from metadir.store.store import Store

THREADPOOL = "threadpool"
FOLLOWER = "store-follower"
NODE = "node"
SCHEDULER = "scheduler"


def listener_name(listener: Listener) -> str:
    """The child service's name for a listener: ``ldap:<url>``."""
    return f"ldap:{listener.url}"


class ThreadPoolService(Service):
    """Owns a thread pool for the tree's blocking work (store reads, password hashes):
    started first; told to stop last, it joins its workers, so a store read in progress
    ends before the store is closed."""

    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> None:
        super().stopService()
        self.pool.stop()  # waits for work in progress, as the reactor's own pool does


def make_service(
    config: Config,
    tree: DirectoryTree,
    store: Store,
    seq: int,
    *,
    reactor: IReactorFromThreads,
    clock: IReactorTime,
    threadpool: ThreadPool,
    tls: ServerTls | None,
    listeners: Sequence[Listener],
    on_listen_failure: Callable[[Failure], object] | None = None,
    node: str,
    may_schedule: Callable[[], bool] = lambda: True,
    http_tls: ServerTls | None = None,
) -> MultiService:
    """The tree serving ``tree`` (loaded from ``store`` at change ``seq``) as node ``node``.

    ``reactor`` listens (``IReactorTCP``, ``IReactorSSL``), starts worker processes and
    takes results back from worker threads; ``clock`` times the store polls, the schedules
    and the connections. ``may_schedule`` says whether this node schedules (see
    ``metadir.service.node.SchedulingGate``); ``http_tls`` is the certificate of https://
    web listeners.
    """
    top = MultiService()
    pool = ThreadPoolService(threadpool)
    pool.setName(THREADPOOL)
    pool.setServiceParent(top)

    follower = StoreFollower(
        store,
        tree,
        seq,
        list(tree.containers),
        interval=config.server.refresh_interval,
        clock=clock,
        reactor=reactor,
        threadpool=threadpool,
    )
    follower.setName(FOLLOWER)
    follower.setServiceParent(top)

    registration = NodeService(
        store, node, schedules=may_schedule, clock=clock, reactor=reactor, threadpool=threadpool
    )
    registration.setName(NODE)
    registration.setServiceParent(top)

    scheduler = Scheduler(
        config,
        store,
        node=node,
        clock=clock,
        reactor=reactor,
        threadpool=threadpool,
        may_schedule=may_schedule,
    )
    scheduler.setName(SCHEDULER)
    scheduler.setServiceParent(top)

    factory = ldap_factory(config, tree, tls, clock, reactor, threadpool)
    for listener in listeners:
        endpoint = listener_endpoint(reactor, listener, tls)
        child = ListenerService(listener.url, endpoint, factory, on_listen_failure)
        name = listener_name(listener)
        if top.namedServices.get(name) is None:
            child.setName(name)
        # else: the same URL twice; the second fails to listen, as it always did
        child.setServiceParent(top)
    if config.http is not None:
        add_web(
            top, config.http, config, tree, store, ldap=factory, scheduler=scheduler,
            node=node, reactor=reactor, clock=clock, threadpool=threadpool, tls=http_tls,
            on_listen_failure=on_listen_failure,
        )  # fmt: skip
    return top
