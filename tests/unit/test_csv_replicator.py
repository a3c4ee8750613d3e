"""The CSV replicator on real files: encodings, delimiters, quoting, broken rows, bad files,
and its settings as metadir.config.load_config validates them."""

from __future__ import annotations

import codecs
import logging
import re
import textwrap
from pathlib import Path

import pytest

from metadir.config import load_config
from metadir.core.errors import ConfigError, SourceError
from replicators.base import Context, Problem, Record
from replicators.csv import CsvConfig, CsvReplicator
from replicators.csv_table import sniff_delimiter
from replicators.files import count_lines

GERMAN = "Nr;Vorname;Nachname;Ort\r\n1;Jürgen;Groß;München\r\n2;Zoë;Müller-Weiß;Köln\r\n"
GERMAN_ROWS = [
    Record(("1",), {"Nr": "1", "Vorname": "Jürgen", "Nachname": "Groß", "Ort": "München"}, 2),
    Record(("2",), {"Nr": "2", "Vorname": "Zoë", "Nachname": "Müller-Weiß", "Ort": "Köln"}, 3),
]


def csv_replicator(tmp_path: Path, data: bytes | str, **settings: object) -> CsvReplicator:
    """A replicator over a file holding ``data`` (text is written as UTF-8)."""
    path = tmp_path / "contacts.csv"
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    settings = {"name": "crm", "type": "csv", "path": path.name, "key": "Nr", **settings}
    replicator = CsvConfig.model_validate(settings).build(Context(tmp_path))
    assert isinstance(replicator, CsvReplicator)
    return replicator


def records(replicator: CsvReplicator) -> list[Record]:
    out = list(replicator.read())
    assert not [p for p in out if isinstance(p, Problem)], out
    return out  # type: ignore[return-value]


def split(replicator: CsvReplicator) -> tuple[list[Record], list[Problem]]:
    out = list(replicator.read())
    return [r for r in out if isinstance(r, Record)], [p for p in out if isinstance(p, Problem)]


# --- encodings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("utf-8", GERMAN.encode("utf-8")),
        ("utf-8-sig", codecs.BOM_UTF8 + GERMAN.encode("utf-8")),
        ("cp1252", GERMAN.encode("cp1252")),
        ("latin-1", GERMAN.encode("latin-1")),
        ("utf-16", GERMAN.encode("utf-16")),  # with BOM
        ("UTF-16-LE", GERMAN.encode("utf-16-le")),  # any Python codec name
        # auto: what the BOM says, else UTF-8, else cp1252
        ("auto", GERMAN.encode("utf-8")),
        ("auto", codecs.BOM_UTF8 + GERMAN.encode("utf-8")),
        ("auto", GERMAN.encode("utf-16")),
        ("auto", codecs.BOM_UTF16_BE + GERMAN.encode("utf-16-be")),
        ("auto", codecs.BOM_UTF32_LE + GERMAN.encode("utf-32-le")),
        ("auto", GERMAN.encode("cp1252")),
        ("auto", GERMAN.encode("latin-1")),
    ],
)
def test_encodings(tmp_path: Path, encoding: str, data: bytes) -> None:
    replicator = csv_replicator(tmp_path, data, encoding=encoding)
    assert replicator.check() == ["Nr", "Vorname", "Nachname", "Ort"]
    assert records(replicator) == GERMAN_ROWS


def test_auto_says_when_it_falls_back_to_cp1252(tmp_path: Path, caplog) -> None:
    replicator = csv_replicator(tmp_path, "Nr;Name\r\n1;Gruß – Ärger €\r\n".encode("cp1252"))
    with caplog.at_level(logging.INFO, logger="replicators.csv"):
        assert [r.values["Name"] for r in records(replicator)] == ["Gruß – Ärger €"]
    assert "contacts.csv: not UTF-8, reading it as cp1252" in caplog.text


def test_auto_reads_a_utf8_file_with_umlauts_only_at_its_end_as_utf8(tmp_path: Path) -> None:
    # the whole file decides, not its first block; and "ä" straddles the 1 MiB read boundary
    data = "Nr;Name\n" + "".join(f"{i};{'x' * 90}\n" for i in range(10_000))
    data += "0;" + "x" * ((1 << 20) - len(data) - 3) + "ä\n1;Wäscherei\n"
    assert data.encode()[(1 << 20) - 1 : (1 << 20) + 1] == "ä".encode()
    rows = records(csv_replicator(tmp_path, data))
    assert [r.values["Name"] for r in rows[-2:]] == [rows[-2].values["Name"], "Wäscherei"]
    assert rows[-2].values["Name"].endswith("xä")


UTF8_NAMES = "".join(f"{i};Günther & Pfeiffer GmbH {i};Kovačević\n" for i in range(3, 40))


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        # a UTF-8 file but for a stray byte is UTF-8: the byte's row is skipped, keeping its key
        (b"1;Stra\xdfe;Ulm\n", [Problem("holds byte 0xdf, which is no UTF-8", 39, ("1",))]),
        # the key itself cannot be trusted then
        (b"1\xe9;Caf\xe9;Ulm\n", [Problem("holds byte 0xe9, which is no UTF-8", 39)]),
        # a multi-byte character cut short at the end of the file
        (b"1;ok;Ulm\n2;Ulm;G\xc3", [Problem("holds byte 0xc3, which is no UTF-8", 40, ("2",))]),
    ],
)
def test_auto_reads_utf8_with_a_few_stray_bytes_as_utf8(
    tmp_path: Path, data: bytes, problems: list[Problem], caplog
) -> None:
    replicator = csv_replicator(tmp_path, b"Nr;Name;Ort\n" + UTF8_NAMES.encode() + data, key="Nr")
    assert replicator.check() == ["Nr", "Name", "Ort"]
    with caplog.at_level(logging.WARNING, logger="replicators.csv"):
        rows, found = split(replicator)
    assert found == problems
    assert {r.values["Name"] for r in rows} >= {"Günther & Pfeiffer GmbH 3"}
    assert {r.values["Ort"] for r in rows} >= {"Kovačević"}
    assert re.search(
        r"contacts\.csv: UTF-8 but for \d byte\(s\); their rows are skipped", caplog.text
    )


def test_auto_stray_byte_in_the_header_names_its_line(tmp_path: Path) -> None:
    replicator = csv_replicator(tmp_path, b"Nr;Na\xefme\n" + UTF8_NAMES.encode())
    with pytest.raises(SourceError, match="cannot read the header: line 1: holds byte 0xef"):
        replicator.check()


def test_auto_reads_a_file_with_more_stray_bytes_than_utf8_as_cp1252(tmp_path: Path) -> None:
    # one valid UTF-8 pair ("Ã¼" written as cp1252 is b"\xc3\xbc") among cp1252 umlauts
    data = "Nr;Name\n1;MÃ¼ller\n2;Groß\n3;Jürgen\n".encode("cp1252")
    rows = records(csv_replicator(tmp_path, data))
    assert [r.values["Name"] for r in rows] == ["MÃ¼ller", "Groß", "Jürgen"]


def test_explicit_utf8_ignores_a_byte_order_mark(tmp_path: Path) -> None:
    data = codecs.BOM_UTF8 + GERMAN.encode("utf-8")
    replicator = csv_replicator(tmp_path, data, encoding="utf-8")
    assert replicator.check()[0] == "Nr"
    assert records(replicator) == GERMAN_ROWS


def test_undecodable_byte_names_file_line_and_offset(tmp_path: Path) -> None:
    data = b"Nr;Name\n1;ok\n2;bad \xff here\n3;ok\n"
    replicator = csv_replicator(tmp_path, data, encoding="utf-8")
    with pytest.raises(SourceError) as check_error:
        replicator.check()
    message = str(check_error.value)
    assert "contacts.csv: line 3, byte 19: cannot decode b'\\xff' as utf-8" in message
    assert "set encoding:" in message
    with pytest.raises(SourceError) as read_error:
        list(replicator.read())
    assert str(read_error.value) == message


def test_undecodable_offset_counts_the_bom(tmp_path: Path) -> None:
    data = codecs.BOM_UTF8 + b"Nr;Name\n1;\xff\n"
    with pytest.raises(SourceError, match=r"line 2, byte 13: cannot decode b'\\xff' as utf-8-sig"):
        csv_replicator(tmp_path, data, encoding="utf-8-sig").check()


def test_auto_fails_clearly_when_neither_utf8_nor_cp1252(tmp_path: Path) -> None:
    # 0x81 is undefined in cp1252 and not valid UTF-8 here
    replicator = csv_replicator(tmp_path, b"Nr;Name\n1;M\xfcller\n2;\x81\n")
    with pytest.raises(SourceError, match=r"line 3, byte 19: .* as UTF-8 or cp1252"):
        replicator.check()
    with pytest.raises(SourceError, match="as UTF-8 or cp1252"):
        list(replicator.read())


def test_utf16_without_bom_gets_a_hint(tmp_path: Path) -> None:
    replicator = csv_replicator(tmp_path, GERMAN.encode("utf-16-le"))
    with pytest.raises(SourceError, match=r"NUL bytes.*set encoding: utf-16"):
        replicator.check()


# --- delimiters --------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("configured", [True, False])
def test_delimiters(tmp_path: Path, delimiter: str, configured: bool) -> None:
    # the other delimiters appear in the values and must stay there
    others = "".join(d for d in ",;|" if d != delimiter)
    data = delimiter.join(["Nr", "Name", "Ort"]) + "\n"
    data += delimiter.join(["1", f"A{others}B", '"x' + delimiter + 'y"']) + "\n"
    settings = {"delimiter": delimiter} if configured else {}
    rows = records(csv_replicator(tmp_path, data, **settings))
    assert rows == [Record(("1",), {"Nr": "1", "Name": f"A{others}B", "Ort": f"x{delimiter}y"}, 2)]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a;b;c,d", ";"),
        ("a\tb\tc;d", "\t"),
        ("a|b|c", "|"),
        ('"x,y,z";"u";v', ";"),  # delimiters inside quotes do not count
        ("a;b,c", ","),  # a tie
        ("name", ","),  # none at all
    ],
)
def test_sniff_delimiter(header: str, expected: str) -> None:
    assert sniff_delimiter(header + "\r\n") == expected


def test_configured_delimiter_wins_over_sniffing(tmp_path: Path) -> None:
    data = "Nr,Name;Zusatz;Ort\n1,Meier;GmbH;Köln\n"
    rows = records(csv_replicator(tmp_path, data, delimiter=","))
    assert rows[0].values == {"Nr": "1", "Name;Zusatz;Ort": "Meier;GmbH;Köln"}


# --- quoting, line numbers, keys, header -------------------------------------------------


def test_quoted_newlines_and_doubled_quotes(tmp_path: Path) -> None:
    data = (
        "Nr;Name;Notiz\r\n"
        '1;"Müller; Söhne";"Zeile 1\r\nZeile 2"\r\n'
        '2;"Sagt ""Hallo""";"a\nb\n\nc"\r\n'
        "3;Ende;\r\n"
    )
    rows = records(csv_replicator(tmp_path, data))
    assert [(r.line, r.values) for r in rows] == [
        (2, {"Nr": "1", "Name": "Müller; Söhne", "Notiz": "Zeile 1\r\nZeile 2"}),
        (4, {"Nr": "2", "Name": 'Sagt "Hallo"', "Notiz": "a\nb\n\nc"}),
        (8, {"Nr": "3", "Name": "Ende", "Notiz": ""}),
    ]


def test_values_and_names_are_stripped(tmp_path: Path) -> None:
    data = " Nr ; Name \n 7 ;  Anna Schmidt  \n"
    replicator = csv_replicator(tmp_path, data)
    assert replicator.check() == ["Nr", "Name"]
    assert records(replicator) == [Record(("7",), {"Nr": "7", "Name": "Anna Schmidt"}, 2)]


def test_composite_key(tmp_path: Path) -> None:
    data = "Mandant;Nr;Name\nA;1;Erika\nB;1;Hans\n"
    rows = records(csv_replicator(tmp_path, data, key=["Mandant", "Nr"]))
    assert [r.key for r in rows] == [("A", "1"), ("B", "1")]


def test_empty_and_duplicate_keys_are_left_to_the_sync_engine(tmp_path: Path) -> None:
    data = "Nr;Name\n1;Erika\n;Ohne\n1;Doppelt\n"
    rows = records(csv_replicator(tmp_path, data))
    assert [(r.key, r.line) for r in rows] == [(("1",), 2), (("",), 3), (("1",), 4)]


def test_no_header_uses_columns(tmp_path: Path) -> None:
    data = "1;Erika;Mustermann\n\n2;Hans;Meier\n"
    replicator = csv_replicator(tmp_path, data, header=False, columns=["Nr", "Vorname", "Name"])
    assert replicator.check() == ["Nr", "Vorname", "Name"]
    rows = records(replicator)
    assert [(r.line, r.values) for r in rows] == [
        (1, {"Nr": "1", "Vorname": "Erika", "Name": "Mustermann"}),
        (3, {"Nr": "2", "Vorname": "Hans", "Name": "Meier"}),
    ]


def test_no_header_wrong_field_count(tmp_path: Path) -> None:
    replicator = csv_replicator(tmp_path, "1;Erika\n", header=False, columns=["Nr", "A", "B"])
    assert split(replicator) == ([], [Problem("2 fields, columns has 3", 1, ("1",))])


def test_blank_lines_are_skipped_silently(tmp_path: Path) -> None:
    data = "\r\n   \r\nNr;Name\r\n\r\n1;Erika\r\n;\r\n \t; \r\n\r\n2;Hans\r\n\r\n\r\n"
    replicator = csv_replicator(tmp_path, data)
    assert replicator.check() == ["Nr", "Name"]
    assert [(r.key, r.line) for r in records(replicator)] == [(("1",), 5), (("2",), 9)]


def test_old_mac_line_ends(tmp_path: Path) -> None:
    rows = records(csv_replicator(tmp_path, "Nr;Name\r1;Erika\r2;Hans\r"))
    assert [(r.key, r.line) for r in rows] == [(("1",), 2), (("2",), 3)]


# --- broken rows -------------------------------------------------------------------------


def test_wrong_field_counts(tmp_path: Path) -> None:
    data = "Nr;A;B\n1;a;b\n2;a;b;c;d\n3;a\n4;a;b\n5\n"
    rows, problems = split(csv_replicator(tmp_path, data))
    assert [r.key for r in rows] == [("1",), ("4",)]
    assert problems == [
        Problem("5 fields, header has 3", 3, ("2",)),
        Problem("2 fields, header has 3", 4, ("3",)),
        Problem("1 field, header has 3", 6, ("5",)),
    ]


def test_unclosed_quote_in_the_middle(tmp_path: Path) -> None:
    # without recovery, csv would read lines 3-5 as one row and lose rows 2-4
    data = 'Nr;Name;Ort\n1;Erika;Köln\n2;"Hans;Bonn\n3;Anna;Bonn\n4;Jörg;Ulm\n'
    rows, problems = split(csv_replicator(tmp_path, data))
    assert [(r.key, r.line) for r in rows] == [(("1",), 2), (("3",), 4), (("4",), 5)]
    assert [p.line for p in problems] == [3]
    assert problems[0].message.startswith("unclosed quote")


def test_unclosed_quote_before_a_quoted_field(tmp_path: Path) -> None:
    # the next quote closes the open field and csv then sees bad quoting
    data = 'Nr;Name;Ort\n1;"Erika;Köln\n2;Hans;Bonn\n3;"Anna";"Ulm"\n4;Jörg;Ulm\n'
    rows, problems = split(csv_replicator(tmp_path, data))
    assert [(r.key, r.line) for r in rows] == [(("2",), 3), (("3",), 4), (("4",), 5)]
    assert problems == [Problem("unclosed quote", 2, ("1",))]


def test_unclosed_quote_closed_by_a_later_trailing_quote(tmp_path: Path) -> None:
    # csv ends the open field at line 5's trailing quote: one row of 2 fields over 3 lines
    data = 'Nr;Name;Ort\n1;Erika;Köln\n2;"Hans;Bonn\n3;Anna;Bonn\n4;Jörg;Zoll 5"\n5;Eva;Ulm\n'
    rows, problems = split(csv_replicator(tmp_path, data))
    assert [(r.key[0], r.line) for r in rows] == [("1", 2), ("3", 4), ("4", 5), ("5", 6)]
    assert rows[2].values["Ort"] == 'Zoll 5"'
    assert problems == [
        Problem(
            "unclosed quote (read on, the row would end at line 5 with 2 fields, header has 3)",
            3,
            ("2",),
        )
    ]


def test_unclosed_quote_on_the_last_line(tmp_path: Path) -> None:
    rows, problems = split(csv_replicator(tmp_path, 'Nr;Name\n1;Erika\n2;"Hans\n'))
    assert [r.key for r in rows] == [("1",)]
    assert problems == [Problem("unclosed quote", 3, ("2",))]


def test_stray_quote_in_one_line(tmp_path: Path) -> None:
    rows, problems = split(csv_replicator(tmp_path, 'Nr;Name\n1;"Eri"ka\n2;Hans\n'))
    assert [r.key for r in rows] == [("2",)]
    assert len(problems) == 1
    assert problems[0].line == 2
    assert problems[0].message == "cannot parse: ';' expected after '\"'"


def test_line_numbers_after_broken_and_multiline_rows(tmp_path: Path) -> None:
    data = (
        "Nr;Name;Notiz\n"  # 1
        '1;Erika;"a\nb\nc"\n'  # 2-4
        '2;"Hans;x\n'  # 5: unclosed
        "3;Anna;y\n"  # 6
        "4;Jörg\n"  # 7: too few
        '5;Uwe;"d\ne"\n'  # 8-9
        "6;Eva;z\n"  # 10
    )
    rows, problems = split(csv_replicator(tmp_path, data))
    assert [(r.key[0], r.line) for r in rows] == [("1", 2), ("3", 6), ("5", 8), ("6", 10)]
    assert [p.line for p in problems] == [5, 7]


def test_nul_byte_is_a_problem_for_its_line(tmp_path: Path) -> None:
    rows, problems = split(csv_replicator(tmp_path, "Nr;Name\n1;Er\x00ika\n2;Hans\n"))
    assert [r.key for r in rows] == [("2",)]
    assert problems == [Problem("contains a NUL byte", 2, ("1",))]


def test_many_broken_rows_never_swallow_good_ones(tmp_path: Path) -> None:
    lines = ["Nr;Name;Ort"]
    for i in range(300):
        lines.append(f'{i};"open;x' if i % 3 == 0 else f"{i};Name {i};Ort")
    rows, problems = split(csv_replicator(tmp_path, "\n".join(lines) + "\n"))
    assert [int(r.key[0]) for r in rows] == [i for i in range(300) if i % 3]
    assert [p.line for p in problems] == [i + 2 for i in range(300) if i % 3 == 0]


@pytest.mark.parametrize(
    ("key", "row", "expected"),
    [
        # the engine keeps the entry of a broken row's key: it is given only when sure
        ("Nr", "1;Erika", ("1",)),  # too few fields: the first is in place
        ("Nr", "1;Erika;Köln;x", ("1",)),  # too many
        ("Ort", "1;Erika;Köln;x", None),  # a stray ';' may have shifted the rest
        ("Nr", "1;Er\x00ika;Köln", ("1",)),  # a NUL byte elsewhere
        ("Ort", "1;Er\x00ika;Köln", ("Köln",)),  # ... with every field in place
        ("Nr", "1\x00;Erika;Köln", None),  # a NUL byte in the key
        ("Nr", '1;"Erika;Köln', ("1",)),  # the fields before an open quote were read whole
        ("Ort", '1;"Erika;Köln', None),
        ("Nr", '"1;Erika;Köln', None),  # the key's own quote never closes
        ("Nr", '1;"Eri"ka;Köln', ("1",)),  # a stray quote
        ("Nr", ";Erika", None),  # no key to keep
    ],
)
def test_a_broken_row_carries_its_key_when_it_can_be_read(
    tmp_path: Path, key: str, row: str, expected: tuple[str, ...] | None
) -> None:
    rows, problems = split(csv_replicator(tmp_path, f"Nr;Name;Ort\n{row}\n", key=key))
    assert (rows, [(p.line, p.key) for p in problems]) == ([], [(2, expected)])


# --- bad files ---------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    replicator = CsvConfig(name="crm", type="csv", path="nowhere.csv", key=["Nr"]).build(
        Context(tmp_path)
    )
    with pytest.raises(SourceError, match=r"nowhere\.csv: cannot read: No such file"):
        replicator.check()
    with pytest.raises(SourceError, match=r"nowhere\.csv: cannot read: No such file"):
        list(replicator.read())


def test_file_removed_after_check(tmp_path: Path) -> None:
    replicator = csv_replicator(tmp_path, GERMAN)
    replicator.check()
    (tmp_path / "contacts.csv").unlink()
    with pytest.raises(SourceError, match=r"contacts\.csv: cannot read"):
        list(replicator.read())


@pytest.mark.parametrize("encoding", ["auto", "utf-8"])
def test_a_directory_is_not_a_file(tmp_path: Path, encoding: str) -> None:
    (tmp_path / "dir.csv").mkdir()
    settings = {"name": "crm", "type": "csv", "path": "dir.csv", "key": "Nr", "encoding": encoding}
    replicator = CsvConfig.model_validate(settings).build(Context(tmp_path))
    with pytest.raises(SourceError, match=r"dir\.csv: cannot read: Is a directory"):
        list(replicator.read())


@pytest.mark.parametrize("data", [b"", codecs.BOM_UTF8, b"\r\n \r\n\t\n", "\n".encode("utf-16")])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    replicator = csv_replicator(tmp_path, data)
    with pytest.raises(SourceError, match=r"contacts\.csv: the file is empty"):
        replicator.check()
    with pytest.raises(SourceError, match="the file is empty"):
        list(replicator.read())


def test_missing_key_column_lists_the_columns(tmp_path: Path) -> None:
    replicator = csv_replicator(tmp_path, GERMAN, key=["Kundennummer"])
    message = "contacts.csv: key column 'Kundennummer' is not in the header; its columns: Nr, "
    with pytest.raises(SourceError, match=message):
        replicator.check()
    with pytest.raises(SourceError, match=message):
        list(replicator.read())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("Nr;Name;Name\n1;a;b\n", "column 'Name' appears twice in the header (columns 2 and 3)"),
        ("Nr;;Name\n1;a;b\n", "column 2 of the header has no name"),
        ("Nr;Name;\n1;a;b\n", "column 3 of the header has no name"),
        ('Nr;"Name;Ort\n1;a";b\n', "column 2 of the header runs over several lines"),
        ('Nr;"Name;Ort\n1;a;b\n', "cannot read the header: line 1: unclosed quote"),
    ],
)
def test_bad_header(tmp_path: Path, data: str, message: str) -> None:
    replicator = csv_replicator(tmp_path, data)
    with pytest.raises(SourceError, match=r"contacts\.csv: " + re.escape(message)):
        replicator.check()


# --- the rows a read expects -----------------------------------------------------------------


def expected(tmp_path: Path, data: bytes | str, **settings: object) -> list[int]:
    """What a read tells ``Context.expect``, having read every row."""
    told: list[int] = []
    replicator = csv_replicator(tmp_path, data, **settings)
    replicator.context = Context(tmp_path, expect=told.append)
    list(replicator.read())
    return told


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (GERMAN, "auto"),
        (GERMAN.removesuffix("\r\n"), "auto"),  # the last line without its end
        (GERMAN.replace("\r\n", "\r"), "auto"),  # old Mac line ends
        (GERMAN.encode("utf-16"), "auto"),
        (GERMAN.encode("utf-16-be"), "utf-16-be"),
        (GERMAN.encode("utf-32"), "auto"),
        (GERMAN.encode("cp1252"), "auto"),
    ],
    ids=["crlf", "no-last-end", "cr", "utf-16", "utf-16-be", "utf-32", "cp1252"],
)
def test_a_read_expects_a_row_a_line(tmp_path: Path, data: bytes | str, encoding: str) -> None:
    assert expected(tmp_path, data, encoding=encoding) == [2]


def test_without_a_header_every_line_is_a_row(tmp_path: Path) -> None:
    data = "1;Anna\n2;Bert\n3;Cleo\n"
    assert expected(tmp_path, data, header=False, columns=["Nr", "Name"]) == [3]


def test_the_estimate_is_about(tmp_path: Path) -> None:
    # a quoted line break and a blank line: 5 lines, 2 rows; the estimate is a line count
    data = 'Nr;Name\n1;"Anna\nMaria"\n\n2;Bert\n'
    assert expected(tmp_path, data) == [4]
    assert len(records(csv_replicator(tmp_path, data))) == 2


def test_count_lines_reads_in_chunks_without_moving_the_stream(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_bytes(b"a\n" * 1000 + b"last")
    with path.open("rb") as file:
        file.read(10)
        assert count_lines(file.fileno(), path.stat().st_size, chunk=7) == 1001
        assert count_lines(file.fileno(), 4) == 2  # only the first bytes: "a\na\n"
        assert count_lines(file.fileno(), 0) == 0
        # a chunk that ends just before the last zero byte of a UTF-16 line end
        path.write_bytes("a\nb\n".encode("utf-16-le"))
        assert count_lines(file.fileno(), 8, chunk=7) == 2
        assert file.tell() == 10


# --- settings through the config loader --------------------------------------------------


def load(tmp_path: Path, replicator: str) -> object:
    text = textwrap.dedent(
        """\
        directories:
          - name: contacts
            replicators:
              - name: crm
                type: csv
                path: data/contacts.csv
        """
    ) + textwrap.indent(textwrap.dedent(replicator), " " * 8)
    path = tmp_path / "metadir.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def config_problems(tmp_path: Path, replicator: str) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, replicator)
    return error.value.problems


def test_config_builds_a_replicator_reading_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "contacts.csv").write_text(GERMAN, encoding="cp1252")
    config = load(tmp_path, "key: Nr\ndelimiter: tab\nencoding: cp1252\n")
    _, settings = config.replicator("crm")
    assert isinstance(settings, CsvConfig)
    assert (settings.key, settings.delimiter, settings.encoding) == (["Nr"], "\t", "cp1252")
    replicator = settings.build(Context(config.base_dir))
    # the file is ;-separated, so with tab each row is one field
    with pytest.raises(SourceError, match="key column 'Nr' is not in the header"):
        replicator.check()
    settings.delimiter = ";"
    assert records(settings.build(Context(config.base_dir))) == GERMAN_ROWS


def test_config_accepts_every_setting(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        key: [Mandant, Nr]
        encoding: latin-1
        delimiter: "|"
        header: false
        columns: [Mandant, Nr, Name]
        """,
    )
    _, settings = config.replicator("crm")
    assert settings.key == ["Mandant", "Nr"]
    assert (settings.delimiter, settings.header) == ("|", False)
    assert settings.columns == ["Mandant", "Nr", "Name"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("", "replicators[0].key: required key is missing"),
        ("key: []", "replicators[0]: key: name at least one key column"),
        ("key: Nr\ndelimiter: ':'", "replicators[0].delimiter: Input should be"),
        ("key: Nr\nencoding: klingon", "replicators[0].encoding: unknown text encoding 'klingon'"),
        ("key: Nr\nencoding: rot13", "unknown text encoding 'rot13'"),
        ("key: Nr\nheader: false", "columns: required when header is false"),
        ("key: Nr\ncolumns: [Nr, Name]", "columns: only used with header: false"),
        ("key: Nr\nheader: false\ncolumns: [Name]", "key column 'Nr' is not in the columns"),
        ("key: Nr\nheader: false\ncolumns: [Nr, A, A]", "column 'A' appears twice in the columns"),
        ("key: Nr\nheader: nein", "replicators[0].header: Input should be a valid boolean"),
        ("key: Nr\nseparator: ';'", "replicators[0].separator: unknown key"),
    ],
)
def test_config_rejects_bad_settings(tmp_path: Path, settings: str, message: str) -> None:
    problems = config_problems(tmp_path, settings + "\n")
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_path / 'metadir.yaml'}: directories[0].")
    assert message in problems[0]
