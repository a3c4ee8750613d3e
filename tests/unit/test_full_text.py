"""searchContact and searchIndividual as full-text search (estos MetaDirectory 6): words in
any order, each the start of a word in any field searched; over the real directory tree."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from metadir.config import DirectoryConfig
from metadir.core.phone import Location
from metadir.core.records import StoredEntry
from metadir.directory.tree import DirectoryTree, Scope
from metadir.directory.words import query_words, words_of
from metadir.ldap.decode import parse_filter

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

PEOPLE = {
    1: {"givenName": "Alexander", "sn": "Beckenbauer", "company": "FC Bayern München",
        "mail": "alexander.beckenbauer@fcb.example"},
    2: {"givenName": "Alex", "sn": "Müller-Lüdenscheidt", "company": "Müller & Söhne GmbH",
        "telephoneNumber": "+49 89 1234567"},
    3: {"givenName": "Sean", "sn": "O'Brien", "company": "Bayern Brauerei"},
    4: {"givenName": "Becky", "sn": "Alexopoulou", "displayName": "Dr. Becky Alexopoulou"},
    5: {"cn": "Beckenbauer Consulting", "company": "Beckenbauer Consulting"},
    6: {"givenName": "Ayşe", "sn": "İnce", "mail": "ayse.ince@example.tr"},
}  # fmt: skip


def stored(id: int, deleted: bool = False, **attrs: str) -> StoredEntry:
    values = {k: [v] for k, v in attrs.items()}
    if "cn" not in values:
        values["cn"] = [f"{attrs.get('givenName', '')} {attrs.get('sn', '')}".strip()]
    return StoredEntry(
        id, f"0000-{id:04d}", "contacts", "crm", (str(id),), values, NOW, NOW, deleted
    )


@pytest.fixture
def tree() -> DirectoryTree:
    config = DirectoryConfig.model_validate(
        {
            "name": "contacts",
            "replicators": [{"name": "crm", "type": "csv", "path": "x.csv", "key": "k"}],
        }
    )
    t = DirectoryTree([config], Location(country="DE", area_code="89"))
    t.apply([stored(n, **attrs) for n, attrs in PEOPLE.items()])
    return t


def found(tree: DirectoryTree, text: str) -> set[int]:
    container = tree.containers["contacts"].entry
    entries = tree.search(container, Scope.ONE, parse_filter(text), None)
    return {int(e.attributes["entryUUID"][0].split("-")[1]) for e in entries}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the examples: several words in any order, each the start of a word
        ("(searchContact=A* Becke*)", {1}),
        ("(searchContact=becke alex)", {1}),
        ("(searchContact=beck alex)", {1, 4}),  # Becky Alexopoulou too
        ("(searchContact=Beckenbauer Alexander)", {1}),
        ("(searchContact=alexander beckenbauer)", {1}),
        # leading wildcards are ignored, trailing ones change nothing
        ("(searchContact=*beckenb*)", {1, 5}),
        ("(searchContact=*Amadeus*)", set()),
        # any field searched: a company word and a first name together
        ("(searchContact=bayern alex)", {1}),
        ("(searchContact=bayern)", {1, 3}),
        # parts of hyphenated names, mail addresses, apostrophes
        ("(searchContact=lüden)", {2}),
        ("(searchContact=müller-lüd*)", {2}),
        ("(searchContact=fcb)", {1}),
        ("(searchContact=alexander.beckenbauer@fcb.example)", {1}),
        ("(searchContact=obrien)", {3}),
        ("(searchContact=O'Brien)", {3}),
        ("(searchContact=brien sean)", {3}),
        # case folded as names are: Turkish dotted capital I
        ("(searchContact=ince ayşe)", {6}),
        ("(searchContact=İNCE)", {6}),
        # every word must match: no contact is both
        ("(searchContact=alex bayern müller)", set()),
        # searchIndividual searches person names only
        ("(searchIndividual=bayern alex)", set()),
        ("(searchIndividual=becke alex)", {1}),
        ("(searchIndividual=Beckenbauer)", {1, 5}),  # a cn is a name
        ("(searchIndividual=Consulting)", {5}),
        # a number is still looked up as a number, and not among the words
        ("(searchContact=089 1234567)", {2}),
        ("(searchContact=+49 89 1234567)", {2}),
        # inside other filters
        ("(&(searchContact=becke alex)(company=*)) ", {1}),
        ("(!(searchContact=becke))", {2, 3, 4, 6}),
    ],
)
def test_full_text(tree: DirectoryTree, text: str, expected: set[int]) -> None:
    assert found(tree, text.strip()) == expected


def test_the_word_index_follows_the_directory(tree: DirectoryTree) -> None:
    """Built on the first search, then kept up to date by each applied sync batch."""
    assert found(tree, "(searchContact=franz)") == set()
    tree.apply(
        [
            stored(7, givenName="Franz", sn="Beckenbauer"),
            stored(1, deleted=True),
            stored(3, givenName="Sean", sn="O'Brien", company="Isar Brauerei"),
        ]
    )
    assert found(tree, "(searchContact=franz becken)") == {7}
    assert found(tree, "(searchContact=alexander)") == set()
    assert found(tree, "(searchContact=bayern)") == set()
    assert found(tree, "(searchContact=isar)") == {3}
    words = tree.index.words("searchContact", frozenset(), words_of).held  # the one built
    assert "alexander" not in words.postings and "isar" in words.postings


def test_words_of_a_field() -> None:
    values = ["Müller-Lüdenscheidt", "anna@acme.example", "O’Brien"]
    assert {word for value in values for word in words_of(value)} == {
        "müller-lüdenscheidt", "müller", "lüdenscheidt", "anna@acme.example", "anna", "acme",
        "example", "o’brien", "obrien", "o", "brien",
    }  # fmt: skip
    assert query_words(parse_filter("(searchContact=A* Becke*)")) == ["a", "becke"]
    assert query_words(parse_filter("(searchContact=*  *)")) == []
