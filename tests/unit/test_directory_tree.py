"""The directory tree and filter evaluation over its index (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from metadir.config import DirectoryConfig
from metadir.core.records import StoredEntry
from metadir.directory import filters as f
from metadir.directory.index import Entry
from metadir.directory.tree import ROOT_ID, DirectoryTree, NoSuchObject, Scope

NOW = datetime(2026, 11, 21, 6, 30, tzinfo=UTC)


def directory(name: str, *replicators: str) -> DirectoryConfig:
    reps = [{"name": r, "type": "csv", "path": "x.csv", "key": "k"} for r in replicators]
    return DirectoryConfig.model_validate({"name": name, "replicators": reps})


def stored(
    id: int,
    directory: str = "contacts",
    replicator: str = "crm",
    deleted: bool = False,
    **attrs: str | list[str],
) -> StoredEntry:
    values = {k: v if isinstance(v, list) else [v] for k, v in attrs.items()}
    return StoredEntry(
        id, f"0000-{id:04d}", directory, replicator, (str(id),), values, NOW, NOW, deleted
    )


@pytest.fixture
def tree() -> DirectoryTree:
    t = DirectoryTree([directory("contacts", "crm"), directory("partners", "erp")])
    t.apply(
        [
            stored(
                1,
                cn="Hans Müller",
                sn="Müller",
                givenName="Hans",
                telephoneNumber="+49 89 1234-567",
                mail="hans@example.de",
            ),
            stored(2, cn="Anna Schmidt", sn="Schmidt", givenName="Anna", mobile="0171 555 01 02"),
            stored(3, cn="axyz", sn="Zed", company="ACME"),
            stored(
                4,
                directory="partners",
                replicator="erp",
                cn="Jürgen Groß",
                sn="Groß",
                otherTelephone=["+41 44 668 18 00", "+41 44 668 18 01"],
            ),
        ]
    )
    return t


def uuids(
    tree: DirectoryTree,
    filter: f.Filter,
    base: str = "dc=meta",
    scope: Scope = Scope.SUB,
    visible: set[str] | None = None,
) -> list[str]:
    target = tree.resolve(base, visible)
    assert not isinstance(target, NoSuchObject), target
    # contacts by entryUUID, the root and the containers by DN
    return [
        e.attributes["entryUUID"][0] if e.dn.startswith("entryUUID=") else e.dn
        for e in tree.search(target, scope, filter, visible)
    ]


def ids(tree: DirectoryTree, filter: f.Filter, **kw: object) -> list[int]:
    return [int(u.split("-")[1]) for u in uuids(tree, filter, **kw) if u.startswith("0000-")]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (f.Equality("sn", "MÜLLER"), [1]),
        (f.Equality("SN", "müller"), [1]),
        (f.Equality("surname", "Schmidt"), [2]),
        (f.Equality("cn", "hans   müller"), [1]),  # insignificant spaces
        (f.Substrings("cn", "a", ("y",), "xyz"), []),  # "axyz": the parts may not overlap
        (f.Substrings("cn", "a", (), "z"), [3]),
        (f.Substrings("cn", None, ("chmi",), None), [2]),
        (f.Substrings("sn", None, (), "ß"), [4]),
        (f.Substrings("cn", "hans ", (), None), [1]),
        (f.Equality("telephoneNumber", "+4989 1234567"), [1]),  # spaces and hyphens ignored
        (f.Substrings("telephoneNumber", None, (), "1234567"), [1]),
        (f.Substrings("Mobile", "0171", (), None), [2]),
        (f.Equality("otherTelephone", "+41446681801"), [4]),
        (f.Present("mail"), [1]),
        (f.Not(f.Present("mail")), [2, 3, 4]),
        (f.And((f.Present("mobile"), f.Equality("objectClass", "inetOrgPerson"))), [2]),
        (f.Or((f.Equality("sn", "zed"), f.Equality("company", "nope"))), [3]),
        (f.GreaterOrEqual("sn", "s"), [2, 3]),
        (f.LessOrEqual("sn", "h"), [4]),
        (f.Approx("cn", "hans muller"), [1]),
        (f.Extensible("sn", "caseIgnoreMatch", "zed", False), [3]),
        (f.Extensible("sn", None, "ZED", False), [3]),
    ],
)
def test_filters(tree: DirectoryTree, filter: f.Filter, expected: list[int]) -> None:
    assert ids(tree, filter) == expected


@pytest.mark.parametrize(
    "filter",
    [
        f.Equality("fooBar", "x"),
        f.Not(f.Equality("fooBar", "x")),  # Undefined stays Undefined under NOT
        f.Not(f.And((f.Present("sn"), f.Equality("fooBar", "x")))),
        f.GreaterOrEqual("telephoneNumber", "1"),  # telephoneNumberMatch has no ordering
        f.Extensible("sn", "fooMatch", "Zed", False),  # an unknown rule
        f.Extensible(None, None, "x", False),
        f.Equality("createTimestamp", "not a time"),
    ],
)
def test_undefined_filters_match_nothing(tree: DirectoryTree, filter: f.Filter) -> None:
    assert ids(tree, filter) == []


def test_three_valued_logic(tree: DirectoryTree) -> None:
    undefined = f.Equality("fooBar", "x")
    # TRUE or Undefined is TRUE; FALSE and Undefined is FALSE, so its negation is TRUE
    assert ids(tree, f.Or((f.Equality("sn", "zed"), undefined))) == [3]
    assert ids(tree, f.Not(f.And((f.Equality("sn", "zed"), undefined)))) == [1, 2, 4]


def test_scopes_and_tree_order(tree: DirectoryTree) -> None:
    everything = f.Present("objectClass")
    all_ = uuids(tree, everything)
    assert all_[:3] == ["dc=meta", "ou=contacts,dc=meta", "ou=partners,dc=meta"]
    assert ids(tree, everything) == [1, 2, 3, 4]
    assert uuids(tree, everything, scope=Scope.ONE) == [
        "ou=contacts,dc=meta",
        "ou=partners,dc=meta",
    ]
    assert ids(tree, everything, base="ou=contacts,dc=meta", scope=Scope.ONE) == [1, 2, 3]
    assert uuids(tree, everything, base="OU=Partners, DC=Meta", scope=Scope.BASE) == [
        "ou=partners,dc=meta"
    ]
    entry_dn = "entryUUID=0000-0002,ou=contacts,dc=meta"
    assert ids(tree, everything, base=entry_dn, scope=Scope.BASE) == [2]
    assert ids(tree, everything, base=entry_dn, scope=Scope.ONE) == []
    assert ids(tree, f.Present("objectClass"), visible={"partners"}) == [4]


def test_missing_base_names_closest_ancestor(tree: DirectoryTree) -> None:
    assert tree.resolve("ou=nope,dc=meta", None) == NoSuchObject("dc=meta")
    gone = "entryUUID=9999,ou=contacts,dc=meta"
    assert tree.resolve(gone, None) == NoSuchObject("ou=contacts,dc=meta")
    assert tree.resolve("dc=example,dc=com", None) == NoSuchObject("")
    assert tree.resolve("not a dn", None) == NoSuchObject("")
    # a directory the identity may not read does not exist for it
    assert tree.resolve("ou=contacts,dc=meta", {"partners"}) == NoSuchObject("dc=meta")


def test_changes_update_index(tree: DirectoryTree) -> None:
    assert tree.apply(
        [
            stored(2, cn="Anna Schmidt-Berg", sn="Schmidt-Berg"),
            stored(3, deleted=True),
            stored(5, cn="Neu", sn="Neu"),
        ]
    ) == (1, 1, 1)
    assert ids(tree, f.Equality("sn", "schmidt")) == []
    assert ids(tree, f.Substrings("sn", "schmidt", (), None)) == [2]
    assert ids(tree, f.Present("mobile")) == []  # the old value is gone with the update
    assert ids(tree, f.Equality("sn", "zed")) == []
    assert ids(tree, f.Present("objectClass"), base="ou=contacts,dc=meta", scope=Scope.ONE) == [
        1,
        2,
        5,
    ]
    assert tree.size == 4


def test_entries_of_unconfigured_replicators_are_not_served(tree: DirectoryTree) -> None:
    tree.apply(
        [
            stored(7, replicator="old-import", cn="Stale", sn="Stale"),
            stored(8, directory="gone", cn="Elsewhere", sn="Elsewhere"),
        ]
    )
    assert ids(tree, f.Substrings("sn", None, (), "e")) == []


def test_contact_entry_shape(tree: DirectoryTree) -> None:
    entry = tree.resolve("entryUUID=0000-0001,ou=contacts,dc=meta", None)
    assert isinstance(entry, Entry)
    assert entry.dn == "entryUUID=0000-0001,ou=contacts,dc=meta"
    attrs = entry.attributes
    assert next(iter(attrs)) == "objectClass"
    assert set(attrs["objectClass"]) >= {"top", "person", "organizationalPerson", "inetOrgPerson"}
    assert attrs["createTimestamp"] == ("20261121063000Z",)
    assert tree.index.entries[ROOT_ID].dn == "dc=meta"


@pytest.mark.parametrize(
    ("scope_base", "filter", "expected"),
    [
        ("ou=contacts,dc=meta", f.GreaterOrEqual("sn", "s"), [2, 3]),
        ("ou=contacts,dc=meta", f.LessOrEqual("cn", "b"), [2, 3]),
        ("entryUUID=0000-0003,ou=contacts,dc=meta", f.LessOrEqual("cn", "b"), [3]),
        ("entryUUID=0000-0001,ou=contacts,dc=meta", f.LessOrEqual("cn", "b"), []),
        ("entryUUID=0000-0001,ou=contacts,dc=meta", f.GreaterOrEqual("sn", "n"), []),
    ],
)
def test_ordering_in_small_scopes(
    tree: DirectoryTree, scope_base: str, filter: f.Filter, expected: list[int]
) -> None:
    # scopes smaller than the attribute's value list are tested entry by entry
    assert ids(tree, filter, base=scope_base) == expected


def test_timestamps_compare_as_times(tree: DirectoryTree) -> None:
    assert ids(tree, f.GreaterOrEqual("modifyTimestamp", "20261121073000+0100")) == [1, 2, 3, 4]
    assert ids(tree, f.GreaterOrEqual("modifyTimestamp", "20261121063001Z")) == []


def test_contacts_without_last_name_get_sn_from_cn(tree: DirectoryTree) -> None:
    tree.apply([stored(6, cn="ACME GmbH", displayName="ACME GmbH", company="ACME GmbH")])
    entry = tree.resolve("entryUUID=0000-0006,ou=contacts,dc=meta", None)
    assert isinstance(entry, Entry)
    assert list(entry.attributes["sn"]) == ["ACME GmbH"]
    assert ids(tree, f.Equality("sn", "acme gmbh")) == [6]


def test_size_limited_search_takes_the_first_matches_in_tree_order() -> None:
    """A size-limited ``|`` of name assertions merges each value's ids in order instead of
    collecting every match; it must return exactly the first ones of the full result, also
    after the ids of a value many entries share (kept in order once asked for) change."""
    t = DirectoryTree([directory("contacts", "crm"), directory("partners", "erp")])
    names = ["Müller", "Müllerová", "Mueller", "Schmidt"]
    t.apply(
        stored(
            n,
            directory="contacts" if n % 3 else "partners",
            replicator="crm" if n % 3 else "erp",
            cn=f"{'Mülan' if n % 7 == 0 else 'Hans'} {names[n % 4]}",
            sn=names[n % 4],
        )
        for n in range(1, 400)
    )
    filters = [
        f.Or((f.Substrings("cn", "mül", (), None), f.Substrings("sn", "mül", (), None))),
        f.Substrings("sn", "MÜL", (), None),
        f.Substrings("sn", "m", ("l",), "r"),
        f.Equality("sn", "müller"),
        f.Or((f.Equality("sn", "schmidt"), f.Substrings("cn", "mülan", (), None))),
        f.Or((f.Equality("sn", "nobody"), f.Substrings("givenName", "x", (), None))),
    ]

    def check() -> None:
        for filter in filters:
            for base, visible in (("dc=meta", None), ("ou=partners,dc=meta", None),
                                  ("dc=meta", {"contacts"})):  # fmt: skip
                target = t.resolve(base, visible)
                assert not isinstance(target, NoSuchObject)
                every = t.search(target, Scope.SUB, filter, visible)
                for first in (1, 5, 51, 1000):
                    limited = t.search(target, Scope.SUB, filter, visible, first=first)
                    assert limited == every[:first], (filter, base, visible, first)

    check()
    # entries leave, join and change the values whose ordered ids were kept
    t.apply([stored(4, deleted=True), stored(8, cn="Anna Schmidt", sn="Schmidt")])
    t.apply([stored(500, cn="Mülan Müller", sn="Müller"), stored(2, cn="A Müller", sn="Müller")])
    check()
    first = t.search(t.root, Scope.SUB, f.Equality("sn", "müller"), None, first=2)
    assert [e.attributes["entryUUID"][0] for e in first] == ["0000-0002", "0000-0012"]


def test_attributes_phones_do_not_search_are_indexed_on_first_use(tree: DirectoryTree) -> None:
    tree.apply([stored(7, cn="Eva Berg", sn="Berg", l="München", street="Hauptstr. 1")])
    assert tree.index._attributes.keys().isdisjoint({"l", "street", "entryDN"})
    assert "sn" in tree.index._attributes  # names and numbers are indexed as they arrive
    assert ids(tree, f.Equality("l", "MÜNCHEN")) == [7]
    # built now, and kept up to date from then on
    tree.apply([stored(8, cn="Max Roth", sn="Roth", l="München"), stored(7, deleted=True)])
    assert ids(tree, f.Equality("l", "münchen")) == [8]
    assert ids(tree, f.Substrings("street", "haupt", (), None)) == []
    assert uuids(tree, f.Equality("entryDN", "entryUUID=0000-0008,OU=contacts,dc=meta")) == [
        "0000-0008"
    ]
