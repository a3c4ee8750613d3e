"""slapd as the oracle for the LDAP standards of test_ldap_standards.py, over TCP: metadir
serves a few contacts, its tree is dumped with ``ldapsearch`` and loaded into slapd with
slapadd (which takes the root's and the containers' entryUUIDs and timestamps as metadir
serves them), and both are sent the same bytes: filters no client library would encode,
the children scope, attribute lists with OIDs, options and ``@objectClass``, list views.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from metadir.core import ber
from metadir.ldap import controls
from tests.servers import (
    SLAPADD,
    SLAPD,
    MetadirServer,
    SlapdServer,
    dump_tree,
    parse_ldif,
    run_ldapsearch,
    slapd_holding,
    start_metadir,
    stop_metadir,
)
from tests.unit.test_ldap_standards import UNDEFINED, ber_filter, negated

pytestmark = [
    pytest.mark.slapd,
    pytest.mark.skipif(
        SLAPD is None or SLAPADD is None,
        reason="slapd is not installed (Debian package slapd; scripts/test.sh installs it)",
    ),
]

CSV = """Id;First;Last;Phone
1;Anna;Müller;+49 89 1234567
2;Bernd;Meier;
3;Carla;Schmidt;+49 30 7654321
4;Dieter;Groß;
"""


@dataclass
class Pair:
    metadir: MetadirServer
    slapd: SlapdServer


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    config = {
        "directories": [
            {
                "name": "contacts",
                "replicators": [
                    {"name": "crm", "type": "csv", "path": "crm.csv", "key": "Id",
                     "mapping": {"givenName": "First", "sn": "Last", "telephoneNumber": "Phone"}}
                ],
            }
        ],
    }  # fmt: skip
    metadir = start_metadir(tmp_path_factory.mktemp("standards"), config, {"crm.csv": CSV})
    slapd = None
    try:
        slapd = slapd_holding(tmp_path_factory.mktemp("slapd"), dump_tree(metadir.url))
        yield Pair(metadir, slapd)
    finally:
        if slapd is not None:
            slapd.stop()
        stop_metadir(metadir)


@dataclass(frozen=True)
class Answer:
    code: int
    found: frozenset[str]  # the entries, contacts by their UUID (uid= in slapd)
    attributes: frozenset[str]  # the attribute names sent, over all entries
    view: tuple[int, ...] | None  # the list view control's position and count
    open: bool  # whether the connection stayed open


def ask(
    url: str,
    filter_element: bytes,
    base: str = "dc=meta",
    scope: int = 2,
    attributes: tuple[str, ...] = ("1.1",),
    request_controls: bytes = b"",
) -> Answer:
    """One search request as raw bytes, then a root DSE read to see the connection lives."""
    host, port = url.removeprefix("ldap://").split(":")
    request = _search(base, scope, filter_element, attributes)
    root_dse = _search("", 0, ber.tlv(0x87, b"objectClass"), ())
    found, names, view, code = set(), set(), None, -1
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(ber.message(1, request, request_controls))
        for op_tag, op, response_controls in _responses(sock):
            if op_tag == ber.SEARCH_RESULT_ENTRY:
                dn, attrs = (v for _, v in ber.elements(op))
                found.add(re.sub(r"^(entryUUID|uid)=([^,]*),.*", r"\2", dn.decode()))
                names |= {ber.elements(a)[0][1].decode() for _, a in ber.elements(attrs)}
            elif op_tag == ber.SEARCH_RESULT_DONE:
                code = ber.to_int(ber.elements(op)[0][1])
                view = _view(response_controls)
        try:
            sock.sendall(ber.message(2, root_dse))
            alive = any(tag == ber.SEARCH_RESULT_DONE for tag, _, _ in _responses(sock))
        except OSError:  # closed
            alive = False
    return Answer(code, frozenset(found), frozenset(names), view, alive)


def _search(base: str, scope: int, filter_element: bytes, attributes: tuple[str, ...]) -> bytes:
    return ber.tlv(
        0x63,
        ber.octets(base) + ber.integer(scope, ber.ENUMERATED) + ber.integer(0, ber.ENUMERATED)
        + ber.integer(0) + ber.integer(0) + b"\x01\x01\x00" + filter_element
        + ber.tlv(ber.SEQUENCE, b"".join(ber.octets(a) for a in attributes)),
    )  # fmt: skip


def _responses(sock: socket.socket) -> Iterator[tuple[int, bytes, bytes]]:
    """The (protocolOp tag, protocolOp, controls) answering one request, up to its
    SearchResultDone (or a notice of disconnection, or the end)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        pos = 0
        while True:
            try:
                _, content, end = ber.read(data, pos)
            except ber.BerError:  # a message still arriving
                break
            pos = end
            parts = ber.elements(content)
            extra = parts[2][1] if len(parts) > 2 else b""
            yield parts[1][0], parts[1][1], extra
            if parts[1][0] in (ber.SEARCH_RESULT_DONE, ber.EXTENDED_RESPONSE):
                return
        data = data[pos:]


def _view(response_controls: bytes) -> tuple[int, ...] | None:
    for _, control in ber.elements(response_controls):
        parts = ber.elements(control)  # controlType, criticality?, controlValue
        oid, value = parts[0][1], parts[-1][1]
        if oid == controls.VLV_RESPONSE.encode():
            fields = ber.elements(ber.read(value)[1])
            return tuple(ber.to_int(v) for _, v in fields[:2])
    return None


def same(pair: Pair, filter_element: bytes, **kw: object) -> Answer:
    """What both servers answer, which must be the same."""
    mine = ask(pair.metadir.url, filter_element, **kw)  # type: ignore[arg-type]
    assert mine == ask(pair.slapd.url, filter_element, **kw)  # type: ignore[arg-type]
    return mine


@pytest.mark.parametrize("element", UNDEFINED.values(), ids=UNDEFINED.keys())
def test_undefined_assertions_as_slapd(pair: Pair, element: bytes) -> None:
    answer = same(pair, element)
    assert answer == Answer(0, frozenset(), frozenset(), None, True)
    assert same(pair, negated(element)) == answer


FILTERS = [
    "(2.5.4.4=Müller)",
    "(2.5.4.42=b*)",
    "(objectClass=2.5.6.6)",
    "(2.5.4.0=2.5.6.5)",
    "(cn;lang-de=*)",
    "(!(cn;lang-de=Anna Müller))",
    "(!(sn;LANG-DE;lang-en=x))",
    "(!(cn;binary=Anna Müller))",
    "(!(cn;x-foo=x))",
    "(entryUUID=*)",
    "(createTimestamp=*)",
    "(!(modifyTimestamp>=20000101000000Z))",
    "(&(objectClass=organizationalUnit)(entryUUID=*))",
    "(!(cn=\\ff))",
    "(!(sn>=\\c3))",
]


@pytest.mark.parametrize("text", FILTERS)
def test_filters_as_slapd(pair: Pair, text: str) -> None:
    assert same(pair, ber_filter(text)).code == 0


@pytest.mark.parametrize("base", ["dc=meta", "ou=contacts,dc=meta", "", "cn=Subschema"])
def test_children_scope_as_slapd(pair: Pair, base: str) -> None:
    same(pair, ber_filter("(objectClass=*)"), base=base, scope=3)


@pytest.mark.parametrize(
    "attributes",
    [("2.5.4.4",), ("2.5.4.3", "SN"), ("cn;lang-de",), ("cn;binary",), ("@person",),
     ("@organizationalUnit",), ("@noSuchClass",), ("@2.5.6.6", "givenName")],
)  # fmt: skip
def test_attribute_lists_as_slapd(pair: Pair, attributes: tuple[str, ...]) -> None:
    same(pair, ber_filter("(|(sn=Müller)(ou=contacts))"), attributes=attributes)


def vlv(target: bytes, before: int = 0, after: int = 0) -> bytes:
    sort_key = ber.tlv(ber.SEQUENCE, ber.octets("sn") + ber.octets("caseIgnoreOrderingMatch", 0x80))
    sort = controls.control(controls.SORT, ber.tlv(ber.SEQUENCE, sort_key))
    view = ber.tlv(ber.SEQUENCE, ber.integer(before) + ber.integer(after) + target)
    return controls.controls(sort, controls.control(controls.VLV, view))


@pytest.mark.parametrize(
    "target",
    [(1, 0), (4, 0), (0, 0), (5, 0), (100, 0), (5, 4), (5, 5), (2, 8), b"m", b"\xff", b"Gro\xc3"],
)
def test_list_views_as_slapd(pair: Pair, target: tuple[int, int] | bytes) -> None:
    if isinstance(target, bytes):
        wanted = ber.octets(target, 0x81)
    else:
        wanted = ber.tlv(0xA0, ber.integer(target[0]) + ber.integer(target[1]))
    # the list view control's own result code differs: slapd sends its private 77 where the
    # draft says offsetRangeError (61); both answer virtualListViewError (76)
    same(pair, ber_filter("(objectClass=person)"), base="ou=contacts,dc=meta",
         request_controls=vlv(wanted, after=1))  # fmt: skip


@pytest.mark.parametrize(
    "element",
    [
        ber.tlv(0xA3, ber.octets("cn") + ber.octets("x") + ber.octets("y")),
        ber.tlv(0xA2, ber.tlv(0x87, b"cn") + ber.tlv(0x87, b"sn")),
        ber.tlv(0xA9, ber.octets("sn", 0x82)),
    ],
    ids=["three-part assertion", "two-part not", "extensible match without a value"],
)
def test_what_is_no_filter_ends_the_connection_as_in_slapd(pair: Pair, element: bytes) -> None:
    assert not same(pair, element).open


def test_with_ldapsearch_as_slapd(pair: Pair) -> None:
    """libldap encodes OIDs, options, ``@objectClass`` and the children scope itself."""

    def entries(url: str) -> list[tuple[str, dict[str, list[str]]]]:
        code, out, err = run_ldapsearch(
            ["-x", "-LLL", "-o", "ldif-wrap=no", "-H", url, "-b", "dc=meta", "-s", "children",
             "(|(2.5.4.4=müller)(objectClass=2.5.6.5)(!(cn;lang-de=x)))", "@person", "2.5.4.42",
             "cn;binary", "cn;lang-de"]
        )  # fmt: skip
        assert code == 0, err
        return sorted(
            (re.sub(r"^(entryUUID|uid)=", "", dn), attrs) for dn, attrs in parse_ldif(out)
        )

    found = entries(pair.metadir.url)
    assert found == entries(pair.slapd.url)
    assert len(found) == 5  # the container and the contacts, not the root
    assert {name for _, attrs in found for name in attrs} == {
        "objectClass", "cn", "sn", "givenName", "telephoneNumber"
    }  # fmt: skip
