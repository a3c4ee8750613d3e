"""Every phone finds its caller, and only its caller: the filters that phone families and PBXs
really send, run over TCP against a real ``metadir serve`` with three real clients (python-ldap
on libldap, ldap3, and the ``ldapsearch`` command), over a small directory of contacts from
seven countries read with a Munich location (country DE, area code 89, outside line 0,
switchboard +49 89 9687-0 with extensions 100-999).

The tables are the test:

- ``PROFILES``: per phone family its caller-lookup filter and its name-search filters, with
  where each template comes from;
- ``CONTACTS``: the directory, with names that collide on prefixes (Jäger, Jägermeister,
  Jagoda) and number fields that hold text;
- ``NUMBERS``: per caller number at least 12 ways a PBX or phone presents it;
- ``NAME_QUERIES``, ``TEXT_ON_NUMBERS``, ``PRECEDENCE``, ``FULL_TEXT``: name inputs and
  explicit filters with the contacts they must find.

Each test runs many filters over one connection per client and reports every mismatch at once
(filter, client, expected contacts, contacts found).
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import ldap
import ldap3
import pytest
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from metadir.core import fields
from tests.servers import MetadirServer, connect, run_ldapsearch, stop_metadir

BASE = "ou=contacts,dc=meta"
LOCATION = {
    "country": "DE",
    "area_code": "89",
    "outside_line": "0",
    "base_number": "+49 89 9687-0",
    "extensions": "100-999",
}

# --- the directory ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    key: str
    cn: str
    first: str
    last: str
    company: str = ""
    phone: str = ""  # telephoneNumber
    mobile: str = ""
    home: str = ""  # homePhone
    ip_phone: str = ""  # ipPhone
    mail: str = ""

    @property
    def display_name(self) -> str:
        return f"{self.first} {self.last}".strip()

    def values(self) -> dict[str, str]:
        """{attribute (lower case): value as the source wrote it} for the fields that are set."""
        attrs = {
            "cn": self.cn,
            "displayname": self.display_name,
            "givenname": self.first,
            "sn": self.last,
            "company": self.company,
            "mail": self.mail,
            "telephonenumber": self.phone,
            "mobile": self.mobile,
            "homephone": self.home,
            "ipphone": self.ip_phone,
        }
        return {name: value for name, value in attrs.items() if value}


# cn as Active Directory often has it ("Last, First"), so that (cn=Jäger*) finds the Jägers
# fmt: off
CONTACTS = [
    # Germany, Munich (the directory's own area)
    Contact("de-jaeger", "Jäger, Jürgen", "Jürgen", "Jäger", "Isar Bau GmbH",
            phone="(089) 1234-567", mail="j.jaeger@isarbau.example"),
    Contact("de-beckenbauer", "Beckenbauer, Alexander", "Alexander", "Beckenbauer",
            "FC Giesing", mobile="0170 77075568"),
    # possible but not valid by libphonenumber's data: one digit short of the plan
    Contact("de-luecke", "Lücke, Lena", "Lena", "Lücke", mobile="0151/1271977"),
    Contact("de-sommer", "Sommer, Sabine", "Sabine", "Sommer", phone="+49 151 8139421"),
    Contact("de-foerster", "Förster, Friedrich", "Friedrich", "Förster",
            mobile="+49 177 20864211"),
    # a bare extension of the switchboard +49 89 9687-0
    Contact("de-intern", "Intern, Ingrid", "Ingrid", "Intern", "Demo GmbH", phone="931"),
    # the same subscriber number in Munich and in Berlin
    Contact("de-ortmann", "Ortmann, Otto", "Otto", "Ortmann", phone="089 7654321"),
    Contact("de-berliner", "Berliner, Bernd", "Bernd", "Berliner", phone="030 7654321"),
    # abroad, written as sources write them
    Contact("at-jaeger", "Jäger, Maria", "Maria", "Jäger", "Wiener Werkstätten",
            phone="0043 1 5879988"),
    Contact("ch-jaegermeister", "Jägermeister, Hans", "Hans", "Jägermeister", "Zürich AG",
            phone="+41 44 668 18 00"),
    Contact("fr-jagoda", "Jagoda, Amélie", "Amélie", "Jagoda", "Paris SARL",
            phone="+33 (0)1 42 68 53 00"),
    Contact("it-rossi", "Rossi, Marco", "Marco", "Rossi", "Roma SpA", phone="0039 06 6988 3145"),
    Contact("gb-smith", "Smith, Jane", "Jane", "Smith", "London Ltd", phone="+44 20 7946 0958"),
    # +1 707… : what 00170… also reads as
    Contact("us-white", "White, Walter", "Walter", "White", "Santa Rosa Inc",
            phone="+1 (707) 555-0123"),
    # number fields holding text, kept as written
    Contact("text-empfang", "Empfang", "", "Empfang", "Isar Bau GmbH", phone="call reception"),
    Contact("text-kein", "Kein, Kurt", "Kurt", "Kein", mobile="n/a"),
    Contact("text-hotline", "Hotline, Harald", "Harald", "Hotline", home="abc-line"),
]
# fmt: on
BY_KEY = {c.key: c for c in CONTACTS}
JAEGERS = frozenset({"de-jaeger", "at-jaeger", "ch-jaegermeister"})
COLUMNS = ("Id", "CN", "First", "Last", "Company", "Phone", "Mobile", "Home", "IpPhone", "Mail")


def csv_text() -> str:
    out = io.StringIO()
    rows = [
        (c.key, c.cn, c.first, c.last, c.company, c.phone, c.mobile, c.home, c.ip_phone, c.mail)
        for c in CONTACTS
    ]
    csv.writer(out, lineterminator="\n").writerows([COLUMNS, *rows])
    return out.getvalue()


def config() -> dict:
    mapping = {
        "custom0": "Id",
        "cn": "CN",
        "givenName": "First",
        "sn": "Last",
        "displayName": "{First} {Last}",
        "company": "Company",
        "telephoneNumber": "Phone",
        "mobile": "Mobile",
        "homePhone": "Home",
        "ipPhone": "IpPhone",
        "mail": "Mail",
    }
    replicator = {"name": "crm", "type": "csv", "path": "contacts.csv", "key": "Id"}
    return {
        "location": LOCATION,
        # served as the source wrote them, so that slapd holding what metadir serves would
        # find what AT_LEAST says; matching never depends on the format
        "directories": [
            {
                "name": "contacts",
                "phone_format": "source",
                "replicators": [{**replicator, "mapping": mapping}],
            }
        ],
    }


# --- caller numbers, and the ways they reach the directory -----------------------------------


@dataclass(frozen=True)
class Number:
    """One contact's number and the ways a PBX or phone presents it.

    ``forms``: whole numbers, put into a template's ``%`` (RFC 4515-escaped) by every client;
    ``short``: a local number or an extension, for equality templates and searchContact only
    (as a suffix or substring they would stand for other numbers too);
    ``wild``: assertion values with wildcards (prefix, suffix, contains), already escaped, for
    templates whose ``%`` is a whole assertion value.
    """

    key: str
    attribute: str
    e164: str
    forms: tuple[str, ...]
    short: tuple[str, ...] = ()
    wild: tuple[str, ...] = ()

    def count(self) -> int:
        return len(self.forms) + len(self.short) + len(self.wild)


NUMBERS = [
    # issue points 1-4 with a Munich landline written (089) 1234-567 in the source
    Number("de-jaeger", "telephoneNumber", "+49891234567", forms=(
        "+49 89 1234-567", "+49891234567", "0049891234567", "0049 89 1234567", "089 1234567",
        "(089) 1234567", "089/1234567", "0891234567", "0 089 1234567",  # outside line
        "0 0049 89 1234567", "49891234567",  # country code without + or 00
        "+49 (0)89 1234567", "+49-89-1234567",
    ), short=("1234567",), wild=(
        r"+49 \280\2989 1234*",  # +49 (0)89 1234* with the brackets escaped
        "0891234*", "+49891234*", "*1234567", "*234567*", "*0891234567",
    )),
    # 0 + national mobile: 00170… is the German mobile, not +1 70…
    Number("de-beckenbauer", "mobile", "+4917077075568", forms=(
        "0 0170 77075568", "00170 77075568", "0017077075568", "0170 77075568", "017077075568",
        "0170/77075568", "+49 170 77075568", "+4917077075568", "004917077075568",
        "0049 170 77075568", "4917077075568", "+49 (0)170 77075568", "0 0049 170 77075568",
    ), wild=("*77075568", "*7075568", "+49170770*", "0170770*", "*7707556*")),
    # possible, not valid (one digit short)
    Number("de-luecke", "mobile", "+491511271977", forms=(
        "+491511271977", "00491511271977", "01511271977", "0151 1271977", "0151/1271977",
        "+49 151 1271977", "0049 151 1271977", "0 0151 1271977", "491511271977",
        "+49 (0)151 1271977", "0 00491511271977", "+49-151-1271977",
    ), wild=("*1271977", "*1511271977", "+49151127*", "*511271*")),
    Number("de-sommer", "telephoneNumber", "+491518139421", forms=(
        "+49 151 8139421", "+491518139421", "00491518139421", "01518139421", "0151 8139421",
        "0151/813 94 21", "0 0151 8139421", "491518139421", "+49 (0)151 8139421",
        "0049 151 8139421", "0 0049 151 8139421", "+49-151-813-9421",
    ), wild=("*8139421", "*1518139421", "01518139*", "*518139*")),
    # suffix on the digits as stored: *0864211 finds +49 177 20864211
    Number("de-foerster", "mobile", "+4917720864211", forms=(
        "+49 177 20864211", "+4917720864211", "004917720864211", "0177 20864211",
        "017720864211", "0177/208 642 11", "0 0177 20864211", "4917720864211",
        "+49 (0)177 20864211", "0049 177 20864211", "0 004917720864211",
    ), wild=("*0864211", "*0864211*", "*20864211", "+49177208*", "*7720864*")),
    # an extension, with and without the base number
    Number("de-intern", "telephoneNumber", "+49899687931", forms=(
        "+49 89 9687-931", "+49899687931", "0049899687931", "089 9687931", "(089) 9687-931",
        "0 089 9687931", "49899687931", "+49 (0)89 9687931", "0 0049 89 9687931",
        "089/9687-931",
    ), short=("931", "9687931"), wild=(
        r"+49 \280\2989 9687931*",  # the issue's example
        "*9687931", "*687931*",
    )),
    # foreign numbers, as a German PBX presents them
    Number("at-jaeger", "telephoneNumber", "+4315879988", forms=(
        "0043 1 5879988", "+43 1 587 99 88", "004315879988", "+4315879988",
        "0 0043 1 5879988", "4315879988", "+43 (0)1 5879988", "+43-1-5879988",
        "0043 (0)1 587 99 88",
    ), wild=("*15879988", "*5879988", "+43 1 5879*", "00431587*", "*587998*")),
    Number("ch-jaegermeister", "telephoneNumber", "+41446681800", forms=(
        "0041 44 668 18 00", "+41 44 6681800", "0041446681800", "+41446681800",
        "0 0041 44 668 18 00", "41446681800", "+41 (0)44 668 18 00", "+41-44-668-18-00",
        "0041 (0)44 668 18 00",
    ), wild=("*446681800", "*6681800", "004144668*", "+41 44 668*", "*4466818*")),
    Number("fr-jagoda", "telephoneNumber", "+33142685300", forms=(
        "0033 1 42 68 53 00", "+33 1 42685300", "0033142685300", "+33142685300",
        "0 0033 1 42 68 53 00", "33142685300", "+33 (0)1 42 68 53 00", "+33-1-42-68-53-00",
    ), wild=("*142685300", "*2685300", "+33 1 4268*", "00331426*", "*426853*")),
    # Italian numbers keep their leading zero: no (0) form
    Number("it-rossi", "telephoneNumber", "+390669883145", forms=(
        "0039 06 6988 3145", "+39 06 69883145", "00390669883145", "+390669883145",
        "0 0039 06 6988 3145", "390669883145", "+39-06-6988-3145", "0039 0669883145",
    ), wild=("*0669883145", "*9883145", "+39 06 6988*", "0039066988*", "*698831*")),
    Number("gb-smith", "telephoneNumber", "+442079460958", forms=(
        "0044 20 7946 0958", "+44 (0)20 7946 0958", "00442079460958", "+442079460958",
        "0 0044 20 7946 0958", "442079460958", "+44-20-7946-0958", "+44 20 79460958",
    ), wild=("*2079460958", "*9460958", "+44 20 7946*", "0044207946*", "*794609*")),
    # 00170… read the other way: +1 707 555 0123 is in the directory, +49 170 75550123 is not
    Number("us-white", "telephoneNumber", "+17075550123", forms=(
        "+1 707 555 0123", "+1 (707) 555-0123", "001 707 555 0123", "0017075550123",
        "0 001 707 555 0123", "17075550123", "+1-707-555-0123", "+17075550123",
        "001-707-555-0123",
    ), wild=("*7075550123", "*5550123", "+1 707 555*", "001707555*", "*075550*")),
]  # fmt: skip

# --- phone families: their filters as data ----------------------------------------------------

PHONE_ATTRIBUTES = {f.name.lower(): f.name for f in fields.phone_fields()}
ANY_NUMBER = tuple(f.name for f in fields.phone_fields())


@dataclass(frozen=True)
class NameFilter:
    """A name-search template. ``phone_appends_star``: the phone puts ``input*`` into ``%``
    (prefix search of a template written ``(cn=%)``); otherwise the input alone.

    What it must find: contacts that have every attribute in ``requires`` and whose value of
    one of ``attrs`` starts with (``contains``: contains) the input, case-insensitively. Number
    attributes match only values kept as text."""

    template: str
    attrs: tuple[str, ...]
    phone_appends_star: bool = True
    contains: bool = False
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    caller: str | None  # the caller-lookup template
    kind: str = "equality"  # equality | substring | e164 | fulltext
    names: tuple[NameFilter, ...] = ()
    # number attributes the caller filter asks; None: read from the template
    number_attrs: tuple[str, ...] | None = None

    def asks(self) -> frozenset[str]:
        """The number attributes the caller filter asks (canonical names)."""
        if self.number_attrs is not None:
            return frozenset(self.number_attrs)
        asked = set()
        for attr in re.findall(r"\(([\w;-]+)=[^()]*%", self.caller or ""):
            found = fields.lookup(attr)
            if found is not None and found.name.lower() in PHONE_ATTRIBUTES:
                asked.add(found.name)
        return frozenset(asked)


YEALINK_NAMES = NameFilter("(|(cn=%)(sn=%))", ("cn", "sn"))
# fmt: off
PROFILES = [
    Profile(
        "yealink",
        "Yealink T4x/W80 admin guides (ldap.name_filter, ldap.number_filter); "
        "reference §2. % is a prefix (ldap.search_type 0): the phone appends *",
        "(|(telephoneNumber=%)(mobile=%)(ipPhone=%))",
        names=(YEALINK_NAMES, NameFilter("(&(cn=*)(sn=%))", ("sn",), requires=("cn",))),
    ),
    Profile(
        "snom",
        "snom wiki 'LDAP Directory' (reference §2); M300/M700/M900 DECT name filter",
        "(&(telephoneNumber=%)(sn=*))",
        names=(
            NameFilter("(&(telephoneNumber=*)(sn=%))", ("sn",), requires=("telephoneNumber",)),
            NameFilter("(|(sn=%*)(cn=%*))", ("sn", "cn"), phone_appends_star=False),
            NameFilter("(cn=*%*)", ("cn",), phone_appends_star=False, contains=True),
            NameFilter("(|(givenName=%*)(sn=%*))", ("givenName", "sn"), phone_appends_star=False),
        ),
    ),
    Profile(
        "grandstream",
        "Grandstream GRP26xx/GXV34xx admin guides, LDAP Number/Name Filter (reference §2)",
        "(|(telephoneNumber=%)(Mobile=%))",
        names=(
            NameFilter("(|(cn=%)(sn=%))", ("cn", "sn")),
            NameFilter("(&(cn=%)(telephoneNumber=*))", ("cn",), requires=("telephoneNumber",)),
        ),
    ),
    Profile(
        "gigaset",
        "Unify OpenScape Cordless IP V2 / Gigaset admin documentation (reference §2)",
        "(|(telephoneNumber=%)(mobile=%)(homePhone=%))",
        names=(NameFilter("(|(cn=%)(sn=%))", ("cn", "sn")),
               NameFilter("(displayName=%)", ("displayName",))),
    ),
    Profile(
        "fanvil",
        # the reference has no Fanvil filters: these are the defaults of Fanvil's own
        # configuration file format (<<VOIP CONFIG FILE>>, '--LDAP Config--': LDAP1 Number
        # Filter / LDAP1 Name Filter) as a PBX ships it in its Fanvil provisioning template
        # (SARK PBX device seed, found with the code search). 'other' is no metadir attribute:
        # Undefined inside the OR.
        "Fanvil config file defaults (LDAP1 Number Filter, LDAP1 Name Filter)",
        "(|(telephoneNumber=%)(mobile=%)(other=%))",
        names=(NameFilter("(|(cn=%)(sn=%))", ("cn", "sn")),),
    ),
    Profile(
        "polycom",
        # Polycom UCS builds its queries from dir.corp.attribute.N (name, type); a VVX 450 was
        # seen sending (&(objectClass=*)(givenName>=Ryan)(givenName<=zz)(givenName=Ryan*)...)
        # (glauth/glauth#441). Same shape on sn here; for the caller, the attribute of type
        # phone_number (dir.corp.attribute.3.name=telephoneNumber in the usual directory.cfg):
        # a modelled filter, Polycom documents none. Every name in the data is <= "zz".
        "Polycom UCS corporate directory (glauth#441 trace); caller lookup modelled",
        "(&(objectClass=*)(telephoneNumber=%))",
        names=(NameFilter("(&(objectClass=*)(sn>=%)(sn<=zz)(sn=%*))", ("sn",),
                          phone_appends_star=False),),
    ),
    Profile(
        "cisco",
        # Cisco IP Phone 7800/8800 MPP admin guide, 'Parameters for LDAP': Last Name Filter
        # sn:(sn=$VALUE*), First Name Filter cn:(cn=*$VALUE*); the reverse name lookup uses
        # 'Search Item 3' with its filter, here telephoneNumber:(telephoneNumber=$VALUE)
        "Cisco MPP admin guide (LDAP Last/First Name Filter, Search Item 3 for reverse lookup)",
        "(telephoneNumber=%)",
        names=(NameFilter("(sn=%*)", ("sn",), phone_appends_star=False),
               NameFilter("(cn=*%*)", ("cn",), phone_appends_star=False, contains=True)),
    ),
    Profile(
        "avaya",
        # Avaya B179 admin guide, LDAP settings (documentation.avaya.com): name filter example
        # (|(sn=%*)(cn=%*)) and number attributes 'mobile telephoneNumber'; it documents no
        # number filter, so the caller filter is modelled as an OR over those attributes.
        # (J100 phones build their filters from DIRSEARCH_FIELDS and document none.)
        "Avaya B179 admin guide (name filter; number attributes, caller filter modelled)",
        "(|(mobile=%)(telephoneNumber=%))",
        names=(NameFilter("(|(sn=%*)(cn=%*))", ("sn", "cn"), phone_appends_star=False),),
    ),
    Profile(
        "3cx",
        # 3CX's 'LDAP Directory Search' looks callers up in LDAP on incoming calls when the
        # company phonebook has no match (3CX manual, as in reference §2); its filters are not
        # documented (reference: 'Current 3CX filters: not found'). Modelled: its caller lookup
        # over the attributes it imports, and the one-box name-or-number search of its clients.
        "3CX manual (LDAP Directory Search); filters not documented, modelled",
        "(|(telephoneNumber=%)(mobile=%)(homePhone=%))",
        names=(NameFilter("(|(cn=%*)(telephoneNumber=%*)(mobile=%*))",
                          ("cn", "telephoneNumber", "mobile"), phone_appends_star=False),),
    ),
    Profile(
        "estos searchNumber",
        "estos MetaDirectory recipe for snom (reference §2)",
        "(|(searchNumber=%))",
        number_attrs=ANY_NUMBER,
    ),
    Profile(
        "estos searchContact",
        # numbers typed into the estos search box; names are the full-text cases below
        "estos MetaDirectory recipe for snom (reference §2)",
        "(|(searchContact=%))",
        kind="fulltext",
        number_attrs=ANY_NUMBER,
    ),
    Profile(
        "innovaphone",
        # %n: the caller in E.164 without '+'; phones: name attributes sn,givenName,company
        "innovaphone wiki Concept Reverse Lookup, Phone/User/Directories (reference §2)",
        "(metaSearchNumber=+%)",
        kind="e164",
        number_attrs=ANY_NUMBER,
        names=(NameFilter("(|(sn=%*)(givenName=%*)(company=%*))", ("sn", "givenName", "company"),
                          phone_appends_star=False),),
    ),
    Profile(
        "starface",
        "STARFACE LDAP module (SFWiki ldap-adressbuch-interface, reference §2)",
        "(|(telePhoneNumber=*%*)(homePhone=*%*)(mobile=*%*))",
        kind="substring",
        names=(NameFilter("(|(cn=%*)(sn=%*)(givenname=%*)(description=%*))",
                          ("cn", "sn", "givenName", "description"), phone_appends_star=False),),
    ),
    Profile(
        "superfecta",
        "FreePBX CID Superfecta source-LDAP.module (reference §2)",
        "(|(telephoneNumber=*%)(mobile=*%)(homeTelephoneNumber=*%))",
        kind="substring",
    ),
    Profile(
        "ios contacts",
        # one search box for names and numbers: openradar 29313384 (iOS 9/10 Contacts)
        "iOS Contacts LDAP account (openradar 29313384)",
        None,
        names=(NameFilter(
            "(|(o=%*)(cn=%*)(ou=%*)(sn=%*)(mail=%*)(IMHandle=%*)(givenname=%*)(postalAddress=%*)"
            "(telephoneNumber=%*))",
            ("o", "cn", "sn", "mail", "givenName", "telephoneNumber"), phone_appends_star=False),),
    ),
    Profile(
        "one box (issue 9)",
        "the combined name-or-number filter quoted at the top of issue 9",
        None,
        names=(NameFilter("(|(cn=%*)(telephoneNumber=%*))", ("cn", "telephoneNumber"),
                          phone_appends_star=False),),
    ),
]
# fmt: on
CALLER_PROFILES = [p for p in PROFILES if p.caller]
NAME_PROFILES = [p for p in PROFILES if p.names]

# --- what name searches must find -------------------------------------------------------------

# prefixes that collide: Jäger (2) and Jägermeister; Jag (Jagoda, not the Jägers); a given name;
# one that matches nobody
NAME_QUERIES = ("Jäger", "jäger", "Jägerm", "Jag", "Jü", "Smi", "Xylofon")


def _number_attr(name: str) -> bool:
    found = fields.lookup(name)
    return found is not None and found.is_phone


def name_matches(flt: NameFilter, query: str) -> frozenset[str]:
    """The contacts a name search must find (see ``NameFilter``)."""
    wanted = query.casefold()
    found = set()
    for contact in CONTACTS:
        values = contact.values()
        if not all(attr.lower() in values for attr in flt.requires):
            continue
        for attr in flt.attrs:
            value = values.get(attr.lower(), "")
            if _number_attr(attr) and any(ch.isdigit() for ch in value):
                continue  # a number: names never match it
            text = value.casefold()
            if (wanted in text) if flt.contains else text.startswith(wanted):
                found.add(contact.key)
                break
    return frozenset(found)


def fill(template: str, value: str, escape: bool = True) -> str:
    return template.replace("%", escape_filter_chars(value) if escape else value)


# --- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    filter: str
    expected: frozenset[str]
    what: str  # shown with a mismatch
    at_least: bool = False  # the result must include ``expected`` (may find more)


def caller_cases(profile: Profile) -> list[Case]:
    cases = []
    assert profile.caller is not None
    asked = profile.asks()
    for number in NUMBERS:
        expected = frozenset({number.key}) if number.attribute in asked else frozenset()
        what = f"{number.key} {number.attribute} {number.e164}"
        if profile.kind == "e164":
            values = [(number.e164.removeprefix("+"), True)]
        else:
            values = [(form, True) for form in number.forms]
            if profile.kind in ("equality", "fulltext"):
                values += [(form, True) for form in number.short]
            if profile.kind == "equality":
                values += [(form, False) for form in number.wild]
        for value, escape in values:
            cases.append(
                Case(fill(profile.caller, value, escape), expected, f"{what} as {value!r}")
            )
    return cases


def name_cases(profile: Profile) -> list[Case]:
    cases = []
    for flt in profile.names:
        for query in NAME_QUERIES:
            value = escape_filter_chars(query) + ("*" if flt.phone_appends_star else "")
            cases.append(Case(flt.template.replace("%", value), name_matches(flt, query), query))
    return cases


def _keys(*keys: str) -> frozenset[str]:
    unknown = set(keys) - set(BY_KEY)
    assert not unknown, f"no such contacts: {unknown}"
    return frozenset(keys)


NONE: frozenset[str] = frozenset()
# values without digits on number attributes (issue point 1): only text stored as written
# fmt: off
TEXT_ON_NUMBERS = [
    ("(telephoneNumber=Jäger*)", NONE),
    ("(|(cn=Jäger*)(telephoneNumber=Jäger*))", JAEGERS),  # the bug at the top of the issue
    ("(|(cn=Jäger*)(sn=Jäger*)(telephoneNumber=Jäger*)(mobile=Jäger*))", JAEGERS),
    ("(|(cn=Jäger*)(searchNumber=Jäger*))", JAEGERS),
    ("(|(sn=Jäger)(metaSearchNumber=Jäger))", _keys("de-jaeger", "at-jaeger")),
    ("(&(sn=Jäger*)(|(telephoneNumber=Jäger*)(mobile=Jäger*)))", NONE),
    ("(telephoneNumber=Anna*)", NONE),
    ("(mobile=*Anna*)", NONE),
    ("(facsimileTelephoneNumber=Anna*)", NONE),
    ("(telephoneNumber=n/a)", NONE),  # n/a is a mobile
    ("(mobile=n/a)", _keys("text-kein")),
    ("(searchNumber=n/a)", _keys("text-kein")),
    ("(metaSearchNumber=n/a)", _keys("text-kein")),
    ("(telephoneNumber=*abc*)", NONE),
    ("(homePhone=*abc*)", _keys("text-hotline")),
    ("(searchNumber=*abc*)", _keys("text-hotline")),
    ("(telephoneNumber=*-*)", NONE),  # "(089) 1234-567" is a number, not the text "-"
    ("(mobile=*-*)", NONE),
    ("(homePhone=*-*)", _keys("text-hotline")),
    ("(searchNumber=*-*)", _keys("text-hotline")),
    ("(telephoneNumber=* *)", _keys("text-empfang")),  # "call reception"
    ("(mobile=* *)", NONE),
    ("(searchNumber=* *)", _keys("text-empfang")),
    ("(telephoneNumber=call reception)", _keys("text-empfang")),
    ("(telephoneNumber=call*)", _keys("text-empfang")),
    ("(searchNumber=*reception)", _keys("text-empfang")),
    ("(searchContact=Jäger*)", JAEGERS),  # searchContact keeps searching names
]
# fmt: on


def _raw_digits(key: str, attr: str) -> str:
    return re.sub(r"\D", "", BY_KEY[key].values().get(attr.lower(), ""))


def _with_raw(attr: str, test: Callable[[str], bool]) -> frozenset[str]:
    return frozenset(c.key for c in CONTACTS if test(_raw_digits(c.key, attr)))


# point 3: at least what slapd's telephoneNumberSubstringsMatch finds on the digits as served
# (here as the source wrote them: phone_format source)
AT_LEAST = [
    ("(telephoneNumber=*089*)", _with_raw("telephoneNumber", lambda d: "089" in d)),
    ("(telephoneNumber=*0049*)", _with_raw("telephoneNumber", lambda d: "0049" in d)),
    ("(telephoneNumber=00*)", _with_raw("telephoneNumber", lambda d: d.startswith("00"))),
    ("(mobile=*0864211)", _with_raw("mobile", lambda d: d.endswith("0864211"))),
    ("(mobile=*0864211*)", _with_raw("mobile", lambda d: "0864211" in d)),
    ("(telephoneNumber=*1234-567)", _with_raw("telephoneNumber", lambda d: d.endswith("1234567"))),
]

# where two contacts could be meant (issue point 4)
# fmt: off
PRECEDENCE = [
    # a local number in the directory's own area and in Berlin: Munich wins
    ("(telephoneNumber=7654321)", _keys("de-ortmann")),
    ("(|(telephoneNumber=7654321)(mobile=7654321))", _keys("de-ortmann")),
    ("(searchNumber=765 43 21)", _keys("de-ortmann")),
    ("(telephoneNumber=089 7654321)", _keys("de-ortmann")),
    ("(telephoneNumber=030 7654321)", _keys("de-berliner")),
    ("(telephoneNumber=0 030 7654321)", _keys("de-berliner")),
    ("(telephoneNumber=+49 30 7654321)", _keys("de-berliner")),
    ("(telephoneNumber=*7654321)", _keys("de-ortmann", "de-berliner")),  # a suffix is a suffix
    # 0 + 0170… (German mobile, in the directory) against +1 707… (not in the directory)
    ("(mobile=0017077075568)", _keys("de-beckenbauer")),
    ("(searchNumber=0 0170 7707 5568)", _keys("de-beckenbauer")),
    ("(metaSearchNumber=0017077075568)", _keys("de-beckenbauer")),
    # 001707… : +1 707 555 0123 is in the directory, +49 1707 5550123 is not
    ("(telephoneNumber=0017075550123)", _keys("us-white")),
    ("(searchNumber=00 1707 5550123)", _keys("us-white")),
    ("(searchNumber=0 0017075550123)", _keys("us-white")),
    # the extension and the base number
    ("(telephoneNumber=931)", _keys("de-intern")),
    ("(telephoneNumber=+49 89 9687 931)", _keys("de-intern")),
    ("(telephoneNumber=+49899687*)", _keys("de-intern")),
]

# searchContact as full-text search (issue point 6, estos MetaDirectory 6)
FULL_TEXT = [
    ("(searchContact=A* Becke*)", _keys("de-beckenbauer")),
    ("(searchContact=becke alex)", _keys("de-beckenbauer")),
    ("(|(searchContact=Beckenbauer Alexander))", _keys("de-beckenbauer")),
    ("(searchContact=*Beckenbauer*)", _keys("de-beckenbauer")),  # leading wildcard ignored
    ("(searchContact=Jäger)", JAEGERS),  # the start of a word: Jägermeister too
    ("(searchContact=maria jäger)", _keys("at-jaeger")),
    ("(searchContact=Jäger Maria)", _keys("at-jaeger")),
    ("(searchContact=jürgen)", _keys("de-jaeger")),
    ("(searchContact=Jag)", _keys("fr-jagoda")),
    ("(searchContact=isar)", _keys("de-jaeger", "text-empfang")),  # Isar Bau GmbH
    ("(searchContact=bau jäger)", _keys("de-jaeger")),
    ("(searchContact=Jäger Rossi)", NONE),  # every word must match
]
# fmt: on

# --- clients ---------------------------------------------------------------------------------

Result = frozenset[str] | str  # the keys found, or what went wrong


class PythonLdap:
    """python-ldap (libldap), one connection, anonymous simple bind."""

    name = "python-ldap"

    def __init__(self, url: str) -> None:
        self.conn = ldap.initialize(url)
        self.conn.protocol_version = 3
        self.conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
        self.conn.simple_bind_s("", "")

    def search(self, filters: list[str]) -> list[Result]:
        results: list[Result] = []
        for flt in filters:
            try:
                found = self.conn.search_ext_s(
                    BASE, ldap.SCOPE_SUBTREE, flt, ["custom0"], timeout=10
                )
            except ldap.LDAPError as exc:
                info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
                results.append(f"{type(exc).__name__}: {info.get('desc', exc)}")
                continue
            keys = {v.decode() for dn, attrs in found if dn for v in attrs.get("custom0", [])}
            results.append(frozenset(keys))
        return results

    def close(self) -> None:
        self.conn.unbind_s()


class Ldap3:
    """ldap3, one connection, anonymous."""

    name = "ldap3"

    def __init__(self, url: str) -> None:
        self.conn = connect(url)

    def search(self, filters: list[str]) -> list[Result]:
        results: list[Result] = []
        for flt in filters:
            try:
                self.conn.search(BASE, flt, ldap3.SUBTREE, attributes=["custom0"])
            except LDAPException as exc:
                results.append(f"{type(exc).__name__}: {exc}")
                continue
            code = self.conn.result["result"]
            if code != 0:
                results.append(f"result {code} {self.conn.result.get('description')}")
                continue
            keys = {str(v) for e in self.conn.response if e.get("type") == "searchResEntry"
                    for v in e["attributes"].get("custom0", [])}  # fmt: skip
            results.append(frozenset(keys))
        return results

    def close(self) -> None:
        self.conn.unbind()


class LdapSearch:
    """The ``ldapsearch`` command: all filters of a batch from one file (``-f``) over one
    connection, ``-c`` going on after a failed search. ldapsearch reads each line into the
    filter pattern ``(%s)``, so the file holds each filter without its outer parentheses."""

    name = "ldapsearch"

    def __init__(self, url: str) -> None:
        self.url = url

    def search(self, filters: list[str]) -> list[Result]:
        assert all(f.startswith("(") and f.endswith(")") for f in filters)
        with tempfile.NamedTemporaryFile("w", suffix=".filters", encoding="utf-8") as file:
            file.write("".join(f[1:-1] + "\n" for f in filters))
            file.flush()
            code, out, err = run_ldapsearch(
                ["-x", "-c", "-L", "-o", "ldif-wrap=no", "-H", self.url, "-b", BASE,
                 "-f", file.name, "(%s)", "custom0"],
                timeout=120,
            )  # fmt: skip
        return parse_batch(out, err, filters, code)

    def close(self) -> None:
        pass


def parse_batch(out: str, err: str, filters: list[str], code: int) -> list[Result]:
    """``ldapsearch -L -f`` output: per search a ``# filter: F`` comment, the entries, and
    ``# search result`` (missing when the search failed: its error went to stderr)."""
    blocks = re.split(r"^#\s*\n# filter: (.*)\n#\s*$", out, flags=re.MULTILINE)
    sent = blocks[1::2]
    if len(sent) != len(filters):
        ran = f"ldapsearch ran {len(sent)} of {len(filters)} searches (exit {code}): {err}"
        return [ran] * len(filters)
    results: list[Result] = []
    for flt, shown, body in zip(filters, sent, blocks[2::2], strict=True):
        assert shown == flt, f"ldapsearch reports filter {shown!r} for {flt!r}"
        failed = re.search(r"^result: ([1-9]\d*.*)$", body, flags=re.MULTILINE)
        if failed or "# search result" not in body:
            why = failed.group(1) if failed else "no result (stderr: " + err.strip() + ")"
            results.append(f"ldapsearch: {why}")
            continue
        assert not re.search(r"^custom0:: ", body, flags=re.MULTILINE), body
        results.append(frozenset(re.findall(r"^custom0: (.*)$", body, flags=re.MULTILINE)))
    return results


# --- fixtures --------------------------------------------------------------------------------

CLIENTS = {"python-ldap": PythonLdap, "ldap3": Ldap3, "ldapsearch": LdapSearch}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetadirServer]:
    workdir = tmp_path_factory.mktemp("phone-profiles")
    (workdir / "contacts.csv").write_text(csv_text(), encoding="utf-8")
    served = MetadirServer(workdir, config())
    served.sync()
    served.start()
    yield served
    stop_metadir(served)


@dataclass
class Clients:
    url: str
    open: dict[str, PythonLdap | Ldap3 | LdapSearch] = field(default_factory=dict)

    def get(self, name: str) -> PythonLdap | Ldap3 | LdapSearch:
        if name not in self.open:
            self.open[name] = CLIENTS[name](self.url)
        return self.open[name]


@pytest.fixture(scope="module")
def clients(server: MetadirServer) -> Iterator[Clients]:
    made = Clients(server.url)
    yield made
    for client in made.open.values():
        client.close()


def check(client: PythonLdap | Ldap3 | LdapSearch, cases: list[Case], title: str) -> None:
    results = client.search([case.filter for case in cases])
    wrong = []
    for case, got in zip(cases, results, strict=True):
        ok = isinstance(got, frozenset) and (
            case.expected <= got if case.at_least else case.expected == got
        )
        if not ok:
            want = ("at least " if case.at_least else "") + _show(case.expected)
            wrong.append(f"  {case.filter}  [{case.what}]\n      expected {want}, got {_show(got)}")
    assert not wrong, (
        f"{title} over {client.name}: {len(wrong)} of {len(cases)} filters wrong\n"
        + "\n".join(wrong)
    )


def _show(found: Result) -> str:
    if isinstance(found, str):
        return f"an error: {found}"
    return "[" + ", ".join(sorted(found)) + "]" if found else "nothing"


# --- tests ---------------------------------------------------------------------------------------


def test_the_tables_hold_what_the_issue_asks() -> None:
    """No server: the data is as wide as promised, and the wildcard forms are unambiguous
    (each prefix, suffix or contains value fits only its own number)."""
    assert len({c.key for c in CONTACTS}) == len(CONTACTS)
    few = {n.e164: n.count() for n in NUMBERS if n.count() < 12}
    assert not few, f"numbers with fewer than 12 ways of writing: {few}"
    countries = {n.e164[:3] for n in NUMBERS}
    assert len(countries) >= 4, countries
    for number in NUMBERS:
        assert number.key in BY_KEY and number.attribute.lower() in BY_KEY[number.key].values()
        for value in number.wild:
            digits = re.sub(r"\D", "", value.replace(r"\28", "").replace(r"\29", ""))
            for other in CONTACTS:
                if other.key == number.key:
                    continue
                stored = [
                    re.sub(r"\D", "", v) for a, v in other.values().items() if _number_attr(a)
                ]
                stored += [n.e164[1:] for n in NUMBERS if n.key == other.key]
                clash = [
                    s for s in stored
                    if (value.startswith("*") and value.endswith("*") and digits in s)
                    or (value.startswith("*") and not value.endswith("*") and s.endswith(digits))
                ]  # fmt: skip
                assert not clash, f"{value!r} of {number.key} also fits {other.key} {clash}"
    families = {p.name.split()[0] for p in PROFILES}
    named = {"yealink", "snom", "grandstream", "gigaset", "fanvil", "polycom", "cisco", "avaya"}
    assert named | {"3cx", "estos", "innovaphone"} <= families, families


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("profile", CALLER_PROFILES, ids=[p.name for p in CALLER_PROFILES])
def test_caller_lookup(clients: Clients, client: str, profile: Profile) -> None:
    """The caller is found however the number is written, in the attributes the phone asks,
    and nobody else is."""
    check(clients.get(client), caller_cases(profile), f"{profile.name} caller lookup")


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("profile", NAME_PROFILES, ids=[p.name for p in NAME_PROFILES])
def test_name_search(clients: Clients, client: str, profile: Profile) -> None:
    """A name search finds the matching names and no more (Jäger is not Jagoda, and a number
    attribute in the same filter adds nobody)."""
    check(clients.get(client), name_cases(profile), f"{profile.name} name search")


@pytest.mark.parametrize("client", list(CLIENTS))
def test_values_without_digits_on_number_attributes(clients: Clients, client: str) -> None:
    cases = [Case(f, e, "no digits") for f, e in TEXT_ON_NUMBERS]
    cases += [Case(f, e, "at least slapd's", at_least=True) for f, e in AT_LEAST]
    check(clients.get(client), cases, "values without digits / as written")


@pytest.mark.parametrize("client", list(CLIENTS))
def test_precedence(clients: Clients, client: str) -> None:
    check(clients.get(client), [Case(f, e, "precedence") for f, e in PRECEDENCE], "precedence")


@pytest.mark.parametrize("client", list(CLIENTS))
def test_search_contact_full_text(clients: Clients, client: str) -> None:
    check(clients.get(client), [Case(f, e, "full text") for f, e in FULL_TEXT], "full text")


def test_the_server_kept_every_text_number(server: MetadirServer) -> None:
    """The values without digits reach the directory as written (else the cases above would
    prove nothing)."""
    code, out, err = run_ldapsearch(
        ["-x", "-LLL", "-o", "ldif-wrap=no", "-H", server.url, "-b", BASE,
         "(|(custom0=text-*))", "custom0", "telephoneNumber", "mobile", "homePhone"]
    )  # fmt: skip
    assert code == 0, err
    for value in ("telephoneNumber: call reception", "mobile: n/a", "homePhone: abc-line"):
        assert value in out, out
