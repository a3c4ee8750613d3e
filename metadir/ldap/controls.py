"""Search controls: paged results (RFC 2696), server-side sort (RFC 2891) and virtual list
view (draft-ietf-ldapext-ldapv3-vlv), as layers over a search's result list.

Control values are small BER structures with context-specific tags that ldaptor's decoder
does not know; they are read with ``ber.read``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from metadir.core import ber
from metadir.directory.attributes import attribute_type
from metadir.directory.index import Entry

PAGED = "1.2.840.113556.1.4.319"
SORT = "1.2.840.113556.1.4.473"
SORT_RESPONSE = "1.2.840.113556.1.4.474"
VLV = "2.16.840.1.113730.3.4.9"
VLV_RESPONSE = "2.16.840.1.113730.3.4.10"

# result codes of the sort and VLV response controls
NO_SUCH_ATTRIBUTE = 16
INAPPROPRIATE_MATCHING = 18
OFFSET_RANGE_ERROR = 61
SORT_CONTROL_MISSING = 60

# ordering rules a sort key may name: ours order case-insensitively, times by time
_ORDERING_RULES = {
    "caseignoreorderingmatch",
    "2.5.13.3",
    "generalizedtimeorderingmatch",
    "2.5.13.28",
    "numericstringorderingmatch",
    "2.5.13.9",
}


class BadControl(ValueError):
    """A control value that does not decode as its RFC says."""


def _sequence(value: bytes) -> list[tuple[int, bytes]]:
    try:
        tag, content, end = ber.read(value)
    except ber.BerError as exc:
        raise BadControl(f"control value: {exc}") from None
    if tag != ber.SEQUENCE or end != len(value):
        raise BadControl("control value is not a SEQUENCE")
    return _elements(content)


def _elements(content: bytes) -> list[tuple[int, bytes]]:
    try:
        return ber.elements(content)
    except ber.BerError as exc:
        raise BadControl(f"control value: {exc}") from None


def _int(tag: int, content: bytes, expected: int = ber.INTEGER) -> int:
    if tag != expected or not content:
        raise BadControl("expected an INTEGER")
    return ber.to_int(content)


# --- request controls --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageRequest:
    size: int
    cookie: bytes


def parse_paged(value: bytes | None) -> PageRequest:
    parts = _sequence(value or b"")
    if len(parts) != 2 or parts[1][0] != ber.OCTET_STRING:
        raise BadControl("paged results: expected SEQUENCE { size, cookie }")
    size = _int(*parts[0])
    if size < 0:
        raise BadControl("paged results: negative page size")
    return PageRequest(size, parts[1][1])


@dataclass(frozen=True, slots=True)
class SortKey:
    attribute: str
    rule: str | None
    reverse: bool


def parse_sort(value: bytes | None) -> list[SortKey]:
    keys = []
    for tag, content in _sequence(value or b""):
        if tag != ber.SEQUENCE:
            raise BadControl("sort: expected SEQUENCE OF SortKey")
        parts = _elements(content)
        if not parts or parts[0][0] != ber.OCTET_STRING:
            raise BadControl("sort: a key needs an attribute type")
        rule, reverse = None, False
        for part_tag, part in parts[1:]:
            if part_tag == 0x80:
                rule = part.decode("utf-8", "replace")
            elif part_tag == 0x81:
                reverse = part != b"\x00"
            else:
                raise BadControl("sort: unknown field in a sort key")
        keys.append(SortKey(parts[0][1].decode("utf-8", "replace"), rule, reverse))
    if not keys:
        raise BadControl("sort: no sort keys")
    return keys


@dataclass(frozen=True, slots=True)
class ViewRequest:
    before: int
    after: int
    offset: int | None  # by offset (1-based), with the client's content count
    content_count: int
    assertion: bytes | None  # or by the first entry whose sort key is >= this
    context: bytes


def parse_vlv(value: bytes | None) -> ViewRequest:
    parts = _sequence(value or b"")
    if len(parts) < 3:
        raise BadControl("virtual list view: expected beforeCount, afterCount, target")
    before, after = _int(*parts[0]), _int(*parts[1])
    tag, target = parts[2]
    context = parts[3][1] if len(parts) > 3 else b""
    if tag == 0xA0:  # byOffset [0] SEQUENCE { offset, contentCount }
        inner = _elements(target)
        if len(inner) != 2:
            raise BadControl("virtual list view: byOffset needs offset and contentCount")
        return ViewRequest(before, after, _int(*inner[0]), _int(*inner[1]), None, context)
    if tag == 0x81:  # greaterThanOrEqual [1] AssertionValue
        return ViewRequest(before, after, None, 0, target, context)
    raise BadControl("virtual list view: unknown target")


@dataclass(frozen=True, slots=True)
class SearchControls:
    """The controls of one search request that shape its results."""

    paged: PageRequest | None = None
    sort: tuple[SortKey, ...] | None = None
    sort_critical: bool = False
    view: ViewRequest | None = None

    @classmethod
    def parse(cls, requested: Sequence[tuple[str, bool, bytes | None]]) -> SearchControls:
        paged: PageRequest | None = None
        sort: tuple[SortKey, ...] | None = None
        sort_critical = False
        view: ViewRequest | None = None
        for oid, critical, value in requested:  # a control given twice: the last one counts
            if oid == PAGED:
                paged = parse_paged(value)
            elif oid == SORT:
                sort = tuple(parse_sort(value))
                sort_critical = bool(critical)
            elif oid == VLV:
                view = parse_vlv(value)
        return cls(paged, sort, sort_critical, view)


# --- response controls -------------------------------------------------------------------


def control(oid: str, value: bytes) -> bytes:
    return ber.tlv(ber.SEQUENCE, ber.octets(oid) + ber.octets(value))


def controls(*encoded: bytes) -> bytes:
    """The ``[0] Controls`` of an LDAPMessage, or nothing."""
    return ber.tlv(0xA0, b"".join(encoded)) if encoded else b""


def paged_response(cookie: bytes, estimate: int = 0) -> bytes:
    return control(PAGED, ber.tlv(ber.SEQUENCE, ber.integer(estimate) + ber.octets(cookie)))


def sort_response(code: int, attribute: str | None = None) -> bytes:
    value = ber.integer(code, ber.ENUMERATED)
    if attribute:
        value += ber.octets(attribute, tag=0x80)
    return control(SORT_RESPONSE, ber.tlv(ber.SEQUENCE, value))


def vlv_response(position: int, count: int, code: int, context: bytes = b"") -> bytes:
    value = ber.integer(position) + ber.integer(count) + ber.integer(code, ber.ENUMERATED)
    if context:
        value += ber.octets(context)
    return control(VLV_RESPONSE, ber.tlv(ber.SEQUENCE, value))


# --- sort and view over a result list -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class SortOutcome:
    entries: list[Entry]
    code: int  # 0, or why the entries could not be sorted (they come unsorted then)
    attribute: str | None = None


def sort_entries(entries: list[Entry], keys: Sequence[SortKey]) -> SortOutcome:
    """``entries`` in the order of ``keys``: case-insensitive, entries without an
    attribute after all that have it, in either direction."""
    for key in keys:
        if attribute_type(key.attribute) is None:
            return SortOutcome(entries, NO_SUCH_ATTRIBUTE, key.attribute)
        if key.rule is not None and key.rule.lower() not in _ORDERING_RULES:
            return SortOutcome(entries, INAPPROPRIATE_MATCHING, key.attribute)
    ordered = list(entries)
    # stable sorts, least significant key first
    for key in reversed(keys):
        attr = attribute_type(key.attribute)
        assert attr is not None
        name, normalize = attr.name, attr.rule.normalize

        def value(
            entry: Entry,
            name: str = name,
            reverse: bool = key.reverse,
            normalize: Callable[[str], str | None] = normalize,
        ) -> str | None:
            forms = [n for n in map(normalize, entry.match_values(name)) if n is not None]
            if not forms:
                return None
            return max(forms) if reverse else min(forms)

        present = [(value(e), e) for e in ordered]
        have = [(v, e) for v, e in present if v is not None]
        have.sort(key=lambda pair: pair[0], reverse=key.reverse)
        ordered = [e for _, e in have] + [e for v, e in present if v is None]
    return SortOutcome(ordered, 0)


@dataclass(frozen=True, slots=True)
class View:
    entries: list[Entry]
    position: int  # 1-based target position in the whole list
    count: int
    code: int


def view(entries: list[Entry], request: ViewRequest, key: SortKey) -> View:
    """The window of a sorted list a virtual list view asks for, where slapd's sssvlv
    overlay puts it: an offset equal to the client's content count is the last entry, one
    past the end (of the client's count, or of the list when the client gives none) is an
    offsetRangeError, as is a value the sort key's rule cannot read."""
    count = len(entries)
    if request.offset is not None:
        offset, known = request.offset, request.content_count
        if offset < 0 or known < 0:
            return View([], 0, count, OFFSET_RANGE_ERROR)
        if not count:
            target = 0
        elif offset == known:
            target = count
        elif offset == 1:
            target = 1
        elif offset > (known or count):
            return View([], 0, count, OFFSET_RANGE_ERROR)
        else:  # the client's idea of the size differs: keep the same relative position
            target = count * offset // known if known else offset
    else:
        position = _position(entries, request.assertion or b"", key)
        if position is None:
            return View([], 0, count, INAPPROPRIATE_MATCHING)
        target = position
    first = max(target - request.before, 1)
    last = min(max(target, 1) + request.after, count)
    return View(entries[first - 1 : last], target, count, 0)


def _position(entries: list[Entry], assertion: bytes, key: SortKey) -> int | None:
    """The 1-based position of the first entry whose sort key is at or past
    ``assertion`` (entries without one sort last: they are past any value); None if the
    key's rule cannot read the assertion."""
    attr = attribute_type(key.attribute)
    assert attr is not None
    try:
        wanted = attr.rule.normalize(assertion.decode())
    except UnicodeDecodeError:
        return None
    if wanted is None:
        return None
    for position, entry in enumerate(entries, start=1):
        forms = [n for n in map(attr.rule.normalize, entry.match_values(attr.name)) if n]
        if not forms or ((max(forms) <= wanted) if key.reverse else (min(forms) >= wanted)):
            return position
    return len(entries) + 1
