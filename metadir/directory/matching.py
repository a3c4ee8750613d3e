"""Matching rules: how values of an attribute are normalised and compared.

Every rule turns a value into a *normalised* string once; equality, substrings and
ordering then compare normalised strings. That is what lets the index answer filters
from sorted lists and hash lookups instead of looking at entries.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from metadir.core import phone
from metadir.core.dn import OID, fold, normalize_dn


def _keep_edge_spaces(piece: str, norm: str) -> str:
    # a substring piece such as "Hans " must keep its edge space: "hans " is not "hans";
    # one of spaces only is one space, as in slapd: (cn=* *) finds the names with a space
    if not norm:
        return " " if piece[:1].isspace() else ""
    lead = " " if piece[:1].isspace() else ""
    trail = " " if piece[-1:].isspace() else ""
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


def approx_form(value: str) -> str:
    """A loose form for ``~=``: case, accents, punctuation and spacing ignored."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum())


def exact(value: str) -> str | None:
    """caseExactMatch's form of a value: NFKC and insignificant spaces, case kept (slapd);
    None for an empty one."""
    if not value:
        return None
    return " ".join((value if value.isascii() else unicodedata.normalize("NFKC", value)).split())


def object_identifier(value: str) -> str | None:
    """An object class name or numeric OID, any case; None for anything else (slapd: a
    space around it, an empty value or a wildcard make the assertion Undefined)."""
    return value.lower() if OID.fullmatch(value) else None


def distinguished_name(value: str) -> str | None:
    try:
        return normalize_dn(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Rule:
    """A matching rule. ``normalize`` returns None for a value the rule cannot read."""

    name: str
    ordering: bool
    substrings: bool = True  # without: a substring assertion is Undefined (slapd)

    def normalize(self, value: str) -> str | None:
        if self.name == "caseIgnore":  # an empty Directory String is no value (slapd)
            return fold(value) if value else None
        if self.name == "phoneNumber":
            return phone.key(value)
        if self.name == "generalizedTime":
            return generalized_time(value)
        if self.name == "objectIdentifier":
            return object_identifier(value)
        if self.name == "distinguishedName":
            return distinguished_name(value)
        return value  # octetString

    def normalize_piece(self, piece: str) -> str:
        """Normalise one part of a substring assertion."""
        if self.name == "phoneNumber":
            return phone.digits_of(piece)
        if self.name == "octetString":
            return piece
        return _keep_edge_spaces(piece, fold(piece))


CASE_IGNORE = Rule("caseIgnore", ordering=True)
# phone attributes: values are canonical numbers (metadir.core.phone), keyed by their digits
PHONE = Rule("phoneNumber", ordering=False)
GENERALIZED_TIME = Rule("generalizedTime", ordering=True)
# photos: their base64 text as stored, compared exactly (clients only ask whether one is there)
OCTET_STRING = Rule("octetString", ordering=False)
# object classes: by name or OID, no substrings or ordering (slapd's objectIdentifierMatch)
OBJECT_IDENTIFIER = Rule("objectIdentifier", ordering=False, substrings=False)
DISTINGUISHED_NAME = Rule("distinguishedName", ordering=False, substrings=False)


@dataclass(frozen=True, slots=True)
class MatchingRule:
    """A rule an extensible match names (RFC 4511 §4.5.1.7.7), as slapd applies it."""

    name: str
    oid: str
    # the attribute rules (slapd: the syntaxes) whose values it can compare
    syntaxes: tuple[Rule, ...]
    # the form values and assertion are compared in; None: a value the rule cannot read
    key: Callable[[str], str | None]
    # TRUE where a value sorts before the assertion, rather than where they are equal
    ordering: bool = False
    # the attribute rule whose index keys are this rule's keys: answered from the index
    indexed: Rule | None = None

    @classmethod
    def equality(cls, rule: Rule) -> MatchingRule:
        """The equality rule of attributes matched by ``rule``, as ``(attr:=value)`` uses."""
        return cls("", "", (rule,), rule.normalize, indexed=rule)


# slapd's caseIgnore and caseExact rules also take Telephone Number values (as text);
# numericStringMatch, octetStringMatch apply to no attribute metadir serves: Undefined on
# any attribute, FALSE when none is named. Rules slapd cannot use in an extensible match
# (objectIdentifierMatch, the substrings rules) are missing, as unknown rules: Undefined.
_TEXT = (CASE_IGNORE, PHONE)
_fold = CASE_IGNORE.normalize
MATCHING_RULES = {
    key: rule
    for rule in (
        MatchingRule("caseIgnoreMatch", "2.5.13.2", _TEXT, _fold, indexed=CASE_IGNORE),
        MatchingRule("caseIgnoreOrderingMatch", "2.5.13.3", _TEXT, _fold, True, CASE_IGNORE),
        MatchingRule("caseExactMatch", "2.5.13.5", _TEXT, exact),
        MatchingRule("caseExactOrderingMatch", "2.5.13.6", _TEXT, exact, ordering=True),
        MatchingRule("telephoneNumberMatch", "2.5.13.20", (PHONE,), phone.key, indexed=PHONE),
        MatchingRule(
            "generalizedTimeMatch", "2.5.13.27", (GENERALIZED_TIME,), generalized_time,
            indexed=GENERALIZED_TIME,
        ),
        MatchingRule(
            "generalizedTimeOrderingMatch", "2.5.13.28", (GENERALIZED_TIME,), generalized_time,
            ordering=True, indexed=GENERALIZED_TIME,
        ),
        MatchingRule(
            "distinguishedNameMatch", "2.5.13.1", (DISTINGUISHED_NAME,), distinguished_name,
            indexed=DISTINGUISHED_NAME,
        ),
        MatchingRule("numericStringMatch", "2.5.13.8", (), str),
        MatchingRule("octetStringMatch", "2.5.13.17", (), str),
    )
    for key in (rule.name.lower(), rule.oid)
}  # fmt: skip


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
