"""The LDAP front end: one ``LDAPServerFactory`` for what connections share, one
``LDAPConnection`` (``connection.py``) per client connection.

The factory is where the parts meet: a ``Backend`` answers searches and compares (the
directory tree, or any other backend), an ``Authenticator`` binds, an ``AccessPolicy``
says what a client may read, ``Limits`` bound each connection. It knows nothing of SQL, the
sync engine or config files.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from twisted.internet import protocol

from metadir.directory.attributes import operational_names
from metadir.ldap.access import AccessPolicy, DirectoryAccess
from metadir.ldap.authenticator import Authenticator, BindBrake, Identity
from metadir.ldap.backend import Backend
from metadir.ldap.connection import LDAPConnection
from metadir.ldap.settings import Account, Limits
from metadir.ldap.special import root_dse
from metadir.ldap.tls import ServerTls

log = logging.getLogger("metadir.ldap")


class LDAPServerFactory(protocol.ServerFactory):
    """What every connection of one LDAP front end shares.

    ``backend``: what answers searches and compares (``DirectoryBackend`` over the
    tree). ``accounts`` make the ``Authenticator``; ``allow_anonymous``, ``require_tls``
    and ``access`` (per directory: who may read it from where) the ``AccessPolicy``.
    ``clock`` runs the connections' timers; ``in_thread`` runs a call in a worker thread
    and hands its result back as a Deferred (the service passes its thread pool's);
    ``on_operation`` is called with each answered operation's name (``search``, ``bind``…),
    result code and seconds from its arrival to its final response (unbind and abandon
    have none)."""

    def __init__(
        self,
        backend: Backend,
        accounts: Iterable[Account],
        allow_anonymous: bool,
        size_limit: int,
        tls: ServerTls | None = None,
        require_tls: bool = False,
        access: Mapping[str, DirectoryAccess] | None = None,
        limits: Limits | None = None,
        log_operations: bool = False,
        *,
        clock: Any,  # IReactorTime (Any: zope interfaces are opaque to mypy)
        in_thread: Callable[..., Any],
        on_operation: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self.backend = backend
        self.clock = clock  # the timers of connections: idle, slow requests, the bind brake
        # where binds check password hashes (argon2 is slow on purpose): a thread pool
        self.in_thread = in_thread
        self.size_limit = size_limit
        self.tls = tls  # certificate and key for StartTLS; None: StartTLS is unavailable
        # built once, so that its encodings stay cached on it like any entry's
        self.root_dse = root_dse(start_tls=tls is not None)
        self.policy = AccessPolicy(access, allow_anonymous, require_tls)
        self.limits = limits or Limits()
        self.log_operations = log_operations
        # told of every answered operation (name, result code, seconds): the metrics
        self.on_operation = on_operation
        brake = BindBrake(self.limits.bind_failure_delay, self.clock.seconds)
        self.authenticator = Authenticator(accounts, brake)
        # what a bind runs in a thread; an attribute, so that tools can leave argon2 out
        self.authenticate: Callable[[str, str], Identity | None] = self.authenticator.authenticate
        self.connections = 0
        self.operational = frozenset(operational_names())
        self._ids = itertools.count(1)

    def buildProtocol(self, addr: object) -> LDAPConnection | None:
        if self.connections >= self.limits.max_connections:
            log.warning(
                "refusing a connection from %s: %d connections are open",
                getattr(addr, "host", "?"),
                self.connections,
            )
            return None  # Twisted closes it
        connection = LDAPConnection(self, next(self._ids))
        connection.factory = self
        return connection
