"""The CSV export as LibreOffice Calc reads it: the file opened with the import filter's
settings a user picks (delimiter, quote, character set), saved again as UTF-8 CSV, and the
umlauts, quoted delimiters and line breaks still there."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from metadir.store.store import Store
from tests.unit.test_targets_rows import Crm, csv_export, export

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
# LibreOffice's numbers for character sets in its CSV filter options
CHARSETS = {"utf-8-sig": 76, "cp1252": 1}
UTF8 = 76


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path}/metadir.db") as opened:
        yield opened


def calc_round_trip(path: Path, charset: int, delimiter: str, profile: Path) -> list[list[str]]:
    """``path`` opened in Calc as CSV in ``charset`` and saved as UTF-8 CSV; its rows."""
    separator = ord(delimiter)
    done = path.parent / "calc"
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={profile.as_uri()}",  # a profile of its own
            "--headless",
            f"--infilter=CSV:{separator},34,{charset},1",
            "--convert-to",
            f"csv:Text - txt - csv (StarCalc):{separator},34,{UTF8}",
            "--outdir",
            str(done),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    text = (done / path.name).read_text(encoding="utf-8")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed (Debian libreoffice)")
@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
def test_libreoffice_reads_the_export(tmp_path: Path, store: Store, encoding: str) -> None:
    crm = Crm(tmp_path, store)
    crm.set("1", "Jürgen", "Müller", Company="Groß; Söhne", Phone="(089) 1234-567",
            Street="Hauptstraße 5", City="München")  # fmt: skip
    crm.set("2", "Zoë", "Weiß", Company='Café "Zur Straße"', Street="Hof 2\nHinterhaus")
    crm.sync()
    (tmp_path / "out").mkdir()
    settings = {"preset": "estos", "delimiter": ";", "encoding": encoding}
    assert export(store, tmp_path, csv_export(**settings)).outcome == "ok"

    table = calc_round_trip(
        tmp_path / "out" / "book.csv", CHARSETS[encoding], ";", tmp_path / "profile"
    )
    header = table[0]
    assert header[:3] == ["Vorname", "Nachname", "Unternehmen"]
    assert "Straße" in header and "Tel. Geschäftlich" in header
    jurgen = dict(zip(header, table[1], strict=True))
    assert (jurgen["Vorname"], jurgen["Nachname"]) == ("Jürgen", "Müller")
    assert (jurgen["Straße"], jurgen["Ort"]) == ("Hauptstraße 5", "München")
    assert jurgen["Unternehmen"] == "Groß; Söhne"
    # Calc's number detection reads an E.164 number as the number 49891234567 (its "+"
    # is a sign), as Excel does; the digits survive, never as a float or a formula
    assert jurgen["Tel. Geschäftlich"] == "49891234567"
    zoe = dict(zip(header, table[2], strict=True))
    assert (zoe["Vorname"], zoe["Nachname"]) == ("Zoë", "Weiß")
    assert zoe["Unternehmen"] == 'Café "Zur Straße"'
    assert zoe["Straße"] == "Hof 2\nHinterhaus"
