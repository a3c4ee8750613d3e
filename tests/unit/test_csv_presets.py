"""CSV presets (``preset:``): a DATEV Debitoren/Kreditoren export as DATEV writes it —
cp1252, ``;``, quoted German headers — read into a directory without a mapping of one's
own, and one's own mapping on top of the preset's."""

from __future__ import annotations

from pathlib import Path

import pytest

from metadir.config import load_config
from metadir.core.errors import ConfigError
from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.job import Job, Numbers
from replicators.base import Context, Problem, Record
from replicators.csv import CsvConfig

HEADER = [
    "Konto", "Name (Adressatentyp Unternehmen)", "Unternehmensgegenstand",
    "Name (Adressatentyp natürl. Person)", "Vorname (Adressatentyp natürl. Person)",
    "Name (Adressatentyp keine Angabe)", "Adressatentyp", "Kurzbezeichnung", "EU-Land",
    "EU-USt-IdNr.", "Anrede", "Titel/Akad. Grad", "Straße", "Postfach", "Postleitzahl", "Ort",
    "Land", "Telefon", "Telefon GL", "E-Mail", "Internet", "Fax",
]  # fmt: skip
ROWS = [
    ["10000", "Bäckerei Müller GmbH", "Backwaren", "", "", "", "2", "Bäckerei Müller", "DE",
     "DE123456789", "Firma", "", "Hauptstraße 5", "", "80331", "München", "DE",
     "089 1234567", "089 1234500", "info@baeckerei-mueller.de", "www.baeckerei-mueller.de",
     "089 1234568"],
    ["10001", "", "", "Groß", "Jürgen", "", "1", "Groß, Jürgen", "", "", "Herr", "Dr.",
     "Königsallee 12", "", "40212", "Düsseldorf", "DE", "0211 987654", "", "j.gross@example.de",
     "", ""],
    ["70000", "Schröder & Söhne KG", "", "", "", "", "2", "Schröder", "", "", "", "",
     "Weißenburger Str. 3", "", "81667", "München", "DE", "+49 (89) 4455-0", "", "", "", ""],
]  # fmt: skip


# the first line of a file in the DATEV-Format (version 700, category 16: Debitoren/Kreditoren)
EXTF = (
    '"EXTF";700;16;"Debitoren/Kreditoren";5;20241203101500123;;"RE";"";"";29098;55003;'
    "20240101;5;;;;;;;;;;;;;;;;"
)


def datev_file(path: Path, first: str | None = None) -> Path:
    lines = [";".join(f'"{field}"' for field in row) for row in [HEADER, *ROWS]]
    if first is not None:
        lines.insert(0, first)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return path


@pytest.mark.parametrize("first", [None, EXTF], ids=["ascii", "extf"])
def test_the_datev_preset_makes_a_directory(tmp_path: Path, first: str | None) -> None:
    datev_file(tmp_path / "EXTF_Debitoren.csv", first)
    config = CsvConfig.model_validate(
        {"name": "datev", "type": "csv", "path": "EXTF_Debitoren.csv", "preset": "datev"}
    )
    assert (config.delimiter, config.encoding, config.key) == (";", "cp1252", ["Konto"])
    job = Job(config, "contacts", "ou=contacts,dc=meta", Numbers(None), tmp_path)
    with Store.open(f"sqlite:///{tmp_path}/metadir.db") as store:
        run = run_replicator(store, job)
        _, entries = store.snapshot()
    assert (run.outcome, run.added, run.skipped) == ("ok", 3, 0), run
    by_account = {entry.key: entry.attributes for entry in entries}
    company = by_account[("10000",)]
    assert company["displayName"] == ["Bäckerei Müller GmbH"]
    assert company["company"] == ["Bäckerei Müller GmbH"]
    assert company["l"] == ["München"] and company["street"] == ["Hauptstraße 5"]
    assert company["otherTelephone"] == ["089 1234500"]
    assert company["custom1"] == ["Bäckerei Müller"]
    person = by_account[("10001",)]
    assert person["displayName"] == ["Jürgen Groß"]
    assert (person["givenName"], person["sn"]) == (["Jürgen"], ["Groß"])
    assert person["mail"] == ["j.gross@example.de"] and person["custom0"] == ["10001"]
    # this export has no Mobiltelefon column: the preset's mapping reads it as empty
    assert "mobile" not in person


def test_a_broken_row_after_the_format_line_keeps_its_line_number(tmp_path: Path) -> None:
    path = datev_file(tmp_path / "datev.csv", EXTF)
    with path.open("ab") as file:
        file.write('"70001";"Unclosed GmbH\r\n'.encode("cp1252"))
    config = CsvConfig.model_validate(
        {"name": "datev", "type": "csv", "path": "datev.csv", "preset": "datev"}
    )
    items = list(config.build(Context(tmp_path)).read(None))
    problems = [(item.line, item.message) for item in items if isinstance(item, Problem)]
    assert problems == [(6, "unclosed quote")]
    assert [item.line for item in items if isinstance(item, Record)] == [3, 4, 5]


def test_a_preamble_is_a_regular_expression() -> None:
    with pytest.raises(ValueError, match="preamble\n  Value error, not a regular expression"):
        CsvConfig.model_validate(
            {"name": "d", "type": "csv", "path": "d.csv", "key": "Nr", "preamble": "(EXTF"}
        )


def test_own_mapping_extends_and_overrides_the_preset(tmp_path: Path) -> None:
    datev_file(tmp_path / "datev.csv")
    config = CsvConfig.model_validate(
        {"name": "datev", "type": "csv", "path": "datev.csv", "preset": "datev",
         "mapping": {"displayName": "Kurzbezeichnung", "Custom0": "EU-USt-IdNr."}}
    )  # fmt: skip
    assert config.mapping["displayName"] == "Kurzbezeichnung"
    assert config.mapping["Custom0"] == "EU-USt-IdNr." and "custom0" not in config.mapping
    assert config.mapping["l"] == "Ort"
    source = config.build(Context(tmp_path))
    rows = list(source.read(None))
    assert [row.key for row in rows] == [("10000",), ("10001",), ("70000",)]


def test_the_preset_layout_gives_way_to_own_settings(tmp_path: Path) -> None:
    config = CsvConfig.model_validate(
        {"name": "d", "type": "csv", "path": "d.csv", "preset": "datev", "encoding": "utf-8",
         "key": ["Kurzbezeichnung"]}
    )  # fmt: skip
    assert (config.encoding, config.key, config.delimiter) == ("utf-8", ["Kurzbezeichnung"], ";")


def test_an_unknown_preset_is_named(tmp_path: Path) -> None:
    path = tmp_path / "metadir.yaml"
    path.write_text(
        "directories:\n  - name: c\n    replicators:\n"
        "      - {name: d, type: csv, path: d.csv, preset: lexware, key: Nr}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"replicators\[0\]\.preset: unknown CSV preset "
                       r"'lexware'; known: datev"):  # fmt: skip
        load_config(path)
