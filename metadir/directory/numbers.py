"""Filters on phone attributes match on the number, not the characters.

Stored values are canonical (E.164, extension digits, or text as written) and indexed by
their digits; text without digits (``n/a``) is indexed as folded text. An assertion is read
with the location of the directory searched: a full number becomes the key an import would
read it as (``089 1234-567`` -> ``49891234567``), and when the search finds nothing that way,
the other keys it may stand for, the first the directory holds winning; a prefix
becomes the key prefixes it may stand for; a suffix or a contained part its digits as
typed and as a number. An assertion without any digit is no number at all: it matches
only values stored as that same text, never every number. The suffix fallback, asked for
only when nothing matched exactly, finds numbers stored without area code.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain, product

from pyroaring import BitMap

from metadir.core import phone
from metadir.directory import filters as f
from metadir.directory.attributes import AttributeType
from metadir.directory.index import EMPTY, AttributeIndex
from metadir.directory.matching import substrings_match
from metadir.directory.sets import Evaluator, Ids, Outcome

_DEFAULT_FALLBACK_DIGITS = phone.Location.model_fields["fallback_digits"].default
# index keys of numbers are digits, and keys of text have none: in sort order all number
# keys lie between these two, so text keys are found without walking the numbers
_FIRST_DIGIT, _AFTER_DIGITS = "0", ":"


def evaluate(matcher: Evaluator, attr: AttributeType, filter: f.Filter, scope: Ids) -> Outcome:
    if isinstance(filter, f.GreaterOrEqual | f.LessOrEqual):
        return EMPTY, scope  # numbers have no order
    held = matcher.index.attribute(attr.name)
    if held is None:
        return EMPTY, EMPTY
    location = matcher.location
    if isinstance(filter, f.Equality | f.Approx):
        if not filter.value.strip():
            return EMPTY, scope  # no value at all: Undefined (slapd)
        found = held.ids(phone.query_key(filter.value, location)) & scope
        if matcher.fallback:
            # nothing in the search matched the number as an import would read it: the
            # first other reading the directory holds, else the suffix fallback
            others = phone.other_query_keys(filter.value, location)
            other = next((ids for ids in (held.ids(key) & scope for key in others) if ids), None)
            found = found | (other or _fallback(matcher, held, attr.name, filter.value, scope))
        return found, EMPTY
    assert isinstance(filter, f.Substrings)
    pieces = (filter.initial, *filter.any, filter.final)
    if not any(phone.digits_of(piece) for piece in pieces if piece):
        return _text(matcher, held, attr.name, filter, scope), EMPTY
    prefixes = phone.prefix_keys(filter.initial, location) if filter.initial else frozenset()
    finals = phone.piece_forms(filter.final, location) if filter.final else (None,)
    # a part without digits ("+49*-*") is a separator, not something a number holds
    anys = [phone.piece_forms(x, location) for x in filter.any if phone.digits_of(x)]
    combinations = [
        (final, any_) for final in finals for any_ in product(*anys)
    ]  # two or four at most: a piece is read as typed and as a number

    def test(value: str) -> bool:
        return any(
            substrings_match(value, prefix, any_, final)
            for prefix in prefixes or (None,)
            for final, any_ in combinations
        )

    if prefixes:
        values, count = held.substring_candidates(prefixes, None)
    elif filter.final:
        values = _unique(chain.from_iterable(held.with_suffix(x) for x in finals if x))
        count = len(held.postings)
    else:
        values, count = iter(held.postings), len(held.postings)
    return matcher.select(held, attr.name, values, count, test, scope), EMPTY


def _text(
    matcher: Evaluator, held: AttributeIndex, name: str, filter: f.Substrings, scope: Ids
) -> Ids:
    """A substring assertion without digits (``Jäger*``, ``*n/a*``): the values kept as
    text that match it, compared as the index keys them (case folded)."""
    initial = phone.key(filter.initial) if filter.initial else None
    final = phone.key(filter.final) if filter.final else None
    any_ = tuple(piece.casefold() for piece in filter.any if piece)

    def test(value: str) -> bool:
        return not value[:1].isdigit() and substrings_match(value, initial, any_, final)

    if initial is not None:
        values, count = held.substring_candidates((initial,), None)
    else:
        ordered = held.sorted_values()
        values = chain(
            ordered.irange(maximum=_FIRST_DIGIT, inclusive=(True, False)),
            ordered.irange(minimum=_AFTER_DIGITS),
        )
        count = len(held.postings)
    return matcher.select(held, name, values, count, test, scope)


def _unique(values: Iterable[str]) -> Iterable[str]:
    seen: set[str] = set()
    for value in values:
        if value not in seen:
            seen.add(value)
            yield value


def _fallback(
    matcher: Evaluator, held: AttributeIndex, name: str, value: str, scope: Ids
) -> BitMap:
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
