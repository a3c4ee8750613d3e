"""Filter evaluation over the index, with LDAP's three-valued logic (RFC 4511 §4.5.1.7).

A filter is evaluated against a *scope* (the ids a search may return) and yields two sets:
the ids for which it is TRUE and those for which it is Undefined (unknown attribute type,
an assertion value the matching rule cannot read, a rule without ordering). Everything
else in scope is FALSE. ``And`` narrows the scope as it goes, so later parts only look at
the candidates earlier parts left; leaves choose between asking the index and testing the
few entries left in scope, whichever touches less.

Phone attributes match on the number (``numbers.py``): assertion values are read with the
location of the directory searched, and the suffix fallback runs only when asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pyroaring import BitMap

from metadir.core import fields
from metadir.core.dn import parse_dn
from metadir.core.phone import Location
from metadir.directory import filters as f
from metadir.directory import numbers, words
from metadir.directory.attributes import (
    AttributeType,
    attribute_type,
    object_class_name,
    virtual_members,
)
from metadir.directory.index import EMPTY, AttributeIndex, Index, union
from metadir.directory.matching import (
    CASE_IGNORE,
    MATCHING_RULES,
    PHONE,
    MatchingRule,
    approx_form,
    substrings_match,
)
from metadir.directory.sets import Ids, Outcome

# what an extensible match without an attribute type looks at: the attributes entries store
# (slapd leaves out entryDN, hasSubordinates, subschemaSubentry); dc (IA5 String) and
# entryUUID (UUID) take none of the rules metadir knows
_STORED_TREE_ATTRIBUTES = ("objectClass", "ou", "createTimestamp", "modifyTimestamp")
_FULL_TEXT_FILTERS = f.Equality | f.Substrings | f.Approx


@dataclass(frozen=True, slots=True)
class Matcher:
    index: Index
    # how phone numbers in assertions are read
    location: Location | None = None
    # the second pass over numbers: the other readings of a number, else its significant
    # digits (suffix fallback)
    fallback: bool = False

    def evaluate(self, filter: f.Filter, scope: Ids) -> Outcome:
        if isinstance(filter, f.And):
            return self._and(filter.parts, scope)
        if isinstance(filter, f.Or):
            return self._or(filter.parts, scope)
        if isinstance(filter, f.Not):
            true, undefined = self.evaluate(filter.part, scope)
            return (scope - true - undefined if undefined else scope - true), undefined
        if isinstance(filter, f.Extensible):
            return self._extensible(filter, scope)
        if isinstance(filter, f.Undefined):
            return EMPTY, scope
        attr = attribute_type(filter.attribute)
        if attr is None:
            return EMPTY, scope
        if attr.virtual:
            if attr.name in words.FULL_TEXT and isinstance(filter, _FULL_TEXT_FILTERS):
                return words.evaluate(self, attr, filter, scope)
            return self._or(virtual_members(attr, filter), scope)
        if isinstance(filter, f.Present):
            return self._present(attr, scope), EMPTY
        if attr.rule is PHONE:
            return numbers.evaluate(self, attr, filter, scope)
        return self._assertion(attr, filter, scope)

    def _and(self, parts: tuple[f.Filter, ...], scope: Ids) -> Outcome:
        true: Ids = scope
        undefined: Ids = EMPTY
        for part in sorted(parts, key=self._cost):
            part_true, part_undefined = self.evaluate(part, true | undefined if undefined else true)
            # TRUE needs every part TRUE; Undefined means no part FALSE and not every part TRUE
            if undefined:
                part_true, part_undefined = (
                    part_true & true,
                    (part_undefined & true) | (undefined & (part_true | part_undefined)),
                )
            true, undefined = part_true, part_undefined
            if not true and not undefined:
                break
        return true, undefined

    def _cost(self, part: f.Filter) -> int:
        """About how many entries ``part`` matches: selective parts go first in an ``&``,
        so that ``(&(objectClass=person)(sn=Müller))`` starts from the Müllers."""
        if isinstance(part, f.Equality):
            attr = attribute_type(part.attribute)
            if attr is None or attr.virtual or attr.rule is PHONE:
                return 1
            held = self.index.attribute(attr.name)
            norm = attr.rule.normalize(part.value)
            return 0 if held is None or norm is None else len(held.ids(norm))
        if isinstance(part, f.Substrings):
            return 1_000 if part.initial or part.final else 100_000
        return 10_000 if isinstance(part, f.And | f.Or | f.Not) else 1_000_000

    def _or(self, parts: Iterable[f.Filter], scope: Ids) -> Outcome:
        outcomes = [self.evaluate(part, scope) for part in parts]
        true = union(t for t, _ in outcomes)
        undefined = union(u for _, u in outcomes if u)
        return true, undefined - true if undefined else EMPTY

    def _present(self, attr: AttributeType, scope: Ids) -> Ids:
        if attr.name == "objectClass":  # every entry has one
            return scope
        held = self.index.attribute(attr.name)
        return EMPTY if held is None else held.present() & scope

    def _assertion(self, attr: AttributeType, filter: f.Filter, scope: Ids) -> Outcome:
        held = self.index.attribute(attr.name)
        rule = attr.rule
        if isinstance(filter, f.Equality):
            value: str | None = filter.value
            if attr.name == "objectClass":  # (objectClass=2.5.6.6) is (objectClass=person)
                value = object_class_name(filter.value)
            norm = None if value is None else rule.normalize(value)
            if norm is None:
                return EMPTY, scope
            return (EMPTY if held is None else held.ids(norm) & scope), EMPTY
        if isinstance(filter, f.Substrings):
            if not rule.substrings:  # objectClass=per*
                return EMPTY, scope
            initial = rule.normalize_piece(filter.initial) if filter.initial else None
            final = rule.normalize_piece(filter.final) if filter.final else None
            any_ = tuple(p for p in (rule.normalize_piece(x) for x in filter.any) if p)
            if held is None:
                return EMPTY, EMPTY

            def contains(value: str) -> bool:
                return substrings_match(value, initial, any_, final)

            values, count = held.substring_candidates((initial,) if initial else (), final)
            return self.select(held, attr.name, values, count, contains, scope), EMPTY
        if isinstance(filter, f.GreaterOrEqual | f.LessOrEqual):
            norm = rule.normalize(filter.value)
            if norm is None or not rule.ordering:
                return EMPTY, scope
            if held is None:
                return EMPTY, EMPTY
            if isinstance(filter, f.GreaterOrEqual):
                values = held.sorted_values().irange(minimum=norm)
                test = norm.__le__
            else:
                values = held.sorted_values().irange(maximum=norm)
                test = norm.__ge__
            return self.select(held, attr.name, values, len(held.postings), test, scope), EMPTY
        assert isinstance(filter, f.Approx)
        wanted = approx_form(filter.value)
        if held is None:
            return EMPTY, EMPTY
        return self.select(
            held,
            attr.name,
            iter(held.postings),
            len(held.postings),
            lambda value: approx_form(value) == wanted,
            scope,
        ), EMPTY

    def select(
        self,
        held: AttributeIndex,
        name: str,
        values: Iterable[str],
        count: int,
        test: Callable[[str], bool],
        scope: Ids,
    ) -> Ids:
        """Ids in scope holding a value that passes ``test``: by walking the candidate values
        in the index, or, when the scope is smaller than that, by testing the entries in
        scope."""
        if len(scope) < count:
            normalize = held.rule.normalize
            entries = self.index.entries
            found = BitMap()
            for entry_id in scope:
                for value in entries[entry_id].match_values(name):
                    norm = normalize(value)
                    if norm is not None and test(norm):
                        found.add(entry_id)
                        break
            return found
        postings = held.postings
        single = BitMap()
        shared = []
        for value in values:
            if test(value):
                ids = postings[value]
                if isinstance(ids, int):
                    single.add(ids)
                else:
                    shared.append(ids)
        return union((single, *shared)) & scope

    def _extensible(self, filter: f.Extensible, scope: Ids) -> Outcome:
        """``(attr:dn:rule:=value)`` as slapd answers it: Undefined for an unknown rule, one
        that does not apply to the attribute, or a value it cannot read; else TRUE where a
        value of the attribute (of each attribute the rule applies to, when none is named;
        with ``:dn:``, of the DN too) matches."""
        attr = attribute_type(filter.attribute) if filter.attribute else None
        if filter.attribute and (attr is None or attr.virtual):
            if attr is not None and filter.rule is None:  # searchContact:=…
                return self.evaluate(f.Equality(attr.name, filter.value), scope)
            return EMPTY, scope
        if filter.rule is None:
            if attr is None:
                return EMPTY, scope
            rule: MatchingRule | None = MatchingRule.equality(attr.rule)
        else:
            rule = MATCHING_RULES.get(filter.rule.lower())
        wanted = None if rule is None else rule.key(filter.value)
        if rule is None or wanted is None or (attr and attr.rule not in rule.syntaxes):
            return EMPTY, scope
        names = (
            (attr.name,)
            if attr
            else tuple(
                name
                for name in (
                    *(field.name for field in fields.all_fields()),
                    *_STORED_TREE_ATTRIBUTES,
                )
                if (known := attribute_type(name)) is not None and known.rule in rule.syntaxes
            )
        )
        true = union(self._matching(rule, name, filter.value, wanted, scope) for name in names)
        if filter.dn_attributes:
            true |= self._in_dn(rule, attr, wanted, scope)
        return true, EMPTY

    def _matching(self, rule: MatchingRule, name: str, value: str, wanted: str, scope: Ids) -> Ids:
        """Ids in scope with a value of attribute ``name`` that ``rule`` matches."""
        held = self.index.attribute(name)
        if held is None:
            return EMPTY
        if rule.indexed is held.rule:  # the keys the index holds: as (name=value)
            equal, _ = self.evaluate(f.Equality(name, value), scope)
            if not rule.ordering:
                return equal
            below, _ = self.evaluate(f.LessOrEqual(name, value), scope)
            return below - equal
        candidates: Ids = held.present() & scope
        if held.rule is CASE_IGNORE and not rule.ordering:
            # values equal by a text rule are equal ignoring case: the index narrows first
            candidates, _ = self.evaluate(f.Equality(name, value), candidates)
        test = wanted.__gt__ if rule.ordering else wanted.__eq__
        entries = self.index.entries
        return BitMap(
            entry_id
            for entry_id in candidates
            if any(
                key is not None and test(key)
                for key in map(rule.key, entries[entry_id].attributes.get(name, ()))
            )
        )

    def _in_dn(
        self, rule: MatchingRule, attr: AttributeType | None, wanted: str, scope: Ids
    ) -> Ids:
        """Ids in scope whose DN holds a matching value (``:dn:``). An entry's own RDN is
        one of its values, so only the parents' RDNs are read: once per parent."""
        test = wanted.__gt__ if rule.ordering else wanted.__eq__
        parents: dict[str, bool] = {}
        found = BitMap()
        entries = self.index.entries
        for entry_id in scope:
            dn = entries[entry_id].dn
            parent = dn.partition(",")[2]  # names the parent, escaped commas or not
            matched = parents.get(parent)
            if matched is None:
                matched = parents[parent] = any(
                    (held := attribute_type(name)) is not None
                    and (attr is None or held.name == attr.name)
                    and held.rule in rule.syntaxes
                    and (key := rule.key(value)) is not None
                    and test(key)
                    for rdn in parse_dn(dn)[1:]
                    for name, value in rdn
                )
            if matched:
                found.add(entry_id)
        return found


def asserts_number(filter: f.Filter) -> bool:
    """Whether some part of ``filter`` asserts a phone number (the fallback may help it)."""
    if isinstance(filter, f.And | f.Or):
        return any(asserts_number(part) for part in filter.parts)
    if isinstance(filter, f.Not):
        return asserts_number(filter.part)
    if isinstance(filter, f.Present | f.Extensible | f.Substrings | f.Undefined):
        return False  # the fallback widens full-number comparisons only
    attr = attribute_type(filter.attribute)
    if attr is None:
        return False
    if attr.virtual:
        return any(asserts_number(part) for part in virtual_members(attr, filter))
    return attr.rule is PHONE
