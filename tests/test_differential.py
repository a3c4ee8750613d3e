"""slapd as the oracle for search semantics: the same 500 contacts in metadir and in slapd,
the same filters through the same client, the same entries must come back.

metadir syncs generated contacts and serves them; its tree, dumped with ``ldapsearch``
(``*`` plus entryUUID and the timestamps), is loaded into a fresh slapd with slapadd, so both
hold the same entries with the same entryUUIDs. Results are compared by entryUUID: slapd
cannot name entries by entryUUID (an operational attribute), so there they are ``uid=<uuid>``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ldap3
import pytest
from ldap3.utils.conv import escape_filter_chars as esc

from tests.servers import (
    SLAPADD,
    SLAPD,
    MetadirServer,
    ServerError,
    SlapdServer,
    connect,
    for_slapd,
    parse_ldif,
    run_ldapsearch,
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

ROOT = Path(__file__).resolve().parent.parent
CONTACTS = "ou=contacts,dc=meta"
COUNT, SEED = 500, 7
MAPPING = {
    "custom0": "CustomerNo",
    "givenName": "FirstName",
    "sn": "LastName",
    "company": "Company",
    "department": "Department",
    "title": "Title",
    "mail": "Email",
    "telephoneNumber": "Phone",
    "mobile": "Mobile",
    "facsimileTelephoneNumber": "Fax",
    "homePhone": "HomePhone",
    "street": "Street",
    "postalCode": "PostalCode",
    "l": "City",
    "c": "Country",
    "info": "Notes",
}


@dataclass
class Pair:
    metadir: MetadirServer
    slapd: SlapdServer
    contacts: list[dict[str, list[str]]] = field(repr=False)  # as metadir serves them
    dump: str = field(repr=False)  # metadir's tree as LDIF


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp("differential")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_contacts.py"), "--count", str(COUNT),
         "--seed", str(SEED), "--out", str(workdir / "contacts.csv")],
        check=True, capture_output=True,
    )  # fmt: skip
    config = {
        "server": {"size_limit": 0},
        "location": {"country": "DE", "area_code": "89", "outside_line": "0"},
        "directories": [
            {
                "name": "contacts",
                "replicators": [
                    {"name": "crm", "type": "csv", "path": "contacts.csv",
                     "key": "CustomerNo", "mapping": MAPPING}
                ],
            }
        ],
    }  # fmt: skip
    metadir = start_metadir(workdir, config)
    slapd = SlapdServer(tmp_path_factory.mktemp("slapd"))
    try:
        code, dump, err = run_ldapsearch(
            ["-x", "-LLL", "-o", "ldif-wrap=no", "-H", metadir.url, "-b", "dc=meta",
             "(objectClass=*)", "*", "entryUUID", "createTimestamp", "modifyTimestamp"]
        )  # fmt: skip
        assert code == 0, f"dumping metadir failed: {err}"
        contacts = [attrs for dn, attrs in parse_ldif(dump) if is_contact(dn)]
        assert len(contacts) == COUNT, f"metadir serves {len(contacts)} contacts, not {COUNT}"
        # schema conformance has its own test below; here only search semantics are compared
        slapd.load(for_slapd(dump), check_schema=False)
        slapd.start()
        yield Pair(metadir, slapd, contacts, dump)
    finally:
        slapd.stop()
        stop_metadir(metadir)


def is_contact(dn: str) -> bool:
    return dn.lower().startswith(("entryuuid=", "uid="))


def key(dn: str, attrs: dict) -> str:
    """Contacts by entryUUID; the root and the containers by DN (slapd made their UUIDs)."""
    if is_contact(dn):
        (uid,) = attrs["entryUUID"]
        return uid.lower()
    return dn.lower()


def search(url: str, base: str, scope: str, filter: str) -> tuple[int, dict[str, str]]:
    """(result code, {key: cn or dn}) of one search, with ldap3 as the one client for both."""
    conn = connect(url)
    try:
        conn.search(base, filter, scope, attributes=["entryUUID", "cn"])
        found = {}
        for r in conn.response or ():
            if r["type"] != "searchResEntry":
                continue
            attrs = {k: [v.decode() for v in vs] for k, vs in r["raw_attributes"].items()}
            found[key(r["dn"], attrs)] = (attrs.get("cn") or [r["dn"]])[0]
        return conn.result["result"], found
    finally:
        conn.unbind()


# --- the filter corpus ---------------------------------------------------------------------

FIXED = [
    # names: case, umlauts, accents
    "(sn=MÜLLER)",
    "(sn=müller)",
    "(SN=mÜlLeR)",
    "(sn=Muller)",
    "(sn=OBERMÜLLER)",
    "(sn=weiß)",
    "(sn=WEIß)",
    "(sn=yılmaz)",
    "(sn=ÇELIK)",
    "(givenName=JÜRGEN)",
    "(givenName=zoë)",
    "(givenName=ÉLODIE)",
    "(GIVENNAME=björn)",
    "(l=MÜNCHEN)",
    "(l=münchen)",
    "(company=*GMBH)",
    # substrings: initial, any, final, several anys
    "(sn=Mü*)",
    "(sn=schm*)",
    "(sn=*mann)",
    "(sn=*ÜLLER)",
    "(sn=*ö*)",
    "(cn=*ü*)",
    "(cn=j*ü*n*)",
    "(cn=a*n*a*)",
    "(cn=s*e*r)",
    "(cn=a*y*xyz)",
    "(cn=*ann*mann)",
    "(department=*einkauf*)",
    "(title=*leiter*)",
    "(mail=*@*.de)",
    "(mail=J*)",
    # presence
    "(mobile=*)",
    "(homePhone=*)",
    "(info=*)",
    "(givenName=*)",
    "(facsimileTelephoneNumber=*)",
    # and / or / not, nested
    "(&(l=München)(sn=M*))",
    "(|(sn=Müller)(sn=Meier)(sn=Maier)(sn=Meyer))",
    "(&(c=DE)(!(mobile=*)))",
    "(!(c=DE))",
    "(&(|(l=Wien)(l=Zürich))(!(department=Vertrieb)))",
    "(|(&(c=AT)(sn=H*))(&(c=CH)(sn=*er)))",
    "(!(|(c=DE)(c=AT)(c=CH)))",
    "(&(objectClass=person)(|(title=*manager*)(department=IT)))",
    # object classes
    "(objectClass=person)",
    "(objectClass=*)",
    "(objectclass=INETORGPERSON)",
    "(objectClass=organizationalUnit)",
    "(objectClass=top)",
    # ordering, where the slapd schema defines an ORDERING rule
    "(company>=M)",
    "(company<=D)",
    "(&(department>=E)(department<=L))",
    "(custom0>=K100450)",
    "(custom0<=k100010)",
    # ordering after a selective part, which leaves only a few candidates to test
    "(&(c=AT)(company>=M))",
    "(&(l=Wien)(custom0>=K100250))",
    "(&(c=CH)(department<=F))",
    # approximate, where it can only mean "the same letters in other case"
    "(sn~=ZIMMERMANN)",
    "(givenName~=ZOË)",
    # unknown attribute types are Undefined, and so are their negations
    "(fooBar=x)",
    "(!(fooBar=x))",
    "(|(fooBar=x)(sn=Müller))",
    "(&(fooBar=*)(sn=Müller))",
    "(!(&(fooBar=x)(sn=Müller)))",
    "(!(|(fooBar=x)(sn=Müller)))",
    # aliases
    "(surname=müller)",
    "(gn=Anna)",
    "(commonName=*müller*)",
    "(localityName=Berlin)",
    "(homeTelephoneNumber=*)",
    "(mobileTelephoneNumber=*)",
    "(rfc822Mailbox=*@*.ch)",
    "(streetAddress=*gasse*)",
    "(countryName=at)",
]


def digits(number: str) -> str:
    return number.replace(" ", "").replace("-", "")


def number_filters(contacts: list[dict[str, list[str]]]) -> list[str]:
    """Equality and substring filters on phone numbers exactly as served, with spaces and
    hyphens moved about (telephoneNumberMatch ignores both)."""
    served = [c[a][0] for c in contacts for a in ("telephoneNumber", "mobile") if a in c]
    spaced = [n for n in served if " " in n][:4]
    hyphened = [n for n in served if "-" in n][:3]
    filters = []
    for n in spaced + hyphened:
        plain = digits(n)
        grouped = "-".join(plain[i : i + 3] for i in range(0, len(plain), 3))
        final = f"{plain[-7:-3]} {plain[-3:]}"
        filters += [
            f"(telephoneNumber={esc(plain)})",
            f"(TelePhoneNumber={esc(grouped)})",
            f"(telephoneNumber=*{esc(final)})",
            f"(telephoneNumber=*{esc(plain[-6:-2])}*)",
            f"(Mobile={esc(n)})",
            f"(|(telephoneNumber={esc(n)})(mobile={esc(n)})(homePhone={esc(n)}))",
        ]
    return filters


def data_filters(contacts: list[dict[str, list[str]]]) -> list[str]:
    uid = contacts[17]["entryUUID"][0]
    domain = next(c["mail"][0].split("@")[1] for c in contacts if "mail" in c)
    names = [c["cn"][0] for c in contacts if len(c["cn"][0]) > 8][:3]
    return [
        f"(entryUUID={uid})",
        f"(entryUUID={uid.upper()})",
        f"(mail=*@{esc(domain.upper())})",
        *(f"(cn={esc(n[0])}*{esc(n[len(n) // 2])}*{esc(n[-3:])})" for n in names),
        *(f"(cn={esc(n.swapcase())})" for n in names),
    ]


def folded_pairs(contacts: list[dict[str, list[str]]]) -> list[tuple[str, str]]:
    """Assertions spelt with "ß" and with "ss": metadir folds case as RFC 4518 asks (Unicode
    case folding, where "ß" is "ss"), slapd only lower-cases, so there they differ."""
    pairs = [("(street=*straße*)", "(street=*STRASSE*)")]
    names = sorted({c["sn"][0] for c in contacts if "ß" in c.get("sn", [""])[0]})
    for name in names[:3]:
        stem = name[: name.index("ß") + 1]
        pairs += [
            (f"(sn={esc(name.lower())})", f"(sn={esc(name.replace('ß', 'ss').upper())})"),
            (f"(sn={esc(stem.lower())}*)", f"(sn={esc(stem.replace('ß', 'ss').upper())}*)"),
        ]
    return pairs


def corpus(pair: Pair) -> list[str]:
    return FIXED + number_filters(pair.contacts) + data_filters(pair.contacts)


def describe(found: dict[str, str], keys: set[str]) -> str:
    return ", ".join(sorted(f"{found[k]} ({k})" for k in keys)) or "-"


@pytest.mark.parametrize(("base", "scope"), [("dc=meta", "sub"), (CONTACTS, "one")])
def test_same_entries_as_slapd(pair: Pair, base: str, scope: str) -> None:
    ldap3_scope = {"sub": ldap3.SUBTREE, "one": ldap3.LEVEL}[scope]
    filters = corpus(pair)
    assert len(filters) >= 40
    mismatches = []
    hits = 0
    for filter in filters:
        oracle_code, oracle = search(pair.slapd.url, base, ldap3_scope, filter)
        code, found = search(pair.metadir.url, base, ldap3_scope, filter)
        hits += bool(oracle)
        if (code, set(found)) != (oracle_code, set(oracle)):
            mismatches.append(
                f"{filter} (scope {scope} at {base}): result slapd {oracle_code}, "
                f"metadir {code}\n"
                f"  only in slapd:   {describe(oracle, set(oracle) - set(found))}\n"
                f"  only in metadir: {describe(found, set(found) - set(oracle))}"
            )
    assert not mismatches, (
        f"{len(mismatches)} of {len(filters)} filters differ from slapd:\n" + "\n".join(mismatches)
    )
    # agreeing on nothing proves nothing: most filters must find something
    assert hits >= 0.75 * len(filters), f"only {hits} of {len(filters)} filters match in slapd"


def test_both_hold_the_same_entries(pair: Pair) -> None:
    _, oracle = search(pair.slapd.url, "dc=meta", ldap3.SUBTREE, "(objectClass=*)")
    _, found = search(pair.metadir.url, "dc=meta", ldap3.SUBTREE, "(objectClass=*)")
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


def test_sharp_s_is_ss(pair: Pair) -> None:
    """For either spelling metadir finds what slapd finds for the two together."""
    pairs = folded_pairs(pair.contacts)
    assert len(pairs) >= 5, f"the data should hold names with ß: {pairs}"
    mismatches = []
    for spellings in pairs:
        oracle: dict[str, str] = {}
        for filter in spellings:
            code, found = search(pair.slapd.url, "dc=meta", ldap3.SUBTREE, filter)
            assert code == 0
            oracle |= found
        assert oracle, f"{spellings}: slapd finds nothing for either spelling"
        for filter in spellings:
            code, found = search(pair.metadir.url, "dc=meta", ldap3.SUBTREE, filter)
            if (code, set(found)) != (0, set(oracle)):
                mismatches.append(
                    f"{filter}: result {code}\n"
                    f"  only in slapd:   {describe(oracle, set(oracle) - set(found))}\n"
                    f"  only in metadir: {describe(found, set(found) - set(oracle))}"
                )
    assert not mismatches, "\n".join(mismatches)


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
    return [attrs[attribute][0].casefold() for _, attrs in parse_ldif(out)]


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
            assert ours == theirs, f"{sort}: {attribute} in another order"
        else:
            assert sorted(ours) == sorted(theirs)
        assert len(ours) > 10
