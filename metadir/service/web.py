"""The web front end's part of the service tree: the status poller and one listener per
``http.listen`` address, over the same tree, thread pool and clock as the LDAP server.

Built here, from the config, so that ``metadir.web`` knows no config file: it gets its
settings, the replicators and exports as the status page lists them, and Run now as a
callable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from twisted.application.service import MultiService
from twisted.internet import threads
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from metadir.config import Config
from metadir.directory.tree import DirectoryTree
from metadir.ldap.protocol import LDAPServerFactory
from metadir.ldap.tls import ServerTls
from metadir.service.exports import lease_name
from metadir.service.listeners import ListenerService, tcp_endpoint
from metadir.service.scheduler import Scheduler
from metadir.store.store import Store
from metadir.web.accounts import WebAccounts
from metadir.web.context import ExportInfo, ReplicatorInfo, Web
from metadir.web.metrics import Metrics
from metadir.web.sessions import Sessions
from metadir.web.settings import HttpConfig
from metadir.web.site import web_site
from metadir.web.status import StatusPoller
from replicators.base import ExportConfig

STATUS = "web-status"


def listener_name(url: str) -> str:
    """The child service's name for a web listener: ``http:<url>``."""
    return f"http:{url}"


def add_web(
    top: MultiService,
    http: HttpConfig,
    config: Config,
    tree: DirectoryTree,
    store: Store,
    *,
    ldap: LDAPServerFactory,
    scheduler: Scheduler,
    node: str,
    reactor: IReactorFromThreads,
    clock: IReactorTime,
    threadpool: ThreadPool,
    tls: ServerTls | None,
    on_listen_failure: Callable[[Failure], object] | None = None,
) -> Web:
    """Add the web's children to ``top``; ``ldap`` is the LDAP server's factory (its
    accounts, access rules and failed-bind brake are the web's too, and its operations
    are counted in the metrics); ``tls`` the certificate of https:// listeners."""
    poller = StatusPoller(store, clock=clock, reactor=reactor, threadpool=threadpool)
    poller.setName(STATUS)
    poller.setServiceParent(top)
    metrics = Metrics(tree, poller, lambda: ldap.connections, node=node)
    ldap.on_operation = metrics.ldap_operation

    def in_thread(f: Callable[..., Any], *args: Any) -> Any:
        return threads.deferToThreadPool(reactor, threadpool, f, *args)

    web = Web(
        settings=http,
        tree=tree,
        store=store,
        policy=ldap.policy,
        accounts=WebAccounts(http.admins, ldap.authenticator),
        sessions=Sessions(http.session_timeout.total_seconds(), cast(Any, clock).seconds),
        status=poller,
        metrics=metrics,
        replicators=[
            ReplicatorInfo(rep.name, rep.type, d.name, config.schedule_for(d, rep))
            for d in config.directories
            for rep in d.replicators
        ],
        run_now=scheduler.run_now,
        clock=clock,
        in_thread=in_thread,
        node=node,
        access_log=config.server.access_log,
        exports=[_export_info(config, export) for export in config.exports],
    )
    site = web_site(web)
    for listener in http.listen:
        endpoint = tcp_endpoint(
            reactor, listener.host, listener.port, tls if listener.https else None
        )
        child = ListenerService(listener.url, endpoint, site, on_listen_failure)  # type: ignore[arg-type]
        name = listener_name(listener.url)
        if top.namedServices.get(name) is None:
            child.setName(name)
        child.setServiceParent(top)
    return web


def _export_info(config: Config, export: ExportConfig) -> ExportInfo:
    directories = tuple(d.name for d in config.exported(export))
    return ExportInfo(export.name, lease_name(export), export.type, directories, export.schedule)
