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
)
