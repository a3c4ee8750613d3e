"""The CSV export: columns and presets, quoting, encodings, formula protection, and its
settings' errors. Driven through ``run_export`` over a store the sync engine fills."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from metadir.store.entries import EntryData
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from replicators.targets.csv import CsvExportConfig, protect
from tests.unit import test_targets_rows as shared
from tests.unit.test_targets_rows import Crm, csv_export, export

# the shared fixtures: a store with the directory "contacts", the export's folder
store, out = shared.store, shared.out


@pytest.fixture
def crm(tmp_path: Path, store: Store) -> Crm:
    crm = Crm(tmp_path, store)
    crm.set("1", "Jürgen", "Müller", Company="Groß & Söhne; GmbH", Phone="(089) 1234-567",
            Mobile="0171 2345678", Mail="j.mueller@example.de", Street="Hauptstraße 5",
            City="München")  # fmt: skip
    crm.set("2", "Zoë", 'O"Brien', Company="=HYPERLINK(\"http://x\")", Phone="+41 44 668 18 00",
            Street="Line 1\nLine 2")  # fmt: skip
    crm.sync()
    return crm


def rows(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> list[list[str]]:
    text = path.read_bytes().decode(encoding)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def run(store: Store, out: Path, **settings: Any) -> list[list[str]]:
    result = export(store, out.parent, csv_export(**settings))
    assert result.outcome == "ok", result.message
    return rows(out / "book.csv", settings.get("encoding", "utf-8"), settings.get("delimiter", ","))


def test_the_default_columns_with_their_labels(crm: Crm, store: Store, out: Path) -> None:
    table = run(store, out)
    assert table[0][:7] == [
        "Display name",
        "First name",
        "Last name",
        "Company",
        "Department",
        "Job title",
        "Business phone",
    ]
    jurgen = dict(zip(table[0], table[1], strict=True))
    assert jurgen["Display name"] == "Jürgen Müller"
    # numbers as the directory serves them (E.164 here), quoting per RFC 4180
    assert jurgen["Business phone"] == "+49891234567"
    assert jurgen["Mobile phone"] == "+491712345678"
    assert jurgen["Company"] == "Groß & Söhne; GmbH"
    zoe = dict(zip(table[0], table[2], strict=True))
    assert zoe["Last name"] == 'O"Brien'
    assert zoe["Street"] == "Line 1\nLine 2"
    raw = (out / "book.csv").read_bytes()
    assert b'"Zo\xc3\xab O""Brien"' in raw and b'"Line 1\nLine 2"' in raw
    assert raw.count(b"\r\n") == 1 + 2  # header, two records; the street keeps its LF


def test_columns_with_labels_and_the_uuid(crm: Crm, store: Store, out: Path) -> None:
    columns = ["SN", {"telephoneNumber": "Tel"}, {"entryUUID": "Id"}, "fax"]
    table = run(store, out, columns=columns)
    assert table[0] == ["Last name", "Tel", "Id", "Business fax"]
    uuids = {e.uuid for e in store.snapshot()[1]}
    assert {row[2] for row in table[1:]} == uuids
    assert table[1][:2] == ["Müller", "+49891234567"]


def test_the_estos_preset_with_german_labels(crm: Crm, store: Store, out: Path) -> None:
    table = run(store, out, preset="estos", delimiter=";", encoding="utf-8-sig")
    header = table[0]
    assert (out / "book.csv").read_bytes().startswith(codecs.BOM_UTF8 + b"Vorname;")
    assert header[:6] == [
        "Vorname",
        "Nachname",
        "Unternehmen",
        "Angezeigter Name",
        "E-Mail",
        "Tel. Geschäftlich",
    ]
    assert {"Straße", "PLZ", "Ort", "Abteilung", "Position", "Tel. Mobil"} <= set(header)


def test_the_outlook_preset(crm: Crm, store: Store, out: Path) -> None:
    table = run(store, out, preset="outlook")
    assert table[0][:6] == [
        "First Name",
        "Last Name",
        "Company",
        "Department",
        "Job Title",
        "Business Phone",
    ]
    assert {"E-mail Address", "Mobile Phone", "Business Street", "Business Postal Code",
            "Business Country/Region", "Web Page"} <= set(table[0])  # fmt: skip
    row = dict(zip(table[0], table[1], strict=True))
    assert (row["First Name"], row["E-mail Address"]) == ("Jürgen", "j.mueller@example.de")


def test_formulas_are_protected_but_numbers_are_not(crm: Crm, store: Store, out: Path) -> None:
    table = run(store, out, columns=["company", "telephoneNumber"])
    assert table[2] == ['\'=HYPERLINK("http://x")', "+41446681800"]
    table = run(store, out, columns=["company", "telephoneNumber"], protect_formulas=False)
    assert table[2] == ['=HYPERLINK("http://x")', "+41446681800"]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-", "'-"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("\tx", "'\tx"),
        ("+49 (89) 1234-567", "+49 (89) 1234-567"),
        ("-12.5", "-12.5"),
        ("Müller", "Müller"),
    ],
)
def test_protect(value: str, written: str) -> None:
    assert protect([value], ", ") == written


def test_protect_judges_the_whole_cell() -> None:
    assert protect(["+4930111", "+4930222"], ", ") == "+4930111, +4930222"
    # a number first must not smuggle a formula in behind it
    assert protect(["+4930111", "+cmd|' /C calc'!A0"], ", ") == "'+4930111, +cmd|' /C calc'!A0"


def test_multiple_values_are_joined(store: Store, out: Path) -> None:
    now = datetime.now(UTC)
    attributes = {"cn": ["A"], "displayName": ["A"], "otherTelephone": ["+4930111", "+4930222"]}
    store.apply(
        RunRecord("crm", "ok", now, now), added=[EntryData(("a",), attributes, {}, {}, "d")]
    )
    assert run(store, out, columns=["otherTelephone"])[1] == ["+4930111, +4930222"]
    assert run(store, out, columns=["otherTelephone"], join=" | ")[1] == ["+4930111 | +4930222"]


def test_cp1252_and_no_header(crm: Crm, store: Store, out: Path) -> None:
    export(store, out.parent, csv_export(encoding="windows-1252", header=False, delimiter="tab"))
    table = rows(out / "book.csv", "cp1252", "\t")
    raw = (out / "book.csv").read_bytes()
    assert raw.startswith("Jürgen Müller\tJürgen\tMüller\t".encode("cp1252"))
    assert "Jürgen Müller".encode("cp1252") in raw and "Hauptstraße 5".encode("cp1252") in raw
    assert table[0][0] == "Jürgen Müller"
    assert len(table) == 2


def test_unencodable_replace_writes_a_question_mark(crm: Crm, store: Store, out: Path) -> None:
    crm.set("3", "Łukasz", "Wójcik")
    crm.sync()
    table = run(store, out, encoding="cp1252", unencodable="replace", columns=["displayName"])
    assert ["?ukasz Wójcik"] in table


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"columns": ["sn"], "preset": "estos"}, "give either columns or preset, not both"),
        ({"columns": ["nosuch"]}, "columns[0]: unknown attribute 'nosuch'"),
        ({"columns": ["sn", {"sn": "A", "cn": "B"}]}, "columns[1]: give one {attribute: label}"),
        ({"columns": [{"sn": 5}]}, "columns.0"),
        ({"columns": []}, "columns: name at least one attribute"),
        ({"preset": "excel"}, "preset: unknown preset 'excel' (known: default, estos, outlook)"),
        ({"encoding": "klingon"}, "unknown text encoding 'klingon'"),
        ({"encoding": "rot13"}, "unknown text encoding 'rot13'"),
        ({"encoding": "ascii", "preset": "estos"}, "columns: the header 'Tel. Geschäftlich': 'ä'"),
        ({"delimiter": ":"}, "delimiter"),
        ({"path": ""}, "path"),
        ({"nosuch": 1}, "nosuch"),
    ],
)
def test_bad_settings_are_named(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CsvExportConfig.model_validate({"name": "b", "type": "csv", "path": "b.csv", **settings})
    assert problem in str(caught.value)


def test_an_ascii_header_may_be_replaced(tmp_path: Path) -> None:
    config = csv_export(encoding="ascii", preset="estos", unencodable="replace")
    assert (
        config.renderer()
        .head()
        .startswith(b"Vorname,Nachname,Unternehmen,Angezeigter Name,E-Mail,Tel. Gesch?ftlich")
    )
