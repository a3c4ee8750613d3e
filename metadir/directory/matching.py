"""Matching rules: how values of an attribute are normalised and compared.

Every rule turns a value into a *normalised* string once; equality, substrings and
ordering then compare normalised strings. That is what lets the index answer filters
from sorted lists and hash lookups instead of looking at entries.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from metadir import phone
from metadir.dn import fold


def _keep_edge_spaces(piece: str, norm: str) -> str:
    # a substring piece such as "Hans " must keep its edge space: "hans " is not "hans"
    lead = " " if piece[:1].isspace() and norm else ""
    trail = " " if piece[-1:].isspace() and norm else ""
    return lead + norm + trail


_GENERALIZED_TIME = re.compile(
    r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d{1,6}))?(Z|[+-]\d{2}(?:\d{2})?)$"
)


@lru_cache(maxsize=4096)  # entries of one sync run share their timestamps
def generalized_time(value: str) -> str | None:
    """``value`` (RFC 4517 GeneralizedTime) as a sortable UTC string, or None if malformed."""
    m = _GENERALIZED_TIME.match(value.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        when = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        when -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5] or 0))
    return when.strftime("%Y%m%d%H%M%S.%f")


def format_generalized_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def approx_form(value: str) -> str:
    """A loose form for ``~=``: case, accents, punctuation and spacing ignored."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum())


@dataclass(frozen=True, slots=True)
class Rule:
    """A matching rule. ``normalize`` returns None for a value the rule cannot read."""

    name: str
    ordering: bool

    def normalize(self, value: str) -> str | None:
        if self.name == "phoneNumber":
            return phone.key(value)
        if self.name == "generalizedTime":
            return generalized_time(value)
        if self.name == "octetString":
            return value
        return fold(value)

    def normalize_piece(self, piece: str) -> str:
        """Normalise one part of a substring assertion."""
        if self.name == "phoneNumber":
            return phone.digits_of(piece)
        if self.name == "octetString":
            return piece
        return _keep_edge_spaces(piece, fold(piece))


CASE_IGNORE = Rule("caseIgnore", ordering=True)
# phone attributes: values are canonical numbers (metadir.phone), keyed by their digits
PHONE = Rule("phoneNumber", ordering=False)
GENERALIZED_TIME = Rule("generalizedTime", ordering=True)
# photos: their base64 text as stored, compared exactly (clients only ask whether one is there)
OCTET_STRING = Rule("octetString", ordering=False)


def substrings_match(
    value: str, initial: str | None, any_: tuple[str, ...], final: str | None
) -> bool:
    """Whether normalised ``value`` matches the normalised substring assertion."""
    pos = 0
    end = len(value)
    if initial is not None:
        if not value.startswith(initial):
            return False
        pos = len(initial)
    if final is not None:
        if not value.endswith(final) or end - len(final) < pos:
            return False
        end -= len(final)
    for piece in any_:
        found = value.find(piece, pos, end)
        if found < 0:
            return False
        pos = found + len(piece)
    return True
