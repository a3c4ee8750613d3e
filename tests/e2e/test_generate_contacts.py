"""scripts/generate_contacts.py: its files, its unique numbers and its change mode."""

from __future__ import annotations

import codecs
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from replicators.base import Context, Problem, Record
from replicators.csv import CsvConfig
from replicators.ldif import LdifConfig

SCRIPT = Path(__file__).parents[2] / "scripts" / "generate_contacts.py"
_spec = importlib.util.spec_from_file_location("generate_contacts", SCRIPT)
assert _spec is not None and _spec.loader is not None
gen = importlib.util.module_from_spec(_spec)
sys.modules["generate_contacts"] = gen  # dataclasses look their module up
_spec.loader.exec_module(gen)

NUMBER_COLUMNS = ("Phone", "Mobile", "Fax", "HomePhone")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False, cwd=cwd
    )


def read(path: Path) -> dict[str, dict[str, str]]:
    """The file as the CSV replicator reads it, by CustomerNo."""
    settings = {"name": "gen", "type": "csv", "path": path.name, "key": "CustomerNo"}
    replicator = CsvConfig.model_validate(settings).build(Context(path.parent))
    assert replicator.check() == gen.COLUMNS
    out = list(replicator.read())
    assert not [p for p in out if isinstance(p, Problem)]
    return {r.key[0]: r.values for r in out if isinstance(r, Record)}


def international(number: str) -> str:
    """Digits with country code, for the formats the generator writes (location: Munich)."""
    plain = number.replace("(0)", "")
    digits = re.sub(r"\D", "", plain)
    if plain.startswith("+"):
        return digits
    if plain.startswith("00"):
        return digits[2:]
    if plain.startswith(("0", "(0")):
        return "49" + digits[1:]
    return "4989" + digits  # a local Munich number


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "contacts.csv"
    result = run("--count", "20000", "--seed", "7", "--out", str(path))
    assert result.returncode == 0, result.stderr
    assert "wrote 20,000 contacts" in result.stderr
    return path


def test_file_layout(generated: Path) -> None:
    data = generated.read_bytes()
    assert data.startswith(codecs.BOM_UTF8 + b"CustomerNo;FirstName;LastName;Company;")
    assert data.count(b"\r\n") >= 20_001
    contacts = read(generated)
    assert list(contacts) == [f"K{100_000 + i}" for i in range(20_000)]
    values = list(contacts.values())
    # realistic, not uniform: some company-only, some without any phone, some notes on 2 lines
    assert 400 < sum(1 for v in values if not v["FirstName"] and not v["LastName"]) < 1200
    assert 300 < sum(1 for v in values if not any(v[c] for c in NUMBER_COLUMNS)) < 900
    assert 100 < sum(1 for v in values if "\n" in v["Notes"]) < 800
    assert 0.6 < sum(1 for v in values if v["Country"] == "DE") / len(values) < 0.8
    text = data.decode("utf-8-sig")
    for name in ("Müller", "Groß", "Zoë", "François", "Łukasz", "Núñez", "Søren"):
        assert name in text


def test_numbers_are_unique_however_written(generated: Path) -> None:
    numbers = [v[c] for v in read(generated).values() for c in NUMBER_COLUMNS if v[c]]
    assert len(numbers) > 40_000
    assert len({international(n) for n in numbers}) == len(numbers)
    # the shapes real CRMs hold: (089) 1234-567, 089/1234567, +49 (0)89 1234567, …
    shapes = [
        r"\(0\d+\) \d+-\d+", r"0\d+/\d+", r"\+49 \(0\)\d+ \d+", r"0049 \d+ \d+", r"\d{7}",
        r"\+1 \(\d{3}\) \d{3}-\d{4}", r"\+41 \d\d \d{3} \d\d \d\d", r"0039 0\d+ \d{4} \d{4}",
        r"\+44 20 \d{4} \d{4}", r"\+43 1 \d{4} \d+",
    ]  # fmt: skip
    for shape in shapes:
        assert any(re.fullmatch(shape, n) for n in numbers), shape


def test_same_seed_same_file(generated: Path, tmp_path: Path) -> None:
    again, other = tmp_path / "again.csv", tmp_path / "other.csv"
    assert run("--count", "20000", "--seed", "7", "--out", str(again)).returncode == 0
    assert run("--count", "20000", "--seed", "8", "--out", str(other)).returncode == 0
    assert again.read_bytes() == generated.read_bytes()
    assert other.read_bytes() != generated.read_bytes()


def test_change_mode_changes_exactly_that_share(generated: Path, tmp_path: Path) -> None:
    out = tmp_path / "changed.csv"
    args = ("--from", str(generated), "--change-percent", "1.5", "--seed", "3")
    result = run(*args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    before, after = read(generated), read(out)
    assert list(after) == list(before)
    changed = {k: [c for c in gen.COLUMNS if before[k][c] != after[k][c]] for k in before}
    changed = {k: cols for k, cols in changed.items() if cols}
    assert len(changed) == 300
    assert all(len(cols) == 1 for cols in changed.values())
    assert {cols[0] for cols in changed.values()} == {"Title", "Department", "Street", "Phone"}
    numbers = [v[c] for v in after.values() for c in NUMBER_COLUMNS if v[c]]
    assert len({international(n) for n in numbers}) == len(numbers)


def test_every_country_has_room_for_a_million_unique_numbers() -> None:
    for country in gen.COUNTRIES:
        lead_length = len(country.leads[0])
        assert all(len(lead) == lead_length for lead in country.leads), country.code
        width = country.subscriber_digits - lead_length
        assert len(country.leads) * 10**width >= gen.KINDS * gen.MAX_COUNT, country.code
        assert len(country.mobile_ranges) * 10 ** (country.mobile_digits - 1) >= gen.MAX_COUNT


def test_international_names(generated: Path, tmp_path: Path) -> None:
    out = tmp_path / "international.csv"
    assert (
        run("--count", "2000", "--seed", "7", "--international", "--out", str(out)).returncode == 0
    )
    names = [(v["FirstName"], v["LastName"]) for v in read(out).values()]
    for name in ("İnce", "Işık", "Παπαδόπουλος", "Σοφία", "O'Brien", "D'Angelo", "N'Diaye"):
        assert any(name in pair for pair in names), name
    assert "Παπαδόπουλος" not in generated.read_text(encoding="utf-8-sig")


def test_ldif_format(tmp_path: Path) -> None:
    """The same contacts as the CSV, as the ldif replicator reads them, some with two
    e-mail addresses."""
    csv_file, ldif_file = tmp_path / "c.csv", tmp_path / "c.ldif"
    args = ("--count", "500", "--seed", "3", "--international")
    assert run(*args, "--out", str(csv_file)).returncode == 0
    assert run(*args, "--format", "ldif", "--out", str(ldif_file)).returncode == 0
    rows = read(csv_file)
    settings = {"name": "gen", "type": "ldif", "path": ldif_file.name, "flavor": "openldap"}
    settings["key"] = "uid"
    replicator = LdifConfig.model_validate(settings).build(Context(tmp_path))
    records = [r for r in replicator.read() if isinstance(r, Record)]
    assert len(records) == 500
    by_uid = {r.key[0]: r.values for r in records}
    for number, row in rows.items():
        entry = by_uid[number]
        assert entry.get("sn", "") == row["LastName"] and entry.get("o") == row["Company"]
        assert entry.get("telephoneNumber", "") == row["Phone"]
        mail = entry.get("mail", [])
        assert ([mail] if isinstance(mail, str) else mail)[:1] == [row["Email"]][: bool(mail)]
    assert sum(1 for e in by_uid.values() if not isinstance(e.get("mail", ""), str)) > 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "x.csv"], "give either --count or --from"),
        (["--count", "5", "--from", "a.csv", "--change-percent", "1", "--out", "x.csv"],
         "give either --count or --from"),
        (["--from", "a.csv", "--out", "x.csv"], "--from and --change-percent go together"),
        (["--count", "1000001", "--out", "x.csv"], "count must be between 0 and 1,000,000"),
        (["--count", "5", "--format", "xml", "--out", "x.csv"], "invalid choice: 'xml'"),
    ],
)  # fmt: skip
def test_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "x.csv").exists()


def test_change_mode_refuses_a_foreign_file(tmp_path: Path) -> None:
    (tmp_path / "other.csv").write_text("Nr;Name\n1;Erika\n", encoding="utf-8")
    result = run("--from", str(tmp_path / "other.csv"), "--change-percent", "1",
                 "--out", str(tmp_path / "x.csv"))  # fmt: skip
    assert result.returncode == 1
    assert "not a file from this generator" in result.stderr
