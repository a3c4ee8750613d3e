"""Reading phone numbers with a location (metadir.core.phone); end-to-end matching is in
test_phone_matching.py and test_phone_e2e.py."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from phonenumbers import NumberParseException, PhoneNumberFormat, national_significant_number
from phonenumbers.phonenumberutil import ValidationResult
from pydantic import ValidationError

from metadir.core.phone import (
    Location,
    _parse,
    _plain,
    _valid,
    digits_of,
    display,
    looks_like_number,
    prefix_keys,
    read_number,
)
from scripts.generate_contacts import contacts

MUNICH = Location(
    country="DE",
    area_code="89",
    outside_line="0",
    base_number="+49 89 1234-0",
    extensions="100-999",
)


@pytest.mark.parametrize(
    ("raw", "canonical", "kind"),
    [
        ("(089) 1234-567", "+49891234567", "e164"),
        ("089/1234567", "+49891234567", "e164"),
        ("+49 (0)89 1234567", "+49891234567", "e164"),
        ("0049 89 1234567", "+49891234567", "e164"),
        ("1234567", "+49891234567", "e164"),  # local: the area code is added
        ("0 0891234567", "+49891234567", "e164"),  # outside line, then national
        ("00 0891234567", "+49891234567", "e164"),
        ("0 0049 89 1234567", "+49891234567", "e164"),
        ("567", "+49891234567", "e164"),  # base + extension
        ("+1 (212) 555-0100", "+12125550100", "e164"),
        ("0039 06 1234 5678", "+390612345678", "e164"),  # Italian numbers keep their zero
        ("n/a", "n/a", "text"),
        ("call reception", "call reception", "text"),
        ("", "", "text"),
    ],
)
def test_read_number(raw: str, canonical: str, kind: str) -> None:
    number = read_number(raw, MUNICH)
    assert (number.canonical, number.kind) == (canonical, kind)


def test_short_internal_numbers_without_a_base_stay_extensions() -> None:
    no_base = Location(country="DE", area_code="89")
    assert (read_number("567", no_base).canonical, read_number("567", no_base).kind) == (
        "567",
        "extension",
    )
    ranged = Location(country="DE", area_code="89", extensions="100-999")
    assert read_number("1000", ranged).kind == "e164"  # outside the range: a local number
    assert read_number("110", no_base).canonical == "110"


def test_without_location_only_international_numbers_are_read() -> None:
    assert read_number("+49 89 1234567", None).canonical == "+49891234567"
    assert read_number("089 1234567", None).kind == "text"


def test_display_formats() -> None:
    number = read_number("(089) 1234-567", MUNICH)
    assert display(number, " (089) 1234-567", "e164") == "+49891234567"
    assert display(number, " (089) 1234-567", "readable") == "+49 89 1234567"
    assert display(number, " (089) 1234-567", "national") == "089 1234567"
    assert display(number, " (089) 1234-567", "source") == "(089) 1234-567"
    # national format is for the directory's own country; others as dialled from it
    assert display(number, "", "national", "DE") == "089 1234567"
    swiss = read_number("+41 44 668 18 00", MUNICH)
    assert display(swiss, "", "national", "DE") == "00 41 44 668 18 00"
    text = read_number("n/a", MUNICH)
    assert display(text, "n/a", "readable") == "n/a"


def test_prefix_keys() -> None:
    assert "49891234" in prefix_keys("0891234", MUNICH)
    assert "49891" in prefix_keys("+49 891", MUNICH)
    assert "3906" in prefix_keys("06", Location(country="IT"))  # no trunk prefix in Italy
    assert "39" in prefix_keys("0039", MUNICH)
    assert prefix_keys("--", MUNICH) == set()


def test_looks_like_number() -> None:
    assert looks_like_number("+49 (89) 1234-567")
    assert not looks_like_number("Müller")
    assert not looks_like_number("12")


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"country": "XX"}, "is not a country with a numbering plan"),
        ({"country": "Germany"}, "expected a two-letter ISO 3166 country code such as DE"),
        ({"country": "DE", "base_number": "reception"}, "is not a phone number"),
        ({"country": "DE", "extensions": "999-100"}, "the range is reversed"),
        ({"country": "DE", "extensions": "lots"}, "expected a range of numbers such as 100-999"),
        ({"country": "DE", "area_code": "089x"}, "expected up to 6 digits such as 89"),
        ({"country": "DE", "outside_line": "0000"}, "expected up to 3 digits such as 0"),
        ({"country": "DE", "fallback_digits": 2}, "greater than or equal to 3"),
    ],
)
def test_location_validation(settings: dict, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Location(**settings)


def test_a_lower_case_country_code_is_read() -> None:
    assert Location(country="de") == Location(country="DE")


def _generated_numbers(count: int) -> list[str]:
    """The numbers scripts/generate_contacts.py writes for ``count`` contacts (every format
    it knows, eleven countries), and each of them also as digits only and with its '+'
    written as the IDD 00 or 011."""
    written = [n for row in contacts(count, 7) for n in row[7:11] if n]
    variants = [
        variant
        for n in written
        for variant in (n, digits_of(n), n.replace("+", "00"), n.replace("+", "011"))
    ]
    odd = ["+0049 89 1234567", "000 1234", "0 0 0", "49891234567", "+999 123456", "12 34"]
    # country codes several regions share, and one of no region
    odd += ["+1 268 464 1234", "+44 1481 256789", "+39 06 698 12345", "+800 1234 5678"]
    return variants + odd


def _library_reading(parsed: phonenumbers.PhoneNumber | None) -> tuple[str, bool] | None:
    """What ``_parse`` must give, by the library's own functions: E.164 and True for a
    valid number, False for one that is possible (in length and the country's general
    pattern) but not valid, None otherwise."""
    if parsed is None:
        return None
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    if phonenumbers.is_valid_number(parsed):
        return e164, True
    region = phonenumbers.region_code_for_country_code(parsed.country_code)
    meta = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        parsed.country_code, region
    )
    possible = phonenumbers.is_possible_number_with_reason(parsed) == ValidationResult.IS_POSSIBLE
    pattern = meta.general_desc.national_number_pattern if meta else None
    national = national_significant_number(parsed)
    if possible and pattern and re.fullmatch(pattern, national):
        return e164, False
    return None


@pytest.mark.parametrize("country", ["DE", "IT", "CH", "AT", "GB", "US"])
def test_plain_numbers_read_as_the_library_parses_them(country: str) -> None:
    """The fast reading of plain numbers gives exactly what phonenumbers.parse and
    is_valid_number give, and it does read nearly all generated numbers itself."""
    numbers = _generated_numbers(600)
    fast = 0
    for text in numbers:
        try:
            parsed = phonenumbers.parse(text, country)
        except NumberParseException:
            parsed = None
        assert _parse(text, country) == _library_reading(parsed), f"{text!r} in {country}"
        if parsed is not None:
            national = national_significant_number(parsed)
            valid = phonenumbers.is_valid_number(parsed)
            assert _valid(parsed.country_code, national) == valid, f"{text!r} in {country}"
        plain = _plain(text, country)
        if plain is not None:
            fast += 1
            assert parsed is not None, f"{text!r} in {country}: parse fails"
            assert plain == (parsed.country_code, national), f"{text!r} in {country}"
    assert fast > 0.9 * len(numbers)
