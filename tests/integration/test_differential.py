"""slapd as the oracle for search semantics: the same 2,000 contacts in metadir and in slapd,
the same filters through the same client (python-ldap, that is libldap, on one connection per
server), the same entries must come back.

metadir syncs generated contacts (``generate_contacts.py --international --format ldif``:
umlauts, accents, Greek, Turkish, apostrophes, empty fields, two e-mail addresses for some)
and serves them; its tree, dumped with ``ldapsearch`` (``*`` plus entryUUID and the
timestamps), is loaded into a fresh slapd with slapadd, so both hold the same entries with the
same entryUUIDs. Results are compared by entryUUID: slapd cannot name entries by entryUUID (an
operational attribute), so there they are ``uid=<uuid>``. The filters are in
tests/differential_corpus.py, with the divergences metadir keeps on purpose.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ldap
import pytest
from ldap.controls import SimplePagedResultsControl
from ldap.controls.sss import SSSRequestControl
from ldap.controls.vlv import VLVRequestControl

from tests.differential_corpus import DIVERGENCES, corpus, mail_divergences, phone_filters
from tests.servers import (
    SLAPADD,
    SLAPD,
    MetadirServer,
    ServerError,
    SlapdServer,
    connect,
    dump_tree,
    for_slapd,
    parse_ldif,
    run_ldapsearch,
    slapd_holding,
    start_metadir,
    stop_metadir,
)

pytestmark = [
    pytest.mark.slapd,
    pytest.mark.skipif(
        SLAPD is None or SLAPADD is None,
        reason="slapd is not installed (Debian package slapd; scripts/test.sh installs it)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = "ou=contacts,dc=meta"
COUNT, SEED = 2000, 7
SUB, ONE, CHILDREN = ldap.SCOPE_SUBTREE, ldap.SCOPE_ONELEVEL, ldap.SCOPE_SUBORDINATE


class Client:
    """One python-ldap connection, searched again and again; results keyed as ``key()``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = ldap.initialize(url)
        self.conn.protocol_version = 3
        self.conn.set_option(ldap.OPT_REFERRALS, 0)
        self.conn.timeout = 60
        self.conn.simple_bind_s("", "")

    def search(
        self, base: str, scope: int, filter: str, attrs: list[str] | None = None, controls=None
    ) -> tuple[int, dict[str, dict[str, list[str]]], list]:
        """(result code, {key: attributes}, response controls)."""
        try:
            msgid = self.conn.search_ext(base, scope, filter, attrs or ["entryUUID", "cn"],
                                         serverctrls=controls)  # fmt: skip
            _, data, _, response = self.conn.result3(msgid)
        except ldap.LDAPError as exc:
            return exc.args[0]["result"], {}, []
        found = {}
        for dn, raw in data:
            attrs = {k: [v.decode("utf-8", "replace") for v in vs] for k, vs in raw.items()}
            found[key(dn, attrs)] = attrs
        return 0, found, response


@dataclass
class Pair:
    metadir: MetadirServer
    slapd: SlapdServer
    contacts: list[dict[str, list[str]]] = field(repr=False)  # as metadir serves them
    dump: str = field(repr=False)  # metadir's tree as LDIF
    ours: Client = field(init=False, repr=False)
    theirs: Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ours, self.theirs = Client(self.metadir.url), Client(self.slapd.url)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp("differential")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_contacts.py"), "--count", str(COUNT),
         "--seed", str(SEED), "--international", "--format", "ldif",
         "--out", str(workdir / "contacts.ldif")],
        check=True, capture_output=True,
    )  # fmt: skip
    config = {
        "server": {"size_limit": 0},
        "location": {"country": "DE", "area_code": "89", "outside_line": "0"},
        "directories": [
            {
                "name": "contacts",
                "replicators": [
                    {"name": "crm", "type": "ldif", "path": "contacts.ldif", "flavor": "openldap",
                     "key": "uid", "mapping": {"custom0": "uid", "c": "c", "info": "description"}}
                ],
            }
        ],
    }  # fmt: skip
    metadir = start_metadir(workdir, config)
    slapd = None
    try:
        dump = dump_tree(metadir.url)
        contacts = [attrs for dn, attrs in parse_ldif(dump) if is_contact(dn)]
        assert len(contacts) == COUNT, f"metadir serves {len(contacts)} contacts, not {COUNT}"
        # schema conformance has its own test below; here only search semantics are compared
        slapd = slapd_holding(tmp_path_factory.mktemp("slapd"), dump)
        yield Pair(metadir, slapd, contacts, dump)
    finally:
        if slapd is not None:
            slapd.stop()
        stop_metadir(metadir)


def is_contact(dn: str) -> bool:
    return dn.lower().startswith(("entryuuid=", "uid="))


def key(dn: str, attrs: dict) -> str:
    """Contacts by entryUUID; the root and the containers by DN."""
    if is_contact(dn):
        return dn.split("=", 1)[1].split(",", 1)[0].lower()
    return dn.lower()


def describe(found: dict[str, dict[str, list[str]]], keys: set[str]) -> str:
    named = sorted(f"{(found[k].get('cn') or ['-'])[0]} ({k})" for k in keys)
    more = f" and {len(named) - 5} more" if len(named) > 5 else ""
    return ", ".join(named[:5]) + more or "-"


def difference(filter: str, where: str, theirs: tuple, ours: tuple) -> str:
    (their_code, oracle), (code, found) = theirs, ours
    return (
        f"{filter} ({where}): result slapd {their_code}, metadir {code}\n"
        f"  only in slapd:   {describe(oracle, set(oracle) - set(found))}\n"
        f"  only in metadir: {describe(found, set(found) - set(oracle))}"
    )


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "scope"),
    [("dc=meta", SUB), (CONTACTS, ONE), ("dc=meta", CHILDREN)],
    ids=["sub", "one", "children"],
)
def test_same_entries_as_slapd(pair: Pair, base: str, scope: int) -> None:
    filters = corpus(pair.contacts)
    assert len(filters) >= 200 and len(set(filters)) == len(filters)
    mismatches = []
    hits = 0
    for filter in filters:
        their_code, oracle, _ = pair.theirs.search(base, scope, filter)
        code, found, _ = pair.ours.search(base, scope, filter)
        hits += bool(oracle)
        if (code, set(found)) != (their_code, set(oracle)):
            where = f"scope {scope} at {base}"
            mismatches.append(difference(filter, where, (their_code, oracle), (code, found)))
    assert not mismatches, (
        f"{len(mismatches)} of {len(filters)} filters differ from slapd:\n" + "\n".join(mismatches)
    )
    # agreeing on nothing proves nothing: most filters must find something
    assert hits >= 0.6 * len(filters), f"only {hits} of {len(filters)} filters match in slapd"


def test_numbers_find_at_least_what_slapd_finds(pair: Pair) -> None:
    """On the numbers as served, slapd's telephoneNumberMatch compares digits as text;
    metadir compares numbers, so it finds at least what slapd finds (``*0049*``, ``*089*``,
    ``00*`` of the issue), and for a number written as served, exactly that contact."""
    filters = phone_filters(pair.contacts)
    assert len(filters) >= 50
    problems = []
    hits = 0
    for filter, exact in filters:
        their_code, oracle, _ = pair.theirs.search("dc=meta", SUB, filter)
        code, found, _ = pair.ours.search("dc=meta", SUB, filter)
        hits += bool(oracle)
        fits = set(found) == set(oracle) if exact else set(oracle) <= set(found)
        if code != their_code or not fits:
            how = "exactly" if exact else "at least"
            problems.append(difference(filter, how, (their_code, oracle), (code, found)))
    assert not problems, "\n".join(problems)
    assert hits >= 0.6 * len(filters), f"only {hits} of {len(filters)} filters match in slapd"


def test_divergences_stay_as_documented(pair: Pair) -> None:
    """Each divergence kept on purpose still diverges, and exactly as documented: metadir
    finds what slapd finds for the filters it stands for, which is not what slapd finds."""
    problems = []
    for case in DIVERGENCES + mail_divergences(pair.contacts):
        expected: dict[str, dict[str, list[str]]] = {}
        for filter in case.as_slapd:
            code, found, _ = pair.theirs.search("dc=meta", SUB, filter)
            assert code == 0, f"{filter}: slapd answers {code}"
            expected |= found
        assert expected, f"{case.as_slapd}: slapd finds nothing for any of them"
        _, oracle, _ = pair.theirs.search("dc=meta", SUB, case.filter)
        code, found, _ = pair.ours.search("dc=meta", SUB, case.filter)
        if (code, set(found)) != (0, set(expected)):
            problems.append(difference(case.filter, case.reason, (0, expected), (code, found)))
        if set(oracle) == set(found):
            problems.append(f"{case.filter}: no longer diverges ({case.reason})")
    assert not problems, "\n".join(problems)


# --- attribute lists (points 7, 8, 14) ------------------------------------------------------


@pytest.mark.parametrize(
    "attributes",
    [["2.5.4.4"], ["2.5.4.4", "2.5.4.42", "0.9.2342.19200300.100.1.3"], ["SN", "MAIL"],
     ["cn;lang-de"], ["cn;binary"], ["sn;x-foo", "givenName"], ["@inetOrgPerson"], ["@person"],
     ["@organizationalPerson", "mail"], ["@fooBar"], ["1.1"], ["2.5.4.0"]],
    ids=lambda attributes: ",".join(attributes),
)  # fmt: skip
def test_requested_attributes_as_slapd(pair: Pair, attributes: list[str]) -> None:
    """The same attribute names come back for the same attribute list (uid, slapd's name for
    the entry, aside)."""
    contact = next(c for c in pair.contacts if "mail" in c and "givenName" in c)
    filter = f"(entryUUID={contact['entryUUID'][0]})"
    names = []
    for client in (pair.theirs, pair.ours):
        code, found, _ = client.search(CONTACTS, ONE, filter, attributes)
        assert code == 0 and len(found) == 1, (client.url, code)
        (attrs,) = found.values()
        names.append(sorted(name.lower() for name in attrs if name.lower() != "uid"))
    theirs, ours = names
    assert ours == theirs


# --- malformed substring filters (point 13), sent as raw BER --------------------------------


def tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + content


def substrings(attribute: str, *parts: tuple[int, bytes]) -> bytes:
    """A substrings filter with ``parts`` as (0 initial / 1 any / 2 final, value), any order."""
    pieces = b"".join(tlv(0x80 | kind, value) for kind, value in parts)
    return tlv(0xA4, tlv(0x04, attribute.encode()) + tlv(0x30, pieces))


def raw_search(sock: socket.socket, message_id: int, filter: bytes) -> tuple[int | str, int]:
    """(result code, entries) of a search with a hand-made filter; "closed" if the server
    closed the connection instead."""
    request = tlv(0x04, b"dc=meta") + b"\x0a\x01\x02\x0a\x01\x00\x02\x01\x00\x02\x01\x00"
    request += b"\x01\x01\x00" + filter + tlv(0x30, tlv(0x04, b"1.1"))
    sock.sendall(tlv(0x30, tlv(0x02, bytes((message_id,))) + tlv(0x63, request)))
    entries = 0
    buffer = b""
    while True:
        while len(buffer) < 2 or len(buffer) < message_length(buffer):
            chunk = sock.recv(65536)
            if not chunk:
                return "closed", entries
            buffer += chunk
        message, buffer = buffer[: message_length(buffer)], buffer[message_length(buffer) :]
        body = message[2 + (message[1] & 0x7F if message[1] & 0x80 else 0) :]
        operation = body[2 + body[1]]  # after the message id
        if operation == 0x64:
            entries += 1
        elif operation == 0x65:
            done = body[2 + body[1] :]
            header = 2 + (done[1] & 0x7F if done[1] & 0x80 else 0)
            return done[header + 2], entries  # the resultCode ENUMERATED
        else:  # a notice of disconnection
            return "closed", entries


def message_length(buffer: bytes) -> int:
    if len(buffer) < 2:
        return 2
    if buffer[1] < 0x80:
        return 2 + buffer[1]
    count = buffer[1] & 0x7F
    return 2 + count + int.from_bytes(buffer[2 : 2 + count], "big")


MALFORMED = {
    "two initial parts": substrings("sn", (0, b"M"), (0, "ü".encode())),
    "final before any": substrings("sn", (2, b"r"), (1, b"ll")),
    "two final parts": substrings("sn", (2, b"er"), (2, b"r")),
    "an empty initial": substrings("sn", (0, b""), (2, b"er")),
    "an empty any": substrings("sn", (0, b"M"), (1, b"")),
    "no parts": substrings("sn"),
    "not UTF-8, negated": tlv(0xA2, substrings("sn", (0, b"M\xff"))),
}


# where slapd hangs up and metadir answers, on purpose: slapd's decoder loses its place after
# an empty part that is not the last and closes the connection; metadir answers that filter
# Undefined (no entries, connection kept), as slapd does when the empty part comes last
HANGS_UP_IN_SLAPD_ONLY = {"an empty initial"}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_substrings_as_slapd(pair: Pair, case: str) -> None:
    """The same result code, and whether the connection stays usable after it."""
    answers = []
    for url in (pair.slapd.url, pair.metadir.url):
        host, port = url.removeprefix("ldap://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            first = raw_search(sock, 1, MALFORMED[case])
            usable = first[0] != "closed"
            after = raw_search(sock, 2, substrings("sn", (0, b"M"))) if usable else None
        answers.append((first, after))
    theirs, ours = answers
    if case in HANGS_UP_IN_SLAPD_ONLY:
        assert theirs[0][0] == "closed", f"{case}: slapd answers now: {theirs}"
        first, after = ours
        assert first == (0, 0), f"{case}: metadir answers {first}, not Undefined"
        assert after is not None and after[0] == 0 and after[1] > 0, "connection not usable"
        return
    assert ours == theirs


# --- paged results and virtual list view (point 15) ----------------------------------------


def test_paged_size_is_zero_or_the_total(pair: Pair) -> None:
    sizes = []
    for client in (pair.theirs, pair.ours):
        control = SimplePagedResultsControl(True, size=10, cookie="")
        code, found, response = client.search("dc=meta", SUB, "(sn=m*)", None, [control])
        assert code == 0 and len(found) == 10
        (paged,) = [c for c in response if c.controlType == control.controlType]
        _, total, _ = client.search("dc=meta", SUB, "(sn=m*)")
        sizes.append((paged.size, len(total)))
    for size, total in sizes:
        assert size in (0, total), sizes


@pytest.mark.parametrize(
    "view",
    [{"offset": COUNT + 50, "content_count": 0}, {"offset": 1, "content_count": 0},
     {"greater_than_or_equal": b"M"}, {"greater_than_or_equal": b"\xff"}],
    ids=["past the end", "first", "by value", "value not UTF-8"],
)  # fmt: skip
def test_virtual_list_view_result_codes_as_slapd(pair: Pair, view: dict) -> None:
    codes = []
    for client in (pair.theirs, pair.ours):
        # company: slapd's schema gives sn no ordering rule to sort by
        controls = [SSSRequestControl(ordering_rules=["company"]),
                    VLVRequestControl(True, before_count=0, after_count=3, **view)]  # fmt: skip
        code, _, _ = client.search(CONTACTS, ONE, "(company=*)", None, controls)
        codes.append(code)
    assert codes[1] == codes[0]


# --- the entries themselves -----------------------------------------------------------------


def test_both_hold_the_same_entries(pair: Pair) -> None:
    _, oracle, _ = pair.theirs.search("dc=meta", SUB, "(objectClass=*)")
    _, found, _ = pair.ours.search("dc=meta", SUB, "(objectClass=*)")
    assert set(found) == set(oracle) and len(found) == COUNT + 2


def test_slapd_holds_what_metadir_serves(pair: Pair) -> None:
    """The comparison is only fair if slapadd took every value metadir serves unchanged."""
    args = ["-x", "-LLL", "-o", "ldif-wrap=no", "-b", CONTACTS, "-s", "one", "(objectClass=*)",
            "*", "entryUUID"]  # fmt: skip
    dumps = []
    for url in (pair.metadir.url, pair.slapd.url):
        code, out, err = run_ldapsearch(["-H", url, *args])
        assert code == 0, err
        entries = {
            attrs["entryUUID"][0]: {k: sorted(v) for k, v in attrs.items() if k != "uid"}
            for _, attrs in parse_ldif(out)
        }
        dumps.append(entries)
    served, held = dumps
    assert served == held


def test_entries_satisfy_the_schema(pair: Pair, make_slapd: Callable[[], SlapdServer]) -> None:
    """slapd with schema checks takes metadir's entries: every attribute an object class
    requires (person: cn, sn) is there, every value fits its syntax."""
    checked = make_slapd()
    try:
        checked.load(for_slapd(pair.dump))
    except ServerError as exc:
        pytest.fail(f"slapd rejects an entry metadir serves: {exc}")


# -- paged and sorted results ---------------------------------------------------------------


def paged_keys(url: str, filter: str, page_size: int) -> list[str]:
    """Every entry of a paged search (RFC 2696), in the order the pages brought them."""
    conn = connect(url)
    try:
        found = conn.extend.standard.paged_search(
            "dc=meta", filter, attributes=["entryUUID"], paged_size=page_size, generator=False
        )
        return [key(r["dn"], r["attributes"]) for r in found if r["type"] == "searchResEntry"]
    finally:
        conn.unbind()


@pytest.mark.parametrize("page_size", [1, 7, 500])
@pytest.mark.parametrize("filter", ["(objectClass=*)", "(sn=m*)", "(|(c=DE)(c=AT))"])
def test_paged_results_as_slapd(pair: Pair, filter: str, page_size: int) -> None:
    ours = paged_keys(pair.metadir.url, filter, page_size)
    theirs = paged_keys(pair.slapd.url, filter, page_size)
    assert len(ours) == len(set(ours)), "an entry came twice across pages"
    assert set(ours) == set(theirs)
    assert ours, filter


def sorted_values(url: str, sort: str, filter: str, attribute: str) -> list[str]:
    """The values of ``attribute`` in the order a server sorts the entries by ``sort``."""
    code, out, err = run_ldapsearch(
        ["-x", "-LLL", "-o", "ldif-wrap=no", "-H", url, "-b", CONTACTS, "-E", f"!sss={sort}",
         filter, attribute]
    )  # fmt: skip
    assert code == 0, err
    return [attrs[attribute][0] for _, attrs in parse_ldif(out)]


@pytest.mark.parametrize(
    "sort", ["company", "-company", "department/company", "-department/-company"]
)
def test_sorted_results_as_slapd(pair: Pair, sort: str) -> None:
    # only attributes slapd can order (the generated schema gives them caseIgnoreOrdering),
    # and only entries that have them: where a key is missing RFC 2891 and metadir differ
    first = sort.split("/")[0].lstrip("-")
    last = sort.split("/")[-1].lstrip("-")
    filter = f"(&({first}=*)({last}=*))"
    for attribute in {first, last}:
        ours = sorted_values(pair.metadir.url, sort, filter, attribute)
        theirs = sorted_values(pair.slapd.url, sort, filter, attribute)
        if attribute == first:
            # ß sorts as ss in metadir (SHARP_S in tests/differential_corpus.py), after z in
            # slapd: the other values must come in the same order
            ours, theirs = ([v for v in values if "ß" not in v] for values in (ours, theirs))
            assert ours == theirs, f"{sort}: {attribute} in another order"
        else:
            assert sorted(ours) == sorted(theirs)
        assert len(ours) > 10
