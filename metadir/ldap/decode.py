"""Requests off the wire, read by metadir's lean BER reader into metadir's own request
data. This is the one place that checks each field's type and range (RFC 4511 §4):
an LDAPMessage that cannot be read raises ``MalformedRequest`` (notice of disconnection);
one that reads but holds a value out of its range raises ``InvalidRequest`` (protocolError
to that request, the connection stays)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from metadir.core import ber
from metadir.directory import filters as f

MAX_INT = 2**31 - 1  # RFC 4511 maxInt: message ids, limits
_MAX_FILTER_DEPTH = 64  # deeper nesting is an attack, not a phone's filter


class MalformedRequest(ValueError):
    """Not a valid LDAPMessage (RFC 4511 §4.1.1): answered with a notice of disconnection."""


class InvalidRequest(ValueError):
    """A readable request with a field out of its range: answered with protocolError."""

    def __init__(self, message_id: int, response_tag: int, why: str) -> None:
        super().__init__(why)
        self.message_id = message_id
        self.response_tag = response_tag


def text(value: bytes) -> str:
    # LDAP strings are UTF-8; a client sending something else gets its bytes kept visible
    return value.decode("utf-8", "replace")


Control = tuple[str, bool, bytes | None]  # controlType, criticality, controlValue


@dataclass(frozen=True, slots=True)
class SearchRequest:
    response_tag: ClassVar[int] = ber.SEARCH_RESULT_DONE
    base: str
    scope: int
    size_limit: int
    time_limit: int
    types_only: bool
    filter: f.Filter
    attributes: tuple[str, ...]
    # the filter's size in BER: an element takes two bytes at least, so a small filter
    # need not be counted against the limit on elements
    filter_bytes: int = 0


@dataclass(frozen=True, slots=True)
class BindRequest:
    response_tag: ClassVar[int] = ber.BIND_RESPONSE
    name: str
    password: str  # simple bind; "" for SASL
    sasl: str | None  # the SASL mechanism asked for


@dataclass(frozen=True, slots=True)
class CompareRequest:
    response_tag: ClassVar[int] = ber.COMPARE_RESPONSE
    entry: str
    attribute: str
    value: str


@dataclass(frozen=True, slots=True)
class ExtendedRequest:
    response_tag: ClassVar[int] = ber.EXTENDED_RESPONSE
    name: str
    value: bytes | None


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """Modify, add, delete, modify DN: refused whole (read-only), so not read further."""

    name: str
    response_tag: int


@dataclass(frozen=True, slots=True)
class AbandonRequest:
    response_tag: ClassVar[None] = None
    message_id: int


@dataclass(frozen=True, slots=True)
class UnbindRequest:
    response_tag: ClassVar[None] = None


Request = (
    SearchRequest | BindRequest | CompareRequest | ExtendedRequest | WriteRequest
    | AbandonRequest | UnbindRequest
)  # fmt: skip


def decode_request(pdu: bytes) -> tuple[int, Request, list[Control]]:
    """A complete LDAPMessage: (message id, request, controls). Raises ``MalformedRequest``
    when it is not a valid LDAPMessage, ``InvalidRequest`` when a field is out of range."""
    try:
        tag, content, end = ber.read(pdu)
        parts = ber.elements(content)
        if tag != ber.SEQUENCE or end != len(pdu) or len(parts) not in (2, 3):
            raise MalformedRequest("not an LDAPMessage")
        (id_tag, id_content), (op_tag, op) = parts[0], parts[1]
        mid = _integer(id_tag, id_content, 0, MAX_INT, "messageID")
        reader = _READERS.get(op_tag)
        if reader is None:
            raise MalformedRequest(f"unknown operation (tag 0x{op_tag:02x})")
        controls = _controls(parts[2]) if len(parts) == 3 else []
        return mid, reader(mid, op), controls
    except ber.BerError as exc:
        raise MalformedRequest(f"undecodable message: {exc}") from None


def _integer(tag: int, content: bytes, low: int, high: int, what: str) -> int:
    """An INTEGER field that must be in low..high, else the message is malformed."""
    if tag != ber.INTEGER:
        raise MalformedRequest(f"{what} is not an INTEGER")
    value = ber.to_int(content)
    if not low <= value <= high:
        raise MalformedRequest(f"{what} out of range")
    return value


_SEARCH_TAGS = [ber.OCTET_STRING, ber.ENUMERATED, ber.ENUMERATED, ber.INTEGER, ber.INTEGER, 0x01]


def _search(mid: int, content: bytes) -> SearchRequest:
    fields = ber.elements(content)
    if len(fields) != 8 or [t for t, _ in fields[:6]] != _SEARCH_TAGS or fields[7][0] != 0x30:
        raise MalformedRequest("malformed SearchRequest")
    attributes = ber.elements(fields[7][1])
    if any(tag != ber.OCTET_STRING for tag, _ in attributes):
        raise MalformedRequest("malformed attribute list")
    filter = decode_filter(*fields[6])
    # the integers are compared, never printed: a 5,000-digit one must cost nothing
    scope, deref = ber.to_int(fields[1][1]), ber.to_int(fields[2][1])
    size_limit, time_limit = ber.to_int(fields[3][1]), ber.to_int(fields[4][1])
    why = (
        "unknown scope" if not 0 <= scope <= 3
        else "unknown derefAliases" if not 0 <= deref <= 3
        else "sizeLimit out of range" if not 0 <= size_limit <= MAX_INT
        else "timeLimit out of range" if not 0 <= time_limit <= MAX_INT
        else None
    )  # fmt: skip
    if why is not None:
        raise InvalidRequest(mid, SearchRequest.response_tag, why)
    return SearchRequest(
        base=text(fields[0][1]),
        scope=scope,
        size_limit=size_limit,
        time_limit=time_limit,
        types_only=fields[5][1] not in (b"", b"\x00"),
        filter=filter,
        attributes=tuple(text(value) for _, value in attributes),
        filter_bytes=len(fields[6][1]),
    )


def _bind(mid: int, content: bytes) -> BindRequest:
    fields = ber.elements(content)
    if (
        len(fields) != 3
        or fields[0][0] != ber.INTEGER
        or fields[1][0] != ber.OCTET_STRING
        or fields[2][0] not in (0x80, 0xA3)  # simple [0], sasl [3]
    ):
        raise MalformedRequest("malformed BindRequest")
    sasl = None
    if fields[2][0] == 0xA3:
        credentials = ber.elements(fields[2][1])
        if not 1 <= len(credentials) <= 2 or any(t != ber.OCTET_STRING for t, _ in credentials):
            raise MalformedRequest("malformed SaslCredentials")
        sasl = text(credentials[0][1])
    if ber.to_int(fields[0][1]) not in (2, 3):
        raise InvalidRequest(mid, BindRequest.response_tag, "only LDAP versions 2 and 3")
    password = text(fields[2][1]) if sasl is None else ""
    return BindRequest(text(fields[1][1]), password, sasl)


def _compare(mid: int, content: bytes) -> CompareRequest:
    fields = ber.elements(content)
    if len(fields) != 2 or fields[0][0] != ber.OCTET_STRING or fields[1][0] != ber.SEQUENCE:
        raise MalformedRequest("malformed CompareRequest")
    ava = ber.elements(fields[1][1])
    if len(ava) != 2 or ava[0][0] != ber.OCTET_STRING or ava[1][0] != ber.OCTET_STRING:
        raise MalformedRequest("malformed attribute value assertion")
    return CompareRequest(text(fields[0][1]), text(ava[0][1]), text(ava[1][1]))


def _extended(mid: int, content: bytes) -> ExtendedRequest:
    fields = ber.elements(content)
    tags = [tag for tag, _ in fields]
    if tags not in ([0x80], [0x80, 0x81]):  # requestName [0], requestValue [1]
        raise MalformedRequest("malformed ExtendedRequest")
    return ExtendedRequest(text(fields[0][1]), fields[1][1] if len(fields) == 2 else None)


def _abandon(mid: int, content: bytes) -> AbandonRequest:
    # no response to an abandon: one out of range cannot be refused, only dropped
    return AbandonRequest(_integer(ber.INTEGER, content, 0, MAX_INT, "abandoned messageID"))


def _unbind(mid: int, content: bytes) -> UnbindRequest:
    if content:
        raise MalformedRequest("malformed UnbindRequest")
    return UnbindRequest()


def _write(name: str, response_tag: int) -> Callable[[int, bytes], WriteRequest]:
    return lambda mid, content: WriteRequest(name, response_tag)


# protocolOp tag of each request → its reader
_READERS: dict[int, Callable[[int, bytes], Request]] = {
    0x63: _search,
    0x60: _bind,
    0x6E: _compare,
    0x77: _extended,
    0x50: _abandon,
    0x42: _unbind,
    0x66: _write("MODIFY", ber.MODIFY_RESPONSE),
    0x68: _write("ADD", ber.ADD_RESPONSE),
    0x4A: _write("DELETE", ber.DEL_RESPONSE),
    0x6C: _write("MODIFYDN", ber.MODIFY_DN_RESPONSE),
}


def _controls(element: tuple[int, bytes]) -> list[Control]:
    tag, content = element
    if tag != 0xA0:
        raise MalformedRequest("malformed controls")
    out: list[Control] = []
    for control_tag, control in ber.elements(content):
        parts = ber.elements(control)
        if control_tag != ber.SEQUENCE or not parts or parts[0][0] != ber.OCTET_STRING:
            raise MalformedRequest("malformed control")
        critical, value = False, None
        for tag, part in parts[1:]:
            if tag == 0x01:
                critical = part not in (b"", b"\x00")
            elif tag == ber.OCTET_STRING:
                value = part
            else:
                raise MalformedRequest("malformed control")
        out.append((text(parts[0][1]), critical, value))
    return out


_COMPARISONS: dict[int, Callable[[str, str], f.Filter]] = {
    0xA3: f.Equality,
    0xA5: f.GreaterOrEqual,
    0xA6: f.LessOrEqual,
    0xA8: f.Approx,
}


def decode_filter(tag: int, content: bytes, depth: int = 0) -> f.Filter:
    """A Filter (RFC 4511 §4.5.1) from its BER element. What slapd reads as an Undefined
    filter (text that is not UTF-8, a substring assertion it cannot use, an unknown filter
    choice) is ``f.Undefined``; a structure that is not a Filter at all raises
    ``MalformedRequest``, and slapd hangs up on it too."""
    if depth > _MAX_FILTER_DEPTH:
        raise MalformedRequest("filter nested too deeply")
    if tag in (0xA0, 0xA1):
        parts = tuple(decode_filter(t, c, depth + 1) for t, c in ber.elements(content))
        return f.And(parts) if tag == 0xA0 else f.Or(parts)
    if tag == 0xA2:
        inner = ber.elements(content)
        if len(inner) != 1:
            raise MalformedRequest("'not' holds one filter")
        return f.Not(decode_filter(*inner[0], depth + 1))
    try:
        if tag == 0x87:
            return f.Present(content.decode())
        if tag in _COMPARISONS:
            pair = ber.elements(content)
            if len(pair) != 2 or pair[0][0] != ber.OCTET_STRING or pair[1][0] != ber.OCTET_STRING:
                raise MalformedRequest("malformed attribute value assertion")
            return _COMPARISONS[tag](pair[0][1].decode(), pair[1][1].decode())
        if tag == 0xA4:
            return _substrings(content)
        if tag == 0xA9:
            return _extensible(content)
    except UnicodeDecodeError:
        return f.Undefined()
    return f.Undefined()  # an unknown filter choice


def _substrings(content: bytes) -> f.Substrings | f.Undefined:
    parts = ber.elements(content)
    if len(parts) != 2 or parts[0][0] != ber.OCTET_STRING or parts[1][0] != ber.SEQUENCE:
        raise MalformedRequest("malformed substring filter")
    pieces = ber.elements(parts[1][1])
    initial = final = None
    any_: list[str] = []
    for tag, value in pieces:
        # RFC 4511: at most one initial, first, and at most one final, last; every part a
        # value. slapd makes the filter Undefined when that is not so
        if not value or final is not None:
            return f.Undefined()
        if tag == 0x80:
            if initial is not None or any_:
                return f.Undefined()
            initial = value.decode()
        elif tag == 0x81:
            any_.append(value.decode())
        elif tag == 0x82:
            final = value.decode()
        else:
            return f.Undefined()
    if not pieces:
        return f.Undefined()
    return f.Substrings(parts[0][1].decode(), initial, tuple(any_), final)


def _extensible(content: bytes) -> f.Extensible:
    found: dict[int, bytes] = dict(ber.elements(content))
    if 0x83 not in found:
        raise MalformedRequest("extensible match without a value")
    return f.Extensible(
        attribute=found[0x82].decode() if 0x82 in found else None,
        rule=found[0x81].decode() if 0x81 in found else None,
        value=found[0x83].decode(),
        dn_attributes=found.get(0x84, b"\x00") not in (b"", b"\x00"),
    )


def parse_filter(text_filter: str) -> f.Filter:
    """A filter in RFC 4515 string form (for tools and tests; the wire brings BER)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ldaptor's pyparsing grammar uses deprecated names
        from ldaptor.ldapfilter import parseFilter

    try:
        wire = parseFilter(text_filter).toWire()
    except Exception as exc:  # pyparsing's ParseException and friends
        raise ValueError(f"not an LDAP filter: {text_filter!r}") from exc
    tag, content, _ = ber.read(wire)
    return decode_filter(tag, content)
