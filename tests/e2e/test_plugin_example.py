"""The worked plug-in example, ``examples/metadir-plugin-vcard``, installed as an admin
would (pip, into a folder on PYTHONPATH) and used through the CLI: ``metadir check`` names
its type with its package and version, ``metadir sync`` reads a folder of vCards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "metadir-plugin-vcard"

CARDS = """\
BEGIN:VCARD\r
VERSION:3.0\r
UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r
FN:Jürgen Groß\r
N:Groß;Jürgen;;;\r
ORG:Bäckerei Müller GmbH;Vertrieb\r
TEL;TYPE=work,voice:+49 89 1234567\r
TEL;TYPE=cell:+49 170 7654321\r
EMAIL:j.gross@example.de\r
END:VCARD\r
BEGIN:VCARD\r
VERSION:4.0\r
UID:kaya-2\r
FN:Elif Kaya\r
N:Kaya;Elif;;;\r
item1.TEL;VALUE=uri;TYPE=home:tel:+49-30-5550123\r
NOTE:a long note folded\r
  over two lines\r
END:VCARD\r
BEGIN:VCARD\r
FN:No Uid\r
END:VCARD\r
"""

CONFIG = """\
store: {url: "sqlite:///metadir.db"}
location: {country: DE, area_code: "89"}
directories:
  - name: phonebook
    replicators:
      - {name: handsets, type: vcard, path: cards}
"""


def install(example: Path, site: Path) -> None:
    """pip install ``example`` into ``site``, offline, with the venv's setuptools and wheel
    (the test extra brings them)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(site), str(example)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def metadir(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    return subprocess.run(
        [sys.executable, "-m", "metadir", *args, "-c", str(tmp_path / "metadir.yaml")],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip


def test_the_vcard_example_installs_checks_and_syncs(tmp_path: Path) -> None:
    # a copy: building writes build/ and *.egg-info beside the sources
    example = Path(shutil.copytree(EXAMPLE, tmp_path / "example"))
    install(example, tmp_path / "site")
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "export.vcf").write_text(CARDS, encoding="utf-8", newline="")
    (tmp_path / "metadir.yaml").write_text(CONFIG, encoding="utf-8")
    check = metadir(tmp_path, "check")
    assert check.returncode == 0, check.stderr
    assert "vcard (metadir-plugin-vcard 1.0.0)" in check.stdout, check.stdout
    sync = metadir(tmp_path, "sync")
    # the card without a UID is skipped and named with its line
    assert sync.returncode == 0, sync.stdout + sync.stderr
    assert "2 added" in sync.stdout and "1 skipped" in sync.stdout, sync.stdout
    assert "line 20" in sync.stdout and "card without UID" in sync.stdout, sync.stdout
    lookup = metadir(tmp_path, "lookup", "0170 7654321")
    assert lookup.returncode == 0 and "Jürgen Groß" in lookup.stdout, lookup.stdout
    home = metadir(tmp_path, "lookup", "030 5550123")
    assert home.returncode == 0 and "Elif Kaya" in home.stdout, home.stdout


def test_the_kinds_are_listed_without_plugins(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    csv = CONFIG.replace("type: vcard, path: cards", "type: csv, path: c.csv, key: Nr")
    (tmp_path / "metadir.yaml").write_text(csv, encoding="utf-8")
    (tmp_path / "c.csv").write_text("Nr;sn\n1;Berg\n", encoding="utf-8")
    check = metadir(tmp_path, "check")
    assert check.returncode == 0, check.stderr
    kinds = (
        "source types: command, csv, dynamics, ews, google, graph, ldap, ldif, salesforce, sql"
        " (metadir "
    )
    assert kinds in check.stdout, check.stdout
    assert "export types: csv, ldap, xml (metadir " in check.stdout, check.stdout
    assert "vcard" not in check.stdout
