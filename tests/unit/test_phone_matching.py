"""Phone-number matching, table-driven: query as typed x number as stored x location.

Each directory below is one numbering plan (``location``) with its own small CSV source(s).
All of them are written into one config file, synced once with the real sync engine into a
real SQLite store, loaded into the real directory tree, and searched with filters parsed by
ldaptor, the way the LDAP front end gets them. A case names the directory, the filter and
the source keys it must find -- no more, no fewer.

Cases marked ``READING`` depend on how the fallback and the substring rules are read where
the issue leaves room; their failure message says which reading they take.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from ldap3.utils.conv import escape_filter_chars

from metadir.config import Config, load_config
from metadir.directory.tree import DirectoryTree, NoSuchObject, Scope
from metadir.ldap.decode import parse_filter
from metadir.service.load import load_tree
from metadir.store.store import Store
from metadir.sync.engine import run_replicator

# the global numbering plan: Munich, outside line 0, a switchboard with extensions 100-999
GLOBAL = {
    "country": "DE",
    "area_code": "89",
    "outside_line": "0",
    "base_number": "+49 89 1234-0",
    "extensions": "100-999",
}
DE_89 = {"country": "DE", "area_code": "89"}


@dataclass(frozen=True)
class Source:
    """One CSV replicator: rows by source key, each {attribute: value as written}."""

    name: str
    rows: dict[str, dict[str, str]]
    location: dict | None = None


@dataclass(frozen=True)
class Directory:
    name: str
    sources: tuple[Source, ...]
    location: dict | None = None
    phone_format: str | None = None


def person(given: str, sn: str, company: str = "", **numbers: str) -> dict[str, str]:
    return {"givenName": given, "sn": sn, "company": company, **numbers}


DIRECTORIES = [
    # no location of its own: the global one reads both the source and the queries
    Directory(
        "de",
        (
            Source(
                "de_crm",
                {
                    "mueller": person(
                        "Jürgen",
                        "Müller",
                        "Müller & Söhne GmbH",
                        mail="jm@example.de",
                        telephoneNumber="(089) 1234-567",
                        mobile="0171 5550100",
                    ),
                    "schmidt": person(
                        "Anna",
                        "Schmidt",
                        "ACME AG",
                        telephoneNumber="+49 30 9876543",
                        homePhone="0049 89 3333444",
                    ),
                    "rossi": person(
                        "Marco", "Rossi", "Roma SpA", telephoneNumber="0039 06 1234 5678"
                    ),
                    "miller": person(
                        "John", "Miller", "NY Inc", telephoneNumber="+1 (212) 555-0100"
                    ),
                    "empfang": person(
                        "", "Empfang", "Zentrale", telephoneNumber="call reception", mobile="n/a"
                    ),
                    "ernst": person("Eva", "Ernst", telephoneNumber="0 089 7654321"),
                    "huber": person(
                        "Hans",
                        "Huber",
                        "ACME AG",
                        telephoneNumber="890",
                        facsimileTelephoneNumber="+49 89 1234-999",
                    ),
                    "koenig": person("Karl", "König", telephoneNumber="5557777"),
                    "lustig": person("Lisa", "Lustig", telephoneNumber="+49 (0)89 2222333"),
                    "ober": person("Otto", "Ober", telephoneNumber="089/4444555"),
                    "keller": person(
                        "Urs", "Keller", "Zürich AG", telephoneNumber="+41 44 668 18 00"
                    ),
                    "smith": person(
                        "Jane", "Smith", "London Ltd", telephoneNumber="+44 20 7946 0958"
                    ),
                    "gruber": person("Franz", "Gruber", "Wien GmbH", telephoneNumber="+43 1 58680"),
                    "hamburg": person("Heinz", "Hamburger", telephoneNumber="+49 40 1234567"),
                    "wies": person("Wilma", "Wies", telephoneNumber="06 12345678"),
                    "ipp": person("Ida", "Ipp", ipPhone="568", otherTelephone="+49 160 1112223"),
                    # a German number with the same national digits as Keller's Swiss one
                    "doppel": person("Doris", "Doppel", telephoneNumber="+49 4466 81800"),
                    # possible but not valid: a digit short of the plan for 0151 and 0151 8…
                    "neu": person("Nora", "Neu", mobile="0151/1271977"),
                    "kurz": person("Kai", "Kurzmann", telephoneNumber="+49 151 8139421"),
                    "sieben": person("Sven", "Siebert", mobile="+49 177 20864211"),
                    "trunk": person("Tina", "Trunk", telephoneNumber="+49 (0)89 9687931"),
                    "handy": person("Hanna", "Handy", mobile="0170 77075568"),
                    # names a search box sends to name and number attributes alike
                    "jaeger": person("Julia", "Jäger", telephoneNumber="+49 30 5556661"),
                    "jaegermeister": person("Jens", "Jägermeister", mobile="+49 40 5556662"),
                },
            ),
        ),
    ),
    Directory(
        "it",
        (
            Source(
                "it_crm",
                {
                    "roma": person("Marco", "Rossi", telephoneNumber="06 1234 5678"),
                    "milano": person("Giulia", "Bianchi", telephoneNumber="+39 02 8765 4321"),
                    "cell": person("Luca", "Verdi", telephoneNumber="333 1234567"),
                    "monaco": person("Jürgen", "Müller", telephoneNumber="+49 89 1234567"),
                },
            ),
        ),
        location={"country": "IT"},
    ),
    # a Swiss directory with a Swiss source and a German one (the source's location wins)
    Directory(
        "ch",
        (
            Source(
                "ch_crm",
                {
                    "zuerich": person("Urs", "Keller", telephoneNumber="044 668 18 00"),
                    "nebenan": person("Vreni", "Keller", telephoneNumber="668 18 01"),
                    "bern": person("Beat", "Bär", telephoneNumber="0041 31 322 21 11"),
                    "natel": person("Reto", "Roth", telephoneNumber="079 123 45 67"),
                },
            ),
            Source(
                "ch_from_munich",
                {
                    "muenchen": person("Jürgen", "Müller", telephoneNumber="089 1234567"),
                    "lokal": person("Eva", "Ernst", telephoneNumber="7654321"),
                },
                location=DE_89,
            ),
        ),
        location={"country": "CH", "area_code": "44", "outside_line": "0"},
        phone_format="source",
    ),
    Directory(
        "at",
        (
            Source(
                "at_crm",
                {
                    "wien": person("Franz", "Gruber", telephoneNumber="01 58680"),
                    "salzburg": person("Sepp", "Moser", telephoneNumber="0043 662 80440"),
                    "handy": person("Resi", "Huber", telephoneNumber="0664 1234567"),
                },
            ),
        ),
        location={"country": "AT", "area_code": "1"},
        phone_format="e164",
    ),
    Directory(
        "gb",
        (
            Source(
                "gb_crm",
                {
                    "london": person("Jane", "Smith", telephoneNumber="020 7946 0958"),
                    "manchester": person("Tom", "Jones", telephoneNumber="+44 161 496 0000"),
                    "mobile": person("Amy", "Brown", telephoneNumber="07911 123456"),
                },
            ),
        ),
        location={"country": "GB", "area_code": "20", "outside_line": "9"},
        phone_format="readable",
    ),
    Directory(
        "us",
        (
            Source(
                "us_crm",
                {
                    "ny": person("John", "Miller", telephoneNumber="(212) 555-0100"),
                    "sf": person("Mary", "Major", telephoneNumber="+1 415-555-0199"),
                    "brooklyn": person("Sam", "Stone", telephoneNumber="1-646-555-0123"),
                },
            ),
        ),
        location={"country": "US", "area_code": "212", "outside_line": "9"},
        phone_format="national",
    ),
    # Munich without a switchboard: a short internal number stays an extension
    Directory(
        "noext",
        (
            Source(
                "noext_crm",
                {
                    "ext": person("Ina", "Intern", telephoneNumber="567"),
                    "full": person("Jürgen", "Müller", telephoneNumber="089 1234568"),
                },
            ),
        ),
        location=DE_89,
    ),
    # a source that writes local numbers but has no area code: they cannot be completed
    Directory(
        "fb",
        (
            Source(
                "fb_nocode",
                {
                    "nocode": person("Jürgen", "Müller", telephoneNumber="1234567"),
                    "short": person("Kurt", "Kurz", telephoneNumber="34567"),
                    "ernst7": person("Eva", "Ernst", telephoneNumber="7654321"),
                },
                location={"country": "DE"},
            ),
            Source(
                "fb_full",
                {
                    "full7": person("Eva", "Ernst", telephoneNumber="089 7654321"),
                    "berlin": person("Bert", "Berliner", telephoneNumber="030 5555555"),
                },
            ),
        ),
        location=DE_89,
    ),
    # the other direction: complete numbers, queries without an area code
    Directory(
        "nocode",
        (
            Source(
                "nocode_crm",
                {
                    "n_muc": person("Jürgen", "Müller", telephoneNumber="089 1234567"),
                    "n_ber": person("Bert", "Berliner", telephoneNumber="+49 30 7654321"),
                },
                location=DE_89,
            ),
        ),
        location={"country": "DE"},
    ),
    Directory(
        "fb5",
        (
            Source(
                "fb5_crm",
                {
                    "f5_muc": person("Jürgen", "Müller", telephoneNumber="089 1234567"),
                    "f5_ber": person("Bert", "Berliner", telephoneNumber="+49 30 7654321"),
                },
                location=DE_89,
            ),
        ),
        location={"country": "DE", "fallback_digits": 5},
    ),
]
BY_NAME = {d.name: d for d in DIRECTORIES}


# --- filters as clients write them -----------------------------------------------------------


def eq(value: str, attr: str = "telephoneNumber") -> str:
    return f"({attr}={escape_filter_chars(value)})"


def prefix(value: str, attr: str = "telephoneNumber") -> str:
    return f"({attr}={escape_filter_chars(value)}*)"


def suffix(value: str, attr: str = "telephoneNumber") -> str:
    return f"({attr}=*{escape_filter_chars(value)})"


def contains(value: str, attr: str = "telephoneNumber") -> str:
    return f"({attr}=*{escape_filter_chars(value)}*)"


# the reading a READING case takes, shown when it fails
FALLBACK_READING = (
    "reading: the fallback relates an incomplete number to a complete one; two complete "
    "numbers that differ (other area code or country) never match"
)
DIGITS_READING = (
    "reading: a suffix/contains fragment without a prefix (no leading 0, 00 or +) is "
    "compared as digits, so it finds every number ending with / containing those digits"
)


@dataclass(frozen=True)
class Case:
    directory: str
    filter: str
    expected: frozenset[str]
    reading: str = ""

    @property
    def id(self) -> str:
        return f"{self.directory}:{self.filter}"


def case(directory: str, filter: str, *expected: str, reading: str = "") -> Case:
    return Case(directory, filter, frozenset(expected), reading)


CASES = [
    # --- Germany, the global location (DE / 89 / outside line 0 / base +49 89 1234, 100-999)
    case("de", eq("+49891234567"), "mueller"),
    case("de", eq("+49 89 1234-567"), "mueller"),
    case("de", eq("0049891234567"), "mueller"),
    case("de", eq("0049 89 1234567"), "mueller"),
    case("de", eq("089 1234567"), "mueller"),
    case("de", eq("(089) 1234567"), "mueller"),
    case("de", eq("089/1234567"), "mueller"),
    case("de", eq("+49 (0)89 1234567"), "mueller"),
    case("de", eq("0 0891234567"), "mueller"),  # outside line, then the national number
    case("de", eq("0 0049 89 1234567"), "mueller"),  # outside line, then international
    case("de", eq("1234567"), "mueller"),  # local: the area code is added
    case("de", eq("567"), "mueller"),  # bare extension: base + 567
    case("de", eq("089 1234567", "TelePhoneNumber"), "mueller"),  # any case
    # same subscriber number, other area code: the exact number exists, so no fallback
    case("de", eq("040 1234567"), "hamburg"),
    case("de", eq("+49 40 1234567"), "hamburg"),
    case("de", eq("+49 89 7654321"), "ernst"),  # stored with the outside line
    case("de", eq("7654321"), "ernst"),
    case("de", eq("890"), "huber"),  # stored as a bare extension
    case("de", eq("0891234890"), "huber"),
    case("de", eq("+49 89 1234 890"), "huber"),
    case("de", eq("089 5557777"), "koenig"),  # stored as a local number
    case("de", eq("0892222333"), "lustig"),  # stored as +49 (0)89 …
    case("de", eq("+49 89 4444555"), "ober"),  # stored as 089/…
    case("de", eq("+39 06 1234 5678"), "rossi"),
    case("de", eq("0039 06 12345678"), "rossi"),
    case("de", eq("+390612345678"), "rossi"),
    # 06… dialled in Germany is a German number, not Rome
    case("de", eq("06 1234 5678"), "wies"),
    case("de", eq("+1 (212) 555-0100"), "miller"),
    case("de", eq("001 212 555 0100"), "miller"),
    case("de", eq("0041 44 668 18 00"), "keller"),
    case("de", eq("+44 20 7946 0958"), "smith"),
    case("de", eq("0044 20 7946 0958"), "smith"),
    case("de", eq("0043 1 58680"), "gruber"),
    case("de", eq("99")),  # outside the extension range, too short for the fallback
    case("de", eq("1000")),  # outside the extension range
    case("de", eq("call reception"), "empfang"),  # kept as written, found as written
    case("de", eq("n/a", "mobile"), "empfang"),
    case("de", eq("0171 5550100", "mobile"), "mueller"),
    case("de", eq("0049 89 3333444")),  # that number is a homePhone, not a telephoneNumber
    case("de", eq("089 3333444", "homePhone"), "schmidt"),
    case("de", eq("+49 89 3333444", "homeTelephoneNumber"), "schmidt"),  # alias
    case("de", eq("089 1234 999", "facsimileTelephoneNumber"), "huber"),
    case("de", eq("568", "ipPhone"), "ipp"),
    case("de", eq("+49 89 1234568", "ipPhone"), "ipp"),
    case("de", eq("0160 1112223", "otherTelephone"), "ipp"),
    case("de", "(telephoneNumber>=0)"),  # no ordering on numbers: Undefined
    case("de", "(telephoneNumber<=+49999999999)"),
    case("de", "(!(telephoneNumber>=0))"),  # Undefined stays Undefined under NOT
    case("de", prefix("0891234"), "mueller", "huber"),
    case("de", prefix("+49 89 1234"), "mueller", "huber"),
    case("de", prefix("004989"), "mueller", "ernst", "huber", "koenig", "lustig", "ober", "trunk"),
    case("de", prefix("+1 212"), "miller"),
    case("de", prefix("0039 06"), "rossi"),
    case("de", suffix("0891234567"), "mueller"),
    case("de", suffix("+49 89 1234567"), "mueller"),
    case("de", suffix("1234567"), "mueller", "hamburg", reading=DIGITS_READING),
    case("de", suffix("1234-567"), "mueller", "hamburg", reading=DIGITS_READING),
    case(
        "de",
        f"(|{suffix('5550100')}{suffix('5550100', 'mobile')})",
        "mueller",
        "miller",
        reading=DIGITS_READING,
    ),
    case("de", contains("0891234567"), "mueller"),
    case("de", contains("+49 89 1234 567"), "mueller"),
    case(
        "de",
        contains("1234"),
        "mueller",
        "rossi",
        "huber",
        "hamburg",
        "wies",
        reading=DIGITS_READING,
    ),
    # different area code / country, and no exact match anywhere
    case("de", eq("030 1234567"), reading=FALLBACK_READING),
    # the same national digits in Switzerland and in Germany
    case("de", eq("044 668 18 00"), "doppel"),
    case("de", eq("+41 44 668 18 00"), "keller"),
    case("de", suffix("+41 44 668 18 00"), "keller"),  # Superfecta: *caller
    case("de", suffix("0041 44 668 18 00"), "keller"),
    case("de", suffix("04466 81800"), "doppel"),
    case("de", contains("+41 44 668 18 00"), "keller"),  # STARFACE: *caller*
    case("de", contains("+49 4466 81800"), "doppel"),
    # other filter types on numbers
    case("de", "(telephoneNumber~=089 1234567)", "mueller"),  # FreeSWITCH's loose match
    case("de", "(telephoneNumber:=089 1234567)", "mueller"),  # extensible, no rule
    # values that are no number find nothing, and break nothing
    case("de", eq("+", "metaSearchNumber")),  # innovaphone, caller withheld: %n empty
    case("de", eq("+-/()")),
    case("de", eq("0" * 40)),
    case("de", eq("9" * 40, "searchNumber")),
    case("de", suffix("0" * 40)),
    # no digits, no number: such values match only numbers kept as that same text
    case("de", prefix("Jäger")),
    case("de", f"(|(sn=Jäger*){prefix('Jäger')})", "jaeger", "jaegermeister"),
    case("de", f"(|(sn=Jäger*){prefix('Jäger', 'mobile')})", "jaeger", "jaegermeister"),
    case("de", prefix("Anna", "searchNumber")),
    case("de", prefix("Anna", "metaSearchNumber")),
    case("de", contains("abc")),
    case("de", contains("-")),
    case("de", contains("n/a", "mobile"), "empfang"),
    case("de", contains(" "), "empfang"),  # "call reception" holds a space
    case("de", prefix("CALL"), "empfang"),
    case("de", suffix("reception"), "empfang"),
    case("de", eq("N/A", "mobile"), "empfang"),
    case("de", eq("n/a")),  # the telephoneNumber is another text
    # possible numbers the library does not call valid are numbers all the same
    case("de", eq("+491511271977", "mobile"), "neu"),
    case("de", eq("00491511271977", "mobile"), "neu"),
    case("de", eq("01511271977", "mobile"), "neu"),
    case("de", eq("0151 1271977", "mobile"), "neu"),
    case("de", eq("0 0151 1271977", "mobile"), "neu"),
    case("de", eq("01518139421"), "kurz"),
    case("de", eq("+49 151 8139421"), "kurz"),
    case("de", prefix("0151 127", "mobile"), "neu"),
    # suffix and contains on the digits as typed, and as a number
    case("de", suffix("0864211", "mobile"), "sieben"),
    case("de", contains("0864211", "mobile"), "sieben"),
    case("de", suffix("20864211", "searchNumber"), "sieben"),
    case("de", contains("0177 208", "mobile"), "sieben"),
    case("de", prefix("00")),  # an international prefix alone is no number yet
    case("de", prefix("0")),
    # how PBXs present callers: outside line before a national number, a country code
    # without + or 00, the (0) of the trunk prefix inside an international form
    case("de", eq("0 0170 77075568", "mobile"), "handy"),
    case("de", eq("00170 77075568", "searchNumber"), "handy"),
    case("de", eq("0170 77075568", "mobile"), "handy"),
    case("de", eq("4917077075568", "mobile"), "handy"),
    case("de", eq("49891234567"), "mueller"),
    case("de", eq("41446681800"), "keller"),
    case("de", eq("+49 (0)89 9687931"), "trunk"),
    case("de", eq("0049 (0)89 9687931"), "trunk"),
    case("de", prefix("+49 (0)89 9687931"), "trunk"),
    case("de", prefix("+49 (0)89 968"), "trunk"),
    # --- virtual attributes
    case("de", eq("0171 5550100", "searchNumber"), "mueller"),
    case("de", eq("089 3333444", "searchNumber"), "schmidt"),
    case("de", eq("089 1234 999", "searchNumber"), "huber"),  # a fax number
    case("de", eq("0891234567", "searchNumber"), "mueller"),
    case("de", eq("568", "SEARCHNUMBER"), "ipp"),
    case("de", eq("0160 1112223", "searchNumber"), "ipp"),
    case("de", suffix("0171 5550100", "searchNumber"), "mueller"),
    case("de", eq("+491715550100", "metaSearchNumber"), "mueller"),
    case("de", eq("+49891234567", "metaSearchNumber"), "mueller"),
    case("de", eq("Müller", "searchContact"), "mueller"),
    case("de", eq("ACME AG", "searchContact"), "schmidt", "huber"),
    case("de", prefix("Mül", "searchContact"), "mueller"),
    case("de", eq("jm@example.de", "searchContact"), "mueller"),
    case("de", eq("+49 (89) 1234-567", "searchContact"), "mueller"),
    case("de", eq("567", "searchContact"), "mueller"),
    case("de", eq("12", "searchContact")),  # two digits: not a number, and no such name
    case("de", eq("Müller", "searchIndividual"), "mueller"),
    case("de", eq("Jürgen", "searchIndividual"), "mueller"),
    case("de", eq("ACME AG", "searchIndividual")),  # company is not an individual's field
    case("de", eq("0891234567", "searchIndividual")),  # nor is a number
    # --- Italy: the leading zero is part of the number
    case("it", eq("06 1234 5678"), "roma"),
    case("it", eq("+39 06 1234 5678"), "roma"),
    case("it", eq("0039 06 12345678"), "roma"),
    case("it", eq("+390612345678"), "roma"),
    case("it", eq("02 87654321"), "milano"),
    case("it", eq("0039 02 8765 4321"), "milano"),
    case("it", eq("333 123 4567"), "cell"),
    case("it", eq("+39 333 1234567"), "cell"),
    case("it", eq("0049 89 1234567"), "monaco"),
    case("it", eq("+49891234567"), "monaco"),
    case("it", prefix("06"), "roma"),
    case("it", eq("+39 6 1234 5678"), reading=FALLBACK_READING),  # the zero is significant
    # --- Switzerland (CH / 44 / outside line 0), served as the source wrote it
    case("ch", eq("044 668 18 00"), "zuerich"),
    case("ch", eq("+41 44 668 18 00"), "zuerich"),
    case("ch", eq("0041446681800"), "zuerich"),
    case("ch", eq("668 18 00"), "zuerich"),  # local
    case("ch", eq("0 044 668 18 00"), "zuerich"),  # outside line
    # served as the source wrote them: prefixes and parts also match the digits served
    case("ch", prefix("00"), "bern"),  # "0041 31 322 21 11"
    case("ch", contains("089"), "muenchen"),  # "089 1234567"
    case("ch", suffix("21 11"), "bern"),
    case("ch", eq("+41 44 668 18 01"), "nebenan"),  # stored as a local number
    case("ch", eq("031 322 21 11"), "bern"),
    case("ch", eq("+41 79 123 45 67"), "natel"),
    case("ch", eq("044 668 18 02")),
    # the Munich source is read with its own location, not the directory's
    case("ch", eq("0049 89 1234567"), "muenchen"),
    case("ch", eq("+49 89 7654321"), "lokal"),
    case("ch", eq("+41 89 1234567"), reading=FALLBACK_READING),
    # --- Austria (AT / 1)
    case("at", eq("01 58680"), "wien"),
    case("at", eq("+43 1 58680"), "wien"),
    case("at", eq("0043 1 58680"), "wien"),
    case("at", eq("58680"), "wien"),  # local
    case("at", eq("0662 80440"), "salzburg"),
    case("at", eq("+43 662 80440"), "salzburg"),
    case("at", eq("+43 664 1234567"), "handy"),
    case("at", eq("01 58681")),
    # --- United Kingdom (GB / 20 / outside line 9), served readable
    case("gb", eq("020 7946 0958"), "london"),
    case("gb", eq("+44 20 7946 0958"), "london"),
    case("gb", eq("0044 20 7946 0958"), "london"),
    case("gb", eq("+44 (0)20 7946 0958"), "london"),
    case("gb", eq("7946 0958"), "london"),  # local
    case("gb", eq("9 020 7946 0958"), "london"),  # outside line
    case("gb", eq("0161 496 0000"), "manchester"),
    case("gb", eq("+447911123456"), "mobile"),
    case("gb", eq("020 7946 0959")),
    # --- United States (US / 212 / outside line 9), served national
    case("us", eq("(212) 555-0100"), "ny"),
    case("us", eq("+1 212-555-0100"), "ny"),
    case("us", eq("2125550100"), "ny"),
    case("us", eq("1 212 555 0100"), "ny"),
    case("us", eq("555-0100"), "ny"),  # local
    case("us", eq("9 1 212 555 0100"), "ny"),  # outside line
    case("us", eq("011 1 212 555 0100"), "ny"),  # the US international prefix
    case("us", eq("415.555.0199"), "sf"),
    case("us", eq("+1 646 555 0123"), "brooklyn"),
    case("us", eq("(212) 555-0101")),
    case("us", eq("+49 212 5550100"), reading=FALLBACK_READING),  # Solingen, same digits
    # --- no switchboard: extensions stay extensions
    case("noext", eq("567"), "ext"),
    case("noext", eq("568")),  # no base: 568 is no extension of anyone's number
    case("noext", eq("089 1234568"), "full"),
    # --- the suffix fallback: stored numbers that lack the area code
    case("fb", eq("089 1234567"), "nocode"),
    case("fb", eq("+49 89 1234567"), "nocode"),
    case("fb", eq("0049891234567"), "nocode"),
    case("fb", eq("1234567"), "nocode"),
    case("fb", eq("030 1234567"), "nocode"),  # the stored number has no area code to differ
    case("fb", f"(|{eq('0891234567')}{eq('0891234567', 'mobile')})", "nocode"),
    case("fb", eq("089 7654321"), "full7"),  # exact match: the fallback stays out
    case("fb", eq("7654321"), "full7"),
    case("fb", eq("089 34567")),  # the stored 34567 has fewer than 7 digits
    case("fb", eq("34567")),
    case("fb", eq("030 5555555"), "berlin"),
    case("fb", eq("+49 30 555 5555"), "berlin"),
    # --- the other direction: queries that lack the area code
    case("nocode", eq("1234567"), "n_muc"),
    case("nocode", eq("7654321"), "n_ber"),
    case("nocode", eq("34567")),  # fewer than 7 digits
    case("nocode", eq("089 1234567"), "n_muc"),
    case("nocode", eq("+49 30 765 4321"), "n_ber"),
    # --- fallback_digits: 5
    case("fb5", eq("34567"), "f5_muc"),
    case("fb5", eq("54321"), "f5_ber"),
    case("fb5", eq("4567")),  # fewer than 5 digits
]


# --- the real code path: config file, sync engine, store, directory tree ------------------


def write_csv(path: Path, rows: dict[str, dict[str, str]]) -> list[str]:
    """The source as a CSV file with a ``Key`` column; returns its attribute columns."""
    columns = sorted({name for row in rows.values() for name in row})
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Key", *columns])
        for key, row in rows.items():
            writer.writerow([key, *(row.get(c, "") for c in columns)])
    return columns


def config_dict(workdir: Path) -> dict:
    directories = []
    for d in DIRECTORIES:
        replicators = []
        for source in d.sources:
            columns = write_csv(workdir / f"{source.name}.csv", source.rows)
            rep = {
                "name": source.name,
                "type": "csv",
                "path": f"{source.name}.csv",
                "key": "Key",
                "mapping": {"custom0": "Key", **{c: c for c in columns}},
            }
            if source.location is not None:
                rep["location"] = source.location
            replicators.append(rep)
        directory: dict = {"name": d.name, "replicators": replicators}
        if d.location is not None:
            directory["location"] = d.location
        if d.phone_format is not None:
            directory["phone_format"] = d.phone_format
        directories.append(directory)
    return {
        "store": {"url": "sqlite:///metadir.db"},
        "location": GLOBAL,
        "directories": directories,
    }


@dataclass
class Synced:
    config: Config
    tree: DirectoryTree


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    workdir = tmp_path_factory.mktemp("phone-matching")
    path = workdir / "metadir.yaml"
    path.write_text(yaml.safe_dump(config_dict(workdir), allow_unicode=True), encoding="utf-8")
    config = load_config(path)
    with Store.open(config.store_url()) as store:
        for directory in config.directories:
            for rep in directory.replicators:
                run = run_replicator(store, config.job(directory, rep))
                assert (run.outcome, run.skipped) == ("ok", 0), (rep.name, run)
        _seq, tree = load_tree(store, config)
    yield Synced(config, tree)


def search(synced: Synced, directory: str, filter_text: str) -> set[str]:
    """The source keys (custom0) a subtree search at the directory's base finds."""
    dn = next(d.dn for d in synced.config.directories if d.name == directory)
    base = synced.tree.resolve(dn, None)
    assert not isinstance(base, NoSuchObject), dn
    found = synced.tree.search(base, Scope.SUB, parse_filter(filter_text), None)
    return {e.attributes["custom0"][0] for e in found if "custom0" in e.attributes}


# --- reporting -----------------------------------------------------------------------------


def describe_location(location: dict | None) -> str:
    if not location:
        return "(none)"
    parts = [location["country"]]
    if "area_code" in location:
        parts.append(f"area {location['area_code']}")
    if "outside_line" in location:
        parts.append(f"outside {location['outside_line']}")
    if "base_number" in location:
        parts.append(f"base {location['base_number']} ext {location.get('extensions', '-')}")
    if "fallback_digits" in location:
        parts.append(f"fallback {location['fallback_digits']}")
    return " / ".join(parts)


def report(c: Case, got: set[str]) -> str:
    """A table: one row per stored contact the case got wrong."""
    d = BY_NAME[c.directory]
    search_location = d.location or GLOBAL
    header = ("query", "stored", "source location", "expected", "got")
    rows = []
    for source in d.sources:
        source_location = source.location or search_location
        for key, values in source.rows.items():
            want, have = key in c.expected, key in got
            if want != have:
                numbers = ", ".join(
                    f"{a}={v!r}"
                    for a, v in values.items()
                    if v and a not in ("givenName", "sn", "company", "mail")
                )
                rows.append(
                    (
                        c.filter,
                        f"{key}: {numbers}",
                        describe_location(source_location),
                        "match" if want else "no match",
                        "match" if have else "no match",
                    )
                )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    head = " | ".join(cell.ljust(w) for cell, w in zip(header, widths, strict=True))
    text = (
        f"\ndirectory {c.directory!r}, queries read with {describe_location(search_location)}"
        f"\n{head}\n{'-' * len(head)}\n" + "\n".join(lines)
    )
    if c.reading:
        text += f"\n({c.reading})"
    return text


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_number_matching(synced: Synced, c: Case) -> None:
    got = search(synced, c.directory, c.filter)
    assert got == c.expected, report(c, got)


def test_the_table_is_big_enough_and_sound() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES), "a case is listed twice"
    for c in CASES:
        keys = {k for s in BY_NAME[c.directory].sources for k in s.rows}
        assert c.expected <= keys, f"{c.id}: expects keys its directory does not have"
    # every country the issue names has both positive and negative cases
    for name in ("de", "it", "ch", "at", "gb", "us"):
        outcomes = {bool(c.expected) for c in CASES if c.directory == name}
        assert outcomes == {True, False}, name
