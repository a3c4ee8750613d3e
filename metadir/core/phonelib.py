"""What ``metadir.core.phone`` takes from ``phonenumbers`` beyond its public API, in one place.

The fast reading of plain numbers (``phone._plain``) and the compiled validity patterns
(``phone._patterns``) take the library's own steps: its private helpers
(``_extract_country_code``, ``_maybe_strip_national_prefix_carrier_code``,
``_test_number_length``), its private length bounds, and the fields of its metadata objects.
Private names may change in any release, so they are looked up here, once, at import: a
release without one fails with an ``ImportError`` naming phonenumbers, its version and this
module, not with an ``AttributeError`` deep in an import run. ``tests/unit/test_phonelib.py``
checks what each of them answers, on numbers whose answers are known.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import phonenumbers
from phonenumbers import phonenumberutil
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc
from phonenumbers.phonenumberutil import ValidationResult

VERSION: str = getattr(phonenumbers, "__version__", "unknown")
# the releases this module was written against and tested with
WRITTEN_FOR = "phonenumbers 9.0"


def _private(name: str) -> Any:
    """The library's private ``name``; an ``ImportError`` that says what to do without it."""
    try:
        return getattr(phonenumberutil, name)
    except AttributeError:
        raise ImportError(
            f"phonenumbers {VERSION} has no phonenumberutil.{name}, which "
            f"metadir/core/phonelib.py relies on (written for {WRITTEN_FOR}); install that "
            "release or adapt metadir/core/phonelib.py"
        ) from None


# the shortest and longest national significant numbers the library reads
MIN_LENGTH_FOR_NSN: int = _private("_MIN_LENGTH_FOR_NSN")
MAX_LENGTH_FOR_NSN: int = _private("_MAX_LENGTH_FOR_NSN")
_test_number_length = cast(Callable[[str, PhoneMetadata], int], _private("_test_number_length"))
_extract_country_code = cast(Callable[[str], tuple[int, str]], _private("_extract_country_code"))
_strip_national_prefix = cast(
    Callable[[str, PhoneMetadata], tuple[str, str, bool]],
    _private("_maybe_strip_national_prefix_carrier_code"),
)

# what ``number_length`` answers
IS_POSSIBLE: int = ValidationResult.IS_POSSIBLE
TOO_SHORT: int = ValidationResult.TOO_SHORT
IS_POSSIBLE_LOCAL_ONLY: int = ValidationResult.IS_POSSIBLE_LOCAL_ONLY
INVALID_LENGTH: int = ValidationResult.INVALID_LENGTH

# the number types of a region's metadata, each a ``PhoneNumberDesc`` field
NUMBER_TYPES = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line", "mobile",
)  # fmt: skip


def number_length(national: str, meta: PhoneMetadata) -> int:
    """Whether ``national`` has a length ``meta``'s plan has numbers of: ``IS_POSSIBLE``,
    ``TOO_SHORT``, ``IS_POSSIBLE_LOCAL_ONLY``, ``INVALID_LENGTH`` or ``TOO_LONG`` (the
    library's ``is_possible_number`` on the national significant number)."""
    return _test_number_length(national, meta)


def extract_country_code(digits: str) -> tuple[int, str]:
    """The country calling code ``digits`` (written after ``+``) start with and the digits
    after it; ``(0, digits)`` when they start with none."""
    return _extract_country_code(digits)


def strip_national_prefix(national: str, meta: PhoneMetadata) -> str:
    """``national`` without the national (trunk) prefix and carrier code ``meta``'s country
    dials before national numbers; as given when it has none."""
    return _strip_national_prefix(national, meta)[1]


def metadata_for_region(region: str) -> PhoneMetadata | None:
    return PhoneMetadata.metadata_for_region(region, None)


def metadata_for_code(code: int, region: str | None = None) -> PhoneMetadata | None:
    """The metadata of country calling code ``code`` (of ``region`` where a code has
    several, e.g. US and CA for 1)."""
    if region is None:
        region = phonenumbers.region_code_for_country_code(code)
    return PhoneMetadata.metadata_for_region_or_calling_code(code, region.upper())


def regions_for_code(code: int) -> tuple[str, ...]:
    """The regions of country calling code ``code``, the main one first."""
    return tuple(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ()))


def number_types(meta: PhoneMetadata) -> list[PhoneNumberDesc]:
    """The descriptions of the number types ``meta`` has (fixed line, mobile…)."""
    found = (getattr(meta, name, None) for name in NUMBER_TYPES)
    return [desc for desc in found if isinstance(desc, PhoneNumberDesc)]
