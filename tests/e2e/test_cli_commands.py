"""`metadir check` and `metadir hash-password` run as commands: exit codes and output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from metadir.ldap.passwords import verify
from tests.unit.test_config import CSV_REPLICATOR, write


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metadir", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_command(tmp_path: Path) -> None:
    (tmp_path / "contacts.csv").write_text("CustomerNo;FirstName;Phone\n1;Hans;089 1\n")
    good = write(
        tmp_path,
        f"directories:\n  - name: contacts\n    replicators:{CSV_REPLICATOR}"
        "        mapping: {givenName: FirstName, telephoneNumber: Phone}\n",
    )
    result = run_cli("check", "-c", str(good))
    assert result.returncode == 0, result.stderr
    assert "ok: 1 directories, 1 replicators" in result.stdout

    bad_column = good.read_text().replace("Phone}", "Telefon}")
    good.write_text(bad_column)
    result = run_cli("check", "-c", str(good))
    assert result.returncode == 1
    assert (
        f"{good}: directories[0].replicators[0].mapping.telephoneNumber: the source has no "
        "field 'Telefon'"
    ) in result.stderr

    (tmp_path / "contacts.csv").unlink()
    result = run_cli("check", "-c", str(good))
    assert result.returncode == 1 and "contacts.csv" in result.stderr

    good.write_text("server: {allow_anonymus: true}\n")
    result = run_cli("check", "-c", str(good))
    assert result.returncode == 2
    assert f"{good}: server.allow_anonymus: unknown key" in result.stderr

    result = run_cli("check", "-c", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "nope.yaml: cannot read" in result.stderr


def test_hash_password_command() -> None:
    result = run_cli("hash-password", "--stdin", stdin="s3cret\n")
    assert result.returncode == 0
    assert verify(result.stdout.strip(), "s3cret")
    assert not verify(result.stdout.strip(), "other")
    assert run_cli("hash-password", "--stdin", stdin="\n").returncode == 1
