"""End to end over TCP: `metadir sync` + `metadir serve` as processes, real clients
(libldap's ``ldapsearch`` / ``ldapwhoami`` and ldap3), a dozen contacts from a CSV file."""

from __future__ import annotations

import csv
import io
import re
import socket
import time
import uuid
from collections.abc import Iterator

import ldap3
import pytest

from tests.servers import (
    MetadirServer,
    connect,
    hash_password,
    parse_ldif,
    run_ldap_tool,
    run_ldapsearch,
    start_metadir,
    stop_metadir,
)

# fmt: off
COLUMNS = ("CustomerNo", "FirstName", "LastName", "FullName", "Company", "Phone", "Mobile",
           "HomePhone", "Email", "City")
ROWS = [
    ("1001", "Jürgen", "Müller", "Jürgen Müller", "Müller & Söhne GmbH", "+49 89 1234-567",
     "+49 171 5550100", "", "juergen.mueller@example.de", "München"),
    ("1002", "Anna", "Schmidt", "Anna Schmidt", "ACME AG", "+49 30 5550-100", "",
     "+49 30 9876543", "anna.schmidt@acme.example", "Berlin"),
    ("1003", "Zoë", "Ährenfeld", "Zoë Ährenfeld", "Überall KG", "+49 40 7654321",
     "+49 160 1112223", "", "zoe@ueberall.example", "Hamburg"),
    ("1004", "Hans", "Meier", "Hans Meier", "ACME AG", "+49 89 9876-543", "", "",
     "hans.meier@acme.example", "München"),
    ("1005", "Ayşe", "Yılmaz", "Ayşe Yılmaz", "Bosporus Handel", "+49 221 445566",
     "+49 152 9998887", "", "ayse@bosporus.example", "Köln"),
    ("1006", "", "axyz", "axyz", "", "+49 89 1111111", "", "", "", ""),
    ("1007", "Andy", "Xyz", "Andy Xyz", "Xyz Ltd", "+44 20 7946 0000", "", "",
     "andy@xyz.example", "London"),
    ("1008", "Brigitte", "Müller-Lüdenscheidt", "Brigitte Müller-Lüdenscheidt",
     "Lüdenscheidt & Co", "+49 89 2222-333", "", "", "b.ml@example.de", "Lüdenscheid"),
    ("1009", "Peter", "Paulsen", "Peter Paulsen", "ACME AG", "+49 89 3333-444",
     "+49 171 7777777", "", "peter.paulsen@acme.example", "Augsburg"),
    ("1010", "Émile", "Zola", "Émile Zola", "Éditions Zola", "+33 1 23 45 67 89", "", "",
     "emile@zola.example", "Paris"),
    ("1011", "Ole", "Østergaard", "Ole Østergaard", "Nordlys A/S", "+45 33 12 34 56", "", "",
     "ole@nordlys.example", "København"),
    ("1012", "Maria", "Muller", "Maria Muller", "ACME AG", "+49 89 4444-555", "", "",
     "maria.muller@acme.example", "München"),
]
# fmt: on


def csv_text(rows: list[tuple[str, ...]], columns: tuple[str, ...] = COLUMNS) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([columns, *rows])
    return out.getvalue()


CONTACTS_CSV = csv_text(ROWS)
CONTACT_IDS = {row[0] for row in ROWS}

# the second directory maps no cn and no displayName: both must be built from the name parts
SALES_CSV = """\
Id;Vorname;Nachname;Telefon
S1;Lisa;Lustig;+49 89 5550001
S2;Karl;König;+49 89 5550002
S3;Eva;Ernst;+49 89 5550003
"""
SALES_IDS = {"S1", "S2", "S3"}

PBX_DN, PBX_PASSWORD = "cn=pbx,dc=meta", "pbx secret ünïcode"
SALES_DN, SALES_PASSWORD = "cn=sales-phone,dc=meta", "sales-pw"
CONTACTS = "ou=contacts,dc=meta"
SALES = "ou=sales,dc=meta"
ALL_DNS = 1 + 2 + len(CONTACT_IDS) + len(SALES_IDS)

SUCCESS, PROTOCOL_ERROR, SIZE_LIMIT_EXCEEDED = 0, 2, 4
AUTH_METHOD_NOT_SUPPORTED, NO_SUCH_OBJECT, INVALID_CREDENTIALS = 7, 32, 49
INSUFFICIENT_ACCESS_RIGHTS, UNWILLING_TO_PERFORM = 50, 53
WHO_AM_I = "1.3.6.1.4.1.4203.1.11.3"
TIMESTAMP = re.compile(r"^\d{14}Z$")


def contacts_replicator(path: str = "contacts.csv") -> dict:
    return {
        "name": "crm",
        "type": "csv",
        "path": path,
        "key": "CustomerNo",
        "mapping": {
            "custom0": "CustomerNo",
            "givenName": "FirstName",
            "sn": "LastName",
            "cn": "FullName",
            "company": "Company",
            "telephoneNumber": "Phone",
            "mobile": "Mobile",
            "homePhone": "HomePhone",
            "mail": "Email",
            "l": "City",
        },
    }


def config(**server: object) -> dict:
    accounts = [
        {"dn": PBX_DN, "password": hash_password(PBX_PASSWORD)},
        {"dn": SALES_DN, "password": hash_password(SALES_PASSWORD), "directories": ["sales"]},
    ]
    sales = {
        "name": "leads",
        "type": "csv",
        "path": "sales.csv",
        "key": "Id",
        "mapping": {
            "custom0": "Id",
            "givenName": "Vorname",
            "sn": "Nachname",
            "telephoneNumber": "Telefon",
        },
    }
    return {
        "server": {"accounts": accounts, **server},
        "location": {"country": "DE", "area_code": "89", "outside_line": "0"},
        "directories": [
            {"name": "contacts", "replicators": [contacts_replicator()]},
            {"name": "sales", "replicators": [sales]},
        ],
    }


FILES = {"contacts.csv": CONTACTS_CSV, "sales.csv": SALES_CSV}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetadirServer]:
    """The server most tests read from; nothing may change its data."""
    running = start_metadir(tmp_path_factory.mktemp("e2e"), config(), FILES)
    yield running
    stop_metadir(running)


@pytest.fixture(scope="module")
def restricted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetadirServer]:
    """No anonymous reads, and at most 5 entries per search."""
    cfg = config(allow_anonymous=False, size_limit=5)
    running = start_metadir(tmp_path_factory.mktemp("restricted"), cfg, FILES)
    yield running
    stop_metadir(running)


# --- client helpers ------------------------------------------------------------------------


def search(
    conn: ldap3.Connection,
    base: str,
    filter: str = "(objectClass=*)",
    scope: str = ldap3.SUBTREE,
    attributes: list[str] | None = None,
    **kwargs: object,
) -> tuple[int, list[tuple[str, dict]]]:
    """(result code, [(dn, raw attributes)]) of one ldap3 search."""
    conn.search(base, filter, scope, attributes=attributes or ["custom0"], **kwargs)
    entries = [
        (
            r["dn"],
            {k: [v.decode("utf-8") for v in vs or ()] for k, vs in r["raw_attributes"].items()},
        )
        for r in conn.response or ()
        if r["type"] == "searchResEntry"
    ]
    return conn.result["result"], entries


def ldapsearch(
    server: MetadirServer, *args: str, bind: tuple[str, str] | None = None
) -> tuple[int, list[tuple[str, dict]], str]:
    """(exit code, entries, stderr) of the real ``ldapsearch -x -LLL``."""
    creds = ["-D", bind[0], "-w", bind[1]] if bind else []
    code, out, err = run_ldapsearch(
        ["-x", "-LLL", "-o", "ldif-wrap=no", "-H", server.url, *creds, *args]
    )
    return code, parse_ldif(out), err


def ids(entries: list[tuple[str, dict]]) -> set[str]:
    """The source keys (custom0) of contact entries."""
    return {
        v for _, attrs in entries for k, vs in attrs.items() if k.lower() == "custom0" for v in vs
    }


def dns(entries: list[tuple[str, dict]]) -> set[str]:
    return {dn.lower() for dn, _ in entries}


def dn_of(server: MetadirServer, key: str) -> str:
    conn = connect(server.url)
    _, found = search(conn, "dc=meta", f"(custom0={key})")
    conn.unbind()
    assert len(found) == 1, f"custom0={key}: expected one entry, got {found}"
    return found[0][0]


# --- binds ---------------------------------------------------------------------------------


def test_anonymous_bind_and_search(server: MetadirServer) -> None:
    conn = connect(server.url)
    assert conn.bound
    code, found = search(conn, CONTACTS, scope=ldap3.LEVEL)
    assert (code, ids(found)) == (SUCCESS, CONTACT_IDS)
    code, found, err = ldapsearch(server, "-b", CONTACTS, "-s", "one", "(objectClass=*)", "custom0")
    assert (code, ids(found)) == (SUCCESS, CONTACT_IDS), err


def test_hash_password_makes_a_hash_not_the_password() -> None:
    made = hash_password(PBX_PASSWORD)
    assert made.startswith("$argon2") and PBX_PASSWORD not in made
    assert hash_password(PBX_PASSWORD) != made, "hashes must be salted"


def test_simple_bind_with_hash_password_account(server: MetadirServer) -> None:
    conn = connect(server.url, PBX_DN, PBX_PASSWORD)
    assert conn.bound, conn.result
    assert conn.extend.standard.who_am_i() == f"dn:{PBX_DN}"
    code, found = search(conn, "dc=meta", "(custom0=*)")
    assert (code, ids(found)) == (SUCCESS, CONTACT_IDS | SALES_IDS)
    code, found, err = ldapsearch(
        server, "-b", "dc=meta", "(custom0=*)", "custom0", bind=(PBX_DN, PBX_PASSWORD)
    )
    assert (code, ids(found)) == (SUCCESS, CONTACT_IDS | SALES_IDS), err
    # the DN is matched like a DN: case and spacing do not matter
    assert connect(server.url, "CN=PBX, DC=Meta", PBX_PASSWORD).bound


def test_wrong_password_and_unknown_dn_fail_alike(server: MetadirServer) -> None:
    wrong = connect(server.url, PBX_DN, "not the password")
    unknown = connect(server.url, "cn=nobody,dc=meta", PBX_PASSWORD)
    assert not wrong.bound and not unknown.bound
    assert wrong.result["result"] == unknown.result["result"] == INVALID_CREDENTIALS
    assert wrong.result["message"] == unknown.result["message"]
    for dn in (PBX_DN, "cn=nobody,dc=meta"):
        code, _, err = ldapsearch(server, "-b", "dc=meta", "-s", "base", bind=(dn, "bad"))
        assert code == INVALID_CREDENTIALS, err
    log = server.stderr
    assert "cn=nobody,dc=meta" in log, f"a failed bind must be logged:\n{log}"


@pytest.mark.parametrize("mechanism", [ldap3.EXTERNAL, ldap3.PLAIN])
def test_sasl_bind_is_not_supported(server: MetadirServer, mechanism: str) -> None:
    credentials = None if mechanism == ldap3.EXTERNAL else ("", "user", "password")
    conn = ldap3.Connection(
        ldap3.Server(server.url, get_info=ldap3.NONE),
        authentication=ldap3.SASL,
        sasl_mechanism=mechanism,
        sasl_credentials=credentials,
        raise_exceptions=False,
    )
    assert not conn.bind()
    assert conn.result["result"] == AUTH_METHOD_NOT_SUPPORTED, conn.result
    conn.unbind()


def test_empty_dn_with_password_is_unwilling(server: MetadirServer) -> None:
    code, _, err = ldapsearch(server, "-b", "dc=meta", "-s", "base", bind=("", "some password"))
    assert code == UNWILLING_TO_PERFORM, err
    # the same bind on the wire, as clients other than libldap send it
    assert raw_exchange(server, bind_request(1, "", "some password")) == [
        (1, BIND_RESPONSE, UNWILLING_TO_PERFORM)
    ]


def test_anonymous_reads_can_be_disabled(restricted: MetadirServer) -> None:
    # the root DSE stays readable, so clients can still find the naming context
    code, found, err = ldapsearch(restricted, "-s", "base", "-b", "")
    assert code == SUCCESS, err
    assert found[0][1]["namingContexts"] == ["dc=meta"]
    code, found, err = ldapsearch(restricted, "-b", "dc=meta", "(objectClass=*)")
    assert (code, found) == (INSUFFICIENT_ACCESS_RIGHTS, []), err
    conn = ldap3.Connection(
        ldap3.Server(restricted.url, get_info=ldap3.NONE), raise_exceptions=False
    )
    conn.open()  # no bind at all
    assert search(conn, "dc=meta") == (INSUFFICIENT_ACCESS_RIGHTS, [])
    assert search(conn, CONTACTS, scope=ldap3.BASE) == (INSUFFICIENT_ACCESS_RIGHTS, [])
    code, found = search(conn, "", scope=ldap3.BASE, attributes=["namingContexts"])
    assert code == SUCCESS and found[0][1]["namingContexts"] == ["dc=meta"]
    conn.unbind()
    conn = connect(restricted.url, PBX_DN, PBX_PASSWORD)
    code, found = search(conn, CONTACTS, "(custom0=1001)")
    assert (code, ids(found)) == (SUCCESS, {"1001"})
    conn.unbind()


def test_account_sees_only_its_directories(server: MetadirServer) -> None:
    conn = connect(server.url, SALES_DN, SALES_PASSWORD)
    assert conn.bound, conn.result
    code, found = search(conn, "dc=meta", "(custom0=*)")
    assert (code, ids(found)) == (SUCCESS, SALES_IDS)
    code, found = search(conn, "dc=meta", scope=ldap3.LEVEL)
    assert (code, dns(found)) == (SUCCESS, {SALES})
    code, found = search(conn, CONTACTS, "(custom0=*)")
    assert code in (NO_SUCH_OBJECT, INSUFFICIENT_ACCESS_RIGHTS) and found == []
    code, found = search(conn, dn_of(server, "1001"), scope=ldap3.BASE)
    assert code in (NO_SUCH_OBJECT, INSUFFICIENT_ACCESS_RIGHTS) and found == []
    code, found, err = ldapsearch(
        server, "-b", "dc=meta", "(sn=*)", "custom0", bind=(SALES_DN, SALES_PASSWORD)
    )
    assert (code, ids(found)) == (SUCCESS, SALES_IDS), err
    conn.unbind()


def test_whoami(server: MetadirServer) -> None:
    assert run_ldap_tool("ldapwhoami", ["-x", "-H", server.url])[:2] == (0, "anonymous\n")
    code, out, err = run_ldap_tool(
        "ldapwhoami", ["-x", "-H", server.url, "-D", PBX_DN, "-w", PBX_PASSWORD]
    )
    assert (code, out) == (0, f"dn:{PBX_DN}\n"), err
    conn = connect(server.url)
    assert conn.extend.standard.who_am_i() in ("", None)
    assert conn.result["result"] == SUCCESS
    conn.unbind()


# --- the tree, scopes, missing bases -----------------------------------------------------------


def test_tree_entries(server: MetadirServer) -> None:
    code, found, err = ldapsearch(server, "-b", "dc=meta", "-s", "base", "(objectClass=*)")
    assert code == SUCCESS, err
    ((dn, root),) = found
    assert dn == "dc=meta"
    assert sorted(root["objectClass"]) == ["dcObject", "organization", "top"]
    assert (root["dc"], root["o"]) == (["meta"], ["metadir"])
    code, found, err = ldapsearch(server, "-b", CONTACTS, "-s", "base", "(objectClass=*)")
    ((dn, container),) = found
    assert dn == CONTACTS
    assert sorted(container["objectClass"]) == ["organizationalUnit", "top"]
    assert container["ou"] == ["contacts"]


def test_contact_entries(server: MetadirServer) -> None:
    code, found, err = ldapsearch(server, "-b", "dc=meta", "(custom0=*)", "*", "+")
    assert code == SUCCESS, err
    assert len(found) == len(CONTACT_IDS | SALES_IDS)
    for dn, attrs in found:
        assert set(attrs["objectClass"]) >= {
            "top",
            "person",
            "organizationalPerson",
            "inetOrgPerson",
            "contactperson",
        }
        (uid,) = attrs["entryUUID"]
        assert dn.lower() == f"entryuuid={uid},{dn.split(',', 1)[1]}".lower()
        assert str(uuid.UUID(uid)) == uid.lower()
        for stamp in ("createTimestamp", "modifyTimestamp"):
            assert TIMESTAMP.match(attrs[stamp][0]), (stamp, attrs[stamp])
        assert attrs["cn"] and attrs["displayName"], f"{dn} lacks cn or displayName: {attrs}"
    by_key = {attrs["custom0"][0]: attrs for _, attrs in found}
    assert by_key["1001"]["cn"] == ["Jürgen Müller"]
    assert by_key["1001"]["sn"] == ["Müller"] and by_key["1001"]["l"] == ["München"]
    # built from the name parts where the source maps no cn / displayName
    for key, name in (("S1", ("Lisa", "Lustig")), ("S2", ("Karl", "König"))):
        for attr in ("cn", "displayName"):
            assert all(part in by_key[key][attr][0] for part in name), (key, by_key[key])
    assert "givenName" not in by_key["1006"] and "company" not in by_key["1006"]


SCOPES = {"base": ldap3.BASE, "one": ldap3.LEVEL, "sub": ldap3.SUBTREE}


@pytest.mark.parametrize(
    ("base", "scope", "expected"),
    [
        ("dc=meta", "base", {"dc=meta"}),
        ("dc=meta", "one", {CONTACTS, SALES}),
        ("dc=meta", "sub", "all"),
        (CONTACTS, "base", {CONTACTS}),
        (CONTACTS, "one", "contacts"),
        (CONTACTS, "sub", "contacts+"),
        ("DC=Meta", "one", {CONTACTS, SALES}),
        ("ou=Contacts,DC=Meta", "base", {CONTACTS}),
    ],
)
def test_scopes(server: MetadirServer, base: str, scope: str, expected: object) -> None:
    conn = connect(server.url)
    code, everything = search(conn, "dc=meta")
    assert code == SUCCESS and len(everything) == ALL_DNS
    members = {dn.lower() for dn, a in everything if (a.get("custom0") or [""])[0] in CONTACT_IDS}
    named = {"all": dns(everything), "contacts": members, "contacts+": members | {CONTACTS}}
    want = named[expected] if isinstance(expected, str) else expected
    code, found = search(conn, base, scope=SCOPES[scope])
    assert (code, dns(found)) == (SUCCESS, want)
    code, found, err = ldapsearch(server, "-b", base, "-s", scope, "(objectClass=*)", "1.1")
    assert (code, dns(found)) == (SUCCESS, want), err
    conn.unbind()


@pytest.mark.parametrize("scope", ["base", "one", "sub"])
def test_scopes_at_an_entry(server: MetadirServer, scope: str) -> None:
    entry = dn_of(server, "1001")
    want = set() if scope == "one" else {entry.lower()}
    conn = connect(server.url)
    code, found = search(conn, entry, scope=SCOPES[scope])
    assert (code, dns(found)) == (SUCCESS, want)
    code, found, err = ldapsearch(server, "-b", entry, "-s", scope, "(objectClass=*)", "1.1")
    assert (code, dns(found)) == (SUCCESS, want), err
    conn.unbind()


@pytest.mark.parametrize(
    ("base", "matched"),
    [
        ("ou=nowhere,dc=meta", "dc=meta"),
        (f"entryUUID={uuid.uuid4()},{CONTACTS}", CONTACTS),
        (f"cn=deeper,entryUUID={uuid.uuid4()},{CONTACTS}", CONTACTS),
        ("dc=example,dc=com", ""),
    ],
)
def test_missing_base_is_no_such_object(server: MetadirServer, base: str, matched: str) -> None:
    conn = connect(server.url)
    assert search(conn, base) == (NO_SUCH_OBJECT, [])
    assert conn.result["dn"].lower() == matched.lower()
    conn.unbind()
    code, found, err = ldapsearch(server, "-b", base, "(objectClass=*)")
    assert (code, found) == (NO_SUCH_OBJECT, []), err
    if matched:
        assert f"Matched DN: {matched}" in err


# --- filters -------------------------------------------------------------------------------

MUENCHEN = {"1001", "1004", "1012"}
FILTERS = [
    ("(sn=MÜLLER)", {"1001"}),
    ("(sn=müller)", {"1001"}),  # not Muller: accents are not case
    ("(cn=jürgen müller)", {"1001"}),
    ("(cn=a*y*xyz)", {"1007"}),  # not "axyz": the final part may not overlap the initial
    ("(cn=axyz)", {"1006"}),
    ("(cn=*xyz)", {"1006", "1007"}),
    ("(sn=Mü*)", {"1001", "1008"}),
    ("(sn=*ller*)", {"1001", "1008", "1012"}),
    ("(cn=*Müller-L*Scheidt)", {"1008"}),
    ("(cn=ayşe*)", {"1005"}),
    ("(sn=ØSTERGAARD)", {"1011"}),
    ("(givenName=ÉMILE)", {"1010"}),
    ("(gn=émile)", {"1010"}),
    ("(surname=zola)", {"1010"}),
    ("(l=münchen)", MUENCHEN),
    ("(company=acme ag)", {"1002", "1004", "1009", "1012"}),
    ("(&(company=ACME AG)(l=München))", {"1004", "1012"}),
    ("(&(company=ACME AG)(!(l=München)))", {"1002", "1009"}),
    ("(|(sn=Zola)(givenName=ANNA))", {"1010", "1002"}),
    ("(|(&(l=münchen)(sn=m*))(custom0=1010))", {"1001", "1004", "1012", "1010"}),
    ("(!(company=*))", {"1006"}),
    ("(mobile=*)", {"1001", "1003", "1005", "1009"}),
    ("(Mobile=+49 171 5550100)", {"1001"}),
    ("(MOBILE=+491715550100)", {"1001"}),
    ("(telePhoneNumber=+49 89 1234567)", {"1001"}),
    ("(telephoneNumber=+49-89-1234-567)", {"1001"}),
    ("(telephoneNumber=*1234567)", {"1001"}),
    ("(telephoneNumber=*1234-567)", {"1001"}),
    ("(telephoneNumber=+4989*)", {"1001", "1004", "1006", "1008", "1009", "1012"}),
    ("(telephoneNumber=*45 67 89*)", {"1010"}),
    ("(homeTelephoneNumber=+49 30 9876543)", {"1002"}),
    ("(homePhone=*9876543)", {"1002"}),
    ("(custom0>=1010)", {"1010", "1011", "1012"}),
    ("(custom0<=1002)", {"1001", "1002"}),
    ("(sn~=ZOLA)", {"1010"}),
    ("(!(fooBar=x))", set()),  # an unknown attribute is Undefined, and so is its negation
    ("(|(fooBar=x)(sn=Zola))", {"1010"}),
    ("(&(fooBar=*)(sn=Zola))", set()),
    ("(objectClass=inetOrgPerson)", CONTACT_IDS),
    ("(objectclass=CONTACTPERSON)", CONTACT_IDS),
    ("(&(objectClass=person)(mail=*@acme.example))", {"1002", "1004", "1009", "1012"}),
    ("(mail=ANNA.SCHMIDT@ACME.EXAMPLE)", {"1002"}),
]


@pytest.mark.parametrize(("filter", "expected"), FILTERS, ids=[f for f, _ in FILTERS])
def test_filters(server: MetadirServer, filter: str, expected: set[str]) -> None:
    conn = connect(server.url)
    code, found = search(conn, CONTACTS, filter)
    assert (code, ids(found)) == (SUCCESS, expected)
    conn.unbind()
    code, found, err = ldapsearch(server, "-b", CONTACTS, filter, "custom0")
    assert (code, ids(found)) == (SUCCESS, expected), err


# --- attribute selection, typesOnly, size limits ------------------------------------------------


def only(entries: list[tuple[str, dict]]) -> dict:
    assert len(entries) == 1, entries
    return entries[0][1]


@pytest.mark.parametrize(
    ("attributes", "present", "absent"),
    [
        (["*"], {"cn", "sn", "telephoneNumber", "objectClass", "custom0"}, {"entryUUID"}),
        (["+"], {"entryUUID", "createTimestamp", "modifyTimestamp"}, {"cn", "objectClass"}),
        (["*", "+"], {"cn", "entryUUID", "modifyTimestamp"}, set()),
        (["1.1"], set(), {"cn", "objectClass", "entryUUID"}),
        ([], {"cn", "objectClass"}, {"entryUUID"}),
        (["entryUUID", "CREATETIMESTAMP"], {"entryUUID", "createTimestamp"}, {"cn"}),
    ],
)
def test_attribute_selection(
    server: MetadirServer, attributes: list[str], present: set[str], absent: set[str]
) -> None:
    code, found, err = ldapsearch(server, "-b", CONTACTS, "(custom0=1001)", *attributes)
    names = set(only(found))
    assert code == SUCCESS, err
    assert present <= names and not absent & names, names


def test_attribute_names_come_back_canonical(server: MetadirServer) -> None:
    asked = ["TELEPHONENUMBER", "Mobile", "surname", "gn", "COMMONNAME", "fooBar", "entryuuid"]
    code, found, err = ldapsearch(server, "-b", CONTACTS, "(custom0=1001)", *asked)
    assert code == SUCCESS, err
    assert set(only(found)) == {"telephoneNumber", "mobile", "sn", "givenName", "cn", "entryUUID"}
    code, found, err = ldapsearch(server, "-b", CONTACTS, "(custom0=1001)", "*")
    names = set(only(found))
    canonical = {
        "objectClass",
        "cn",
        "sn",
        "givenName",
        "company",
        "telephoneNumber",
        "mobile",
        "mail",
        "l",
        "custom0",
        "displayName",
    }
    assert canonical <= names, names
    conn = connect(server.url)
    code, found = search(conn, CONTACTS, "(custom0=1001)", attributes=["MAIL", "L", "SN"])
    assert code == SUCCESS and sorted(only(found)) == ["l", "mail", "sn"]
    conn.unbind()


def test_types_only(server: MetadirServer) -> None:
    code, found, err = ldapsearch(server, "-A", "-b", CONTACTS, "(custom0=1001)", "cn", "sn")
    assert code == SUCCESS, err
    assert only(found) == {"cn": [""], "sn": [""]}
    conn = connect(server.url)
    code, found = search(
        conn, CONTACTS, "(custom0=1001)", attributes=["cn", "mail"], types_only=True
    )
    assert code == SUCCESS and only(found) == {"cn": [], "mail": []}
    conn.unbind()


def test_client_size_limit(server: MetadirServer) -> None:
    code, found, err = ldapsearch(server, "-z", "3", "-b", "dc=meta", "(objectClass=*)", "1.1")
    assert (code, len(found)) == (SIZE_LIMIT_EXCEEDED, 3), err
    conn = connect(server.url)
    code, found = search(conn, "dc=meta", size_limit=3)
    assert (code, len(found)) == (SIZE_LIMIT_EXCEEDED, 3)
    # exactly as many as match is not exceeding the limit; 0 means no limit
    assert search(conn, CONTACTS, scope=ldap3.LEVEL, size_limit=12)[0] == SUCCESS
    code, found = search(conn, "dc=meta", size_limit=0)
    assert (code, len(found)) == (SUCCESS, ALL_DNS)
    conn.unbind()


def test_server_size_limit(restricted: MetadirServer) -> None:
    pbx = (PBX_DN, PBX_PASSWORD)
    code, found, err = ldapsearch(restricted, "-b", "dc=meta", "(objectClass=*)", "1.1", bind=pbx)
    assert (code, len(found)) == (SIZE_LIMIT_EXCEEDED, 5), err
    code, found, err = ldapsearch(restricted, "-z", "3", "-b", "dc=meta", "1.1", bind=pbx)
    assert (code, len(found)) == (SIZE_LIMIT_EXCEEDED, 3), err
    conn = connect(restricted.url, *pbx)
    code, found = search(conn, "dc=meta", size_limit=100)
    assert (code, len(found)) == (SIZE_LIMIT_EXCEEDED, 5)
    code, found = search(conn, SALES, scope=ldap3.LEVEL)
    assert (code, ids(found)) == (SUCCESS, SALES_IDS)
    conn.unbind()


# --- root DSE ------------------------------------------------------------------------------


def check_root_dse(attrs: dict) -> None:
    assert attrs["namingContexts"] == ["dc=meta"]
    assert attrs["defaultNamingContext"] == ["dc=meta"]
    assert attrs["supportedLDAPVersion"] == ["3"]
    assert WHO_AM_I in attrs["supportedExtension"]
    assert attrs["supportedControl"] and attrs["subschemaSubentry"]
    assert attrs["vendorName"] and attrs["vendorVersion"]


def test_root_dse_with_ldapsearch(server: MetadirServer) -> None:
    # no filter given: ldapsearch sends (objectclass=*), lower case
    code, found, err = ldapsearch(server, "-s", "base", "-b", "")
    assert code == SUCCESS, err
    ((dn, attrs),) = found
    assert dn == ""
    check_root_dse(attrs)
    code, found, err = ldapsearch(server, "-s", "base", "-b", "", "+")
    assert code == SUCCESS and found[0][1]["namingContexts"] == ["dc=meta"], err


@pytest.mark.parametrize("filter", ["(objectClass=*)", "(OBJECTCLASS=*)", "(objectclass=*)"])
def test_root_dse_with_ldap3(server: MetadirServer, filter: str) -> None:
    conn = connect(server.url)
    code, found = search(conn, "", filter, ldap3.BASE, attributes=["*", "+"])
    assert code == SUCCESS
    check_root_dse(only(found))
    code, found = search(conn, "", filter, ldap3.BASE, attributes=["namingContexts"])
    assert only(found) == {"namingContexts": ["dc=meta"]}
    conn.unbind()


# --- read-only, abandon, extended operations, malformed requests ---------------------------------


def test_writes_are_refused(server: MetadirServer) -> None:
    conn = connect(server.url, PBX_DN, PBX_PASSWORD)
    entry = dn_of(server, "1001")
    conn.add(f"cn=new,{CONTACTS}", ["inetOrgPerson"], {"cn": "new", "sn": "new"})
    assert conn.result["result"] == UNWILLING_TO_PERFORM
    conn.modify(entry, {"sn": [(ldap3.MODIFY_REPLACE, ["Changed"])]})
    assert conn.result["result"] == UNWILLING_TO_PERFORM
    conn.delete(entry)
    assert conn.result["result"] == UNWILLING_TO_PERFORM
    conn.modify_dn(entry, "cn=renamed")
    assert conn.result["result"] == UNWILLING_TO_PERFORM
    code, found = search(conn, CONTACTS, "(custom0=1001)", attributes=["sn"])
    assert (code, found) == (SUCCESS, [(entry, {"sn": ["Müller"]})])
    conn.unbind()


def test_unknown_extended_operation(server: MetadirServer) -> None:
    # StartTLS without server.tls answers unavailable (52): see test_tls.py
    conn = connect(server.url)
    conn.extended("1.3.6.1.4.1.99999.1.2.3")
    assert conn.result["result"] == PROTOCOL_ERROR
    assert search(conn, CONTACTS, "(custom0=1002)")[0] == SUCCESS, "the connection must survive"
    conn.unbind()


# minimal BER, enough to send what ldap3 will not (abandon on the wire, garbage, raw binds)
BIND_RESPONSE, SEARCH_ENTRY, SEARCH_DONE, EXTENDED_RESPONSE = 0x61, 0x64, 0x65, 0x78


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = bytes([n]) if n < 0x80 else bytes([0x82]) + n.to_bytes(2, "big")
    return bytes([tag]) + length + content


def message(mid: int, op: bytes) -> bytes:
    return tlv(0x30, tlv(0x02, mid.to_bytes(2, "big").lstrip(b"\0") or b"\0") + op)


def bind_request(mid: int, dn: str, password: str) -> bytes:
    return message(
        mid, tlv(0x60, tlv(0x02, b"\x03") + tlv(0x04, dn.encode()) + tlv(0x80, password.encode()))
    )


def root_dse_request(mid: int) -> bytes:
    op = (
        tlv(0x04, b"")
        + tlv(0x0A, b"\0")
        + tlv(0x0A, b"\0")
        + tlv(0x02, b"\0")
        + tlv(0x02, b"\0")
        + tlv(0x01, b"\0")
        + tlv(0x87, b"objectClass")
        + tlv(0x30, b"")
    )
    return message(mid, tlv(0x63, op))


def abandon_request(mid: int, abandoned: int) -> bytes:
    return message(mid, tlv(0x50, bytes([abandoned])))


def read_pdu(sock: socket.socket) -> bytes | None:
    """One whole LDAPMessage, or None when the server closed the connection."""
    head = _read(sock, 2)
    if head is None:
        return None
    length, extra = head[1], b""
    if length & 0x80:
        extra = _read(sock, length & 0x7F)
        assert extra is not None, "connection closed in the middle of a message"
        length = int.from_bytes(extra, "big")
    body = _read(sock, length)
    assert body is not None, "connection closed in the middle of a message"
    return head + extra + body


def _read(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _content_at(pdu: bytes, pos: int) -> int:
    """Where the content of the TLV starting at ``pos`` begins."""
    length = pdu[pos + 1]
    return pos + 2 + (length & 0x7F if length & 0x80 else 0)


def parse_pdu(pdu: bytes) -> tuple[int, int, int | None]:
    """(message id, operation tag, result code if the operation is a result)."""
    i = _content_at(pdu, 0)
    assert pdu[i] == 0x02, f"no message id in {pdu.hex()}"
    mid = int.from_bytes(pdu[i + 2 : i + 2 + pdu[i + 1]], "big")
    op = i + 2 + pdu[i + 1]
    tag = pdu[op]
    result = pdu[_content_at(pdu, op) + 2]  # resultCode: the first element, an ENUMERATED
    return mid, tag, result if tag in (BIND_RESPONSE, SEARCH_DONE, EXTENDED_RESPONSE) else None


def raw_exchange(server: MetadirServer, data: bytes, until_done: int | None = None) -> list:
    """Send ``data``; read replies until the result for ``until_done`` (or the first PDU)."""
    replies = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(data)
        while True:
            pdu = read_pdu(sock)
            assert pdu is not None, f"the server closed the connection after {replies}"
            replies.append(parse_pdu(pdu))
            mid, tag, _ = replies[-1]
            if until_done is None or (mid == until_done and tag != SEARCH_ENTRY):
                return replies


def test_abandon_gets_no_reply(server: MetadirServer) -> None:
    replies = raw_exchange(
        server, abandon_request(2, 1) + abandon_request(3, 99) + root_dse_request(4), until_done=4
    )
    assert [mid for mid, _, _ in replies] == [4, 4], replies
    assert replies[-1] == (4, SEARCH_DONE, SUCCESS)
    conn = connect(server.url)
    assert conn.abandon(12345) is not None
    assert search(conn, CONTACTS, "(custom0=1003)") == (
        SUCCESS,
        [(dn_of(server, "1003"), {"custom0": ["1003"]})],
    )
    conn.unbind()


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: " + b"x" * 100 + b"\r\n\r\n",
        b"\x00\x01\x02\x03",
        message(1, tlv(0x63, b"")),  # a SearchRequest with nothing in it
        message(1, tlv(0x63, b"\x04\x00\x0a\x01")),  # a truncated SearchRequest
        b"\x30\x84\x7f\xff\xff\xff\x02\x01\x01",  # announces a 2 GiB message
        b"\x30\x80\x02\x01\x01\x42\x00\x00\x00",  # indefinite length: not allowed in LDAP
    ],
    ids=["http", "not-ber", "empty-search", "truncated-search", "2GiB", "indefinite"],
)
def test_malformed_request_closes_only_that_connection(
    server: MetadirServer, garbage: bytes
) -> None:
    other = connect(server.url)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(garbage)
        replies = []
        while (pdu := read_pdu(sock)) is not None:
            replies.append(parse_pdu(pdu))
            assert len(replies) <= 1, f"expected at most a notice of disconnection: {replies}"
        # nothing but an optional notice of disconnection (message id 0) before the close
        assert all(mid == 0 and tag == EXTENDED_RESPONSE for mid, tag, _ in replies), replies
    assert search(other, CONTACTS, "(custom0=1004)")[0] == SUCCESS
    assert search(connect(server.url), CONTACTS, "(custom0=1005)")[0] == SUCCESS
    other.unbind()
    assert server.process is not None and server.process.poll() is None


# --- following the store while serving ------------------------------------------------------

LIVE_HEADER = "CustomerNo,FirstName,LastName,FullName,Company,Phone,Mobile,HomePhone,Email,City\n"


def live_row(n: int, last: str | None = None) -> str:
    last = last or f"Person{n:02d}"
    return f"{n},Live,{last},Live {last},Live GmbH,+49 89 700{n:04d},,,,Berlin\n"


def live_csv(rows: dict[int, str | None]) -> str:
    return LIVE_HEADER + "".join(live_row(n, last) for n, last in sorted(rows.items()))


def wait_for(server: MetadirServer, filter: str, want: set[str], seconds: float = 2.0) -> None:
    conn = connect(server.url)
    deadline = time.monotonic() + seconds
    while True:
        code, found = search(conn, CONTACTS, filter)
        if code == SUCCESS and ids(found) == want:
            conn.unbind()
            return
        if time.monotonic() > deadline:
            conn.unbind()
            pytest.fail(
                f"{filter}: after {seconds:g} s the server returns {ids(found)} "
                f"(result {code}), not {want}; its log:\n{server.stderr}"
            )
        time.sleep(0.05)


def test_sync_while_serving_is_visible_within_2s(make_metadir) -> None:
    rows: dict[int, str | None] = {n: None for n in range(1, 11)}
    server = make_metadir(
        {"directories": [{"name": "contacts", "replicators": [contacts_replicator()]}]},
        {"contacts.csv": live_csv(rows)},
    )
    csv = server.workdir / "contacts.csv"
    wait_for(server, "(sn=Person*)", {str(n) for n in rows})
    dn_before = dn_of(server, "3")

    rows[3] = "Renamed"
    csv.write_text(live_csv(rows), encoding="utf-8")
    log_before = server.stderr
    server.sync()
    wait_for(server, "(sn=Renamed)", {"3"})
    assert dn_of(server, "3") == dn_before, "an update must keep the entry's DN"
    assert len(server.stderr.splitlines()) > len(log_before.splitlines()), (
        f"the server should log that the sync became visible:\n{server.stderr}"
    )

    rows[11] = None
    csv.write_text(live_csv(rows), encoding="utf-8")
    server.sync()
    wait_for(server, "(custom0=11)", {"11"})

    del rows[5]
    csv.write_text(live_csv(rows), encoding="utf-8")
    server.sync()
    wait_for(server, "(custom0=5)", set())
    wait_for(server, "(sn=*)", {str(n) for n in rows})


def test_dns_survive_resync_and_restart(make_metadir) -> None:
    server = make_metadir(config(), FILES)
    before = {key: dn_of(server, key) for key in ("1001", "1006", "S2")}
    server.sync()
    assert {key: dn_of(server, key) for key in before} == before
    assert server.stop() == 0, server.stderr
    server.start()
    assert {key: dn_of(server, key) for key in before} == before


def test_sigterm_stops_cleanly_and_logs(make_metadir) -> None:
    server = make_metadir(config(), FILES)
    connect(server.url, "cn=intruder,dc=meta", "guess")
    assert server.stop() == 0, server.stderr
    log = server.stderr
    lines = log.splitlines()
    assert any("listen" in line.lower() and str(server.port) in line for line in lines), log
    assert sum("bind failed" in line and "cn=intruder,dc=meta" in line for line in lines) == 1
    # and the access log has the operation, once
    bind = [line for line in lines if "metadir.access" in line and "cn=intruder" in line]
    assert len(bind) == 1 and "op=BIND" in bind[0] and "result=49" in bind[0], log
    assert "Traceback" not in log, log
