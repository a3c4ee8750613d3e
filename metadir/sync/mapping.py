"""From a source row to a contact: plain fields, templates, and the names every entry has.

A mapping sends each canonical attribute either a source field (``sn: LastName``) or a
template in ``str.format`` syntax (``displayName: "{LastName}, {FirstName} ({Company})"``).
Templates collapse cleanly when parts are missing: a separator appears only between two
values, brackets stay with the value they enclose, and no template ever shows ``None``.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as MappingType
from dataclasses import dataclass

from metadir.core import fields
from metadir.core.records import Value
from replicators.base import ReplicatorConfig

# brackets around a field belong to it: "{A} ({B})" loses "(" and ")" when B is empty
_CLOSING_AT_START = re.compile(r"^[\s)\]}>]*[)\]}>]")
_OPENING_AT_END = re.compile(r"[(\[{<][\s(\[{<]*$")
_PHONES = tuple(f.name for f in fields.phone_fields())

Attributes = dict[str, list[str]]


class MappingError(ValueError):
    """The mapping cannot be used with this source (bad template, missing field)."""


class RowError(ValueError):
    """One source row cannot become an entry."""


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: its fields and the text around each of them."""

    fields: tuple[str, ...]
    # text before the first / after the last field, kept when any field has a value
    before: str
    after: str
    # separators[i] stands between fields[i] and fields[i + 1]
    separators: tuple[str, ...]
    # opening / closing brackets that go with a field: shown only with its value
    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]
    # the format for the common case, every field with a value
    whole: str

    @classmethod
    def parse(cls, text: str) -> Template | None:
        """The template in ``text``, or None if ``text`` names no field (a plain field name)."""
        literals = [""]
        names: list[str] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise MappingError(f"bad template {text!r}: {exc}") from None
        for literal, name, spec, conversion in parsed:
            literals[-1] += literal
            if name is None:
                continue
            # "{Tel:work}" is the column "Tel:work": metadir applies no format specs
            name += (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            if not name.strip():
                raise MappingError(f"bad template {text!r}: '{{}}' names no field")
            names.append(name)
            literals.append("")
        if not names:
            return None
        prefixes, suffixes, separators = [], [], []
        before, prefix = _split_opening(literals[0])
        prefixes.append(prefix)
        for literal in literals[1:-1]:
            closing, rest = _split_closing(literal)
            middle, opening = _split_opening(rest)
            suffixes.append(closing)
            separators.append(middle)
            prefixes.append(opening)
        closing, after = _split_closing(literals[-1])
        suffixes.append(closing)
        pieces = zip(prefixes, suffixes, [*separators, ""], strict=True)
        whole = "".join(_escape(p) + "{}" + _escape(s + sep) for p, s, sep in pieces)
        return cls(
            tuple(names),
            before,
            after,
            tuple(separators),
            tuple(prefixes),
            tuple(suffixes),
            _escape(before) + whole + _escape(after),
        )

    def render(self, values: MappingType[str, Value]) -> str:
        """The template filled from ``values`` (of several values, the first); empty when no
        field has a value."""
        parts = [_first(values.get(name)).strip() for name in self.fields]
        if all(parts):
            return " ".join(self.whole.format(*parts).split())
        present = [i for i, part in enumerate(parts) if part]
        if not present:
            return ""
        out = [self.before]
        previous = None
        for i in present:
            if previous is not None:
                out.append(_separator(self.separators[previous:i]))
            out += [self.prefixes[i], parts[i], self.suffixes[i]]
            previous = i
        out.append(self.after)
        return " ".join("".join(out).split())


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _split_opening(text: str) -> tuple[str, str]:
    match = _OPENING_AT_END.search(text)
    cut = match.start() if match else len(text)
    return text[:cut], text[cut:]


def _split_closing(text: str) -> tuple[str, str]:
    match = _CLOSING_AT_START.match(text)
    cut = match.end() if match else 0
    return text[:cut], text[cut:]


def _separator(skipped: tuple[str, ...]) -> str:
    """Between two values with empty fields between them: the first separator that says
    something (", " rather than " "), so "{Street}, {Zip} {City}" without Zip is "Street, City"."""
    return next((s for s in skipped if s.strip()), skipped[0])


@dataclass(frozen=True, slots=True)
class Rule:
    attribute: str
    # a plain source field, or a template
    source: str | Template
    is_phone: bool
    # the attribute takes every value of a multi-valued source field, not only the first
    multi: bool = False

    @property
    def source_fields(self) -> tuple[str, ...]:
        return self.source.fields if isinstance(self.source, Template) else (self.source,)


@dataclass(frozen=True, slots=True)
class Mapping:
    rules: tuple[Rule, ...]

    @classmethod
    def compile(cls, mapping: MappingType[str, str]) -> Mapping:
        """Parse a replicator's ``mapping`` (attribute -> source field or template)."""
        rules = []
        for attribute, source in mapping.items():
            field = fields.lookup(attribute)
            if field is None:
                raise MappingError(f"mapping.{attribute}: unknown attribute")
            try:
                template = Template.parse(source)
            except MappingError as exc:
                raise MappingError(f"mapping.{field.name}: {exc}") from None
            rules.append(Rule(field.name, template or source, field.is_phone, field.multi))
        return cls(tuple(rules))

    def missing(self, available: Iterable[str]) -> list[str]:
        """What the mapping uses but the source lacks, one message per mapping key."""
        have = set(available)
        return [
            f"mapping.{rule.attribute}: the source has no field {name!r}"
            for rule in self.rules
            for name in rule.source_fields
            if name not in have
        ]

    def apply(self, values: MappingType[str, Value]) -> tuple[Attributes, Attributes]:
        """The row's attributes, and for phone attributes the values as the source had them.
        A source field with several values gives a multi-valued attribute all of them, any
        other attribute the first.

        Raises ``RowError`` if the row maps to nothing an entry could be named by.
        """
        attributes: Attributes = {}
        raw_numbers: Attributes = {}
        for rule in self.rules:
            raw: Value
            if isinstance(rule.source, Template):
                raw = value = rule.source.render(values)
            else:
                raw = values.get(rule.source) or ""
                if not isinstance(raw, str):
                    # an LDAP attribute with several values
                    _apply_values(rule, raw, attributes, raw_numbers)
                    continue
                value = raw.strip()
            if value:
                attributes[rule.attribute] = [value]
                if rule.is_phone:
                    raw_numbers[rule.attribute] = [raw]
        if not attributes:
            raise RowError("row maps to no attribute")
        complete_names(attributes)
        return attributes, raw_numbers


def _apply_values(
    rule: Rule, raws: Sequence[str], attributes: Attributes, raw_numbers: Attributes
) -> None:
    """``rule`` applied to a source field with several values."""
    kept = [raw for raw in raws if raw.strip()]
    if not rule.multi:
        kept = kept[:1]
    if kept:
        attributes[rule.attribute] = [raw.strip() for raw in kept]
        if rule.is_phone:
            raw_numbers[rule.attribute] = kept


def _first(value: Value | None) -> str:
    """A field's value, or the first non-blank one of several."""
    if value is None or isinstance(value, str):
        return value or ""
    return next((item for item in value if item.strip()), "")


def default_mapping(source_fields: Iterable[str]) -> dict[str, str]:
    """Identity for the source fields named like a canonical attribute (any case, aliases)."""
    mapping: dict[str, str] = {}
    for name in source_fields:
        field = fields.lookup(name)
        if field is not None:
            mapping.setdefault(field.name, name)
    return mapping


def complete_names(attributes: Attributes) -> None:
    """Give the entry ``displayName`` and ``cn``: what it is shown and searched by.

    displayName: as mapped, else cn, else "givenName sn", else the company, organisation,
    e-mail address or first phone number; cn: as mapped, else displayName.
    """
    shown = attributes.get("displayName") or attributes.get("cn") or _fallback_name(attributes)
    if shown is None:
        raise RowError("row has no name, company, e-mail address or phone number to show")
    attributes["displayName"] = list(shown)
    attributes.setdefault("cn", list(shown))


def _fallback_name(attributes: Attributes) -> list[str] | None:
    person = " ".join(attributes[a][0] for a in ("givenName", "sn") if a in attributes)
    if person:
        return [person]
    for name in ("company", "o", "mail", *_PHONES):
        if name in attributes:
            return [attributes[name][0]]
    return None


def canonicalize_mapping(rep: ReplicatorConfig) -> list[str]:
    """Rewrite ``rep.mapping`` onto canonical attribute names; return the problems found."""
    problems: list[str] = []
    mapping: dict[str, str] = {}
    for target, source in rep.mapping.items():
        field = fields.lookup(target)
        if field is None:
            names = [f.name for f in fields.all_fields()]
            guess = difflib.get_close_matches(target, names, n=1)
            problems.append(
                f"{target}: unknown attribute" + (f" (did you mean {guess[0]!r}?)" if guess else "")
            )
            continue
        if field.name in mapping:
            problems.append(f"{target}: {field.name!r} is mapped twice")
            continue
        if not isinstance(source, str) or not source.strip():
            problems.append(f"{target}: expected a source field name or a template")
            continue
        try:
            Template.parse(source)
        except MappingError as exc:
            problems.append(f"{target}: {exc}")
            continue
        mapping[field.name] = source
    rep.mapping = mapping
    return problems
