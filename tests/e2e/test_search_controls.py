"""Paged results, server-side sort, virtual list view and timeLimit, over TCP with
``ldapsearch`` and ldap3, and byte-level edge cases in process.

Sorted and paged results are also compared with slapd's in test_differential.py.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import ldap3
import pytest
from ldaptor.protocols import pureber, pureldap
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from metadir.config import DirectoryConfig
from metadir.core import ber
from metadir.core.records import StoredEntry
from metadir.directory.backend import DirectoryBackend
from metadir.directory.tree import DirectoryTree
from metadir.ldap import controls
from metadir.ldap.pages import MAX_OPEN
from metadir.ldap.protocol import LDAPServerFactory
from tests.servers import (
    MetadirServer,
    connect,
    parse_ldif,
    run_ldapsearch,
    start_metadir,
    stop_metadir,
)
from tests.unit.test_ldap_protocol import read_messages

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from ldaptor.ldapfilter import parseFilter

CONTACTS = "ou=contacts,dc=meta"
NAMES = ["Müller", "meier", "Zander", "Abel", "Öztürk", "Beck", "Maier", "Schulz", "Groß", "Adam"]
COUNT = 60


def csv_text() -> str:
    rows = ["Id;First;Last;City"]
    for i in range(COUNT):
        city = "" if i % 10 == 3 else f"City{i % 4}"  # some contacts have no city
        rows.append(f"{i:03};First{i:02};{NAMES[i % len(NAMES)]};{city}")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetadirServer]:
    config = {
        # the server's own limit does not cut paged searches short
        "server": {"size_limit": 50},
        "directories": [
            {
                "name": "contacts",
                "replicators": [
                    {"name": "crm", "type": "csv", "path": "crm.csv", "key": "Id",
                     "mapping": {"givenName": "First", "sn": "Last", "l": "City"}}
                ],
            }
        ],
    }  # fmt: skip
    server = start_metadir(tmp_path_factory.mktemp("controls"), config, {"crm.csv": csv_text()})
    yield server
    stop_metadir(server)


def ldapsearch(server: MetadirServer, *args: str) -> tuple[int, str, str]:
    return run_ldapsearch(
        ["-x", "-o", "ldif-wrap=no", "-H", server.url, "-b", CONTACTS, "-s", "one", *args]
    )


def entries(out: str) -> list[dict[str, list[str]]]:
    """The entries of ``ldapsearch`` output (its result and control lines left out)."""
    blocks = [b for b in re.split(r"\n\s*\n", out) if re.search(r"^dn:", b, re.MULTILINE)]
    return [attrs for _, attrs in parse_ldif("\n\n".join(blocks))]


def values(out: str, attribute: str) -> list[str]:
    return [attrs.get(attribute, [""])[0] for attrs in entries(out)]


FIFTY = "(!(givenName=First5*))"  # as many contacts as the server's size limit allows


# -- paged results ---------------------------------------------------------------------------


def test_paged_search_with_ldapsearch(server: MetadirServer) -> None:
    code, out, err = ldapsearch(server, "-E", "pr=7/noprompt", "(objectClass=person)", "sn")
    assert code == 0, err
    assert len(entries(out)) == COUNT  # more than size_limit: paging reads everything
    # every page estimates the whole result (RFC 2696), not what is left of it
    assert len(re.findall(r"^pagedresults: estimate=60 ", out, re.MULTILINE)) == 9  # ceil(60/7)
    assert re.search(r"^pagedresults: estimate=60 cookie=$", out, re.MULTILINE)  # the last page


def test_paged_search_with_ldap3_and_changing_page_sizes(server: MetadirServer) -> None:
    conn = connect(server.url)
    try:
        found = conn.extend.standard.paged_search(
            CONTACTS, "(objectClass=person)", attributes=["sn"], paged_size=5, generator=False
        )
        dns = [r["dn"] for r in found if r["type"] == "searchResEntry"]
        assert len(dns) == len(set(dns)) == COUNT

        seen, cookie = [], None
        for size in (3, 11, 1, 50, 50):  # the page size may change from page to page
            conn.search(CONTACTS, "(objectClass=person)", attributes=["sn"], paged_size=size,
                        paged_cookie=cookie)  # fmt: skip
            assert conn.result["result"] == 0, conn.result
            seen += [r["dn"] for r in conn.response]
            cookie = conn.result["controls"][controls.PAGED]["value"]["cookie"]
            if not cookie:
                break
        assert sorted(seen) == sorted(dns)
    finally:
        conn.unbind()


def test_paged_search_ended_early_and_bad_cookies(server: MetadirServer) -> None:
    conn = connect(server.url)
    try:
        conn.search(CONTACTS, "(objectClass=person)", paged_size=10)
        cookie = conn.result["controls"][controls.PAGED]["value"]["cookie"]
        # size 0 with the cookie ends the search and frees it
        conn.search(CONTACTS, "(objectClass=person)", paged_size=0, paged_cookie=cookie)
        assert conn.result["result"] == 0 and conn.response == []
        conn.search(CONTACTS, "(objectClass=person)", paged_size=10, paged_cookie=cookie)
        assert conn.result["result"] == 53  # used up
        # a cookie of another search, and one never handed out
        conn.search(CONTACTS, "(objectClass=person)", paged_size=10)
        cookie = conn.result["controls"][controls.PAGED]["value"]["cookie"]
        conn.search(CONTACTS, "(sn=m*)", paged_size=10, paged_cookie=cookie)
        assert conn.result["result"] == 53
        conn.search(CONTACTS, "(objectClass=person)", paged_size=10, paged_cookie=b"forged")
        assert conn.result["result"] == 53
    finally:
        conn.unbind()
    # another connection cannot use a cookie either
    first, second = connect(server.url), connect(server.url)
    try:
        first.search(CONTACTS, "(objectClass=person)", paged_size=10)
        cookie = first.result["controls"][controls.PAGED]["value"]["cookie"]
        second.search(CONTACTS, "(objectClass=person)", paged_size=10, paged_cookie=cookie)
        assert second.result["result"] == 53
    finally:
        first.unbind()
        second.unbind()


# -- server-side sort ------------------------------------------------------------------------


def test_sort_with_ldapsearch(server: MetadirServer) -> None:
    code, out, err = ldapsearch(server, "-E", "!sss=sn/-givenName", FIFTY, "sn", "givenName")
    assert code == 0, err
    pairs = list(zip(values(out, "sn"), values(out, "givenName"), strict=True))
    # case-insensitive, Unicode-aware ("Groß" folds to "gross"), givenName descending in ties
    expected = sorted(pairs, key=lambda p: p[1], reverse=True)
    expected.sort(key=lambda p: p[0].casefold().replace("ß", "ss"))
    assert pairs[:5] == expected[:5] and pairs == expected


def test_sort_puts_entries_without_the_attribute_last(server: MetadirServer) -> None:
    for sort in ("l", "-l"):
        code, out, err = ldapsearch(server, "-E", f"sss={sort}", FIFTY, "l")
        assert code == 0, err
        cities = values(out, "l")
        have = [c for c in cities if c]
        assert cities == have + [""] * (50 - len(have))
        assert have == sorted(have, reverse=sort.startswith("-"))


def test_sort_that_cannot_be_done(server: MetadirServer) -> None:
    # critical: the search fails; not critical: unsorted results and the reason in the control
    code, _out, err = ldapsearch(server, "-E", "!sss=fooBar", "(objectClass=person)")
    assert code == 12, err
    code, out, err = ldapsearch(server, "-E", "sss=sn:caseExactOrderingMatch", FIFTY, "sn")
    assert code == 0, err
    assert len(entries(out)) == 50  # unsorted, and the reason in the sort response
    assert re.search(r"^sortResult: \(18\) Inappropriate matching sn$", out, re.MULTILINE), out


# -- virtual list view -----------------------------------------------------------------------


def list_view(server: MetadirServer, target: bytes, before: int, after: int) -> tuple:
    """A sorted virtual list view through ldap3 (``ldapsearch`` only does it interactively):
    the givenNames of the window and the (position, count, result) of the response."""
    sort = (
        controls.SORT,
        True,
        ber.tlv(ber.SEQUENCE, ber.tlv(ber.SEQUENCE, ber.octets("givenName"))),
    )
    vlv = (
        controls.VLV,
        True,
        ber.tlv(ber.SEQUENCE, ber.integer(before) + ber.integer(after) + target),
    )
    conn = connect(server.url)
    try:
        conn.search(CONTACTS, FIFTY, ldap3.LEVEL, attributes=["givenName"], controls=[sort, vlv])
        assert conn.result["result"] == 0, conn.result
        names = [r["attributes"]["givenName"][0] for r in conn.response]
        value = conn.result["controls"][controls.VLV_RESPONSE]["value"]
        response, _ = pureber.berDecodeObject(pureber.BERDecoderContext(), value)
        return names, tuple(part.value for part in response)
    finally:
        conn.unbind()


def test_virtual_list_view_by_offset_and_by_value(server: MetadirServer) -> None:
    by_offset = ber.tlv(0xA0, ber.integer(10) + ber.integer(0))
    names, response = list_view(server, by_offset, before=2, after=3)
    assert names == [f"First{i:02}" for i in range(7, 13)]
    assert response == (10, 50, 0)
    # the client's content count differs from the server's: the same relative position
    names, response = list_view(server, ber.tlv(0xA0, ber.integer(50) + ber.integer(100)), 0, 0)
    assert names == ["First24"] and response == (25, 50, 0)
    by_value = ber.octets("first20", tag=0x81)
    names, response = list_view(server, by_value, before=1, after=1)
    assert names == ["First19", "First20", "First21"] and response[:2] == (21, 50)


# -- in process: what is hard to make a client send ------------------------------------------


@dataclass
class Client:
    tree: DirectoryTree
    send: Callable[..., list]


@pytest.fixture
def client() -> Client:
    reps = [{"name": "crm", "type": "csv", "path": "x.csv", "key": "k"}]
    tree = DirectoryTree(
        [DirectoryConfig.model_validate({"name": "contacts", "replicators": reps})]
    )
    tree.apply([contact(i) for i in range(1, 1201)])
    factory = LDAPServerFactory(
        DirectoryBackend(tree), [], True, 0, clock=Clock(), in_thread=defer.maybeDeferred
    )
    connection = factory.buildProtocol(None)
    transport = StringTransport()
    connection.makeConnection(transport)

    def send(ctrls: list, time_limit: int = 0) -> list:
        transport.clear()
        op = pureldap.LDAPSearchRequest(baseObject=CONTACTS, scope=1, timeLimit=time_limit,
                                        filter=parseFilter("(objectClass=*)"))  # fmt: skip
        connection.dataReceived(pureldap.LDAPMessage(op, id=2, controls=ctrls).toWire())
        return read_messages(transport.value())

    return Client(tree, send)


def contact(i: int, deleted: bool = False) -> StoredEntry:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    return StoredEntry(i, f"u{i}", "contacts", "crm", (str(i),), {"cn": [f"C{i:04}"]}, now, now,
                       deleted)  # fmt: skip


def paged(size: int, cookie: bytes = b"") -> tuple:
    value = ber.tlv(ber.SEQUENCE, ber.integer(size) + ber.octets(cookie))
    return (controls.PAGED, False, value)


def cookie_of(done: object) -> bytes:
    [(oid, _critical, value)] = done.controls  # type: ignore[attr-defined]
    assert oid == controls.PAGED.encode()
    return controls.parse_paged(value).cookie


def test_malformed_control_values_get_protocol_error(client: Client) -> None:
    for bad in (b"", b"\x30\x03\x02\x01", b"\x04\x00", b"\x30\x05\x02\x01\xff\x04\x00"):
        *_, done = client.send([(controls.PAGED, False, bad)])
        assert done.value.resultCode == 2, bad
    *_, done = client.send([(controls.SORT, True, b"\x30\x00")])
    assert done.value.resultCode == 2


def test_open_paged_searches_per_connection_are_bounded(client: Client) -> None:
    cookies = []
    for _ in range(MAX_OPEN + 3):
        *_, done = client.send([paged(1)])
        cookies.append(cookie_of(done))
    *entries, done = client.send([paged(1, cookies[0])])
    assert done.value.resultCode == 53  # the oldest was dropped
    *entries, done = client.send([paged(1, cookies[-1])])
    assert done.value.resultCode == 0 and len(entries) == 1


def test_pages_follow_the_directory(client: Client) -> None:
    *entries, done = client.send([paged(10)])
    assert len(entries) == 10
    # entries deleted between pages are skipped, changed ones are sent as they are now
    client.tree.apply([contact(i, deleted=True) for i in range(11, 16)])
    *entries, done = client.send([paged(2000, cookie_of(done))])
    assert len(entries) == 1200 - 10 - 5 and done.value.resultCode == 0
    assert cookie_of(done) == b""


def test_time_limit(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    *entries, done = client.send([], time_limit=30)
    assert done.value.resultCode == 0 and len(entries) == 1200
    # a clock that runs a second per look: the limit passes while entries are sent
    ticks = iter(range(10**6))
    monkeypatch.setattr("metadir.ldap.connection.time.monotonic", lambda: next(ticks))
    *entries, done = client.send([], time_limit=1)
    assert done.value.resultCode == 3
    assert 0 < len(entries) < 1200


def test_virtual_list_view_needs_a_sort(client: Client) -> None:
    target = ber.tlv(0xA0, ber.integer(1) + ber.integer(0))
    vlv = (controls.VLV, True, ber.tlv(ber.SEQUENCE, ber.integer(0) + ber.integer(1) + target))
    [done] = client.send([vlv])
    # virtualListViewError, as slapd answers; the control says why: sortControlMissing
    assert done.value.resultCode == 76
    [(oid, _critical, value)] = done.controls
    assert oid == controls.VLV_RESPONSE.encode() and value.endswith(b"\x0a\x01\x3c")  # 60
