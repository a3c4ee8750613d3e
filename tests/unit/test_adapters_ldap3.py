"""What metadir relies on in ldap3 beyond its documented API (``replicators/ldap/
ldap3_adapter.py``), checked against the installed ldap3: an upgrade that changes any of it
fails here, naming the ldap3 version, before an LDAP source fails in the field."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import ldap3
import pytest

from metadir.core import ber
from replicators.ldap import ldap3_adapter
from replicators.ldap.wire import search

WHO = f"ldap3 {ldap3_adapter.VERSION} (metadir is tested with {ldap3_adapter.TESTED})"


def test_the_installed_ldap3_is_the_one_metadir_is_tested_with() -> None:
    assert ldap3_adapter.VERSION.startswith(ldap3_adapter.TESTED + "."), WHO
    assert ldap3_adapter.contract_problems() == [], WHO


def test_filters_are_checked_with_ldap3s_parser() -> None:
    assert ldap3_adapter.filter_is_valid("(&(cn=a*)(!(sn=b)))"), WHO
    assert not ldap3_adapter.filter_is_valid("(cn=a)(sn=b"), WHO


@pytest.fixture
def wired() -> Iterator[tuple[ldap3.Connection, socket.socket]]:
    """A connection whose socket is one end of a socket pair: the test is the server."""
    conn = ldap3.Connection(ldap3.Server("localhost"), raise_exceptions=False)
    ours, theirs = socket.socketpair()
    ours.settimeout(5)  # a changed ldap3 fails the test instead of hanging it
    conn.socket = ours
    conn.closed = False
    conn.listening = True
    conn.strategy._outstanding = {}
    yield conn, theirs
    ours.close()
    theirs.close()


def _done(message_id: int, cookie: bytes | None = None) -> bytes:
    """A SearchResultDone, with a paged-results control if ``cookie`` is given."""
    done = ber.tlv(0x65, ber.tlv(0x0A, b"\x00") + ber.tlv(0x04, b"") * 2)
    controls = b""
    if cookie is not None:
        value = ber.tlv(0x30, ber.tlv(0x02, b"\x00") + ber.tlv(0x04, cookie))
        control = ber.tlv(0x04, b"1.2.840.113556.1.4.319") + ber.tlv(0x04, value)
        controls = ber.tlv(0xA0, ber.tlv(0x30, control))
    return ber.tlv(0x30, ber.integer(message_id) + done + controls)


def _entry(message_id: int) -> bytes:
    attribute = ber.tlv(0x30, ber.tlv(0x04, b"cn") + ber.tlv(0x31, ber.tlv(0x04, b"A")))
    entry = ber.tlv(0x64, ber.tlv(0x04, b"cn=A,dc=x") + ber.tlv(0x30, attribute))
    return ber.tlv(0x30, ber.integer(message_id) + entry)


def test_a_search_is_sent_and_its_answer_read_off_the_wire(
    wired: tuple[ldap3.Connection, socket.socket],
) -> None:
    conn, server = wired
    sent: list[bytes] = []

    def answer_it() -> None:
        # ldap3 numbers messages process-wide: answer the id it used
        _, envelope, _ = ber.read(server.recv(4096))
        sent.append(envelope)
        message_id = ber.to_int(ber.elements(envelope)[0][1])
        server.sendall(_entry(message_id) + _done(message_id, cookie=b"next"))

    responder = threading.Thread(target=answer_it, daemon=True)
    responder.start()
    answer = search(conn, "dc=x", "(cn=A)", ldap3.SUBTREE, ["cn"], page_size=10)
    responder.join(timeout=5)
    assert answer.entries == [("cn=A,dc=x", {"cn": [b"A"]})], WHO
    assert (answer.result["result"], answer.cookie) == (0, b"next"), WHO
    # what ldap3 sent: a searchRequest (0x63) with the paged-results control
    assert ber.elements(sent[0])[1][0] == 0x63, WHO
    assert b"1.2.840.113556.1.4.319" in sent[0], WHO
    # ldap3 no longer waits for an answer it will not read
    assert conn.strategy._outstanding == {}, WHO


def test_controls_metadir_sends() -> None:
    paged = ldap3_adapter.paged_control(500, b"")
    deleted = ldap3_adapter.show_deleted()
    assert str(paged["controlType"]) == "1.2.840.113556.1.4.319", WHO
    assert not bool(paged["criticality"]), WHO
    assert str(deleted["controlType"]) == "1.2.840.113556.1.4.417", WHO
