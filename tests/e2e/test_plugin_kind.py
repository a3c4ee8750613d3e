"""A source kind from another package: installed (a distribution on the path with a
``metadir.replicators`` entry point), it is a ``type:`` like the built-in ones, for
``metadir check`` and ``metadir sync`` alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLUGIN = """
from typing import Literal

from metadir.core.records import Record
from replicators.base import Context, ReplicatorConfig


class RosterConfig(ReplicatorConfig):
    type: Literal["roster"]
    people: list[str]

    def build(self, context: Context) -> "Roster":
        return Roster(self, context)


class Roster:
    def __init__(self, config: RosterConfig, context: Context) -> None:
        self.config, self.context = config, context

    def check(self) -> list[str]:
        return ["id", "name", "phone"]

    def read(self, state):
        for n, line in enumerate(self.config.people, start=1):
            name, phone = line.split(",")
            self.context.tick()
            yield Record((str(n),), {"id": str(n), "name": name, "phone": phone}, line=n)
"""

CONFIG = """
store: {url: "sqlite:///metadir.db"}
location: {country: DE, area_code: "89"}
directories:
  - name: staff
    replicators:
      - name: roster
        type: roster
        people: ["Anna Berg,0891234567", "Jonas Weber,+49 30 7654321"]
        mapping: {cn: name, telephoneNumber: phone}
"""


def install_plugin(site: Path) -> None:
    """What pip leaves in site-packages for a package declaring the entry point."""
    dist = site / "metadir_roster-1.0.dist-info"
    dist.mkdir(parents=True)
    (site / "metadir_roster.py").write_text(PLUGIN, encoding="utf-8")
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: metadir-roster\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[metadir.replicators]\nroster = metadir_roster:RosterConfig\n"
    )


def metadir(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    return subprocess.run(
        [sys.executable, "-m", "metadir", *args, "-c", str(tmp_path / "metadir.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )


def test_an_installed_kind_is_checked_and_synced(tmp_path: Path) -> None:
    install_plugin(tmp_path / "site")
    (tmp_path / "metadir.yaml").write_text(CONFIG, encoding="utf-8")
    check = metadir(tmp_path, "check")
    assert check.returncode == 0, check.stderr
    sync = metadir(tmp_path, "sync")
    assert sync.returncode == 0, sync.stderr
    assert "2 added" in sync.stdout, sync.stdout
    lookup = metadir(tmp_path, "lookup", "030 7654321")
    assert lookup.returncode == 0 and "Jonas Weber" in lookup.stdout, lookup.stdout


def test_without_the_package_the_type_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "metadir.yaml").write_text(CONFIG, encoding="utf-8")
    check = metadir(tmp_path, "check")
    assert check.returncode == 2
    assert "replicators[0].type: unknown replicator type 'roster'; known types:" in check.stderr
