"""Search filters as plain data (RFC 4511 §4.5.1), independent of the wire codec."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Filter


@dataclass(frozen=True, slots=True)
class Equality:
    attribute: str
    value: str


@dataclass(frozen=True, slots=True)
class Substrings:
    attribute: str
    initial: str | None
    any: tuple[str, ...]
    final: str | None


@dataclass(frozen=True, slots=True)
class Present:
    attribute: str


@dataclass(frozen=True, slots=True)
class GreaterOrEqual:
    attribute: str
    value: str


@dataclass(frozen=True, slots=True)
class LessOrEqual:
    attribute: str
    value: str


@dataclass(frozen=True, slots=True)
class Approx:
    attribute: str
    value: str


@dataclass(frozen=True, slots=True)
class Extensible:
    attribute: str | None
    rule: str | None
    value: str
    dn_attributes: bool


@dataclass(frozen=True, slots=True)
class Undefined:
    """A filter that is Undefined for every entry, even under ``!``: what slapd makes of an
    assertion it cannot read (a value that is not UTF-8, a substring assertion with an
    empty or misplaced part, an unknown filter choice) instead of refusing the search."""


Filter = (
    And
    | Or
    | Not
    | Equality
    | Substrings
    | Present
    | GreaterOrEqual
    | LessOrEqual
    | Approx
    | Extensible
    | Undefined
)

# the filters that assert something of one attribute type
Assertion = Equality | Substrings | Present | GreaterOrEqual | LessOrEqual | Approx


def size(filter: Filter) -> int:
    """How many elements ``filter`` has: each and, or, not and assertion."""
    if isinstance(filter, And | Or):
        return 1 + sum(map(size, filter.parts))
    if isinstance(filter, Not):
        return 1 + size(filter.part)
    return 1


def to_text(filter: Filter) -> str:
    """``filter`` in RFC 4515 string form, for logs."""
    if isinstance(filter, And | Or):
        op = "&" if isinstance(filter, And) else "|"
        return f"({op}{''.join(to_text(part) for part in filter.parts)})"
    if isinstance(filter, Not):
        return f"(!{to_text(filter.part)})"
    if isinstance(filter, Present):
        return f"({filter.attribute}=*)"
    if isinstance(filter, Undefined):
        return "(?=undefined)"  # as slapd logs it
    if isinstance(filter, Substrings):
        pieces = [filter.initial or "", *filter.any, filter.final or ""]
        pieces = [_escape(piece) for piece in pieces]
        return f"({filter.attribute}={'*'.join(pieces)})"
    if isinstance(filter, Extensible):
        dn = ":dn" if filter.dn_attributes else ""
        rule = f":{filter.rule}" if filter.rule else ""
        return f"({filter.attribute or ''}{dn}{rule}:={_escape(filter.value)})"
    op = {GreaterOrEqual: ">=", LessOrEqual: "<=", Approx: "~="}.get(type(filter), "=")
    return f"({filter.attribute}{op}{_escape(filter.value)})"


def _escape(value: str) -> str:
    return "".join(f"\\{ord(ch):02x}" if ch in "*()\\\0" else ch for ch in value)
