"""Filters on phone attributes match on the number, not the characters.

Stored values are canonical (E.164, extension digits, or text as written) and indexed by
their digits. An assertion is read with the location of the directory searched: a full
number becomes the same key (``089 1234-567`` -> ``49891234567``), a prefix becomes the
key prefixes it may stand for, a suffix the significant digits. The suffix fallback, asked
for only when nothing matched exactly, finds numbers stored without area code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyroaring import BitMap

from metadir import phone
from metadir.directory import filters as f
from metadir.directory.attributes import AttributeType
from metadir.directory.index import EMPTY, AttributeIndex
from metadir.directory.matching import substrings_match

if TYPE_CHECKING:
    from metadir.directory.evaluate import Ids, Matcher, Outcome

_DEFAULT_FALLBACK_DIGITS = phone.Location.model_fields["fallback_digits"].default


def evaluate(matcher: Matcher, attr: AttributeType, filter: f.Filter, scope: Ids) -> Outcome:
    if isinstance(filter, f.GreaterOrEqual | f.LessOrEqual):
        return EMPTY, scope  # numbers have no order
    held = matcher.index.attribute(attr.name)
    if held is None:
        return EMPTY, EMPTY
    location = matcher.location
    if isinstance(filter, f.Equality | f.Approx):
        found = held.ids(phone.query_key(filter.value, location)) & scope
        if matcher.fallback:
            found = found | _fallback(matcher, held, attr.name, filter.value, scope)
        return found, EMPTY
    assert isinstance(filter, f.Substrings)
    prefixes = phone.prefix_keys(filter.initial, location) if filter.initial else set()
    final = phone.piece_digits(filter.final, location) if filter.final else None
    any_ = tuple(p for p in (phone.piece_digits(x, location) for x in filter.any) if p)

    def test(value: str) -> bool:
        return any(substrings_match(value, p, any_, final) for p in prefixes or (None,))

    values, count = held.substring_candidates(prefixes, final)
    return matcher.select(held, attr.name, values, count, test, scope), EMPTY


def _fallback(matcher: Matcher, held: AttributeIndex, name: str, value: str, scope: Ids) -> BitMap:
    """Matches on at least ``fallback_digits`` trailing digits: numbers stored short (no
    area code) that the assertion ends with; and, when the assertion itself could not be
    read as a full number, stored numbers that end with its digits."""
    location = matcher.location
    need = location.fallback_digits if location else _DEFAULT_FALLBACK_DIGITS
    number = phone.read_number(value, location)
    digits = number.digits if number.kind == "e164" else phone.digits_of(value)
    found = BitMap()
    for start in range(len(digits) - need + 1):
        found |= held.ids(digits[start:]) & scope
    if number.kind != "e164" and len(digits) >= need:
        found |= matcher.select(
            held,
            name,
            held.with_suffix(digits),
            len(held.postings),
            lambda stored: stored.endswith(digits),
            scope,
        )
    return found
