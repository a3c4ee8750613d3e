"""One service per listening address.

Twisted's ``StreamServerEndpointService`` logs a failed ``listen`` and goes on (or raises
from ``startService`` with a private flag); ``metadir serve`` must instead say which
address it cannot listen on and exit 1, so this small service reports the failure to a
callback its owner gives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, cast

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import SSL4ServerEndpoint, serverFromString
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

from metadir.ldap.settings import Listener
from metadir.ldap.tls import ServerTls

# one logger for everything ``metadir serve`` says, as the log lines always named it
log = logging.getLogger("metadir.server")


# What this module calls of Twisted's IStreamServerEndpoint and IListeningPort, as
# protocols: mypy reads no zope interfaces (a method of one seems to lack ``self``).


class ServerEndpoint(Protocol):
    def listen(self, protocolFactory: Any) -> Deferred[Any]: ...


class ListeningPort(Protocol):
    def stopListening(self) -> Deferred[None] | None: ...


def listener_endpoint(reactor: Any, listener: Listener, tls: ServerTls | None) -> ServerEndpoint:
    """The Twisted endpoint for an ``ldap://`` or ``ldaps://`` listener; ``reactor``
    provides ``IReactorTCP`` (and ``IReactorSSL`` for ldaps)."""
    if listener.ldaps:
        return SSL4ServerEndpoint(reactor, listener.port, tls, interface=listener.host)
    return tcp_endpoint(reactor, listener.host, listener.port, None)


def tcp_endpoint(reactor: Any, host: str, port: int, tls: ServerTls | None) -> ServerEndpoint:
    """A TCP endpoint on ``host``:``port``, with TLS from the first byte when ``tls``."""
    if tls is not None:
        return SSL4ServerEndpoint(reactor, port, tls, interface=host)
    host = host.replace(":", r"\:")  # an IPv6 address inside the description
    return cast(ServerEndpoint, serverFromString(reactor, f"tcp:{port}:interface={host}"))


class ListenerService(Service):
    """Listens on ``endpoint`` with ``factory`` while running; ``url`` names it in the log.

    ``on_failure`` is called with the reason when the address cannot be listened on.
    """

    def __init__(
        self,
        url: str,
        endpoint: ServerEndpoint,
        factory: Factory,
        on_failure: Callable[[Failure], object] | None = None,
    ) -> None:
        self.url = url
        self.endpoint = endpoint
        self.factory = factory
        self.on_failure = on_failure
        self.port: ListeningPort | None = None

    def startService(self) -> None:
        super().startService()
        self.endpoint.listen(self.factory).addCallbacks(self._listened, self._cannot)

    def stopService(self) -> Deferred[None]:
        """Stop listening; connections already open are left to the reactor's shutdown."""
        super().stopService()
        if self.port is None:  # not listening (yet): a port that arrives is closed at once
            return succeed(None)
        port, self.port = self.port, None
        stopped = port.stopListening()
        return succeed(None) if stopped is None else stopped

    def _listened(self, port: ListeningPort) -> ListeningPort:
        if not self.running:  # stopped while the endpoint was on its way
            port.stopListening()
            return port
        self.port = port
        log.info("listening on %s", self.url)
        return port

    def _cannot(self, failure: Failure) -> None:
        if not self.running:  # stopped meanwhile: nothing is lost, nobody to tell
            return
        log.error("cannot listen on %s: %s", self.url, failure.getErrorMessage())
        if self.on_failure is not None:
            self.on_failure(failure)
