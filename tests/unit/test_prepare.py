"""A batch prepared off the reactor thread and swapped in (``DirectoryTree.prepare`` +
``apply_prepared``) leaves the same index as taking each change in directly: the old
entry removed from every index, the new one added (the reference below)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import pytest
from pyroaring import BitMap

from metadir.config import DirectoryConfig
from metadir.core.records import StoredEntry
from metadir.directory import filters as f
from metadir.directory.attributes import attribute_type
from metadir.directory.index import Postings
from metadir.directory.tree import _CONTACTS, DirectoryTree, NoSuchObject, Scope
from metadir.directory.words import words_of

NOW = datetime(2026, 11, 21, 6, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def directory(name: str, *replicators: str) -> DirectoryConfig:
    reps = [{"name": r, "type": "csv", "path": "x.csv", "key": "k"} for r in replicators]
    return DirectoryConfig.model_validate({"name": name, "replicators": reps})


def stored(
    id: int,
    directory: str = "contacts",
    replicator: str = "crm",
    deleted: bool = False,
    when: datetime = NOW,
    numbers: dict[str, list[str]] | None = None,
    **attrs: str | list[str],
) -> StoredEntry:
    values = {k: v if isinstance(v, list) else [v] for k, v in attrs.items()}
    return StoredEntry(
        id, f"0000-{id:04d}", directory, replicator, (str(id),), values, NOW, when, deleted,
        numbers or {},
    )  # fmt: skip


LOADED = [
    stored(
        1, cn="Hans Müller", sn="Müller", givenName="Hans", telephoneNumber="089 1234567",
        numbers={"telephoneNumber": ["+49891234567"]}, mail="hans@example.de", l="München",
        company="ACME",
    ),
    stored(2, cn="Anna Schmidt", sn="Schmidt", givenName="Anna", mobile="+491715550102",
           company="ACME", l="München"),
    stored(3, cn="axyz", sn="Zed", company="ACME", description=["a", "b"]),
    stored(
        4, directory="partners", replicator="erp", cn="Jürgen Groß", sn="Groß",
        otherTelephone=["+41 44 668 18 00", "+41 44 668 18 01"],
    ),
    stored(5, cn="Eva Berg", sn="Berg", telephoneNumber="+49301111", l="Berlin"),
    stored(6, cn="Otto Lang", sn="Lang", mail="otto@example.de"),
]  # fmt: skip

# adds, updates that change indexed values, an attribute gone and one new, deletions, a
# move to the other directory, a replicator no longer served, attributes no entry held
# before (indexed as they arrive, and not), the same entry twice
BATCH = [
    stored(7, cn="Max Roth", sn="Roth", l="München", telephoneNumber="+4989777"),
    stored(
        1, when=LATER, cn="Hans Maier", sn="Maier", givenName="Hans", telephoneNumber="089 7654321",
        numbers={"telephoneNumber": ["+49897654321"]}, l="München", company="ACME",
    ),
    stored(2, when=LATER, cn="Anna Schmidt", sn="Schmidt", givenName="Anna", company="Initech",
           mobile="+491715550102", l="Hamburg", mail="anna@example.de"),
    stored(3, when=LATER, cn="axyz", sn="Zed", company="ACME", description=["b", "c", "d"]),
    stored(5, deleted=True),
    stored(4, when=LATER, cn="Jürgen Groß", sn="Groß", otherTelephone="+41 44 668 18 00"),
    stored(6, replicator="legacy", cn="Otto Lang", sn="Lang"),
    stored(8, cn="Pia Neu", sn="Neu", pager="+4989555", street="Hauptstr. 1",
           homePhone=["+4940123", "+4940124"]),
    stored(9, cn="Tom Zwei", sn="Zwei"),
    stored(9, when=LATER, cn="Tom Drei", sn="Drei", mobile="+4917099"),
    stored(42, deleted=True),  # never served
]  # fmt: skip

FILTERS: list[f.Filter] = [
    f.Present("objectClass"),
    f.Equality("sn", "maier"),
    f.Equality("sn", "müller"),
    f.Equality("cn", "tom zwei"),
    f.Equality("cn", "tom drei"),
    f.Equality("telephoneNumber", "+49891234567"),
    f.Equality("telephoneNumber", "+49897654321"),
    f.Equality("telephoneNumber", "089 7654321"),
    f.Substrings("telephoneNumber", None, (), "7654321"),
    f.Substrings("telephoneNumber", None, (), "1234567"),
    f.Equality("otherTelephone", "+41446681801"),
    f.Equality("otherTelephone", "+41446681800"),
    f.Equality("pager", "+4989555"),
    f.Equality("homePhone", "+4940124"),
    f.Substrings("homePhone", "+4940", (), None),
    f.Present("mobile"),
    f.Present("mail"),
    f.Present("telephoneNumber"),
    f.Not(f.Present("mail")),
    f.Equality("company", "acme"),
    f.Equality("company", "initech"),
    f.Substrings("company", "ac", (), None),
    f.Substrings("cn", None, (), "er"),
    f.Substrings("cn", "h", ("m",), None),
    f.Equality("l", "münchen"),
    f.Equality("l", "hamburg"),
    f.Equality("l", "berlin"),
    f.Substrings("street", "haupt", (), None),
    f.Equality("description", "a"),
    f.Equality("description", "d"),
    f.GreaterOrEqual("sn", "n"),
    f.LessOrEqual("sn", "m"),
    f.GreaterOrEqual("modifyTimestamp", "20261121070000Z"),
    f.Equality("entryDN", "entryUUID=0000-0004,ou=partners,dc=meta"),
    f.Equality("entryDN", "entryUUID=0000-0004,ou=contacts,dc=meta"),
    f.Equality("entryUUID", "0000-0009"),
    f.Equality("searchContact", "hans"),
    f.Equality("searchContact", "maier"),
    f.Equality("searchContact", "müller"),
    f.Substrings("searchContact", "init", (), None),
    f.Equality("searchContact", "acme"),
    f.Approx("cn", "hans maier"),
]
# the sorted views, present sets and indexes built on first use that a running server has
WARM_UP: list[f.Filter] = [
    f.Substrings("cn", None, (), "er"),
    f.Substrings("sn", "m", (), None),
    f.Substrings("company", "ac", (), None),
    f.Substrings("telephoneNumber", None, (), "4567"),
    f.Present("mobile"),
    f.Present("mail"),
    f.Not(f.Present("mail")),
    f.Equality("l", "münchen"),
    f.Equality("searchContact", "hans"),
]


def new_tree(warm_up: Iterable[f.Filter] = WARM_UP) -> DirectoryTree:
    tree = DirectoryTree([directory("contacts", "crm"), directory("partners", "crm", "erp")])
    tree.apply(LOADED)
    for filter in warm_up:
        found(tree, filter)
    return tree


def reference_apply(tree: DirectoryTree, changes: Iterable[StoredEntry]) -> tuple[int, int, int]:
    """Each change taken in directly: the old entry out of every index, the new one in."""
    added = updated = deleted = 0
    for change in changes:
        container = tree.containers.get(change.directory)
        entry_id = change.id + _CONTACTS
        old = tree.index.remove(entry_id)
        if old is not None:
            tree._forget(old)
        if (
            container is not None
            and not change.deleted
            and change.replicator in tree._replicators[change.directory]
        ):
            tree.index.add(tree._contact(entry_id, change, container))
            container.members.add(entry_id)
            container.subtree.add(entry_id)
            tree._all.add(entry_id)
            added, updated = (added + 1, updated) if old is None else (added, updated + 1)
        elif old is not None:
            deleted += 1
    return added, updated, deleted


def found(tree: DirectoryTree, filter: f.Filter, base: str = "dc=meta") -> list[str]:
    target = tree.resolve(base, None)
    assert not isinstance(target, NoSuchObject), target
    return [e.dn for e in tree.search(target, Scope.SUB, filter, None)]


def ids_of(held: Postings) -> list[int]:
    return [held] if isinstance(held, int) else list(held)


def state(tree: DirectoryTree) -> dict[str, object]:
    """Everything searches read: entries, postings, sorted views, present sets, word
    indexes, the containers' and the tree's sets."""
    attributes = {
        name: (
            {norm: ids_of(held) for norm, held in index.postings.items()},
            None if index._present is None else list(index._present),
            None if index._sorted is None else list(index._sorted),
            None if index._reversed is None else list(index._reversed),
        )
        for name, index in tree.index._attributes.items()
    }
    words = {
        name: (
            {word: ids_of(held) for word, held in words.held.postings.items()},
            None if words.held._present is None else list(words.held._present),
            None if words.held._sorted is None else list(words.held._sorted),
        )
        for name, words in tree.index._words.items()
    }
    entries = {
        entry_id: (entry.dn, entry.directory, dict(entry.attributes.items()), entry.numbers)
        for entry_id, entry in tree.index.entries.items()
    }
    containers = {name: (list(c.members), list(c.subtree)) for name, c in tree.containers.items()}
    return {
        "attributes": attributes,
        "words": words,
        "entries": entries,
        "containers": containers,
        "all": list(tree._all),
        "size": tree.size,
    }


def answers(tree: DirectoryTree) -> list[list[str]]:
    return [found(tree, filter) for filter in FILTERS] + [
        found(tree, filter, base) for base in ("ou=contacts,dc=meta", "ou=partners,dc=meta")
        for filter in (f.Present("objectClass"), f.Equality("cn", "jürgen groß"))
    ]  # fmt: skip


def test_prepared_batch_leaves_the_index_applying_each_change_would() -> None:
    expected, tree = new_tree(), new_tree()
    counts = reference_apply(expected, BATCH)
    assert tree.apply_prepared(tree.prepare(BATCH)) == counts == (3, 5, 2)
    # attributes no entry held: a phone attribute indexed at once, a street when searched
    assert "pager" in tree.index._attributes and "street" in tree.index._deferred
    assert state(tree) == state(expected)
    assert answers(tree) == answers(expected)
    # the answers changed as the batch says: old keys gone, new ones found, moved entry
    assert found(tree, f.Equality("sn", "müller")) == []
    assert found(tree, f.Equality("telephoneNumber", "+49891234567")) == []
    assert found(tree, f.Equality("pager", "+4989555")) == [
        "entryUUID=0000-0008,ou=contacts,dc=meta"
    ]
    assert found(tree, f.Equality("cn", "jürgen groß"), "ou=contacts,dc=meta") == [
        "entryUUID=0000-0004,ou=contacts,dc=meta"
    ]
    assert found(tree, f.Equality("searchContact", "maier")) == [
        "entryUUID=0000-0001,ou=contacts,dc=meta"
    ]


def test_apply_is_prepare_then_apply_prepared() -> None:
    expected, tree = new_tree(), new_tree()
    assert tree.apply(BATCH) == reference_apply(expected, BATCH)
    assert state(tree) == state(expected)


@pytest.mark.parametrize("warm_up", [[], WARM_UP], ids=["cold", "warm"])
def test_changes_one_at_a_time(warm_up: list[f.Filter]) -> None:
    expected, tree = new_tree(warm_up), new_tree(warm_up)
    for change in BATCH:
        assert tree.apply_prepared(tree.prepare([change])) == reference_apply(expected, [change])
        assert state(tree) == state(expected)
    assert answers(tree) == answers(expected)


def test_prepare_changes_nothing_a_search_reads() -> None:
    tree = new_tree()
    seen = answers(tree)  # builds the indexes searches build on first use
    before = state(tree)
    tree.prepare(BATCH)
    assert state(tree) == before and answers(tree) == seen
    assert tree.index.attribute("pager") is None  # created when the batch is taken in


# searches between prepare and apply_prepared that build indexes the keys were not
# computed for: a deferred attribute's, a word index, a sorted view
BUILT_MEANWHILE: list[Callable[[DirectoryTree], object]] = [
    lambda tree: found(tree, f.Equality("description", "a")),
    lambda tree: found(tree, f.Substrings("street", "x", (), None)),
    lambda tree: found(tree, f.Equality("searchIndividual", "hans")),
    lambda tree: found(tree, f.Substrings("givenName", "h", (), None)),
    lambda tree: found(tree, f.Present("otherTelephone")),
]


@pytest.mark.parametrize("warm_up", [[], WARM_UP], ids=["cold", "warm"])
def test_indexes_built_between_prepare_and_apply(warm_up: list[f.Filter]) -> None:
    expected, tree = new_tree(warm_up), new_tree(warm_up)
    prepared = tree.prepare(BATCH)
    for search in BUILT_MEANWHILE:
        search(expected)
        search(tree)
    reference_apply(expected, BATCH)
    tree.apply_prepared(prepared)
    assert state(tree) == state(expected)
    assert answers(tree) == answers(expected)


def test_an_entry_changed_after_prepare_is_taken_in_anew() -> None:
    """The follower is the only writer; were it not, an entry replaced meanwhile is
    removed and added as it is now, not by keys computed against what it was."""
    expected, tree = new_tree(), new_tree()
    prepared = tree.prepare(BATCH)
    meanwhile = [stored(1, cn="Hans Zwischen", sn="Zwischen"), stored(7, cn="X Y", sn="Y")]
    reference_apply(expected, meanwhile)
    reference_apply(tree, meanwhile)
    counts = reference_apply(expected, BATCH)
    assert tree.apply_prepared(prepared) == counts
    assert state(tree) == state(expected)
    assert answers(tree) == answers(expected)


def test_a_word_index_prepared_for_is_kept() -> None:
    tree = new_tree()
    attr = attribute_type("searchContact")
    assert attr is not None
    words = tree.index.words(attr.name, frozenset(attr.virtual), words_of)
    tree.apply_prepared(tree.prepare(BATCH))
    assert "müller" not in words.held.postings and "maier" in words.held.postings
    assert isinstance(words.held.postings["acme"], BitMap)


def test_an_unknown_attribute_fails_in_prepare() -> None:
    tree = new_tree()
    with pytest.raises(AssertionError):
        tree.prepare([stored(10, cn="A B", sn="B", **{"noSuchAttribute": "x"})])
    assert state(tree) == state(new_tree())
