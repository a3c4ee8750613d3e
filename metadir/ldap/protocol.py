"""The LDAP front end: one ``LDAPConnection`` per client connection (bytes and messages),
one ``LDAPServerFactory`` for what connections share (the tree, accounts, limits).

The connection frames and decodes requests, asks the directory tree for answers and
encodes them. It knows nothing of SQL, the sync engine or config files.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass

from twisted.internet import protocol, reactor, threads
from twisted.internet.interfaces import IDelayedCall, IHandshakeListener, IReactorTime
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from metadir import __version__
from metadir.core import ber
from metadir.core.dn import normalize_dn
from metadir.directory.attributes import operational_names
from metadir.directory.filters import Equality, Present, to_text
from metadir.directory.index import Entry
from metadir.directory.settings import ROOT_DN
from metadir.directory.tree import SUBSCHEMA_DN, DirectoryTree, NoSuchObject
from metadir.ldap import controls, writes
from metadir.ldap.access import BindBrake, DirectoryAccess, parse_address
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
    WriteRequest,
    decode_request,
)
from metadir.ldap.logtext import loggable, quoted
from metadir.ldap.pages import Pages
from metadir.ldap.passwords import hash_password, verify
from metadir.ldap.results import (
    AUTH_METHOD_NOT_SUPPORTED,
    BUSY,
    COMPARE_FALSE,
    COMPARE_TRUE,
    CONFIDENTIALITY_REQUIRED,
    INSUFFICIENT_ACCESS_RIGHTS,
    INVALID_CREDENTIALS,
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_OBJECT,
    OPERATIONS_ERROR,
    PROTOCOL_ERROR,
    READ_ONLY,
    SUCCESS,
    TLS_FIRST,
    UNAVAILABLE,
    UNAVAILABLE_CRITICAL_EXTENSION,
    UNDEFINED_ATTRIBUTE_TYPE,
    UNWILLING_TO_PERFORM,
)
from metadir.ldap.search import Searches
from metadir.ldap.settings import Account, Limits
from metadir.ldap.subschema import subschema_entry
from metadir.ldap.tls import ServerTls, connection_summary, is_active

log = logging.getLogger("metadir.ldap")
access_log = logging.getLogger("metadir.access")

WHO_AM_I = "1.3.6.1.4.1.4203.1.11.3"
START_TLS = "1.3.6.1.4.1.1466.20037"
MANAGE_DSA_IT = "2.16.840.1.113730.3.4.2"  # no referrals here, so honoured by doing nothing
ALL_OPERATIONAL_ATTRIBUTES = "1.3.6.1.4.1.4203.1.5.1"  # RFC 3673 "+"
CLASS_ATTRIBUTES = "1.3.6.1.4.1.4203.1.5.2"  # RFC 4529 "@inetOrgPerson"
SEARCH_CONTROLS = (MANAGE_DSA_IT, controls.PAGED, controls.SORT, controls.VLV)
SUPPORTED_CONTROLS = SEARCH_CONTROLS
SUPPORTED_EXTENSIONS = (WHO_AM_I,)


@dataclass(frozen=True, slots=True)
class Identity:
    dn: str  # "" when anonymous
    directories: frozenset[str] | None  # what it may read; None: all


ANONYMOUS = Identity("", None)


class LDAPServerFactory(protocol.ServerFactory):
    """What every connection of one LDAP front end shares."""

    def __init__(
        self,
        tree: DirectoryTree,
        accounts: list[Account],
        allow_anonymous: bool,
        size_limit: int,
        tls: ServerTls | None = None,
        require_tls: bool = False,
        access: dict[str, DirectoryAccess] | None = None,
        limits: Limits | None = None,
        log_operations: bool = False,
        clock: IReactorTime = reactor,
    ) -> None:
        self.tree = tree
        self.clock = clock  # the timers of connections: the failed-bind brake, slow senders
        self.accounts = {normalize_dn(a.dn): a for a in accounts}
        self.allow_anonymous = allow_anonymous
        self.size_limit = size_limit
        self.tls = tls  # certificate and key for StartTLS; None: StartTLS is unavailable
        # built once, so that its encodings stay cached on it like any entry's
        self.root_dse = _root_dse(start_tls=tls is not None)
        self.require_tls = require_tls
        # per directory: who may read it from where; none: the identity alone decides
        self.access = access or {}
        self.limits = limits or Limits()
        self.log_operations = log_operations
        self.bind_brake = BindBrake(self.limits.bind_failure_delay)
        self.connections = 0
        self.operational = frozenset(operational_names())
        self._ids = itertools.count(1)
        # verified instead of a real hash for unknown DNs, so timing does not tell them apart
        self._decoy_hash = hash_password("decoy")

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

    def subschema(self) -> Entry:
        return subschema_entry()

    def authenticate(self, dn: str, password: str) -> Identity | None:
        """The identity for a simple bind, or None. Slow on purpose (argon2): call it
        off the reactor thread."""
        try:
            account = self.accounts.get(normalize_dn(dn))
        except ValueError:
            account = None
        stored = account.password.get_secret_value() if account else self._decoy_hash
        if not verify(stored, password) or account is None:
            return None
        dirs = frozenset(account.directories) if account.directories is not None else None
        return Identity(account.dn, dirs)


@dataclass(slots=True)
class Operation:
    """A request in progress, for the access log."""

    name: str
    detail: str
    started: float
    entries: int = 0


@implementer(IHandshakeListener)
class LDAPConnection(Searches, protocol.Protocol, TimeoutMixin):
    def __init__(self, factory: LDAPServerFactory, connection_id: int) -> None:
        self.server = factory
        self.id = connection_id
        self.buffer = bytearray()
        self.identity = ANONYMOUS
        self.peer = "?"
        self.host = "?"
        self.address = None  # the client's IP address, for allow_from rules
        self.pages = Pages()
        self.operations: dict[int, Operation] = {}
        self.binds_in_progress = 0
        self.outgoing: list[bytes] = []  # encoded entries not written yet
        self.arriving: IDelayedCall | None = None  # the deadline of a request half received

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        self.host = str(getattr(peer, "host", "?"))
        self.peer = f"{self.host}:{getattr(peer, 'port', '?')}"
        self.address = parse_address(self.host)
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
        try:
            mid, request, requested = decode_request(pdu)
        except MalformedRequest as exc:
            return self._disconnect(str(exc))
        except InvalidRequest as exc:
            log.info("conn=%d from %s: protocol error: %s", self.id, self.peer, exc)
            return self._send(
                exc.message_id, ber.result(exc.response_tag, PROTOCOL_ERROR, "", str(exc))
            )
        return self._dispatch(mid, request, requested)

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

    def _dispatch(self, mid: int, request: Request, requested: list[Control]) -> None:
        if isinstance(request, UnbindRequest):
            return self.transport.loseConnection()
        if isinstance(request, AbandonRequest):
            # searches finish synchronously: what is left to abandon is a paged one
            return self.pages.abandon(request.message_id)
        tag = request.response_tag
        if self.server.log_operations:
            self.operations[mid] = Operation(*_describe(request), time.perf_counter())
        supported = SEARCH_CONTROLS if tag == ber.SEARCH_RESULT_DONE else (MANAGE_DSA_IT,)
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
                self._compare(mid, request)
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
        ``outgoing`` (one write for a whole small result), and log the operation."""
        if self.transport is not None and not self.transport.disconnecting:
            self.outgoing.append(ber.message(mid, operation, response_controls))
            writes.send(self.transport, self.outgoing)
        self.outgoing = []
        done = self.operations.pop(mid, None)
        if done is not None:
            access_log.info(
                "conn=%d peer=%s who=%s op=%s %s result=%d entries=%d ms=%.2f", self.id,
                self.peer, quoted(self.identity.dn), done.name, done.detail,
                ber.result_code(operation), done.entries,
                (time.perf_counter() - done.started) * 1000,
            )  # fmt: skip

    # --- bind --------------------------------------------------------------------------

    def _bind(self, mid: int, request: BindRequest) -> None:
        def answer(code: int, why: str = "") -> None:
            self._send(mid, ber.result(ber.BIND_RESPONSE, code, "", why))

        self.identity = ANONYMOUS  # a bind, even a failing one, drops the previous identity
        if request.sasl is not None:
            return answer(AUTH_METHOD_NOT_SUPPORTED, "SASL is not supported; use a simple bind")
        dn, password = request.name, request.password
        if not dn and not password:
            # accepted even when anonymous reads are off: libldap clients bind before reading
            # the root DSE; what anonymous may read is decided per operation
            return answer(SUCCESS)
        if not dn or not password:
            return answer(UNWILLING_TO_PERFORM, "a simple bind needs both a DN and a password")
        if self._tls_required():
            return answer(CONFIDENTIALITY_REQUIRED, TLS_FIRST)

        if self.binds_in_progress >= self.server.limits.max_outstanding:
            return answer(BUSY, "too many requests in progress on this connection")
        self.binds_in_progress += 1

        def done(identity: Identity | None) -> None:
            if identity is None:
                delay = self.server.bind_brake.failed(self.host)
                log.warning("conn=%d from %s: bind failed for %s", self.id, self.peer, quoted(dn))
                # an address that keeps failing waits longer for each answer
                self.server.clock.callLater(
                    delay, answer, INVALID_CREDENTIALS, "invalid credentials"
                )
                return None
            self.server.bind_brake.succeeded(self.host)
            self.identity = identity
            log.debug("conn=%d bound as %s", self.id, identity.dn)
            return answer(SUCCESS)

        def settled(result: object) -> object:
            self.binds_in_progress -= 1
            return result

        def failed(failure: Failure) -> None:  # the last line of defence, as in _dispatch
            why = (failure.type, failure.value, failure.getTracebackObject())
            log.error("conn=%d from %s: internal error in bind", self.id, self.peer, exc_info=why)
            answer(OPERATIONS_ERROR, "internal error")

        bind = threads.deferToThread(self.server.authenticate, dn, password)
        bind.addBoth(settled).addCallback(done).addErrback(failed)
        return None

    # --- search and compare ------------------------------------------------------------

    def _tls_required(self) -> bool:
        """Whether this request must be refused until the connection runs TLS."""
        return self.server.require_tls and not is_active(self.transport)

    def _visible(self) -> set[str] | None:
        """The directories this connection may read; None: all of them."""
        dirs = self.identity.directories
        access = self.server.access
        if not access:
            if dirs is None and self.identity is ANONYMOUS and not self.server.allow_anonymous:
                return set()
            return set(dirs) if dirs is not None else None
        anonymous = self.identity is ANONYMOUS
        allowed = {n for n, a in access.items() if a.admits(anonymous, self.address)}
        if dirs is not None:
            allowed &= dirs
        return None if len(allowed) == len(access) else allowed

    def _compare(self, mid: int, request: CompareRequest) -> None:
        def answer(code: int, matched: str = "", why: str = "") -> None:
            self._send(mid, ber.result(ber.COMPARE_RESPONSE, code, matched, why))

        if self._tls_required():
            return answer(CONFIDENTIALITY_REQUIRED, "", TLS_FIRST)
        visible = self._visible()
        if visible is not None and not visible:
            return answer(
                INSUFFICIENT_ACCESS_RIGHTS, "", "bind first: anonymous reads are disabled"
            )
        tree = self.server.tree
        target = tree.resolve(request.entry, visible)
        if isinstance(target, NoSuchObject):
            return answer(NO_SUCH_OBJECT, target.matched_dn)
        attribute = request.attribute
        outcome = tree.test(target, Equality(attribute, request.value))
        if outcome is None:
            return answer(UNDEFINED_ATTRIBUTE_TYPE, "", f"cannot compare {attribute!r}")
        if outcome:
            return answer(COMPARE_TRUE)
        if not tree.test(target, Present(attribute)):
            return answer(NO_SUCH_ATTRIBUTE, "", f"the entry has no {attribute!r}")
        return answer(COMPARE_FALSE)

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


def _root_dse(start_tls: bool) -> Entry:
    attrs = {
        "objectClass": ("top", "extensibleObject"),
        "namingContexts": (ROOT_DN,),
        "defaultNamingContext": (ROOT_DN,),
        "supportedLDAPVersion": ("3",),
        "supportedControl": SUPPORTED_CONTROLS,
        "supportedExtension": SUPPORTED_EXTENSIONS + ((START_TLS,) if start_tls else ()),
        "supportedFeatures": (ALL_OPERATIONAL_ATTRIBUTES, CLASS_ATTRIBUTES),
        "subschemaSubentry": (SUBSCHEMA_DN,),
        "vendorName": ("metadir",),
        "vendorVersion": (f"metadir {__version__}",),
    }
    return Entry(0, "", None, attrs)


_SCOPES = ("base", "one", "sub", "children")


def _describe(request: Request) -> tuple[str, str]:
    """An operation's name and what it asked, for the access log (wire values escaped)."""
    if isinstance(request, SearchRequest):
        attrs = loggable(",".join(request.attributes)) or "*"
        return "SEARCH", (
            f"base={quoted(request.base)} scope={_SCOPES[request.scope]} "
            f"filter={quoted(to_text(request.filter))} attrs={attrs}"
        )
    if isinstance(request, BindRequest):
        sasl = f" sasl={loggable(request.sasl)}" if request.sasl is not None else ""
        return "BIND", f"dn={quoted(request.name)}{sasl}"
    if isinstance(request, CompareRequest):
        return "COMPARE", f"dn={quoted(request.entry)} attr={loggable(request.attribute)}"
    if isinstance(request, ExtendedRequest):
        return "EXTENDED", f"oid={loggable(request.name)}"
    assert isinstance(request, WriteRequest)  # unbind and abandon are not logged
    return request.name, ""
