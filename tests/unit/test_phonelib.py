"""The contract metadir/core/phonelib.py holds phonenumbers to: its private helpers and
metadata fields answer as they did when metadir was written against them.

A failure here after an upgrade of phonenumbers names the release and what changed: pin
the release phonelib was written for, or adapt phonelib (and tests/unit/test_phone.py,
which compares the fast reading with ``phonenumbers.parse``, then tells whether it still
reads as the library does)."""

from __future__ import annotations

import pytest
from phonenumbers.phonemetadata import PhoneMetadata

from metadir.core import phonelib


def expect(actual: object, wanted: object, what: str) -> None:
    assert actual == wanted, (
        f"phonenumbers {phonelib.VERSION}: {what} gives {actual!r}, where "
        f"metadir/core/phonelib.py (written for {phonelib.WRITTEN_FOR}) expects {wanted!r}"
    )


def region(code: str) -> PhoneMetadata:
    meta = phonelib.metadata_for_region(code)
    assert meta is not None, f"phonenumbers {phonelib.VERSION}: no metadata for {code}"
    return meta


def test_length_bounds() -> None:
    expect(phonelib.MIN_LENGTH_FOR_NSN, 2, "_MIN_LENGTH_FOR_NSN")
    expect(phonelib.MAX_LENGTH_FOR_NSN, 17, "_MAX_LENGTH_FOR_NSN")


@pytest.mark.parametrize(
    ("digits", "wanted"),
    [
        ("4989123456", (49, "89123456")),
        ("12125551234", (1, "2125551234")),
        ("999123", (0, "999123")),
    ],
)
def test_extract_country_code(digits: str, wanted: tuple[int, str]) -> None:
    expect(phonelib.extract_country_code(digits), wanted, f"_extract_country_code({digits!r})")


@pytest.mark.parametrize(
    ("national", "country", "wanted"),
    [
        ("089123456", "DE", "89123456"),
        ("89123456", "DE", "89123456"),
        ("12125551234", "US", "2125551234"),
        # Italy dials national numbers whole, the leading 0 included
        ("0612345678", "IT", "0612345678"),
    ],
)
def test_strip_national_prefix(national: str, country: str, wanted: str) -> None:
    expect(
        phonelib.strip_national_prefix(national, region(country)),
        wanted,
        f"_maybe_strip_national_prefix_carrier_code({national!r}, {country})[1]",
    )


@pytest.mark.parametrize(
    ("national", "country", "wanted"),
    [
        ("89123456", "DE", phonelib.IS_POSSIBLE),
        ("1", "DE", phonelib.TOO_SHORT),
        ("2125551234", "US", phonelib.IS_POSSIBLE),
        ("5551234", "US", phonelib.IS_POSSIBLE_LOCAL_ONLY),
    ],
)
def test_number_length(national: str, country: str, wanted: int) -> None:
    expect(
        phonelib.number_length(national, region(country)),
        wanted,
        f"_test_number_length({national!r}, {country})",
    )


def test_too_long_is_none_of_the_short_answers() -> None:
    answer = phonelib.number_length("1" * 20, region("DE"))
    assert answer not in (
        phonelib.IS_POSSIBLE,
        phonelib.TOO_SHORT,
        phonelib.IS_POSSIBLE_LOCAL_ONLY,
        phonelib.INVALID_LENGTH,
    ), f"phonenumbers {phonelib.VERSION}: _test_number_length of 20 digits gives {answer!r}"


def test_metadata_fields() -> None:
    meta = region("DE")
    for name in (*phonelib.NUMBER_TYPES, "general_desc", "leading_digits", "country_code"):
        assert hasattr(meta, name), (
            f"phonenumbers {phonelib.VERSION}: PhoneMetadata has no {name!r}, which "
            "metadir/core/phonelib.py reads"
        )
    expect(len(phonelib.number_types(meta)) >= 2, True, "the number types of DE")
    general = meta.general_desc
    assert general is not None
    expect(bool(general.national_number_pattern and general.possible_length), True, "DE general")
    expect((meta.country_code, meta.national_prefix, meta.international_prefix), (49, "0", "00"),
           "DE's codes")  # fmt: skip


def test_regions() -> None:
    expect(phonelib.regions_for_code(49), ("DE",), "COUNTRY_CODE_TO_REGION_CODE[49]")
    expect(phonelib.regions_for_code(1)[0], "US", "COUNTRY_CODE_TO_REGION_CODE[1][0]")
    expect(phonelib.regions_for_code(999), (), "COUNTRY_CODE_TO_REGION_CODE[999]")
    canada = phonelib.metadata_for_code(1, "CA")
    expect(canada.id if canada else None, "CA", "metadata_for_region_or_calling_code(1, CA)")
    world = phonelib.metadata_for_code(800)
    expect(world.id if world else None, "001", "metadata_for_region_or_calling_code(800)")


def test_a_missing_private_name_is_named() -> None:
    with pytest.raises(ImportError, match=r"phonenumbers .* has no phonenumberutil\._gone"):
        phonelib._private("_gone")
