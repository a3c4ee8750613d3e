"""Hostile requests (issue 10, points 6 and 7): every malformed packet is answered as RFC
4511 says, nothing reaches Twisted as an unhandled error, and no wire value can forge or
flood a log line. In process with a string transport, over TCP against ``metadir serve``,
and with the seeded mutation fuzzer of scripts/fuzz_ldap.py."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import ldap3
import pytest
from ldaptor.protocols import pureldap
from twisted.internet.task import Clock
from twisted.python import log as twisted_log

from metadir.core import ber
from metadir.ldap.logtext import loggable
from metadir.ldap.settings import Limits
from scripts.fuzz_ldap import fuzz
from tests.servers import start_metadir, stop_metadir
from tests.unit.test_ldap_protocol import Client, make_factory, read_messages

HUGE = b"\x01" + bytes(4999)  # a 5,000-byte INTEGER


def _search(
    scope: bytes = b"\x02",
    size: bytes = b"\x00",
    time: bytes = b"\x00",
    filter: bytes = ber.tlv(0x87, b"cn"),
    attrs: bytes = ber.octets("cn"),
) -> bytes:
    op = ber.tlv(
        0x63,
        ber.octets("dc=meta")
        + ber.tlv(ber.ENUMERATED, scope)
        + b"\x0a\x01\x00"
        + ber.tlv(ber.INTEGER, size)
        + ber.tlv(ber.INTEGER, time)
        + b"\x01\x01\x00"
        + filter
        + ber.tlv(ber.SEQUENCE, attrs),
    )
    return ber.message(5, op)  # fmt: skip


def _bind(version: bytes = b"\x03", name: bytes = ber.octets("cn=x")) -> bytes:
    return ber.message(7, ber.tlv(0x60, ber.tlv(ber.INTEGER, version) + name + b"\x80\x01p"))


def _compare(ava: bytes) -> bytes:
    return ber.message(9, ber.tlv(0x6E, ber.octets("dc=meta") + ber.tlv(ber.SEQUENCE, ava)))


# what the client sent → the reason in the notice of disconnection
DISCONNECTED = {
    "bind name as INTEGER (issue)": (bytes.fromhex("300d02010160080201020201008000"),
                                     "malformed BindRequest"),
    "compare ava of a SET (issue)": (bytes.fromhex(
        "302b02011f6e2604136f753d636f6e74616374732c64633d6d657461300f31030401780408636f6e"
        "7461637473"), "malformed attribute value assertion"),
    "compare value as INTEGER (issue)": (bytes.fromhex(
        "302302011f6e1e04136f753d636f6e74616374732c64633d6d657461300704026f7502011c"),
        "malformed attribute value assertion"),
    "bind name as INTEGER": (_bind(name=b"\x02\x01\x07"), "malformed BindRequest"),
    "messageID as OCTET STRING": (
        ber.tlv(ber.SEQUENCE, ber.octets("1") + ber.tlv(0x42, b"")), "messageID is not"),
    "messageID out of range": (ber.message(2**31, ber.tlv(0x42, b"")), "messageID out of"),
    "filter attribute as INTEGER": (
        _search(filter=ber.tlv(0xA3, b"\x02\x01\x01" + ber.octets("x"))), "assertion"),
    "requested attribute as INTEGER": (_search(attrs=b"\x02\x01\x01"), "attribute list"),
    "compare attribute as INTEGER": (_compare(b"\x02\x01\x01" + ber.octets("x")), "assertion"),
    "compare value as SET": (_compare(ber.octets("sn") + b"\x31\x00"), "assertion"),
}  # fmt: skip

# a readable request with an integer out of its range → protocolError to it, connection kept
REFUSED = {
    "huge timeLimit": (_search(time=HUGE), "timeLimit out of range"),
    "timeLimit beyond maxInt": (_search(time=b"\x00\x80\x00\x00\x00"), "timeLimit out of range"),
    "negative sizeLimit": (_search(size=b"\xff"), "sizeLimit out of range"),
    "5,000-byte scope": (_search(scope=HUGE), "unknown scope"),
    "scope 4": (_search(scope=b"\x04"), "unknown scope"),
    "5,000-byte version": (_bind(version=HUGE), "only LDAP versions 2 and 3"),
    "version 1": (_bind(version=b"\x01"), "only LDAP versions 2 and 3"),
}


ROOT_DSE = pureldap.LDAPSearchRequest(
    baseObject=b"", scope=0, filter=pureldap.LDAPFilter_present("objectClass")
)


@pytest.fixture
def unhandled(caplog: pytest.LogCaptureFixture) -> list:
    """Twisted's error events and any log record with a traceback, while the test runs."""
    errors: list = []
    observer = errors.append
    twisted_log.addObserver(observer)
    yield errors
    twisted_log.removeObserver(observer)
    errors[:] = [e for e in errors if e.get("isError")]
    errors += [r for r in caplog.records if r.exc_info]


def _sent(pdu: bytes) -> Client:
    """A connection that logs its operations, after ``pdu`` came in on it."""
    factory = make_factory()
    factory.log_operations = True
    client = Client(factory)
    client.protocol.dataReceived(pdu)
    return client


@pytest.mark.parametrize(("pdu", "why"), DISCONNECTED.values(), ids=DISCONNECTED.keys())
def test_malformed_messages_get_a_notice_of_disconnection(
    pdu: bytes, why: str, unhandled: list
) -> None:
    client = _sent(pdu)
    [notice] = client.responses()
    assert notice.id == 0 and notice.value.resultCode == 2
    assert notice.value.responseName == b"1.3.6.1.4.1.1466.20036"
    assert why.encode() in notice.value.errorMessage
    assert client.transport.disconnecting
    assert unhandled == []


@pytest.mark.parametrize(("pdu", "why"), REFUSED.values(), ids=REFUSED.keys())
def test_fields_out_of_range_get_protocol_error_and_the_connection_stays(
    pdu: bytes, why: str, unhandled: list
) -> None:
    client = _sent(pdu)
    [reply] = client.responses()
    assert reply.id in (5, 7) and reply.value.resultCode == 2
    assert reply.value.errorMessage == why.encode()
    assert not client.transport.disconnecting
    *_, done = client.send(ROOT_DSE, mid=8)
    assert done.value.resultCode == 0
    assert unhandled == []


def test_wire_values_cannot_forge_or_flood_the_access_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    factory = make_factory()
    factory.log_operations = True
    client = Client(factory)
    forged = "cn=x\nFORGED-LINE metadir.access: conn=1 op=BIND result=0\x1b[31m"
    caplog.set_level(logging.INFO)
    client.protocol.dataReceived(ber.message(1, ber.tlv(
        0x60, ber.integer(3) + ber.octets(forged) + b"\x80\x00")))  # fmt: skip
    big = "9" * 100_000
    client.protocol.dataReceived(_search(filter=ber.tlv(0xA3, ber.octets("sn") + ber.octets(big))))
    lines = [r.getMessage() for r in caplog.records if r.name == "metadir.access"]
    assert len(lines) == 2 and all("\n" not in line and "\x1b" not in line for line in lines)
    assert '\\nFORGED-LINE metadir.access: conn=1 op=BIND result=0\\x1b[31m"' in lines[0]
    assert "…(100005 chars)" in lines[1] and len(lines[1]) < 600


def test_loggable_escapes_controls_and_cuts_long_values() -> None:
    assert loggable('a\n\r\t\x00\x1b\x7f\x85\u2028\u202e"\\é') == (
        'a\\n\\r\\t\\x00\\x1b\\x7f\\x85\\u2028\\u202e\\"\\\\é'
    )
    assert loggable("x" * 300) == "x" * 256 + "…(300 chars)"
    assert loggable(b"\xff\n") == "\ufffd\\n"


def test_short_fuzz_run_finds_no_traceback() -> None:
    outcome = fuzz(3000, seed=1)
    assert outcome.cases == 3000
    assert not outcome.failures, outcome.failures.most_common(5)


CSV = "Id,Name,Phone\n1,Ann Example,+49 30 1234567\n"
CONFIG = {
    "server": {"allow_anonymous": True},
    "directories": [{"name": "contacts", "replicators": [{
        "name": "crm", "type": "csv", "path": "contacts.csv", "key": "Id",
        "mapping": {"custom0": "Id", "sn": "Name", "telephoneNumber": "Phone"},
    }]}],
}  # fmt: skip


def _exchange(port: int, pdu: bytes) -> list:
    """Send ``pdu`` on a new connection; what came back until the server closed or paused."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(pdu)
        data = b""
        sock.settimeout(1)
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            pass
    return read_messages(data)


def test_reproducers_over_tcp(tmp_path: Path) -> None:
    server = start_metadir(tmp_path, CONFIG, {"contacts.csv": CSV})
    try:
        for pdu, _why in DISCONNECTED.values():
            [notice] = _exchange(server.port, pdu)
            assert notice.id == 0 and notice.value.resultCode == 2
        for pdu, why in REFUSED.values():
            [reply] = _exchange(server.port, pdu)
            assert reply.value.resultCode == 2 and reply.value.errorMessage == why.encode()
        root = ber.message(1, ber.tlv(0x63, ber.octets("") + b"\x0a\x01\x00\x0a\x01\x00"
                           + b"\x02\x01\x00\x02\x01\x00\x01\x01\x00" + ber.tlv(0x87, b"objectClass")
                           + ber.tlv(ber.SEQUENCE, b"")))  # fmt: skip
        *_entries, done = _exchange(server.port, root)
        assert done.value.resultCode == 0
    finally:
        stop_metadir(server)
    assert "Traceback" not in server.stderr


# --- point 8: one request cannot hold everyone up; point 9: slow senders ---------------------


def _numbers(count: int) -> bytes:
    """An OR of ``count`` telephoneNumber equalities, in BER."""
    return ber.tlv(
        0xA1,
        b"".join(
            ber.tlv(0xA3, ber.octets("telephoneNumber") + ber.octets(f"+49891234{n:04d}"))
            for n in range(count)
        ),
    )


@pytest.mark.parametrize(("count", "code"), [(99, 0), (100, 11), (3000, 11)])
def test_a_filter_with_too_many_elements_exceeds_an_admin_limit(
    count: int, code: int, unhandled: list
) -> None:
    factory = make_factory()
    factory.limits = Limits(max_filter_elements=100)  # the OR itself is one element
    client = Client(factory)
    client.transport.clear()
    client.protocol.dataReceived(_search(filter=_numbers(count)))
    *_entries, done = read_messages(client.transport.value())
    assert done.value.resultCode == code
    if code:
        assert done.value.errorMessage == (
            f"the filter has {count + 1} elements; this server takes at most 100".encode()
        )
    assert not client.transport.disconnecting and not unhandled


def test_a_request_must_arrive_within_its_time_however_it_trickles_in() -> None:
    factory = make_factory()
    factory.clock = clock = Clock()
    factory.limits = Limits(request_timeout=30, idle_timeout=0)
    client = Client(factory)
    request = _search()
    client.transport.clear()
    for byte in request[:-1]:  # a byte every second: never idle, never done
        client.protocol.dataReceived(bytes([byte]))
        clock.advance(1)
        if client.transport.disconnecting:
            break
    assert client.transport.disconnecting
    [notice] = read_messages(client.transport.value())
    assert notice.id == 0 and notice.value.resultCode == 2
    assert notice.value.errorMessage == b"a request took more than 30 s to arrive"


def test_requests_that_arrive_in_time_are_not_cut_off() -> None:
    factory = make_factory()
    factory.clock = clock = Clock()
    factory.limits = Limits(request_timeout=30, idle_timeout=0)
    client = Client(factory)
    request = _search()
    for _ in range(3):  # each request in two pieces, 20 s apart: 60 s in all
        client.protocol.dataReceived(request[:10])
        clock.advance(20)
        client.protocol.dataReceived(request[10:])
        clock.advance(20)
    assert not client.transport.disconnecting
    assert not clock.getDelayedCalls()  # no deadline left behind
    dones = [m for m in read_messages(client.transport.value()) if m.id == 5]
    assert [m.value.resultCode for m in dones if hasattr(m.value, "resultCode")] == [0, 0, 0]


def test_a_huge_or_over_tcp_is_refused_and_the_connection_serves_on(tmp_path: Path) -> None:
    server = start_metadir(tmp_path, CONFIG, {"contacts.csv": CSV})
    try:
        conn = ldap3.Connection(ldap3.Server(server.url), auto_bind=True)
        big = "(|" + "".join(f"(telephoneNumber=+4989{n:07d})" for n in range(20_000)) + ")"
        conn.search("dc=meta", big, attributes=["cn"])
        assert conn.result["result"] == 11, conn.result
        conn.search("dc=meta", "(objectClass=*)", attributes=["cn"])
        assert conn.result["result"] == 0 and conn.entries
        conn.unbind()
    finally:
        stop_metadir(server)
    assert "Traceback" not in server.stderr
