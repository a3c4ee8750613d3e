"""Matching rules as slapd applies them (each expectation probed on slapd 2.5): Unicode case
folding, objectClass's own rule, and extensible matches naming a rule (RFC 4511 §4.5.1.7.7).
tests/integration/test_differential.py holds the same cases against a real slapd on generated
data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from metadir.config import DirectoryConfig
from metadir.core.dn import fold
from metadir.core.records import StoredEntry
from metadir.directory import filters as f
from metadir.directory.tree import DirectoryTree, NoSuchObject, Scope

NOW = datetime(2026, 11, 21, 6, 30, tzinfo=UTC)
ROOT, CONTAINER = "dc=meta", "ou=contacts,dc=meta"


def stored(id: int, **attrs: str) -> StoredEntry:
    values = {k: [v] for k, v in attrs.items()}
    return StoredEntry(id, f"0000-{id:04d}", "contacts", "crm", (str(id),), values, NOW, NOW, False)


@pytest.fixture(scope="module")
def tree() -> DirectoryTree:
    directory = DirectoryConfig.model_validate(
        {
            "name": "contacts",
            "replicators": [{"name": "crm", "type": "csv", "path": "x", "key": "k"}],
        }
    )
    t = DirectoryTree([directory])
    t.apply(
        [
            stored(1, sn="İnce", givenName="Ayşe", l="Jäger", telephoneNumber="+49 89 1234567"),
            stored(2, sn="Müller", title="Jäger"),
            stored(3, sn="müller", mail="jäger@example.de"),
            stored(4, sn="Groß"),
            stored(5, sn="Gross", givenName="jäger"),
            stored(6, sn="Παπαδόπουλος"),
            stored(7, sn="Ｍüller  Hans"),  # full-width M, two spaces
        ]
    )
    return t


def found(tree: DirectoryTree, filter: f.Filter) -> list[int | str]:
    """Contacts by number, the root and the container by DN."""
    target = tree.resolve(ROOT, None)
    assert not isinstance(target, NoSuchObject)
    return [
        int(e.attributes["entryUUID"][0].split("-")[1]) if e.dn.startswith("entryUUID") else e.dn
        for e in tree.search(target, Scope.SUB, filter, None)
    ]


def test_fold_is_slapds_but_for_sharp_s_and_final_sigma() -> None:
    assert fold("İnce") == fold("INCE") == "ince"  # casefold alone: "i̇nce"
    assert fold("GROSS") == fold("Groß") == "gross"
    assert fold("ΠΑΠΑΔΌΠΟΥΛΟΣ") == fold("Παπαδόπουλος")
    assert fold("ﬁscher") == "fischer"
    assert fold("Mu\u0308ller") == fold("Müller")
    assert fold("Hans\u00a0 Peter ") == "hans peter"
    assert fold("Yılmaz") != fold("YILMAZ")  # dotless ı is its own letter, as in slapd


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (f.Equality("sn", "ince"), [1]),
        (f.Equality("sn", "INCE"), [1]),
        (f.Substrings("sn", "İn", (), None), [1]),
        (f.Equality("sn", "GROSS"), [4, 5]),
        (f.Equality("sn", "ΠΑΠΑΔΌΠΟΥΛΟΣ"), [6]),
        (f.Substrings("sn", None, (" ",), None), [7]),  # a space: slapd keeps it
        (f.Not(f.Equality("sn", "")), []),  # an empty Directory String is no value
        (f.Not(f.GreaterOrEqual("sn", "")), []),
    ],
)
def test_case_folding(tree: DirectoryTree, filter: f.Filter, expected: list[int]) -> None:
    assert found(tree, filter) == expected


@pytest.mark.parametrize(
    "filter",
    [
        f.Substrings("objectClass", "per", (), None),
        f.Substrings("objectClass", None, (), "son"),
        f.GreaterOrEqual("objectClass", "person"),
        f.LessOrEqual("objectClass", "person"),
        f.Equality("objectClass", "person "),  # not an OID: slapd reads no value
        f.Equality("objectClass", "per son"),
        f.Equality("objectClass", ""),
    ],
)
def test_object_class_assertions_slapd_cannot_read_are_undefined(
    tree: DirectoryTree, filter: f.Filter
) -> None:
    assert found(tree, filter) == []
    assert found(tree, f.Not(filter)) == []  # Undefined, not FALSE


def test_object_class_equality_ignores_case(tree: DirectoryTree) -> None:
    assert found(tree, f.Equality("objectClass", "PERSON")) == [1, 2, 3, 4, 5, 6, 7]


def ext(attribute: str | None, rule: str | None, value: str, dn: bool = False) -> f.Extensible:
    return f.Extensible(attribute, rule, value, dn)


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (ext("sn", "caseExactMatch", "Müller"), [2]),
        (ext("sn", "2.5.13.5", "müller"), [3]),
        (ext("SN", "CASEEXACTMATCH", "Müller Hans"), [7]),  # NFKC and spaces, as slapd
        (ext("sn", "caseIgnoreMatch", "MÜLLER"), [2, 3]),
        (ext("sn", None, "MÜLLER"), [2, 3]),
        # every attribute the rule applies to: l, title, givenName; not entryDN, not mail's part
        (ext(None, "caseIgnoreMatch", "jäger"), [1, 2, 5]),
        (ext(None, "caseExactMatch", "Jäger"), [1, 2]),
        (ext("ou", None, "contacts", dn=True), [CONTAINER, 1, 2, 3, 4, 5, 6, 7]),
        (ext("ou", None, "contacts"), [CONTAINER]),
        (ext(None, "caseIgnoreMatch", "contacts", dn=True), [CONTAINER, 1, 2, 3, 4, 5, 6, 7]),
        (ext("ou", "caseExactMatch", "Contacts", dn=True), []),
        # ordering rules: TRUE where the value sorts before the assertion
        (ext("sn", "caseIgnoreOrderingMatch", "müller"), [1, 4, 5]),
        (ext("sn", "caseExactOrderingMatch", "Müller"), [4, 5]),
        (ext("sn", "caseIgnoreOrderingMatch", "n"), [1, 2, 3, 4, 5, 7]),
        # telephone numbers: as numbers by their own rule, as text by caseIgnoreMatch
        (ext("telephoneNumber", "telephoneNumberMatch", "+4989 1234567"), [1]),
        (ext("telephoneNumber", "2.5.13.2", "+49 89 1234567"), [1]),
        (ext("telephoneNumber", "caseIgnoreMatch", "+4989 1234567"), []),
        (ext("telephoneNumber", "caseIgnoreOrderingMatch", "+5"), [1]),
        (
            ext("createTimestamp", "generalizedTimeMatch", "20261121073000+0100"),
            [1, 2, 3, 4, 5, 6, 7],
        ),
    ],
)
def test_extensible_match(tree: DirectoryTree, filter: f.Filter, expected: list) -> None:
    assert found(tree, filter) == expected


@pytest.mark.parametrize(
    "filter",
    [
        ext("sn", "fooMatch", "x"),
        ext("sn", "1.2.3.4", "x"),
        ext(None, "fooMatch", "x"),
        ext("fooBar", None, "x"),
        ext("fooBar", "caseIgnoreMatch", "x"),
        ext("sn", "caseIgnoreSubstringsMatch", "mü"),  # not for extensible matches in slapd
        ext("objectClass", "objectIdentifierMatch", "person"),
        ext("objectClass", "caseIgnoreMatch", "person"),  # not a text attribute
        ext("sn", "numericStringMatch", "1"),
        ext("sn", "telephoneNumberMatch", "1"),
        ext("sn", "generalizedTimeMatch", "20200101000000Z"),
        ext("sn", "octetStringMatch", "Müller"),
        ext("sn", "caseIgnoreMatch", ""),  # an empty Directory String is no value
        ext("createTimestamp", "generalizedTimeMatch", "garbage"),
    ],
)
def test_extensible_match_undefined(tree: DirectoryTree, filter: f.Filter) -> None:
    assert found(tree, filter) == []
    assert found(tree, f.Not(filter)) == []


@pytest.mark.parametrize("rule", ["numericStringMatch", "octetStringMatch"])
def test_rules_for_no_attribute_here_are_false_without_a_type(
    tree: DirectoryTree, rule: str
) -> None:
    assert len(found(tree, f.Not(ext(None, rule, "1")))) == 9  # root, container, 7 contacts


def test_extensible_ordering_on_the_dn(tree: DirectoryTree) -> None:
    # slapd: "contacts" < "d" in the container's and contacts' DNs, "meta" is not
    assert found(tree, f.Not(ext(None, "caseIgnoreOrderingMatch", "d", dn=True))) == [ROOT]
