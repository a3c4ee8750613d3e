"""Lean BER (RFC 4511 §4): encoding every response, and reading the elements of requests
and control values.

Search results are encoded here because an entry's attributes are encoded once and reused
for every search that returns it, and only the message envelope is built per response.
Requests are read with these elements (see ``decode.py``): ldaptor's decoder took more than
half of a caller lookup's time, and took wrong BER types without a word.
"""

from __future__ import annotations

from collections.abc import Iterable

# universal tags
INTEGER = 0x02
OCTET_STRING = 0x04
ENUMERATED = 0x0A
SEQUENCE = 0x30
SET = 0x31

# protocolOp tags of responses (APPLICATION, constructed)
BIND_RESPONSE = 0x61
SEARCH_RESULT_ENTRY = 0x64
SEARCH_RESULT_DONE = 0x65
MODIFY_RESPONSE = 0x67
ADD_RESPONSE = 0x69
DEL_RESPONSE = 0x6B
MODIFY_DN_RESPONSE = 0x6D
COMPARE_RESPONSE = 0x6F
EXTENDED_RESPONSE = 0x78

NOTICE_OF_DISCONNECTION = "1.3.6.1.4.1.1466.20036"


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + length(len(content)) + content


def octets(value: str | bytes, tag: int = OCTET_STRING) -> bytes:
    return tlv(tag, value.encode("utf-8") if isinstance(value, str) else value)


def integer(value: int, tag: int = INTEGER) -> bytes:
    return tlv(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def attribute(name: str, values: Iterable[str | bytes]) -> bytes:
    """A PartialAttribute: its type and the set of its values."""
    return tlv(SEQUENCE, octets(name) + tlv(SET, b"".join(octets(v) for v in values)))


def search_entry_body(dn: str, attributes: bytes) -> bytes:
    """A SearchResultEntry without its message envelope; ``attributes`` are encoded
    PartialAttributes, concatenated."""
    return tlv(SEARCH_RESULT_ENTRY, octets(dn) + tlv(SEQUENCE, attributes))


def message(message_id: int, operation: bytes, controls: bytes = b"") -> bytes:
    """An LDAPMessage around an encoded protocolOp (and encoded ``[0] Controls``)."""
    return tlv(SEQUENCE, integer(message_id) + operation + controls)


def result(
    tag: int, code: int, matched_dn: str = "", message_text: str = "", extra: bytes = b""
) -> bytes:
    """An LDAPResult-shaped protocolOp (``extra``: fields that follow, e.g. responseName)."""
    return tlv(tag, integer(code, ENUMERATED) + octets(matched_dn) + octets(message_text) + extra)


def result_code(operation: bytes) -> int:
    """The resultCode of an LDAPResult-shaped protocolOp made by ``result``."""
    start = 2 + (operation[1] & 0x7F if operation[1] & 0x80 else 0)  # tag and length
    size = operation[start + 1]
    return int.from_bytes(operation[start + 2 : start + 2 + size], "big", signed=True)


def extended_response(
    code: int, message_text: str = "", name: str | None = None, value: bytes | None = None
) -> bytes:
    extra = b""
    if name is not None:
        extra += octets(name, tag=0x8A)  # [10] responseName
    if value is not None:
        extra += octets(value, tag=0x8B)  # [11] responseValue
    return result(EXTENDED_RESPONSE, code, "", message_text, extra)


def frame_length(buffer: bytes | bytearray) -> int | None:
    """Total length of the BER element at the start of ``buffer``, or None when its header
    is not complete yet. Raises ``ValueError`` on an indefinite or absurd length."""
    if len(buffer) < 2:
        return None
    first = buffer[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4:
        raise ValueError("indefinite or oversized BER length")
    if len(buffer) < 2 + count:
        return None
    return 2 + count + int.from_bytes(buffer[2 : 2 + count], "big")


class BerError(ValueError):
    """Bytes that are not the BER they should be."""


def read(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """The element at ``pos``: (tag, content, position after it)."""
    if pos + 2 > len(data):
        raise BerError("truncated element")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise BerError("bad length")
        size = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        size = first
    if pos + size > len(data):
        raise BerError("truncated element")
    return tag, data[pos : pos + size], pos + size


def elements(content: bytes) -> list[tuple[int, bytes]]:
    """The elements a constructed element's content holds."""
    out, pos = [], 0
    while pos < len(content):
        tag, value, pos = read(content, pos)
        out.append((tag, value))
    return out


def to_int(content: bytes) -> int:
    if not content:
        raise BerError("empty INTEGER")
    return int.from_bytes(content, "big", signed=True)
