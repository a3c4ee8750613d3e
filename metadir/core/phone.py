"""Phone numbers: the numbering plan (location) and reading numbers however they are written.

A number is read into a canonical form once, at import, with the location of the source
it came from: E.164 (``+49891234567``) for numbers the ``phonenumbers`` library recognises,
the digits of a company extension, or the text as written when it is no number at all.
Searching reads the assertion value the same way, with the location of the directory.
International and national prefixes come from the country (libphonenumber metadata).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from metadir.core import phonelib

PhoneFormat = Literal["e164", "readable", "national", "source"]
SHORT_INTERNAL_DIGITS = 4  # "567", "2001", "110": internal or service numbers, not local ones
_MIN_E164 = 7  # fewer digits cannot be a country code and a subscriber number
_FORMATS = {"readable": PhoneNumberFormat.INTERNATIONAL, "national": PhoneNumberFormat.NATIONAL}
_NOT_DIGITS = re.compile(r"\D")
# what a number may be written with; anything else makes a value text, not a number
_NUMBER_LIKE = re.compile(r"^[\s\d+\-/().]*$")
# what _plain reads itself: ASCII digits and separators, at most one leading '+'
_PLAIN = re.compile(r"\+?[0-9 \-/().]+")
# the forms of a location's settings
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_AREA_CODE = re.compile(r"[0-9]{1,6}")
_OUTSIDE_LINE = re.compile(r"[0-9]{1,3}")
_EXTENSIONS = re.compile(r"\s*\d+\s*-\s*\d+\s*")


class Location(BaseModel):
    """The numbering plan numbers are read with (estos: "location")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # ISO 3166 country code, e.g. DE (de is read as DE)
    country: str
    # the area code without the national prefix, e.g. 89 for Munich
    area_code: str | None = None
    # what is dialled for an outside line, e.g. 0
    outside_line: str | None = None
    # the company number extensions are appended to, e.g. "+49 89 1234"
    base_number: str | None = None
    # the extension range, e.g. "100-999"
    extensions: str | None = None
    # least significant digits a suffix fallback match needs
    fallback_digits: int = Field(default=7, ge=3, le=15)

    @field_validator("area_code", "outside_line", "base_number", mode="before")
    @classmethod
    def _digits_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        # the words, not the pattern: an admin writes "Germany" or "de"
        if not _COUNTRY.fullmatch(value):
            raise ValueError(
                f"expected a two-letter ISO 3166 country code such as DE, not {value!r}"
            )
        value = value.upper()
        if phonenumbers.country_code_for_region(value) == 0:
            raise ValueError(f"{value!r} is not a country with a numbering plan")
        return value

    @field_validator("area_code")
    @classmethod
    def _area_code(cls, value: str | None) -> str | None:
        if value is not None and not _AREA_CODE.fullmatch(value):
            raise ValueError(f"expected up to 6 digits such as 89, not {value!r}")
        return value

    @field_validator("outside_line")
    @classmethod
    def _outside_line(cls, value: str | None) -> str | None:
        if value is not None and not _OUTSIDE_LINE.fullmatch(value):
            raise ValueError(f"expected up to 3 digits such as 0, not {value!r}")
        return value

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, value: str | None) -> str | None:
        if value is not None and not _EXTENSIONS.fullmatch(value):
            raise ValueError(f"expected a range of numbers such as 100-999, not {value!r}")
        return value

    @model_validator(mode="after")
    def _base(self) -> Location:
        if self.base_number is not None and _base_digits(self) is None:
            raise ValueError(f"base_number {self.base_number!r} is not a phone number")
        if self.extensions is not None:
            low, high = _range(self.extensions)
            if low > high:
                raise ValueError(f"extensions {self.extensions!r}: the range is reversed")
        return self

    @property
    def country_code(self) -> str:
        return str(phonenumbers.country_code_for_region(self.country))

    @property
    def national_prefix(self) -> str:
        return _metadata(self.country)[0]

    @property
    def international_prefix(self) -> str:
        return _metadata(self.country)[1]

    def is_extension(self, digits: str) -> bool:
        """Whether digits dialled without any prefix are an internal number: within the
        extension range, or with no range configured, at most 4 digits long."""
        if self.extensions is None:
            return len(digits) <= SHORT_INTERNAL_DIGITS
        low, high = _range(self.extensions)
        return len(digits) <= len(str(high)) and low <= int(digits) <= high


def _range(text: str) -> tuple[int, int]:
    low, high = (int(part) for part in text.split("-"))
    return low, high


@lru_cache(maxsize=64)
def _metadata(country: str) -> tuple[str, str]:
    meta = phonenumbers.PhoneMetadata.metadata_for_region(country)
    national = (meta.national_prefix or "") if meta else ""
    international = (meta.international_prefix or "00") if meta else "00"
    # some countries list alternatives ("00|011"); the first is what people dial
    return national, international if international.isdigit() else "00"


def _base_digits(location: Location) -> str | None:
    """The base number as E.164 digits (without '+'), or None."""
    if not location.base_number:
        return None
    text = re.sub(r"[\s-]*-\s*0\s*$", "", location.base_number)  # "+49 89 1234-0": switchboard
    if not _NUMBER_LIKE.match(text):
        return None
    digits = _NOT_DIGITS.sub("", text)
    if text.strip().startswith("+"):
        return digits
    parsed = _parse(text, location.country)
    return parsed[0][1:] if parsed else None


def _parse(text: str, country: str) -> tuple[str, bool] | None:
    """E.164 for ``text`` read in ``country``, and whether it is a valid number; None
    when it is not even a possible one (a length the country's plan has no number of).

    Possible but not valid numbers are numbers too: ranges allocated after the library's
    metadata was made, and numbers a digit longer or shorter than the plan says, are
    still dialled and still ring somewhere (``0151/1271977``)."""
    plain = _plain(text, country)
    if plain is None:
        try:
            number = phonenumbers.parse(text, country)
        except NumberParseException:
            return None
        if number.country_code is None:
            return None
        plain = number.country_code, phonenumbers.national_significant_number(number)
    code, national = plain
    # E.164 is the country code and the national significant number (format_number's way)
    if _valid(code, national):
        return f"+{code}{national}", True
    return (f"+{code}{national}", False) if _possible(code, national) else None


def _possible(code: int, national: str) -> bool:
    """Whether ``national`` has a length the plan of country ``code`` has numbers of
    (``phonenumbers.is_possible_number``) and fits its general pattern: a national
    prefix read as part of the number (``+49 0089…``) does not."""
    region = phonenumbers.region_code_for_country_code(code)
    meta = phonelib.metadata_for_code(code, region)
    if meta is None or phonelib.number_length(national, meta) != phonelib.IS_POSSIBLE:
        return False
    return bool(_patterns(code, region)[1].fullmatch(national))


def _valid(code: int, national: str) -> bool:
    """``phonenumbers.is_valid_number`` for the number ``national`` in country ``code``.

    The library looks each of a region's ten number-type patterns up by its text on every
    call; here they are compiled once, per length into one alternation (a number is valid
    when it fits the region's general pattern and the pattern of any type of its length).
    """
    regions = phonelib.regions_for_code(code)
    for region in regions:  # the region the number belongs to, as region_code_for_number
        leading, general, typed = _patterns(code, region)
        if len(regions) == 1 or (
            leading.match(national) if leading else _fits(national, general, typed)
        ):
            return _fits(national, general, typed)
    return False


_NEVER = re.compile(r"(?!)")


def _fits(national: str, general: re.Pattern[str], typed: dict[int, re.Pattern[str]]) -> bool:
    pattern = typed.get(len(national))
    return pattern is not None and bool(general.fullmatch(national) and pattern.fullmatch(national))


@lru_cache(maxsize=512)
def _patterns(
    code: int, region: str
) -> tuple[re.Pattern[str] | None, re.Pattern[str], dict[int, re.Pattern[str]]]:
    """A region's leading digits, its general pattern (with the lengths it allows), and
    for each length, the patterns of the number types that allow it, as one."""
    meta = phonelib.metadata_for_code(code, region)
    if meta is None or meta.general_desc is None:
        return None, _NEVER, {}
    leading = None if meta.leading_digits is None else re.compile(meta.leading_digits)
    general = meta.general_desc
    general_lengths = set(general.possible_length or range(1, phonelib.MAX_LENGTH_FOR_NSN + 1))
    by_length: dict[int, list[str]] = {}
    for desc in phonelib.number_types(meta):
        if not desc.national_number_pattern:
            continue
        # a type without lengths of its own takes those of the general description
        for length in set(desc.possible_length or general_lengths) & general_lengths:
            by_length.setdefault(length, []).append(desc.national_number_pattern)
    typed = {n: re.compile("|".join(f"(?:{p})" for p in ps)) for n, ps in by_length.items()}
    pattern = general.national_number_pattern
    return leading, re.compile(pattern) if pattern else _NEVER, typed


def _plain(text: str, country: str) -> tuple[int, str] | None:
    """The country code and national significant number ``phonenumbers.parse(text,
    country)`` gives, for the plain ways numbers are written (``+49 89 1234567``,
    ``(089) 1234-567``, ``0049 89 1234567``); None for anything else.

    ``parse`` spends two thirds of its time on what plain text does not have (Unicode
    digits, extensions, ``tel:`` URIs, letters); this takes its steps for plain text
    only and leaves the number's own rules (national prefix, lengths) to the library's
    helpers. tests/unit/test_phone.py compares both on thousands of numbers.
    """
    if not _PLAIN.fullmatch(text):
        return None
    digits = _NOT_DIGITS.sub("", text)
    if not 2 < len(digits) <= phonelib.MAX_LENGTH_FOR_NSN:
        return None
    plus = text.startswith("+")
    meta = phonelib.metadata_for_region(country)
    idd = None if plus or meta is None else re.match(meta.international_prefix or "^$", digits)
    if idd:
        if digits[idd.end() : idd.end() + 1] == "0":
            return None  # parse reads "000…" as a national number
        digits = digits[idd.end() :]
    if plus or idd:
        if len(digits) <= phonelib.MIN_LENGTH_FOR_NSN:
            return None
        code, national = phonelib.extract_country_code(digits)
        if not code:
            return None  # parse tries harder (an IDD after the '+')
        meta = phonelib.metadata_for_code(code)
    else:
        if meta is None or meta.country_code is None or digits.startswith(str(meta.country_code)):
            return None  # parse may read those digits as the country code
        code, national = meta.country_code, digits
    if len(national) < phonelib.MIN_LENGTH_FOR_NSN or meta is None:
        return None
    stripped = phonelib.strip_national_prefix(national, meta)
    if phonelib.number_length(stripped, meta) not in _SHORT:
        national = stripped
    if not phonelib.MIN_LENGTH_FOR_NSN <= len(national) <= phonelib.MAX_LENGTH_FOR_NSN:
        return None
    # parse keeps leading zeros ("Italian leading zero"): the digits are the significant number
    return code, national


# lengths at which parse keeps the national prefix as part of the number
_SHORT = (phonelib.TOO_SHORT, phonelib.IS_POSSIBLE_LOCAL_ONLY, phonelib.INVALID_LENGTH)


Kind = Literal["e164", "extension", "text"]


@dataclass(frozen=True, slots=True)
class Number:
    """A value read as a phone number. ``canonical``: E.164, extension digits, or the
    text as written (``kind`` says which)."""

    canonical: str
    kind: Kind

    @property
    def digits(self) -> str:
        """What the index keys numbers by: the digits (E.164 without '+')."""
        return key(self.canonical)


def key(canonical: str) -> str:
    """The index key of a canonical value: its digits, or the folded text if it has none."""
    digits = _NOT_DIGITS.sub("", canonical)
    return digits or canonical.casefold().strip()


def read_number(raw: str, location: Location | None) -> Number:
    """``raw`` as a source or a client wrote it, read with ``location``."""
    text = _without_trunk_zero(raw.strip())
    if not text or not _NUMBER_LIKE.match(text) or not _NOT_DIGITS.sub("", text):
        return Number(raw.strip(), "text")
    if location is None:
        parsed = _parse(text, "ZZ") if text.startswith("+") else None
        return Number(parsed[0], "e164") if parsed else Number(text, "text")
    return _read(text, location)


# "+49 (0)89 …": the trunk digit in brackets is written for national callers, never dialled
_TRUNK_ZERO = re.compile(r"^(\+|00)\s*(\d{1,3})\s*\(0\)\s*")


def _without_trunk_zero(text: str) -> str:
    return _TRUNK_ZERO.sub(r"\1\2 ", text) if "(0)" in text else text


@lru_cache(maxsize=65536)  # sources and clients repeat numbers (switchboards, fax lines)
def _read(text: str, location: Location) -> Number:
    digits = _NOT_DIGITS.sub("", text)
    if (
        not text.startswith("+")
        and not digits.startswith(location.national_prefix or "\0")
        and location.is_extension(digits)
    ):
        base = _base_digits(location)
        return Number(f"+{base}{digits}", "e164") if base else Number(digits, "extension")
    e164 = next(_readings(text, digits, location), None)
    return Number(e164, "e164") if e164 else Number(text, "text")


def _readings(text: str, digits: str, location: Location) -> Iterator[str]:
    """The E.164 numbers ``text`` may stand for, most likely first: as written, then with
    one outside-line prefix less, then two…, then as a country code without ``+``; of
    each, valid numbers before those that are only possible."""
    seen = set()
    for group in _candidates(text, digits, location):
        possible = []
        for candidate in group:
            parsed = _parse(candidate, location.country)
            if parsed is None or parsed[0] in seen:
                continue
            seen.add(parsed[0])
            if parsed[1]:
                yield parsed[0]
            else:
                possible.append(parsed[0])
        yield from possible


def _candidates(text: str, digits: str, location: Location) -> list[list[str]]:
    """The ways ``text`` may have been meant, in groups from the most literal."""
    if text.startswith("+"):
        return [[text]]
    national = location.national_prefix
    international = location.international_prefix
    groups = [[text]]
    if national and not digits.startswith((national, international)):
        # dialled without any prefix: a local number, the area code left out. Where the
        # trunk prefix is "0" (most of Europe) it cannot be a national number as well; in
        # North America ("1") ten digits without it are one.
        local = [f"{national}{location.area_code}{digits}"] if location.area_code else []
        groups = [local if national == "0" else [*local, text]]
    # an outside-line prefix in front of what follows ("0 089…", "0 0049…", "0 0170…")
    rest = digits
    while location.outside_line and rest.startswith(location.outside_line):
        rest = rest[len(location.outside_line) :]
        if rest:
            groups.append([rest])
    # the country code without "+" or "00", as some SIP trunks present callers
    if not digits.startswith((national or "+", international)) and len(digits) > _MIN_E164:
        groups.append([f"+{digits}"])
    return groups


def display(number: Number, raw: str, fmt: PhoneFormat, country: str | None = None) -> str:
    """How a number is served: as E.164, in the library's international format, national
    (for ``country``; numbers of other countries as dialled from it, ``00 41 44 …``), or
    as the source wrote it. Extensions and text are served as they are."""
    if fmt == "source" or number.kind != "e164":
        return raw.strip() if fmt == "source" else number.canonical
    if fmt == "e164":
        return number.canonical
    return _formatted(number.canonical, fmt, country)


@lru_cache(maxsize=65536)
def _formatted(e164: str, fmt: str, country: str | None) -> str:
    parsed = phonenumbers.parse(e164, None)
    if fmt == "national" and country:
        return phonenumbers.format_out_of_country_calling_number(parsed, country)
    return phonenumbers.format_number(parsed, _FORMATS[fmt])


def looks_like_number(value: str) -> bool:
    """Whether a search value is a number rather than a name (at least 3 digits)."""
    return bool(_NUMBER_LIKE.match(value)) and len(_NOT_DIGITS.sub("", value)) >= 3


# --- reading search assertions -------------------------------------------------------------


@lru_cache(maxsize=65536)  # a virtual attribute asks the same for each number attribute
def query_key(value: str, location: Location | None) -> str:
    """The index key a full number in a filter is looked up by: as an import reads it."""
    return read_number(value, location).digits


@lru_cache(maxsize=65536)
def other_query_keys(value: str, location: Location | None) -> tuple[str, ...]:
    """The other index keys a full number in a filter may stand for, most likely first
    (``0 0170…`` behind an outside line is a German mobile as well as ``+1 70…``): asked
    for only when the search finds nothing for ``query_key``."""
    first = read_number(value, location)
    if first.kind != "e164" or location is None:
        return ()
    text = _without_trunk_zero(value.strip())
    readings = _readings(text, _NOT_DIGITS.sub("", text), location)
    return tuple(key(e164) for e164 in readings if e164 != first.canonical)


@lru_cache(maxsize=4096)  # phones send the same suffix for each number attribute
def piece_forms(value: str, location: Location | None) -> tuple[str, ...]:
    """The digits a number must contain or end with for ``*value*`` or ``*value``: as
    typed (``*0864211`` ends ``+49 177 20864211``, as slapd's telephoneNumberSubstringsMatch
    finds it), and where the value starts like a full number (``+``, a national prefix)
    also the digits of that number in E.164, so that ``*089 1234567`` ends ``+4989…``."""
    digits = _NOT_DIGITS.sub("", value)
    national = location.national_prefix if location else ""
    if value.strip().startswith("+") or (national and digits.startswith(national)):
        number = read_number(value, location)
        if number.kind == "e164" and number.digits != digits:
            return digits, number.digits
    return (digits,)


@lru_cache(maxsize=4096)
def prefix_keys(value: str, location: Location | None) -> frozenset[str]:
    """Index-key prefixes a number prefix in a filter may stand for (``0891234*``). A
    prefix is read as a national or international one only with digits after it: ``0*``
    and ``00*`` are not every number of the country or of the world."""
    value = _without_trunk_zero(value.strip())
    digits = _NOT_DIGITS.sub("", value)
    if not digits:
        return frozenset()
    if value.startswith("+") or location is None:
        return frozenset((digits,))
    keys = {digits}  # extensions and numbers kept as written
    national = location.national_prefix
    international = location.international_prefix
    rest = digits
    while rest:
        if rest.startswith(international):
            keys.add(rest[len(international) :])
        elif national and rest.startswith(national):
            if rest != national:
                keys.add(location.country_code + rest[len(national) :])
        elif not national:  # no trunk prefix (Italy): national numbers are dialled whole
            keys.add(location.country_code + rest)
        elif location.area_code:
            keys.add(location.country_code + location.area_code + rest)
        if not (location.outside_line and rest.startswith(location.outside_line)):
            break
        rest = rest[len(location.outside_line) :]
    return frozenset(k for k in keys if k)


def digits_of(value: str) -> str:
    return _NOT_DIGITS.sub("", value)
