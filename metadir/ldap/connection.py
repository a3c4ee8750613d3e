"""One client connection of the LDAP front end: framing, dispatch, the connection's limits,
its identity and what that may read, and sending answers.

The operations themselves are elsewhere: ``search.py`` and ``compare.py`` over the
``Backend``, binds through the ``Authenticator``, what a client may read from the
``AccessPolicy``. Nothing here knows the directory tree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet import protocol
from twisted.internet.interfaces import IHandshakeListener
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer  # type: ignore[import-untyped]

from metadir.core import ber
from metadir.directory.index import Entry
from metadir.ldap import accesslog, controls, writes
from metadir.ldap.access import AccessPolicy, Address, parse_address
from metadir.ldap.authenticator import ANONYMOUS, Authenticator, Identity
from metadir.ldap.compare import compare
from metadir.ldap.decode import (
    AbandonRequest,
    BindRequest,
    CompareRequest,
    Control,
    ExtendedRequest,
    InvalidRequest,
    MalformedRequest,
    Request,
    SearchRequest,
    UnbindRequest,
    decode_request,
)
from metadir.ldap.entries import Selection, encode_entry
from metadir.ldap.logtext import loggable, quoted
from metadir.ldap.pages import Pages
from metadir.ldap.results import (
    AUTH_METHOD_NOT_SUPPORTED,
    BUSY,
    CONFIDENTIALITY_REQUIRED,
    INVALID_CREDENTIALS,
    OPERATIONS_ERROR,
    PROTOCOL_ERROR,
    READ_ONLY,
    SUCCESS,
    TLS_FIRST,
    UNAVAILABLE,
    UNAVAILABLE_CRITICAL_EXTENSION,
    UNWILLING_TO_PERFORM,
)
from metadir.ldap.search import Frontend, search
from metadir.ldap.special import MANAGE_DSA_IT, SEARCH_CONTROLS, START_TLS, WHO_AM_I
from metadir.ldap.tls import ServerTls, connection_summary, is_active

log = logging.getLogger("metadir.ldap")

_OTHER_CONTROLS = (MANAGE_DSA_IT,)  # the critical controls operations other than search take


class Server(Frontend, Protocol):
    """What connections share (``LDAPServerFactory``)."""

    # IReactorTime: the reactor, or a task.Clock in tests (zope interfaces are opaque to mypy)
    clock: Any
    connections: int
    log_operations: bool
    tls: ServerTls | None  # None: StartTLS is unavailable
    authenticator: Authenticator
    policy: AccessPolicy
    # what a bind runs in a thread: the authenticator's, unless a tool replaced it
    authenticate: Callable[[str, str], Identity | None]
    # runs a call in a worker thread, its result a Deferred fired in the reactor thread
    in_thread: Callable[..., Any]
    # told of every answered operation: its name, result code and seconds (metrics)
    on_operation: Callable[[str, int, float], None] | None


@implementer(IHandshakeListener)
class LDAPConnection(protocol.Protocol, TimeoutMixin):
    # an ITCPTransport, ISSLTransport or StringTransport; zope interfaces are opaque to mypy
    transport: Any

    def __init__(self, server: Server, connection_id: int) -> None:
        self.server = server
        self.id = connection_id
        self.buffer = bytearray()
        self.identity = ANONYMOUS
        self.peer = "?"
        self.host = "?"
        self.address: Address | None = None  # the client's IP address, for allow_from rules
        # the directories the identity may read from the address, until the next bind
        self.visible = server.policy.visible(ANONYMOUS, None)
        self.pages = Pages()
        self.operations: dict[int, accesslog.Operation] = {}
        self.binds_in_progress = 0
        self.outgoing: list[bytes] = []  # encoded entries not written yet
        self.arriving: Any = None  # IDelayedCall | None  # the deadline of a request half received

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        self.host = str(getattr(peer, "host", "?"))
        self.peer = f"{self.host}:{getattr(peer, 'port', '?')}"
        self.address = parse_address(self.host)
        self._become(ANONYMOUS)
        self.server.connections += 1
        # answers are whole messages: Nagle's algorithm would hold the last piece of each
        # back until the client's delayed ACK (as slapd does, so do we)
        if hasattr(self.transport, "setTcpNoDelay"):
            self.transport.setTcpNoDelay(True)
        self.setTimeout(self.server.limits.idle_timeout or None)
        log.debug("conn=%d connected from %s", self.id, self.peer)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.server.connections -= 1
        self.setTimeout(None)
        self._arrived()
        log.debug("conn=%d closed", self.id)

    def callLater(self, period: float, func: Callable[[], object]) -> Any:
        """TimeoutMixin's idle timer, on the factory's clock (a task.Clock in tests)."""
        return self.server.clock.callLater(period, func)

    def timeoutConnection(self) -> None:
        log.info(
            "conn=%d from %s: idle for %g s, closing",
            self.id,
            self.peer,
            self.server.limits.idle_timeout,
        )
        self.transport.loseConnection()

    def handshakeCompleted(self) -> None:  # IHandshakeListener: LDAPS and StartTLS alike
        log.debug("conn=%d TLS started: %s", self.id, connection_summary(self.transport))

    def _become(self, identity: Identity) -> None:
        self.identity = identity
        self.visible = self.server.policy.visible(identity, self.address)

    def _tls_missing(self) -> bool:
        """Whether this request must be refused until the connection runs TLS."""
        return self.server.policy.tls_required(is_active(self.transport))

    # --- framing -----------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()
        self.buffer += data
        while self.buffer and self.transport is not None and not self.transport.disconnecting:
            try:
                size = ber.frame_length(self.buffer)
            except ValueError as exc:
                return self._disconnect(str(exc))
            limit = self.server.limits.max_request_bytes
            if size is not None and size > limit:
                return self._disconnect(f"request of {size} bytes exceeds {limit}")
            if size is None or len(self.buffer) < size:
                return self._arriving()
            pdu = bytes(self.buffer[:size])
            del self.buffer[:size]
            self._arrived()
            try:
                self._handle(pdu)
            except Exception:  # last line of defence: a bug costs this connection, not a
                # traceback in Twisted's log and an unanswered client
                log.exception("conn=%d from %s: internal error, closing", self.id, self.peer)
                return self._disconnect("internal error", OPERATIONS_ERROR)
        return None

    def _arriving(self) -> None:
        """A request has begun to arrive: it must be whole within ``request_timeout``,
        however it trickles in (the idle timeout counts silence only)."""
        timeout = self.server.limits.request_timeout
        if timeout and self.arriving is None:
            self.arriving = self.server.clock.callLater(timeout, self._too_slow, timeout)

    def _arrived(self) -> None:
        if self.arriving is not None:
            if self.arriving.active():
                self.arriving.cancel()
            self.arriving = None

    def _too_slow(self, timeout: float) -> None:
        self.arriving = None
        self._disconnect(f"a request took more than {timeout:g} s to arrive")

    def _handle(self, pdu: bytes) -> None:
        """Decode one request and answer it; what decoding refuses is answered here only."""
        arrived = time.perf_counter()  # decoding (a filter parsed) is part of its time
        try:
            mid, request, requested = decode_request(pdu)
        except MalformedRequest as exc:
            return self._disconnect(str(exc))
        except InvalidRequest as exc:
            log.info("conn=%d from %s: protocol error: %s", self.id, self.peer, exc)
            return self._send(
                exc.message_id, ber.result(exc.response_tag, PROTOCOL_ERROR, "", str(exc))
            )
        return self._dispatch(mid, request, requested, arrived)

    def _disconnect(self, why: str, code: int = PROTOCOL_ERROR) -> None:
        """Tell the client it sent something unusable (notice of disconnection), then close."""
        log.warning(
            "conn=%d from %s: protocol error, closing: %s", self.id, self.peer, loggable(why)
        )
        notice = ber.extended_response(code, why, name=ber.NOTICE_OF_DISCONNECTION)
        self.transport.write(ber.message(0, notice))
        self.buffer.clear()
        self.transport.loseConnection()

    # --- dispatch ----------------------------------------------------------------------

    def _dispatch(
        self, mid: int, request: Request, requested: list[Control], arrived: float
    ) -> None:
        if isinstance(request, UnbindRequest):
            return self.transport.loseConnection()
        if isinstance(request, AbandonRequest):
            # searches finish synchronously: what is left to abandon is a paged one
            return self.pages.abandon(request.message_id)
        tag = request.response_tag
        # begun whether logged or not: the on_operation hook needs its name and start
        self.operations[mid] = accesslog.begin(request, arrived, self.server.log_operations)
        supported = SEARCH_CONTROLS if tag == ber.SEARCH_RESULT_DONE else _OTHER_CONTROLS
        for oid, critical, _value in requested:
            if critical and oid not in supported:
                why = f"critical control {oid} is not supported"
                return self._send(mid, ber.result(tag, UNAVAILABLE_CRITICAL_EXTENSION, "", why))
        try:
            if isinstance(request, SearchRequest):
                self._search(mid, request, requested)
            elif isinstance(request, BindRequest):
                self._bind(mid, request)
            elif isinstance(request, CompareRequest):
                code, matched, why = compare(
                    self.server.backend, request, self.visible, self._tls_missing()
                )
                self._send(mid, ber.result(ber.COMPARE_RESPONSE, code, matched, why))
            elif isinstance(request, ExtendedRequest):  # PasswordModify is one
                self._extended(mid, request)
            else:
                self._send(mid, ber.result(tag, UNWILLING_TO_PERFORM, "", READ_ONLY))
        except Exception:  # last line of defence, as in dataReceived, for this request only
            log.exception("conn=%d from %s: internal error in request %d", self.id, self.peer, mid)
            self._send(mid, ber.result(tag, OPERATIONS_ERROR, "", "internal error"))
        return None

    def _send(self, mid: int, operation: bytes, response_controls: bytes = b"") -> None:
        """Send the final response to request ``mid``, after the entries still waiting in
        ``outgoing`` (one write for a whole small result); log and report the operation."""
        if self.transport is not None and not self.transport.disconnecting:
            self.outgoing.append(ber.message(mid, operation, response_controls))
            writes.send(self.transport, self.outgoing)
        self.outgoing = []
        done = self.operations.pop(mid, None)
        if done is not None:  # None: a protocol error answered before the request was read
            accesslog.finish(done, operation, self.id, self.peer, self.identity.dn,
                             self.server.on_operation)  # fmt: skip

    # --- search ------------------------------------------------------------------------

    def _search(self, mid: int, request: SearchRequest, requested: list[Control]) -> None:
        done = search(self.server, mid, request, requested, self.identity, self.visible,
                      self._tls_missing(), self.pages, self._send_entries)  # fmt: skip
        result = ber.result(ber.SEARCH_RESULT_DONE, done.code, done.matched, done.why)
        self._send(mid, result, controls.controls(*done.controls) if done.controls else b"")

    def _send_entries(
        self,
        mid: int,
        entries: list[Entry],
        selection: Selection,
        operational: frozenset[str],
        deadline: float | None,
    ) -> bool:
        """Queue ``entries`` for the final response; False when the client's time limit
        ran out first."""
        operation = self.operations.get(mid)
        if operation is not None:
            operation.entries += len(entries)
        outgoing = self.outgoing
        for entry in entries:
            outgoing.append(ber.message(mid, encode_entry(entry, selection, operational)))
            if len(outgoing) >= 512:  # big results go out as they are encoded
                writes.send(self.transport, outgoing)
                outgoing.clear()
                if deadline is not None and time.monotonic() > deadline:
                    return False
        return True

    # --- bind --------------------------------------------------------------------------

    def _bind(self, mid: int, request: BindRequest) -> None:
        def answer(code: int, why: str = "") -> None:
            self._send(mid, ber.result(ber.BIND_RESPONSE, code, "", why))

        self._become(ANONYMOUS)  # a bind, even a failing one, drops the previous identity
        if request.sasl is not None:
            return answer(AUTH_METHOD_NOT_SUPPORTED, "SASL is not supported; use a simple bind")
        dn, password = request.name, request.password
        if not dn and not password:
            # accepted even when anonymous reads are off: libldap clients bind before reading
            # the root DSE; what anonymous may read is decided per operation
            return answer(SUCCESS)
        if not dn or not password:
            return answer(UNWILLING_TO_PERFORM, "a simple bind needs both a DN and a password")
        if self._tls_missing():
            return answer(CONFIDENTIALITY_REQUIRED, TLS_FIRST)

        if self.binds_in_progress >= self.server.limits.max_outstanding:
            return answer(BUSY, "too many requests in progress on this connection")
        self.binds_in_progress += 1
        authenticator = self.server.authenticator

        def done(identity: Identity | None) -> None:
            if identity is None:
                delay = authenticator.failed(self.host)
                log.warning("conn=%d from %s: bind failed for %s", self.id, self.peer, quoted(dn))
                # an address that keeps failing waits longer for each answer
                self.server.clock.callLater(
                    delay, answer, INVALID_CREDENTIALS, "invalid credentials"
                )
                return None
            authenticator.succeeded(self.host)
            self._become(identity)
            log.debug("conn=%d bound as %s", self.id, identity.dn)
            return answer(SUCCESS)

        def settled(result: Any) -> Any:
            self.binds_in_progress -= 1
            return result

        def failed(failure: Failure) -> None:  # the last line of defence, as in _dispatch
            why: Any = (failure.type, failure.value, failure.getTracebackObject())
            log.error("conn=%d from %s: internal error in bind", self.id, self.peer, exc_info=why)
            answer(OPERATIONS_ERROR, "internal error")

        # argon2 is slow on purpose: off the reactor thread
        bind: Any = self.server.in_thread(self.server.authenticate, dn, password)
        bind.addBoth(settled).addCallback(done).addErrback(failed)
        return None

    # --- extended operations -----------------------------------------------------------

    def _extended(self, mid: int, request: ExtendedRequest) -> None:
        oid = request.name
        if oid == WHO_AM_I:
            authz = f"dn:{self.identity.dn}" if self.identity.dn else ""
            return self._send(mid, ber.extended_response(SUCCESS, value=authz.encode()))
        if oid == START_TLS:
            return self._start_tls(mid)
        return self._send(
            mid, ber.extended_response(PROTOCOL_ERROR, f"extended operation {oid} is not supported")
        )

    def _start_tls(self, mid: int) -> None:
        def answer(code: int, why: str = "") -> None:
            self._send(mid, ber.extended_response(code, why, name=START_TLS))

        if self.server.tls is None:
            return answer(UNAVAILABLE, "TLS is not configured on this server (server.tls)")
        if is_active(self.transport):
            return answer(OPERATIONS_ERROR, "TLS is already active on this connection")
        answer(SUCCESS)  # RFC 4511 4.14.2: the response in the clear, TLS right after it
        # requests sent in the clear behind StartTLS must not be answered as if they had
        # come through TLS (STARTTLS command injection, CVE-2011-0411)
        self.buffer.clear()
        self.transport.startTLS(self.server.tls)
        return None
