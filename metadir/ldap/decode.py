"""Requests off the wire: searches read by metadir's lean BER reader into its own request
data, every other operation decoded by ldaptor into its message types."""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

from ldaptor.protocols import pureber, pureldap

from metadir.directory import filters as f
from metadir.ldap import ber

# ldaptor's decoder for a whole LDAPMessage
DECODER = pureldap.LDAPBERDecoderContext_TopLevel(
    inherit=pureldap.LDAPBERDecoderContext_LDAPMessage(
        fallback=pureldap.LDAPBERDecoderContext(fallback=pureber.BERDecoderContext()),
        inherit=pureldap.LDAPBERDecoderContext(fallback=pureber.BERDecoderContext()),
    )
)


class MalformedRequest(ValueError):
    """The request decoded, but breaks the protocol's rules (answered with protocolError)."""


def text(value: bytes | str) -> str:
    # LDAP strings are UTF-8; a client sending something else gets its bytes kept visible
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def decode_message(pdu: bytes) -> pureldap.LDAPMessage:
    """One complete LDAPMessage. Raises ``MalformedRequest`` when it cannot be decoded."""
    try:
        # ldaptor print()s unknown tags to stdout and skips them; the checks below catch them
        with contextlib.redirect_stdout(io.StringIO()):
            message, used = pureber.berDecodeObject(DECODER, pdu)
    except Exception as exc:  # ldaptor signals bad BER with asserts, IndexError, KeyError...
        raise MalformedRequest(f"undecodable message: {type(exc).__name__}") from None
    if not isinstance(message, pureldap.LDAPMessage) or used != len(pdu):
        raise MalformedRequest("not an LDAPMessage")
    return message


# requests are decoded by ldaptor, but for searches: see ``decode_search``
SEARCH_REQUEST = 0x63
_MAX_FILTER_DEPTH = 64  # deeper nesting is an attack, not a phone's filter

Control = tuple[str, bool, bytes | None]  # controlType, criticality, controlValue


@dataclass(frozen=True, slots=True)
class SearchRequest:
    base: str
    scope: int
    size_limit: int
    time_limit: int
    types_only: bool
    filter: f.Filter
    attributes: tuple[str, ...]


def decode_request(pdu: bytes) -> tuple[int, object, list[Control]]:
    """A complete LDAPMessage: (message id, request, controls). Searches, the hot path, are
    read by the lean decoder into a ``SearchRequest``; the rest by ldaptor into its message
    types. Raises ``MalformedRequest`` when it cannot be read."""
    if not pdu or pdu[0] != ber.SEQUENCE:
        raise MalformedRequest("not an LDAPMessage")
    search = decode_search(pdu)
    if search is not None:
        return search
    message = decode_message(pdu)
    controls = [
        (text(oid), bool(critical), value) for oid, critical, value in message.controls or ()
    ]
    return message.id, message.value, controls


def decode_search(pdu: bytes) -> tuple[int, SearchRequest, list[Control]] | None:
    """A complete LDAPMessage holding a SearchRequest, read with the lean BER reader:
    (message id, request, controls); None when it holds another operation. Raises
    ``MalformedRequest`` when it is not what RFC 4511 says."""
    try:
        tag, content, end = ber.read(pdu)
        parts = ber.elements(content)
        if tag != ber.SEQUENCE or end != len(pdu) or len(parts) not in (2, 3):
            raise MalformedRequest("not an LDAPMessage")
        if parts[1][0] != SEARCH_REQUEST:
            return None
        if parts[0][0] != ber.INTEGER:
            raise MalformedRequest("bad messageID")
        mid = ber.to_int(parts[0][1])
        controls = _controls(parts[2]) if len(parts) == 3 else []
        return mid, _search_request(parts[1][1]), controls
    except ber.BerError as exc:
        raise MalformedRequest(f"undecodable message: {exc}") from None


def _search_request(content: bytes) -> SearchRequest:
    fields = ber.elements(content)
    tags = [tag for tag, _ in fields]
    if len(fields) != 8 or tags[:6] != [0x04, 0x0A, 0x0A, 0x02, 0x02, 0x01] or tags[7] != 0x30:
        raise MalformedRequest("malformed SearchRequest")
    attributes = ber.elements(fields[7][1])
    if any(tag != ber.OCTET_STRING for tag, _ in attributes):
        raise MalformedRequest("malformed attribute list")
    return SearchRequest(
        base=text(fields[0][1]),
        scope=ber.to_int(fields[1][1]),
        size_limit=ber.to_int(fields[3][1]),
        time_limit=ber.to_int(fields[4][1]),
        types_only=fields[5][1] not in (b"", b"\x00"),
        filter=decode_filter(*fields[6]),
        attributes=tuple(text(value) for _, value in attributes),
    )


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


_COMPARISONS = {0xA3: f.Equality, 0xA5: f.GreaterOrEqual, 0xA6: f.LessOrEqual, 0xA8: f.Approx}


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
