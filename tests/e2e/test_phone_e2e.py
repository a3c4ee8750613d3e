"""Phone numbers end to end: `metadir sync` + `metadir serve` as processes, searched over TCP
with the filters real phones and PBXs send (libldap's ``ldapsearch`` and ldap3), and
`metadir lookup`.

One CSV with numbers written in many ways is served four times, once per ``phone_format``
(e164, readable, national, source), all read with the global Munich location (outside line
0, switchboard +49 89 1234 with extensions 100-999). Every search runs at ``dc=meta`` and
must find the same contacts in each of the four directories: the format never changes what
matches.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import ldap3
import pytest
from ldap3.utils.conv import escape_filter_chars

from tests.servers import MetadirServer, connect, parse_ldif, run_ldapsearch, stop_metadir

COLUMNS = ("Id", "First", "Last", "Company", "Phone", "Mobile", "Home", "IpPhone", "Fax", "Email")
# fmt: off
ROWS = [
    ("1001", "Jürgen", "Müller", "Müller & Söhne GmbH", "(089) 1234-567", "0171 5550100", "",
     "", "", "jm@example.de"),
    ("1002", "Anna", "Schmidt", "ACME AG", "7654321", "", "0049 30 9876543", "", "",
     "anna@acme.example"),
    ("1003", "Marco", "Rossi", "Roma SpA", "0039 06 1234 5678", "", "", "", "", ""),
    ("1004", "Urs", "Keller", "Zürich AG", "+41 44 668 18 00", "", "", "", "", ""),
    ("1005", "Jane", "Smith", "London Ltd", "+44 20 7946 0958", "", "", "", "", ""),
    ("1006", "John", "Miller", "NY Inc", "+1 (212) 555-0100", "+1 646 555 0123", "", "", "",
     ""),
    ("1007", "", "Empfang", "Zentrale", "call reception", "", "", "", "", ""),
    ("1008", "Hans", "Huber", "ACME AG", "890", "", "", "", "+49 89 1234-999", ""),
    ("1009", "Lisa", "Wagner", "", "+49 (0)89 2222333", "", "0 0893333444", "", "", ""),
    ("1010", "Kurt", "Kein", "", "", "n/a", "", "", "", ""),
    ("1011", "Ida", "Ipp", "", "", "", "", "568", "", ""),
    ("1012", "Heinz", "Hamburger", "", "+49 40 1234567", "", "", "", "", ""),
    # a German number with the same national digits as Keller's Swiss one
    ("1013", "Doris", "Doppel", "", "04466 81800", "", "", "", "", ""),
]
# fmt: on
KEPT_AS_WRITTEN = 2  # "call reception" and "n/a"

FORMATS = ("e164", "readable", "national", "source")
DIRECTORY = {"e164": "contacts", "readable": "readable", "national": "national", "source": "raw"}
BASES = {fmt: f"ou={name},dc=meta" for fmt, name in DIRECTORY.items()}
LOCATION = {
    "country": "DE",
    "area_code": "89",
    "outside_line": "0",
    "base_number": "+49 89 1234-0",
    "extensions": "100-999",
}
VIRTUAL = ("searchNumber", "metaSearchNumber", "searchContact", "searchIndividual")


def csv_text() -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([COLUMNS, *ROWS])
    return out.getvalue()


def replicator(name: str) -> dict:
    return {
        "name": name,
        "type": "csv",
        "path": "contacts.csv",
        "key": "Id",
        "mapping": {
            "custom0": "Id",
            "givenName": "First",
            "sn": "Last",
            "displayName": "{First} {Last}",
            "company": "Company",
            "telephoneNumber": "Phone",
            "mobile": "Mobile",
            "homePhone": "Home",
            "ipPhone": "IpPhone",
            "facsimileTelephoneNumber": "Fax",
            "mail": "Email",
        },
    }


def config() -> dict:
    directories = [{"name": DIRECTORY["e164"], "replicators": [replicator("crm")]}]
    directories += [
        {"name": DIRECTORY[fmt], "phone_format": fmt, "replicators": [replicator(f"crm_{fmt}")]}
        for fmt in FORMATS[1:]
    ]
    return {"location": LOCATION, "directories": directories}


@dataclass
class Served:
    server: MetadirServer
    sync_output: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("phone-e2e")
    (workdir / "contacts.csv").write_text(csv_text(), encoding="utf-8")
    server = MetadirServer(workdir, config())
    synced = server.sync()
    server.start()
    yield Served(server, synced.stdout)
    stop_metadir(server)


# --- client helpers ------------------------------------------------------------------------


def ldapsearch(
    served: Served, filter: str, *attrs: str, base: str = "dc=meta"
) -> list[tuple[str, dict[str, list[str]]]]:
    """The entries the real ``ldapsearch`` gets; a non-zero exit fails the test."""
    code, out, err = run_ldapsearch(
        ["-x", "-LLL", "-o", "ldif-wrap=no", "-H", served.server.url, "-b", base, filter, *attrs]
    )
    assert code == 0, f"ldapsearch {filter!r} exited {code}: {err}"
    return parse_ldif(out)


def found_per_directory(entries: list[tuple[str, dict[str, list[str]]]]) -> dict[str, set]:
    """{phone format: source keys found in that format's directory}."""
    per: dict[str, set] = {fmt: set() for fmt in FORMATS}
    by_base = {base: fmt for fmt, base in BASES.items()}
    for dn, attrs in entries:
        fmt = by_base.get(dn.split(",", 1)[1].lower())
        assert fmt is not None, f"an entry outside the four directories: {dn}"
        per[fmt].update(attrs.get("custom0", ["(no custom0)"]))
    return per


def fill(template: str, value: str) -> str:
    """A client's filter template with ``%`` replaced by a value, escaped as the client must."""
    return template.replace("%", escape_filter_chars(value))


def check_filter(served: Served, filter: str, expected: set[str]) -> None:
    per = found_per_directory(ldapsearch(served, filter, "custom0"))
    wrong = {fmt: keys for fmt, keys in per.items() if keys != expected}
    assert not wrong, (
        f"filter {filter}: expected {sorted(expected)} in every directory, got "
        + ", ".join(f"{fmt}: {sorted(keys)}" for fmt, keys in wrong.items())
    )


# --- the filters real clients send ---------------------------------------------------------

YEALINK = "(|(telephoneNumber=%)(mobile=%)(ipPhone=%))"
SNOM = "(&(telephoneNumber=%)(sn=*))"
GRANDSTREAM = "(|(telephoneNumber=%)(Mobile=%))"
GIGASET = "(|(telephoneNumber=%)(mobile=%)(homePhone=%))"
STARFACE = "(|(telePhoneNumber=*%*)(homePhone=*%*)(mobile=*%*))"
SUPERFECTA = "(|(telephoneNumber=*%)(mobile=*%)(homeTelephoneNumber=*%))"
ESTOS_NUMBER = "(|(searchNumber=%))"
ESTOS_CONTACT = "(|(searchContact=%))"
INNOVAPHONE = "(metaSearchNumber=+%)"  # %n: the E.164 digits without '+'

# Müller's office number (089) 1234-567, the way different PBXs pass the caller on
MUELLER = ("0049891234567", "089 1234-567", "+49891234567", "0891234567", "567")
MUELLER_FULL = MUELLER[:-1]

CLIENT_CASES = [
    *[
        (client, tpl, number, {"1001"})
        for client, tpl in (
            ("yealink", YEALINK),
            ("snom", SNOM),
            ("grandstream", GRANDSTREAM),
            ("gigaset", GIGASET),
            ("estos searchNumber", ESTOS_NUMBER),
            ("estos searchContact", ESTOS_CONTACT),
        )
        for number in MUELLER
    ],
    *[
        (client, tpl, number, {"1001"})
        for client, tpl in (
            ("starface", STARFACE),
            ("superfecta", SUPERFECTA),
        )
        for number in MUELLER_FULL
    ],
    ("innovaphone", INNOVAPHONE, "49891234567", {"1001"}),
    ("innovaphone", INNOVAPHONE, "491715550100", {"1001"}),
    ("innovaphone", INNOVAPHONE, "390612345678", {"1003"}),
    ("innovaphone", INNOVAPHONE, "41446681800", {"1004"}),
    ("innovaphone", INNOVAPHONE, "12125550100", {"1006"}),
    ("innovaphone", INNOVAPHONE, "16465550123", {"1006"}),
    ("innovaphone", INNOVAPHONE, "49891234999", {"1008"}),  # a fax number
    # mobile numbers
    ("yealink", YEALINK, "+49 171 5550100", {"1001"}),
    ("grandstream", GRANDSTREAM, "00491715550100", {"1001"}),
    ("starface", STARFACE, "0171 5550100", {"1001"}),
    ("yealink", YEALINK, "+1 646-555-0123", {"1006"}),
    # a local number, as stored and as dialled
    ("yealink", YEALINK, "089 765 4321", {"1002"}),
    ("snom", SNOM, "7654321", {"1002"}),
    ("gigaset", GIGASET, "+49 89 7654321", {"1002"}),
    # foreign numbers, written the other way round
    ("yealink", YEALINK, "+39 06 1234 5678", {"1003"}),
    ("snom", SNOM, "0039 06 12345678", {"1003"}),
    ("yealink", YEALINK, "0041 44 668 18 00", {"1004"}),
    ("grandstream", GRANDSTREAM, "+44 (0)20 7946 0958", {"1005"}),
    ("estos searchNumber", ESTOS_NUMBER, "0044 20 7946 0958", {"1005"}),
    ("yealink", YEALINK, "001 212 555 0100", {"1006"}),
    ("superfecta", SUPERFECTA, "+1 (212) 555-0100", {"1006"}),
    # the same national digits in two countries: the caller's country decides
    ("superfecta", SUPERFECTA, "+41 44 668 18 00", {"1004"}),
    ("starface", STARFACE, "0041 44 668 18 00", {"1004"}),
    ("superfecta", SUPERFECTA, "+49 4466 81800", {"1013"}),
    ("yealink", YEALINK, "044 668 18 00", {"1013"}),  # dialled in Germany: German
    # a bare extension, stored and dialled
    ("snom", SNOM, "890", {"1008"}),
    ("yealink", YEALINK, "+49 89 1234-890", {"1008"}),
    ("yealink", YEALINK, "568", {"1011"}),  # an ipPhone
    ("grandstream", GRANDSTREAM, "568", set()),  # Grandstream does not ask ipPhone
    # a homePhone stored with the outside line in front
    ("gigaset", GIGASET, "089 3333444", {"1009"}),
    ("superfecta", SUPERFECTA, "+49893333444", {"1009"}),  # via the homeTelephoneNumber alias
    ("snom", SNOM, "089 3333444", set()),  # snom only asks telephoneNumber
    # the same subscriber number in Hamburg: equality keeps them apart
    ("yealink", YEALINK, "040 1234567", {"1012"}),
    # a value that is no number, found as written
    ("snom", SNOM, "call reception", {"1007"}),
    ("estos searchContact", ESTOS_CONTACT, "Müller", {"1001"}),
    ("estos searchContact", ESTOS_CONTACT, "ACME AG", {"1002", "1008"}),
    ("estos searchContact", ESTOS_CONTACT, "Hub*", {"1008"}),
]


@pytest.mark.parametrize(
    ("client", "template", "value", "expected"),
    CLIENT_CASES,
    ids=[f"{c}:{v}" for c, _, v, _ in CLIENT_CASES],
)
def test_client_filters(
    served: Served, client: str, template: str, value: str, expected: set[str]
) -> None:
    filter = fill(template, value) if not value.endswith("*") else template.replace("%", value)
    check_filter(served, filter, expected)


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ("(telephoneNumber=0891234*)", {"1001", "1008"}),  # prefix
        ("(telephoneNumber=+49 89 1234*)", {"1001", "1008"}),
        ("(telephoneNumber=*0891234567)", {"1001"}),  # suffix
        ("(telephoneNumber=*+49 89 1234-567)", {"1001"}),
        ("(telephoneNumber=*0891234567*)", {"1001"}),  # contains
        ("(facsimileTelephoneNumber=0891234999)", {"1008"}),
        ("(homePhone=0 0893333444)", {"1009"}),  # the outside line in the query too
        ("(searchNumber=0891234999)", {"1008"}),  # any number attribute, fax included
        ("(searchNumber=0 0049 30 9876543)", {"1002"}),
        ("(searchIndividual=Müller)", {"1001"}),
        ("(searchIndividual=ACME AG)", set()),  # a company is no individual
        ("(searchIndividual=0891234567)", set()),  # nor a number
        ("(searchContact=+49 \\2889\\29 1234-567)", {"1001"}),  # looks like a number
        ("(searchContact=anna@acme.example)", {"1002"}),
        ("(&(searchNumber=+49891234567)(objectClass=person))", {"1001"}),
        ("(telephoneNumber>=0)", set()),  # no ordering on numbers
        ("(telephoneNumber<=+49999999999)", set()),
        ("(!(telephoneNumber>=0))", set()),  # Undefined, even under NOT
        ("(mobile=n/a)", {"1010"}),
        ("(metaSearchNumber=+)", set()),  # innovaphone, caller withheld: %n is empty
    ],
)
def test_filter_forms(served: Served, filter: str, expected: set[str]) -> None:
    check_filter(served, filter, expected)


def test_ldap3_finds_the_caller_in_every_writing(served: Served) -> None:
    conn = connect(served.server.url)
    try:
        for number in MUELLER:
            for base in BASES.values():
                ok = conn.search(base, fill(YEALINK, number), ldap3.SUBTREE, attributes=["cn"])
                assert ok and conn.result["result"] == 0, (number, base, conn.result)
                assert [e.cn.value for e in conn.entries] == ["Jürgen Müller"], (number, base)
        conn.search("dc=meta", fill(INNOVAPHONE, "49891234567"), attributes=["custom0"])
        assert sorted(e.custom0.value for e in conn.entries) == ["1001"] * len(FORMATS)
    finally:
        conn.unbind()


# --- what is served -------------------------------------------------------------------------

# (key, attribute) -> value served per format; None where the format is not pinned down
SERVED = {
    ("1001", "telephoneNumber"): ("+49891234567", "+49 89 1234567", "089 1234567",
                                  "(089) 1234-567"),
    ("1001", "mobile"): ("+491715550100", "+49 171 5550100", "0171 5550100", "0171 5550100"),
    ("1002", "telephoneNumber"): ("+49897654321", "+49 89 7654321", "089 7654321", "7654321"),
    ("1002", "homePhone"): ("+49309876543", "+49 30 9876543", "030 9876543", "0049 30 9876543"),
    ("1003", "telephoneNumber"): ("+390612345678", "+39 06 1234 5678", None,
                                  "0039 06 1234 5678"),
    ("1004", "telephoneNumber"): ("+41446681800", "+41 44 668 18 00", None, "+41 44 668 18 00"),
    ("1005", "telephoneNumber"): ("+442079460958", "+44 20 7946 0958", None, "+44 20 7946 0958"),
    ("1006", "telephoneNumber"): ("+12125550100", "+1 212-555-0100", None, "+1 (212) 555-0100"),
    ("1007", "telephoneNumber"): ("call reception",) * 4,
    ("1008", "facsimileTelephoneNumber"): ("+49891234999", "+49 89 1234999", "089 1234999",
                                           "+49 89 1234-999"),
    ("1009", "telephoneNumber"): ("+49892222333", "+49 89 2222333", "089 2222333",
                                  "+49 (0)89 2222333"),
    ("1009", "homePhone"): ("+49893333444", "+49 89 3333444", "089 3333444", "0 0893333444"),
    ("1010", "mobile"): ("n/a",) * 4,
}  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_format(served: Served, fmt: str) -> None:
    entries = ldapsearch(served, "(custom0=*)", "custom0", "*", base=BASES[fmt])
    by_key = {attrs["custom0"][0]: attrs for _, attrs in entries}
    assert set(by_key) == {row[0] for row in ROWS}
    wrong = []
    for (key, attr), values in SERVED.items():
        want = values[FORMATS.index(fmt)]
        got = by_key[key].get(attr)
        if want is not None and got != [want]:
            wrong.append(f"{key} {attr}: expected {want!r}, got {got!r}")
    assert not wrong, f"phone_format {fmt}:\n" + "\n".join(wrong)


def test_output_format_over_ldap3(served: Served) -> None:
    conn = connect(served.server.url)
    try:
        for fmt in FORMATS:
            conn.search(BASES[fmt], "(searchNumber=0171/5550100)", attributes=["mobile"])
            assert [e.mobile.value for e in conn.entries] == [
                SERVED["1001", "mobile"][FORMATS.index(fmt)]
            ], fmt
    finally:
        conn.unbind()


def test_values_that_are_no_number_are_kept_and_counted(served: Served) -> None:
    for rep in ("crm", *(f"crm_{fmt}" for fmt in FORMATS[1:])):
        (line,) = [line for line in served.sync_output.splitlines() if line.startswith(rep + " ")]
        assert f"{len(ROWS)} added" in line, line
        kept = re.search(r"(\d+) numbers? kept as written", line)
        assert kept and int(kept.group(1)) == KEPT_AS_WRITTEN, (
            f"{rep}: expected '{KEPT_AS_WRITTEN} numbers kept as written' in: {line}"
        )


# --- virtual attributes are for filters only -------------------------------------------------


@pytest.mark.parametrize(
    "attrs", [VIRTUAL, ("*",), ("+",), ("*", "+"), ("*", *VIRTUAL), ("cn", "searchnumber")]
)
def test_virtual_attributes_are_never_returned(served: Served, attrs: tuple[str, ...]) -> None:
    for filter in (
        "(searchNumber=0891234567)",
        "(metaSearchNumber=+49891234567)",
        "(searchContact=Müller)",
        "(searchIndividual=Jürgen)",
    ):
        entries = ldapsearch(served, filter, *attrs)
        assert len(entries) == len(FORMATS), (filter, attrs, entries)
        for dn, found in entries:
            leaked = {a for a in found if a.lower() in {v.lower() for v in VIRTUAL}}
            assert not leaked, f"{filter} {attrs}: {dn} returned {leaked}"


def test_virtual_attributes_are_never_returned_to_ldap3(served: Served) -> None:
    conn = connect(served.server.url)
    try:
        conn.search(
            "dc=meta",
            "(searchContact=0891234567)",
            attributes=[ldap3.ALL_ATTRIBUTES, ldap3.ALL_OPERATIONAL_ATTRIBUTES, *VIRTUAL],
        )
        assert conn.result["result"] == 0 and len(conn.response) == len(FORMATS), conn.result
        for entry in conn.response:
            # ldap3 lists every requested attribute; one the server sent has values
            names = {name.lower() for name, values in entry["raw_attributes"].items() if values}
            assert not names & {v.lower() for v in VIRTUAL}, (entry["dn"], sorted(names))
            assert "telephonenumber" in names
    finally:
        conn.unbind()


# --- metadir lookup --------------------------------------------------------------------------


def lookup(served: Served, number: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        served.server.argv("lookup", number),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=served.server.workdir,
    )


def dns_of(served: Served, key: str) -> dict[str, str]:
    """{phone format: DN of the contact with that source key}."""
    entries = ldapsearch(served, f"(custom0={key})", "custom0")
    by_base = {base: fmt for fmt, base in BASES.items()}
    return {by_base[dn.split(",", 1)[1].lower()]: dn for dn, _ in entries}


@pytest.mark.parametrize(
    ("number", "key", "name", "company", "attr"),
    [
        ("0171 5550100", "1001", "Jürgen Müller", "Müller & Söhne GmbH", "mobile"),
        ("089 1234-567", "1001", "Jürgen Müller", "Müller & Söhne GmbH", "telephoneNumber"),
        ("+4989 2222 333", "1009", "Lisa Wagner", "", "telephoneNumber"),  # no company
        ("0049 30 9876543", "1002", "Anna Schmidt", "ACME AG", "homePhone"),
    ],
)
def test_lookup_prints_each_matching_contact(
    served: Served, number: str, key: str, name: str, company: str, attr: str
) -> None:
    done = lookup(served, number)
    assert done.returncode == 0, f"metadir lookup {number!r}: {done.returncode}\n{done.stderr}"
    dns = dns_of(served, key)
    want = {
        "\t".join((name, company, attr, SERVED[key, attr][FORMATS.index(fmt)], dns[fmt]))
        for fmt in FORMATS
    }
    got = set(done.stdout.splitlines())
    assert got == want, f"metadir lookup {number!r}:\n{done.stdout}\nexpected:\n" + "\n".join(
        sorted(want)
    )


def test_lookup_of_an_unknown_number_exits_1(served: Served) -> None:
    done = lookup(served, "+49 89 9999 888")
    assert (done.returncode, done.stdout) == (1, ""), (done.stdout, done.stderr)
