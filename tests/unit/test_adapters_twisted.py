"""Contract tests for the third-party internals metadir relies on, each behind one module:
Twisted's private write queue (metadir/ldap/writes.py) and ldaptor's string filters
(metadir/ldap/decode.py ``parse_filter``). A failure here names the library and its
version: an upgrade changed what the adapter relies on; fix the adapter, then the pin in
pyproject.toml."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import ldaptor
import pytest
import twisted
from twisted.internet import protocol, tcp
from twisted.internet.testing import MemoryReactor

from metadir.directory import filters as f
from metadir.ldap import writes
from metadir.ldap.decode import parse_filter

TWISTED = f"Twisted {twisted.__version__}"
LDAPTOR = f"ldaptor {ldaptor.__version__}"


@pytest.fixture
def server() -> Iterator[tuple[tcp.Server, socket.socket]]:
    """A real tcp.Server transport on one end of a socket pair, the peer on the other;
    the reactor is a MemoryReactor, so nothing runs unless the test says so."""
    ours, peer = socket.socketpair()
    peer.settimeout(5)
    transport = tcp.Server(ours, protocol.Protocol(), ("127.0.0.1", 4711), None, 1, MemoryReactor())  # type: ignore[arg-type]
    yield transport, peer
    ours.close()
    peer.close()


def test_a_tcp_server_has_what_writes_relies_on(server: tuple[tcp.Server, socket.socket]) -> None:
    transport, _peer = server
    missing = [name for name in writes.RELIES_ON if not hasattr(transport, name)]
    assert not missing, f"{TWISTED}: tcp.Server lacks {missing}, which ldap/writes.py reads"
    assert transport.TLS is False, f"{TWISTED}: a plain tcp.Server no longer says TLS is False"
    assert transport.connected and not transport.disconnecting, f"{TWISTED}: a new tcp.Server"
    assert transport.dataBuffer == b"" and transport._tempDataLen == 0, (
        f"{TWISTED}: a new tcp.Server does not start with an empty write queue"
    )
    assert writes._idle_tcp(transport), f"{TWISTED}: an idle tcp.Server is not seen as idle"


def test_write_queues_and_tempdatalen_says_so(server: tuple[tcp.Server, socket.socket]) -> None:
    transport, peer = server
    transport.write(b"queued")
    assert transport._tempDataLen == len(b"queued"), (
        f"{TWISTED}: tcp.Server.write no longer counts queued bytes in _tempDataLen; "
        "ldap/writes.py would send answers past queued ones"
    )
    assert not writes._idle_tcp(transport)
    # behind a queue, writes.send queues too: the order on the wire is kept
    writes.send(transport, [b" then", b" this"])
    transport.doWrite()
    assert peer.recv(100) == b"queued then this", f"{TWISTED}: the write queue lost the order"
    assert transport._tempDataLen == 0 and not transport.dataBuffer, (
        f"{TWISTED}: a flushed tcp.Server does not look idle again"
    )


def test_write_some_data_sends_at_once(server: tuple[tcp.Server, socket.socket]) -> None:
    transport, peer = server
    sent = transport.writeSomeData(b"abc")
    assert sent == 3, f"{TWISTED}: tcp.Server.writeSomeData returned {sent!r}, not a count"
    assert peer.recv(100) == b"abc", f"{TWISTED}: writeSomeData did not send"
    writes.send(transport, [b"direct"])
    assert peer.recv(100) == b"direct" and transport._tempDataLen == 0
    reactor = transport.reactor
    assert isinstance(reactor, MemoryReactor) and not reactor.writers, (
        f"{TWISTED}: a direct send registered write interest"
    )


def test_write_some_data_on_a_lost_connection_returns_no_count(
    server: tuple[tcp.Server, socket.socket],
) -> None:
    transport, peer = server
    peer.close()
    outcome = None
    for _ in range(3):  # the first send after the peer's close may still succeed
        outcome = transport.writeSomeData(b"x" * 70_000)
        if not isinstance(outcome, int):
            break
    assert not isinstance(outcome, int) and isinstance(outcome, BaseException), (
        f"{TWISTED}: writeSomeData on a lost connection returned {outcome!r}, "
        "not an exception object; ldap/writes.py tells the two apart"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(cn=Anna)", f.Equality("cn", "Anna")),
        (
            "(&(sn=a*)(!(mail=*)))",
            f.And((f.Substrings("sn", "a", (), None), f.Not(f.Present("mail")))),
        ),
    ],
)
def test_ldaptor_string_filters_still_encode_as_rfc_4511_says(text: str, expected: object) -> None:
    """parse_filter reads a string filter with ldaptor's public parseFilter and its
    toWire(); nothing else of ldaptor is used by metadir (the wire is read by decode.py)."""
    assert parse_filter(text) == expected, f"{LDAPTOR}: parseFilter({text!r}).toWire() changed"
    with pytest.raises(ValueError, match="not an LDAP filter"):
        parse_filter("(cn=unclosed")
