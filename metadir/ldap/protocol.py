"""The LDAP front end: one ``LDAPConnection`` per client connection (bytes and messages),
one ``LDAPServerFactory`` for what connections share (the tree, accounts, limits).

The connection frames and decodes requests, asks the directory tree for answers and
encodes them. It knows nothing of SQL, the sync engine or config files.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from ldaptor.protocols import pureldap
from twisted.internet import protocol, threads
from twisted.python.failure import Failure

from metadir import __version__
from metadir.config import ROOT_DN, Account
from metadir.directory.attributes import operational_names
from metadir.directory.filters import Equality, Present
from metadir.directory.index import Entry
from metadir.directory.tree import SUBSCHEMA_DN, DirectoryTree, NoSuchObject, Scope
from metadir.dn import normalize_dn
from metadir.ldap import ber
from metadir.ldap.decode import MalformedRequest, decode_message, filter_from_ldaptor, text
from metadir.ldap.entries import Selection, encode_entry
from metadir.passwords import hash_password, verify

log = logging.getLogger("metadir.ldap")

# RFC 4511 result codes used here
SUCCESS = 0
PROTOCOL_ERROR = 2
SIZE_LIMIT_EXCEEDED = 4
COMPARE_FALSE = 5
COMPARE_TRUE = 6
AUTH_METHOD_NOT_SUPPORTED = 7
UNAVAILABLE_CRITICAL_EXTENSION = 12
NO_SUCH_ATTRIBUTE = 16
UNDEFINED_ATTRIBUTE_TYPE = 17
NO_SUCH_OBJECT = 32
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS_RIGHTS = 50
UNWILLING_TO_PERFORM = 53

WHO_AM_I = "1.3.6.1.4.1.4203.1.11.3"
MANAGE_DSA_IT = "2.16.840.1.113730.3.4.2"  # no referrals here, so honoured by doing nothing
ALL_OPERATIONAL_ATTRIBUTES = "1.3.6.1.4.1.4203.1.5.1"  # RFC 3673 "+"
SUPPORTED_CONTROLS = (MANAGE_DSA_IT,)
SUPPORTED_EXTENSIONS = (WHO_AM_I,)

# the largest request accepted; anything bigger is not an LDAP request a phone sends
MAX_REQUEST_BYTES = 1 << 20

READ_ONLY = "metadir is read-only: its contacts come from the replicators"

# response protocolOp tag for each request type
_RESPONSE_TAG = {
    pureldap.LDAPBindRequest: ber.BIND_RESPONSE,
    pureldap.LDAPSearchRequest: ber.SEARCH_RESULT_DONE,
    pureldap.LDAPModifyRequest: ber.MODIFY_RESPONSE,
    pureldap.LDAPAddRequest: ber.ADD_RESPONSE,
    pureldap.LDAPDelRequest: ber.DEL_RESPONSE,
    pureldap.LDAPModifyDNRequest: ber.MODIFY_DN_RESPONSE,
    pureldap.LDAPCompareRequest: ber.COMPARE_RESPONSE,
    pureldap.LDAPExtendedRequest: ber.EXTENDED_RESPONSE,
    pureldap.LDAPPasswordModifyRequest: ber.EXTENDED_RESPONSE,
}
_NO_RESPONSE = (pureldap.LDAPAbandonRequest, pureldap.LDAPUnbindRequest)


@dataclass(frozen=True, slots=True)
class Identity:
    dn: str  # "" when anonymous
    directories: frozenset[str] | None  # what it may read; None: all


ANONYMOUS = Identity("", None)


class LDAPServerFactory(protocol.ServerFactory):
    """What every connection of one LDAP front end shares."""

    def __init__(
        self, tree: DirectoryTree, accounts: list[Account], allow_anonymous: bool, size_limit: int
    ) -> None:
        self.tree = tree
        self.accounts = {normalize_dn(a.dn): a for a in accounts}
        self.allow_anonymous = allow_anonymous
        self.size_limit = size_limit
        self.operational = frozenset(operational_names())
        self._ids = itertools.count(1)
        # verified instead of a real hash for unknown DNs, so timing does not tell them apart
        self._decoy_hash = hash_password("decoy")

    def buildProtocol(self, addr: object) -> LDAPConnection:
        connection = LDAPConnection(self, next(self._ids))
        connection.factory = self
        return connection

    def root_dse(self) -> Entry:
        attrs = {
            "objectClass": ("top", "extensibleObject"),
            "namingContexts": (ROOT_DN,),
            "defaultNamingContext": (ROOT_DN,),
            "supportedLDAPVersion": ("3",),
            "supportedControl": SUPPORTED_CONTROLS,
            "supportedExtension": SUPPORTED_EXTENSIONS,
            "supportedFeatures": (ALL_OPERATIONAL_ATTRIBUTES,),
            "subschemaSubentry": (SUBSCHEMA_DN,),
            "vendorName": ("metadir",),
            "vendorVersion": (f"metadir {__version__}",),
        }
        return Entry(0, "", None, attrs)

    def subschema(self) -> Entry:
        attrs = {"objectClass": ("top", "subentry", "subschema"), "cn": ("Subschema",)}
        return Entry(0, SUBSCHEMA_DN, None, attrs)

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


class LDAPConnection(protocol.Protocol):
    def __init__(self, factory: LDAPServerFactory, connection_id: int) -> None:
        self.server = factory
        self.id = connection_id
        self.buffer = bytearray()
        self.identity = ANONYMOUS
        self.peer = "?"

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        self.peer = f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"
        log.debug("conn=%d connected from %s", self.id, self.peer)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        log.debug("conn=%d closed", self.id)

    # --- framing -----------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer and self.transport is not None and not self.transport.disconnecting:
            try:
                size = ber.frame_length(self.buffer)
            except ValueError as exc:
                return self._disconnect(str(exc))
            if size is not None and size > MAX_REQUEST_BYTES:
                return self._disconnect(f"request of {size} bytes exceeds {MAX_REQUEST_BYTES}")
            if size is None or len(self.buffer) < size:
                return None
            pdu = bytes(self.buffer[:size])
            del self.buffer[:size]
            try:
                if pdu[0] != ber.SEQUENCE:
                    raise MalformedRequest("not an LDAPMessage")
                message = decode_message(pdu)
            except MalformedRequest as exc:
                return self._disconnect(str(exc))
            self._dispatch(message)
        return None

    def _disconnect(self, why: str) -> None:
        """Tell the client it sent something unusable (notice of disconnection), then close."""
        log.warning("conn=%d from %s: protocol error, closing: %s", self.id, self.peer, why)
        notice = ber.extended_response(PROTOCOL_ERROR, why, name=ber.NOTICE_OF_DISCONNECTION)
        self.transport.write(ber.message(0, notice))
        self.buffer.clear()
        self.transport.loseConnection()

    # --- dispatch ----------------------------------------------------------------------

    def _dispatch(self, message: pureldap.LDAPMessage) -> None:
        request = message.value
        mid = message.id
        if isinstance(request, _NO_RESPONSE):
            if isinstance(request, pureldap.LDAPUnbindRequest):
                self.transport.loseConnection()
            return  # abandon: searches finish synchronously, nothing is left to cancel
        tag = _RESPONSE_TAG.get(type(request))
        if tag is None:
            return self._disconnect(f"unsupported operation {type(request).__name__}")
        for oid, critical, _value in message.controls or ():
            if critical and text(oid) not in SUPPORTED_CONTROLS:
                return self._send(
                    mid,
                    ber.result(
                        tag,
                        UNAVAILABLE_CRITICAL_EXTENSION,
                        "",
                        f"critical control {text(oid)} is not supported",
                    ),
                )
        handler: Callable[[int, object], None] = {
            pureldap.LDAPBindRequest: self._bind,
            pureldap.LDAPSearchRequest: self._search,
            pureldap.LDAPCompareRequest: self._compare,
            pureldap.LDAPExtendedRequest: self._extended,
            pureldap.LDAPPasswordModifyRequest: self._extended,
        }.get(
            type(request),
            lambda mid, _: self._send(mid, ber.result(tag, UNWILLING_TO_PERFORM, "", READ_ONLY)),
        )
        try:
            handler(mid, request)
        except MalformedRequest as exc:
            self._send(mid, ber.result(tag, PROTOCOL_ERROR, "", str(exc)))

    def _send(self, mid: int, operation: bytes) -> None:
        if self.transport is not None and not self.transport.disconnecting:
            self.transport.write(ber.message(mid, operation))

    # --- bind --------------------------------------------------------------------------

    def _bind(self, mid: int, request: pureldap.LDAPBindRequest) -> None:
        def answer(code: int, why: str = "") -> None:
            self._send(mid, ber.result(ber.BIND_RESPONSE, code, "", why))

        if request.version not in (2, 3):
            return answer(PROTOCOL_ERROR, f"LDAP version {request.version} is not supported")
        self.identity = ANONYMOUS  # a bind, even a failing one, drops the previous identity
        if request.sasl:
            return answer(AUTH_METHOD_NOT_SUPPORTED, "SASL is not supported; use a simple bind")
        dn, password = text(request.dn), request.auth
        password = password.decode("utf-8", "replace") if isinstance(password, bytes) else password
        if not dn and not password:
            # accepted even when anonymous reads are off: libldap clients bind before reading
            # the root DSE; what anonymous may read is decided per operation
            return answer(SUCCESS)
        if not dn or not password:
            return answer(UNWILLING_TO_PERFORM, "a simple bind needs both a DN and a password")

        def done(identity: Identity | None) -> None:
            if identity is None:
                log.warning("conn=%d from %s: bind failed for %r", self.id, self.peer, dn)
                return answer(INVALID_CREDENTIALS, "invalid credentials")
            self.identity = identity
            log.debug("conn=%d bound as %s", self.id, identity.dn)
            return answer(SUCCESS)

        threads.deferToThread(self.server.authenticate, dn, password).addCallback(done)
        return None

    # --- search and compare ------------------------------------------------------------

    def _may_read(self) -> bool:
        return self.server.allow_anonymous or self.identity is not ANONYMOUS

    def _search(self, mid: int, request: pureldap.LDAPSearchRequest) -> None:
        def done(code: int, matched: str = "", why: str = "") -> None:
            self._send(mid, ber.result(ber.SEARCH_RESULT_DONE, code, matched, why))

        base = text(request.baseObject)
        if request.scope not in (0, 1, 2):
            return done(PROTOCOL_ERROR, "", f"unknown scope {request.scope}")
        scope = Scope(request.scope)
        filter = filter_from_ldaptor(request.filter)
        selection = Selection.parse((text(a) for a in request.attributes), request.typesOnly)
        special = self._special_entry(base, scope)
        if special is not None:
            # the root DSE and the subschema entry answer the usual (objectClass=*) reads
            if isinstance(filter, Present) and filter.attribute.lower() == "objectclass":
                # their attributes are operational, yet clients expect them without "+" too
                shown = replace(selection, all_user=selection.all_user or selection.all_operational)
                self._send_entries(mid, [special], shown, frozenset())
            return done(SUCCESS)
        if not self._may_read():
            return done(INSUFFICIENT_ACCESS_RIGHTS, "", "bind first: anonymous reads are disabled")
        tree = self.server.tree
        target = tree.resolve(base, self._visible())
        if isinstance(target, NoSuchObject):
            return done(NO_SUCH_OBJECT, target.matched_dn, f"no entry {base!r}")
        entries = tree.search(target, scope, filter, self._visible())
        limits = [n for n in (request.sizeLimit, self.server.size_limit) if n > 0]
        limit = min(limits) if limits else None
        self._send_entries(mid, entries[:limit], selection, self.server.operational)
        if limit is not None and len(entries) > limit:
            return done(SIZE_LIMIT_EXCEEDED, "", f"more than {limit} entries match")
        return done(SUCCESS)

    def _special_entry(self, base: str, scope: Scope) -> Entry | None:
        if scope != Scope.BASE:
            return None
        if not base.strip():
            return self.server.root_dse()
        try:
            if normalize_dn(base) == normalize_dn(SUBSCHEMA_DN):
                return self.server.subschema()
        except ValueError:
            pass
        return None

    def _visible(self) -> set[str] | None:
        dirs = self.identity.directories
        return set(dirs) if dirs is not None else None

    def _send_entries(
        self, mid: int, entries: list[Entry], selection: Selection, operational: frozenset[str]
    ) -> None:
        chunk: list[bytes] = []
        for entry in entries:
            chunk.append(ber.message(mid, encode_entry(entry, selection, operational)))
            if len(chunk) >= 512:
                self.transport.writeSequence(chunk)
                chunk = []
        if chunk:
            self.transport.writeSequence(chunk)

    def _compare(self, mid: int, request: pureldap.LDAPCompareRequest) -> None:
        def answer(code: int, matched: str = "", why: str = "") -> None:
            self._send(mid, ber.result(ber.COMPARE_RESPONSE, code, matched, why))

        if not self._may_read():
            return answer(
                INSUFFICIENT_ACCESS_RIGHTS, "", "bind first: anonymous reads are disabled"
            )
        tree = self.server.tree
        target = tree.resolve(text(request.entry), self._visible())
        if isinstance(target, NoSuchObject):
            return answer(NO_SUCH_OBJECT, target.matched_dn)
        attribute = text(request.ava.attributeDesc.value)
        outcome = tree.test(target, Equality(attribute, text(request.ava.assertionValue.value)))
        if outcome is None:
            return answer(UNDEFINED_ATTRIBUTE_TYPE, "", f"cannot compare {attribute!r}")
        if outcome:
            return answer(COMPARE_TRUE)
        if not tree.test(target, Present(attribute)):
            return answer(NO_SUCH_ATTRIBUTE, "", f"the entry has no {attribute!r}")
        return answer(COMPARE_FALSE)

    # --- extended operations -----------------------------------------------------------

    def _extended(self, mid: int, request: pureldap.LDAPExtendedRequest) -> None:
        oid = text(request.requestName)
        if oid == WHO_AM_I:
            authz = f"dn:{self.identity.dn}" if self.identity.dn else ""
            return self._send(mid, ber.extended_response(SUCCESS, value=authz.encode()))
        return self._send(
            mid, ber.extended_response(PROTOCOL_ERROR, f"extended operation {oid} is not supported")
        )
