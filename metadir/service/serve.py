"""``metadir serve``: load the tree from the store, then run the service tree on the
reactor until SIGTERM (or a listener that cannot listen) stops it.

The process-wide parts live here and only here: the global reactor, logging into the
standard library, ``gc.freeze``, the signal handlers and the exit code. Everything that
runs while the server serves is a child of the service tree (``metadir.service.app``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import time
from typing import Any, cast

from twisted.internet import error
from twisted.internet import reactor as global_reactor
from twisted.logger import ILogObserver, STDLibLogObserver, globalLogBeginner
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from metadir import __version__
from metadir.config import Config
from metadir.core.errors import ConfigError
from metadir.ldap.settings import Listener, TlsConfig, listener_problems, parse_listener
from metadir.ldap.tls import ServerTls, TlsFileError
from metadir.service.app import make_service
from metadir.service.load import ensure_layout, load_tree
from metadir.service.node import SchedulingGate
from metadir.store.store import Store

log = logging.getLogger("metadir.server")

# workers for the store reads of the follower (one at a time) and of later children
THREADS = 4


def serve(config: Config, listen: list[str] | None = None) -> int:
    """Serve ``config``'s directories on its listeners (or on ``listen``, URLs given on
    the command line) until stopped; the exit code: 0, or 1 when a listener failed."""
    listeners = _listeners(config, listen)
    tls = _server_tls(config)
    http_tls = _http_tls(config, tls)
    # Twisted's own log events into the standard library's, as the rest of metadir logs
    observer = cast(ILogObserver, STDLibLogObserver())  # mypy reads no zope interfaces
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    reactor = cast(Any, global_reactor)  # the module stands for the installed reactor

    started = time.monotonic()
    store = Store.open(config.store_url())
    node = config.node_name()
    gate = SchedulingGate(config.store_url(), reactor)
    try:
        ensure_layout(store, config)  # the scheduler's leases belong to its replicators
        seq, tree = load_tree(store, config)
        # the loaded tree lives as long as the process: keep it out of every later collection
        gc.freeze()
        log.info(
            "loaded %d contacts in %d directories in %.2f s (store change %d)",
            tree.size,
            len(tree.containers),
            time.monotonic() - started,
            seq,
        )
        exit_code = 0

        def listen_failed(_failure: Failure) -> None:
            nonlocal exit_code
            exit_code = 1
            with contextlib.suppress(error.ReactorNotRunning):  # another one failed first
                reactor.stop()

        service = make_service(
            config,
            tree,
            store,
            seq,
            reactor=reactor,
            clock=reactor,
            threadpool=ThreadPool(minthreads=0, maxthreads=THREADS, name="metadir"),
            tls=tls,
            listeners=listeners,
            on_listen_failure=listen_failed,
            node=node,
            may_schedule=gate,
            http_tls=http_tls,
        )
        log.info("node %s (metadir %s, pid %d)", node, __version__, os.getpid())
        # as twistd runs an application: start once running, stop (and wait) on shutdown
        reactor.callWhenRunning(service.startService)
        reactor.addSystemEventTrigger("before", "shutdown", log.info, "shutting down")
        reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
        # new certificate and key for new connections, e.g. after a renewal
        reloaded = [t for t in (tls, http_tls) if t is not None]
        signal.signal(signal.SIGHUP, lambda *_: reactor.callFromThread(_reload_tls, reloaded))
        reactor.run()  # SIGTERM and SIGINT stop it: Twisted's own handlers
    finally:
        gate.release()
        store.close()
    return exit_code


def _listeners(config: Config, listen: list[str] | None) -> list[Listener]:
    """The listeners of the config, or those given with ``--listen``, checked like the
    config's own."""
    try:
        listeners = [parse_listener(url) for url in listen] if listen else config.server.listen
    except ValueError as exc:
        raise ConfigError([f"--listen: {exc}"]) from None
    if listen and (problems := listener_problems(listeners, config.server.tls)):
        raise ConfigError([f"--listen: {p}" for p in problems])
    return listeners


def _server_tls(config: Config) -> ServerTls | None:
    return None if config.server.tls is None else _tls(config, "server.tls", config.server.tls)


def _http_tls(config: Config, server: ServerTls | None) -> ServerTls | None:
    """The certificate of https:// web listeners: ``http.tls``, else the LDAP server's."""
    if config.http is None or not any(listener.https for listener in config.http.listen):
        return None
    return server if config.http.tls is None else _tls(config, "http.tls", config.http.tls)


def _tls(config: Config, key: str, files: TlsConfig) -> ServerTls:
    try:
        return ServerTls(files.certificate, files.private_key)
    except TlsFileError as exc:  # the files changed since the config was loaded
        raise ConfigError([f"{config.path}: {key}.{exc.key}: {exc}"]) from None


def _reload_tls(certificates: list[ServerTls]) -> None:
    if not certificates:
        log.info("SIGHUP: nothing to reload (no server.tls, no http.tls)")
    for tls in certificates:
        tls.reload()
