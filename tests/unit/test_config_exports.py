"""The ``exports:`` section: kinds by entry point, the directories an export reads, its
filter matched as the LDAP server matches, and every bad input named with its key path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from metadir.commands.check import check_command
from metadir.config import load_config
from metadir.core.records import StoredEntry
from replicators import export_kind
from tests.export_kind import JsonLinesExport, install_export_kind
from tests.unit.test_config import problems, write

DIRECTORIES = """
location: {country: DE, area_code: "89"}
directories:
  - name: staff
    replicators: [{name: hr, type: csv, path: hr.csv, key: Id}]
  - name: rooms
    base_dn: ou=rooms,dc=meta
"""


@pytest.fixture(autouse=True)
def jsonl_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``type: jsonl`` installed as a plug-in distribution is."""
    install_export_kind(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    export_kind.cache_clear()
    yield
    export_kind.cache_clear()


def exports(text: str) -> str:
    return DIRECTORIES + "exports:\n" + text


def test_an_export_is_validated_by_its_kind(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            exports(
                "  - {name: phones, type: jsonl, path: out.jsonl, directory: staff,\n"
                "     max_delete: 5, schedule: {every: 15m}}\n"
                "  - {name: all, type: jsonl}\n"
            ),
        )
    )
    phones, every = config.exports
    assert isinstance(phones, JsonLinesExport)
    assert (phones.path, phones.max_delete.count, str(phones.schedule)) == (
        "out.jsonl", 5, "every 15m"
    )  # fmt: skip
    assert config.export("phones") is phones and config.export("nope") is None
    job = config.export_job(phones)
    assert (job.directories, job.base_dir, job.select) == (("staff",), tmp_path, None)
    # neither directory nor base_dn: every directory; max_delete 20 % by default
    assert config.export_job(every).directories == ("staff", "rooms")
    assert str(every.max_delete) == "20 %"


@pytest.mark.parametrize(
    ("base_dn", "expected"),
    [("dc=meta", ("staff", "rooms")), ("OU=Rooms, DC=meta", ("rooms",))],
)
def test_base_dn_takes_the_directories_at_or_below_it(
    tmp_path: Path, base_dn: str, expected: tuple[str, ...]
) -> None:
    config = load_config(
        write(tmp_path, exports(f"  - {{name: e, type: jsonl, base_dn: '{base_dn}'}}\n"))
    )
    assert config.export_job(config.exports[0]).directories == expected


@pytest.mark.parametrize(
    ("selection", "expected"), [("", ("staff", "rooms")), ("directory: rooms, ", ("rooms",))]
)
def test_an_ldap_exports_base_dn_is_its_target_ou(
    tmp_path: Path, selection: str, expected: tuple[str, ...]
) -> None:
    """As the LDAP source's base_dn is where it reads, the LDAP export's is where it writes;
    it selects by directory (and filter) only, so a target OU matching no directory is no
    fault."""
    config = load_config(
        write(
            tmp_path,
            exports(
                f"  - {{name: ad, type: ldap, {selection}url: ldaps://dc1.example.com,\n"
                "     base_dn: 'OU=Phonebook,DC=example,DC=com', filter: '(mobile=*)'}\n"
            ),
        )
    )
    export = config.exports[0]
    assert export.base_dn == "OU=Phonebook,DC=example,DC=com"
    assert config.export_job(export).directories == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "  - {name: e, type: jsn}\n",
            "exports[0].type: unknown export type 'jsn'; known types: ",
        ),
        ("  - {name: e}\n", "exports[0].type: required key is missing; known types: "),
        (
            "  - {name: e, type: jsonl, pth: x}\n",
            "exports[0].pth: unknown key (did you mean 'path'?)",
        ),
        (
            "  - {name: e, type: jsonl, directory: staf}\n",
            "exports[0].directory: no directory named 'staf'; known: staff, rooms",
        ),
        (
            "  - {name: e, type: jsonl, base_dn: 'ou=desks,dc=meta'}\n",
            "exports[0].base_dn: no directory at or below 'ou=desks,dc=meta'",
        ),
        (
            "  - {name: e, type: jsonl, base_dn: 'desks'}\n",
            "exports[0].base_dn: not a valid DN",
        ),
        (
            "  - {name: e, type: jsonl, directory: staff, base_dn: 'dc=meta'}\n",
            "exports[0]: give either 'directory' or 'base_dn', not both",
        ),
        (
            "  - {name: e, type: jsonl, filter: '(&(cn=a)(sn=b)'}\n",
            "exports[0].filter: not an LDAP filter: Expected ')' at character 15: '(&(cn=a)(sn=b)'",
        ),
        (
            "  - {name: e, type: jsonl, filter: '(|(mobil=*)(cn=a))'}\n",
            "exports[0].filter: unknown attribute 'mobil' in (mobil=*)",
        ),
        (
            "  - {name: e, type: jsonl, filter: '(cn:fuzzyMatch:=a)'}\n",
            "exports[0].filter: unknown matching rule 'fuzzyMatch' in (cn:fuzzyMatch:=a)",
        ),
        (
            "  - {name: e, type: jsonl, max_delete: lots}\n",
            "exports[0].max_delete: expected a share such as '20%' or a count such as 50",
        ),
        (
            "  - {name: a, type: csv, path: out/phones.csv}\n"
            "  - {name: b, type: xml, path: out/../out/phones.csv}\n",
            "exports[1].path: exports[0].path writes there already",
        ),
        (
            "  - {name: a, type: csv, path: a.csv, cache: rows.db}\n"
            "  - {name: b, type: csv, path: b.csv, cache: rows.db}\n",
            "exports[1].cache: exports[0].cache writes there already",
        ),
        (
            "  - {name: e, type: jsonl}\n  - {name: e, type: jsonl, path: b}\n",
            "exports[1].name: export 'e' is already defined at exports[0]",
        ),
        (
            "  - {name: hr, type: jsonl}\n",
            "exports[0].name: 'hr' is already a replicator's name (directories[0].replicators[0])",
        ),
        (
            "  - {name: 'export:x', type: jsonl}\n",
            "exports[0].name: ",
        ),
    ],
)
def test_bad_exports_are_named(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, exports(text))
    assert any(p.startswith(expected) for p in found), found


def test_no_directory_to_export(tmp_path: Path) -> None:
    found = problems(tmp_path, "exports:\n  - {name: e, type: jsonl}\n")
    assert found == ["exports[0]: no directories configured to export"]


def test_a_broken_export_kind_stops_only_configs_that_use_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "site2" / "broken_target-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-target\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[metadir.exports]\nbroken = no_such_mod:Settings\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site2"))
    assert load_config(write(tmp_path, exports("  - {name: e, type: jsonl}\n"))).exports
    found = problems(tmp_path, exports("  - {name: e, type: broken}\n"))
    assert found == [
        "export type 'broken' (no_such_mod:Settings, broken-target): No module named "
        "'no_such_mod'; reinstall or remove that package"
    ]


def stored(n: int, directory: str, **attributes: list[str]) -> StoredEntry:
    now = datetime.now(UTC)
    numbers = {k: v for k, v in attributes.items() if k == "telephoneNumber"}
    replicator = "hr" if directory == "staff" else "none"
    return StoredEntry(
        n, f"00000000-0000-0000-0000-{n:012d}", directory, replicator, (str(n),),
        attributes, now, now, False, numbers,
    )  # fmt: skip


def test_the_filter_matches_as_the_server_does(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            exports(
                "  - name: e\n    type: jsonl\n"
                "    filter: '(&(objectClass=person)(|(telephoneNumber=089 1234-567)"
                "(sn=MÜLL*))(!(title=*)))'\n"
            ),
        )
    )
    select = config.export_job(config.exports[0]).select
    assert select is not None
    batch = [
        stored(1, "staff", cn=["Anna"], sn=["Berg"], telephoneNumber=["+49891234567"]),
        stored(2, "staff", cn=["Jo"], sn=["Müller"]),
        stored(3, "staff", cn=["Max"], sn=["Müller"], title=["Boss"]),
        stored(4, "staff", cn=["Eva"], sn=["Weber"], telephoneNumber=["+49307654321"]),
    ]
    # numbers by their value in the directory's location, names case- and accent-folded
    assert select(batch) == {1, 2}


def test_check_finds_a_file_export_without_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "hr.csv").write_text("Id,sn\n1,Berg\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    config = load_config(
        write(
            tmp_path,
            exports(
                "  - {name: book, type: csv, path: out/book.csv}\n"
                "  - {name: phones, type: xml, path: gone/phones.xml}\n"
            ),
        )
    )
    assert check_command(config) == 1
    assert capsys.readouterr().err == (
        f"{config.path}: exports[1] (phones): target: folder {tmp_path / 'gone'} does not exist\n"
    )
    (tmp_path / "gone").mkdir()
    assert check_command(config) == 0
    assert ", 2 exports, " in capsys.readouterr().out
