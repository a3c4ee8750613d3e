"""The LDAP front end's factory, built from the configuration in this one place.

Kept alone and small on purpose: when the factory's constructor changes, this function is
the only caller in the service to follow it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from twisted.internet import threads
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.python.threadpool import ThreadPool

from metadir.config import Config
from metadir.directory.backend import DirectoryBackend
from metadir.directory.tree import DirectoryTree
from metadir.ldap.access import directory_access
from metadir.ldap.protocol import LDAPServerFactory
from metadir.ldap.tls import ServerTls


def ldap_factory(
    config: Config,
    tree: DirectoryTree,
    tls: ServerTls | None,
    clock: IReactorTime,
    reactor: IReactorFromThreads,
    threadpool: ThreadPool,
    *,
    on_operation: Callable[[str, int, float], None] | None = None,
) -> LDAPServerFactory:
    """What every LDAP connection shares, over ``tree``; ``clock`` runs the connections'
    timers (idle time, the failed-bind brake), so tests can drive them; binds check
    password hashes in ``threadpool``, their results handed back through ``reactor``;
    ``on_operation`` is told of each answered operation (``Metrics.ldap_operation``)."""
    factory = LDAPServerFactory(
        DirectoryBackend(tree),
        config.server.accounts,
        config.server.allow_anonymous,
        config.server.size_limit,
        tls=tls,
        require_tls=config.server.require_tls,
        access=directory_access(config.directories, config.server.allow_anonymous),
        limits=config.server.limits,
        log_operations=config.server.access_log,
        clock=clock,
        in_thread=partial(threads.deferToThreadPool, reactor, threadpool),
        on_operation=on_operation,
    )
    factory.noisy = False  # no "Starting factory" lines
    return factory
