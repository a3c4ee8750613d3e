"""``metadir serve``: load the tree from the store, listen, follow the store's changes."""

from __future__ import annotations

import gc
import logging
import signal
import time

from twisted.internet import reactor, threads
from twisted.internet.endpoints import SSL4ServerEndpoint, serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.internet.task import LoopingCall
from twisted.logger import STDLibLogObserver, globalLogBeginner

from metadir.config import Config
from metadir.core.errors import ConfigError
from metadir.directory.tree import DirectoryTree
from metadir.ldap.access import directory_access
from metadir.ldap.protocol import LDAPServerFactory
from metadir.ldap.settings import Listener, listener_problems, parse_listener
from metadir.ldap.tls import ServerTls, TlsFileError
from metadir.service.load import load_tree
from metadir.store import Store, StoredEntry

log = logging.getLogger("metadir.server")


class StoreFollower:
    """Brings committed syncs into the tree: polls the store's change sequence off the
    reactor thread and applies each batch in one reactor turn."""

    def __init__(self, store: Store, tree: DirectoryTree, seq: int, directories: list[str]) -> None:
        self.store = store
        self.tree = tree
        self.seq = seq
        self.directories = directories
        self._failing = False

    def poll(self) -> object:
        d = threads.deferToThread(self.store.changes_since, self.seq, self.directories)
        d.addCallbacks(self._apply, self._failed)
        return d

    def _apply(self, result: tuple[int, list[StoredEntry]]) -> None:
        seq, changes = result
        if self._failing:
            log.info("store reachable again")
            self._failing = False
        if seq == self.seq:
            return
        added, updated, deleted = self.tree.apply(changes)
        self.seq = seq
        log.info(
            "store change %d visible: %d added, %d updated, %d deleted; %d contacts served",
            seq,
            added,
            updated,
            deleted,
            self.tree.size,
        )

    def _failed(self, failure: object) -> None:
        if not self._failing:  # one line per outage, not one per poll
            log.error(
                "cannot read the store, serving the last loaded state: %s",
                getattr(failure, "getErrorMessage", lambda: failure)(),
            )
        self._failing = True


def _endpoint(listener: Listener, tls: ServerTls | None) -> IStreamServerEndpoint:
    if listener.ldaps:
        return SSL4ServerEndpoint(reactor, listener.port, tls, interface=listener.host)
    host = listener.host.replace(":", r"\:")
    return serverFromString(reactor, f"tcp:{listener.port}:interface={host}")


def _server_tls(config: Config) -> ServerTls | None:
    if config.server.tls is None:
        return None
    try:
        return ServerTls(config.server.tls.certificate, config.server.tls.private_key)
    except TlsFileError as exc:  # the files changed since the config was loaded
        raise ConfigError([f"{config.path}: server.tls.{exc.key}: {exc}"]) from None


def _reload_tls(tls: ServerTls | None) -> None:
    if tls is None:
        log.info("SIGHUP: nothing to reload (no server.tls)")
    else:
        tls.reload()


def serve(config: Config, listen: list[str] | None = None) -> int:
    try:
        listeners = [parse_listener(url) for url in listen] if listen else config.server.listen
    except ValueError as exc:
        raise ConfigError([f"--listen: {exc}"]) from None
    if listen and (problems := listener_problems(listeners, config.server.tls)):
        raise ConfigError([f"--listen: {p}" for p in problems])
    tls = _server_tls(config)
    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)

    started = time.monotonic()
    store = Store.open(config.store_url())
    seq, tree = load_tree(store, config)
    names = list(tree.containers)
    # the loaded tree lives as long as the process: keep it out of every later collection
    gc.freeze()
    log.info(
        "loaded %d contacts in %d directories in %.2f s (store change %d)",
        tree.size,
        len(names),
        time.monotonic() - started,
        seq,
    )

    factory = LDAPServerFactory(
        tree,
        config.server.accounts,
        config.server.allow_anonymous,
        config.server.size_limit,
        tls=tls,
        require_tls=config.server.require_tls,
        access=directory_access(config.directories, config.server.allow_anonymous),
        limits=config.server.limits,
        log_operations=config.server.access_log,
    )
    factory.noisy = False
    follower = StoreFollower(store, tree, seq, names)
    exit_code = 0

    def start() -> None:
        def listening(_port: object, listener: Listener) -> None:
            log.info("listening on %s", listener.url)

        def failed(failure: object, listener: Listener) -> None:
            nonlocal exit_code
            exit_code = 1
            log.error("cannot listen on %s: %s", listener.url, failure.getErrorMessage())  # type: ignore[attr-defined]
            reactor.stop()

        for listener in listeners:
            d = _endpoint(listener, tls).listen(factory)
            d.addCallbacks(listening, failed, callbackArgs=(listener,), errbackArgs=(listener,))
        LoopingCall(follower.poll).start(config.server.refresh_interval, now=False)

    reactor.callWhenRunning(start)
    # new certificate and key for new connections, e.g. after a renewal
    signal.signal(signal.SIGHUP, lambda *_: reactor.callFromThread(_reload_tls, tls))
    reactor.addSystemEventTrigger("before", "shutdown", log.info, "shutting down")
    reactor.run()
    store.close()
    return exit_code
