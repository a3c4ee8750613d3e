"""What one run of one replicator or export needs of the configuration: the replicator,
where its entries go, how its numbers are read and served; the export and what it reads.
Kept apart from the engines so that the configuration builds jobs without loading the
store."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from metadir.core.phone import Location, PhoneFormat, display, read_number
from metadir.core.records import StoredEntry
from metadir.sync.mapping import Attributes
from replicators.base import ExportConfig, ReplicatorConfig


@dataclass(frozen=True, slots=True)
class Numbers:
    """How a replicator's phone numbers are read, and how its directory serves them."""

    location: Location | None
    format: PhoneFormat = "e164"
    # the country of the directory that serves the numbers, for the national format
    country: str | None = None

    @property
    def fingerprint(self) -> str:
        """Part of every entry's digest: reading numbers otherwise rewrites every entry."""
        return repr((self.location, self.format, self.country))

    def apply(
        self, attributes: Attributes, raw_numbers: Attributes
    ) -> tuple[Attributes, list[str]]:
        """Serve ``attributes``' phone values in this format; return their canonical forms,
        and the values that are no phone number (kept as written)."""
        canonical: Attributes = {}
        kept = []
        for name, raws in raw_numbers.items():
            read = [read_number(raw, self.location) for raw in raws]
            canonical[name] = [number.canonical for number in read]
            attributes[name] = [
                display(n, raw, self.format, self.country)
                for n, raw in zip(read, raws, strict=True)
            ]
            kept += [
                f"{name} {raw.strip()!r}"
                for n, raw in zip(read, raws, strict=True)
                if n.kind == "text"
            ]
        return canonical, kept


@dataclass(frozen=True, slots=True)
class Job:
    """One replicator and where its entries go: what ``run_replicator`` needs of the
    configuration (which ``Config.job`` assembles)."""

    replicator: ReplicatorConfig
    directory: str
    base_dn: str
    numbers: Numbers
    # what the replicator's relative paths are relative to: the config file's folder
    base_dir: Path


# which of some live entries of the exported directories the export takes (their ids)
Select = Callable[[Sequence[StoredEntry]], Collection[int]]


@dataclass(frozen=True, slots=True)
class ExportJob:
    """One export and what it reads: what ``run_export`` needs of the configuration."""

    export: ExportConfig
    # the directories whose entries it exports, as the configuration resolved them
    directories: tuple[str, ...]
    # what the export's relative paths are relative to: the config file's folder
    base_dir: Path
    # the export's filter as a predicate over a batch (the configuration builds it with the
    # directory's matching rules, which this layer does not know); None: every entry
    select: Select | None = None

    def __post_init__(self) -> None:
        if not self.directories:
            raise ValueError(f"export {self.export.name}: no directory to export")
