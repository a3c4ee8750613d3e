"""Searches whose answers are read straight off the wire.

ldap3 encodes and sends the request (filter, attribute list, paged-results control). Its
response decoder, though, builds three dictionaries and decodes every value per entry:
about 0.35 ms an entry, half a minute for 100k contacts. The answers are read here with
metadir's lean BER reader instead, into (DN, {attribute: [raw values]}).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ldap3

from metadir.core import ber
from replicators.ldap import ldap3_adapter

PAGED_RESULTS = b"1.2.840.113556.1.4.319"
NOTICE_OF_DISCONNECTION = b"1.3.6.1.4.1.1466.20036"
# protocolOp tags of the search answers, and of an unsolicited notice
_ENTRY, _REFERENCE, _DONE, _EXTENDED = 0x64, 0x73, 0x65, 0x78
_CONTROLS = 0xA0

Entry = tuple[str, dict[str, list[bytes]]]


class Closed(Exception):
    """The server closed the connection, or ended the session, before the search was done."""


@dataclass
class Answer:
    """What one search (one page of a paged search) returned."""

    entries: list[Entry] = field(default_factory=list)
    # resultCode, diagnosticMessage and matchedDN as ``result``, ``message``, ``dn``
    result: dict = field(default_factory=dict)
    # the paged-results cookie for the next page; empty when this was the last
    cookie: bytes = b""

    def values(self, name: str) -> list[bytes]:
        """The values of attribute ``name`` (any case) in the entries found."""
        return [
            value
            for _, attributes in self.entries
            for found, values in attributes.items()
            if found.lower() == name.lower()
            for value in values
        ]


def search(
    conn: ldap3.Connection,
    base: str,
    search_filter: str,
    scope: str,
    attributes: list[str],
    *,
    size_limit: int = 0,
    page_size: int | None = None,
    cookie: bytes | None = None,
    controls: tuple[Any, ...] = (),
) -> Answer:
    """One search on ``conn``, with ``controls`` (from ``ldap3_adapter``) besides the
    paged-results one. Raises ``Closed``, ldap3's communication errors, or
    ``ber.BerError`` for an answer that is no LDAP."""
    paged = [ldap3_adapter.paged_control(page_size, cookie)] if page_size else []
    message_id = ldap3_adapter.send_search(
        conn, base, search_filter, scope, attributes, size_limit, [*controls, *paged]
    )
    answer = Answer()
    while True:
        messages = ldap3_adapter.receive(conn)
        if not messages:
            raise Closed("the server closed the connection")
        for message in messages:
            try:
                done = _read_message(message, message_id, answer)
            except IndexError:
                raise ber.BerError("a truncated answer") from None
            if done:
                return answer


def _read_message(message: bytes, message_id: int, answer: Answer) -> bool:
    """Add one LDAPMessage to ``answer``; whether it ended the search."""
    _, envelope, _ = ber.read(message)
    _, number, pos = ber.read(envelope)
    tag, operation, pos = ber.read(envelope, pos)
    if ber.to_int(number) != message_id:
        if tag == _EXTENDED and NOTICE_OF_DISCONNECTION in operation:
            parts = ber.elements(operation)
            reason = parts[2][1].decode("utf-8", "replace") if len(parts) > 2 else ""
            raise Closed(f"the server ended the session: {reason or 'no reason given'}")
        return False  # an answer to something else: not this search's
    if tag == _ENTRY:
        answer.entries.append(_entry(operation))
        return False
    if tag == _REFERENCE:
        return False  # continuation references (AD's DomainDnsZones...) lead elsewhere
    if tag != _DONE:
        raise ber.BerError(f"unexpected answer (tag {tag:#x}) to a search")
    parts = ber.elements(operation)
    answer.result = {
        "result": ber.to_int(parts[0][1]),
        "dn": parts[1][1].decode("utf-8", "replace"),
        "message": parts[2][1].decode("utf-8", "replace"),
    }
    if pos < len(envelope):
        control_tag, controls, _ = ber.read(envelope, pos)
        if control_tag == _CONTROLS:
            answer.cookie = _cookie(controls)
    return True


def _entry(operation: bytes) -> Entry:
    """(DN, {attribute: [values]}) of a SearchResultEntry's content. The hottest code of a
    read: element headers are read inline here, not with ``ber.read`` per element."""
    data = operation
    size, pos = _length(data, 1)
    dn = data[pos : pos + size]
    _, pos = _length(data, pos + size + 1)  # the attribute list: its elements follow
    end = len(data)
    values: dict[str, list[bytes]] = {}
    while pos < end:
        # PartialAttribute: skip its header, read the type, then the set of values; short
        # length forms (one byte) are read inline, they are nearly all
        first = data[pos + 1]
        pos += 2 if first < 0x80 else 2 + (first & 0x7F)
        size = data[pos + 1]
        if size < 0x80:
            pos += 2
        else:
            size, pos = _length(data, pos + 1)
        name = data[pos : pos + size].decode("utf-8", "replace")
        pos += size
        size = data[pos + 1]
        if size < 0x80:
            pos += 2
        else:
            size, pos = _length(data, pos + 1)
        stop = pos + size
        items = []
        while pos < stop:
            size = data[pos + 1]
            if size < 0x80:
                pos += 2
            else:
                size, pos = _length(data, pos + 1)
            items.append(data[pos : pos + size])
            pos += size
        values[name] = items
    return dn.decode("utf-8", "replace"), values


def _length(data: bytes, pos: int) -> tuple[int, int]:
    """The BER length whose first byte is at ``pos``, and where the content starts."""
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def _cookie(controls: bytes) -> bytes:
    """The cookie of the paged-results response control among ``controls``."""
    for _, control in ber.elements(controls):
        parts = ber.elements(control)
        if parts and parts[0][1] == PAGED_RESULTS:
            value = parts[-1][1]  # criticality may stand between type and value
            _, paged, _ = ber.read(value)
            return ber.elements(paged)[1][1]
    return b""
