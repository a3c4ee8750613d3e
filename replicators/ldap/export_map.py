"""What the LDAP export writes for a metadir entry: its object classes, its attributes under
the target's names (``schema/ldap_export.yaml`` per flavor, and the export's ``mapping``),
the names it may take, and the mark that says the export wrote it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from typing import Literal

from metadir.core import fields
from metadir.core.dn import escape_value
from metadir.core.records import StoredEntry

ExportFlavor = Literal["ad", "openldap", "generic"]
# the attribute that names the entries (their RDN)
RDN = "cn"
MARK_PREFIX = "metadir"
# a digest this long tells a changed entry from an unchanged one; the mark stays short
_DIGEST = 16
# the uuid's first characters that set apart two entries of one name
_SHORT_UUID = 8


@dataclass(frozen=True, slots=True)
class ExportPreset:
    flavor: str
    label: str
    classes: tuple[str, ...]
    mark: str
    cn_max: int
    # target attribute -> metadir attributes, the first one the entry has
    mapping: dict[str, tuple[str, ...]]


@cache
def export_preset(flavor: str) -> ExportPreset:
    row = fields.load_schema_file("ldap_export.yaml")["flavors"][flavor]
    return ExportPreset(
        flavor=flavor,
        label=row["label"],
        classes=tuple(row["classes"]),
        mark=row["mark"],
        cn_max=int(row["cn_max"]),
        mapping={target: sources_of(value) for target, value in row["mapping"].items()},
    )


def sources_of(value: str | list[str]) -> tuple[str, ...]:
    """A mapping value (a metadir attribute or a list of them) as canonical names. Raises
    ``ValueError`` naming an attribute metadir does not have."""
    names = [value] if isinstance(value, str) else value
    canonical = []
    for name in names:
        field = fields.lookup(name)
        if field is None:
            raise ValueError(f"{name!r} is no metadir attribute")
        canonical.append(field.name)
    if not canonical:
        raise ValueError("name a metadir attribute, or a list of them")
    return tuple(canonical)


@dataclass(frozen=True, slots=True)
class Written:
    """What the export writes for one entry, but for its RDN."""

    # the name it is known by: the preferred value of the RDN
    name: str
    # target attribute -> values (never empty), without cn, objectClass and the mark
    attributes: dict[str, list[str]]
    digest: str


@dataclass(frozen=True, slots=True)
class ExportMap:
    """An export's field map and its mark."""

    export: str
    preset: ExportPreset
    # target attribute -> metadir attributes: the preset's merged with the export's own
    mapping: dict[str, tuple[str, ...]]

    @property
    def mark_attribute(self) -> str:
        return self.preset.mark

    @property
    def managed(self) -> list[str]:
        """The target attributes the export writes (and so compares before a change)."""
        return [name for name in self.mapping if name.lower() != RDN]

    def written(self, entry: StoredEntry) -> Written:
        attributes: dict[str, list[str]] = {}
        for target, sources in self.mapping.items():
            for source in sources:
                if kept := [v for v in (x.strip() for x in entry.attributes.get(source, ())) if v]:
                    attributes[target] = kept
                    break
        name = _printable((attributes.pop(RDN, None) or [""])[0]) or entry.uuid
        content = json.dumps([name, sorted(attributes.items())], ensure_ascii=False)
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:_DIGEST]
        return Written(name, attributes, digest)

    def names(self, uuid: str, name: str) -> list[str]:
        """The RDN values the entry may take, best first: its name, then its name with the
        start of its uuid (two entries of one name, or a foreign entry holding it), then
        the uuid. Each fits ``cn_max``."""
        most = self.preset.cn_max
        tagged = f" ({uuid[:_SHORT_UUID]})"
        return [name[:most].rstrip(), name[: most - len(tagged)].rstrip() + tagged, uuid]

    def mark(self, uuid: str, digest: str) -> str:
        return f"{MARK_PREFIX}:{self.export}:{uuid}:{digest}"

    def mark_filter(self) -> str:
        """The search filter for every entry this export marked."""
        return f"({self.mark_attribute}={MARK_PREFIX}:{self.export}:*)"

    def read_mark(self, value: str) -> tuple[str, str] | None:
        """(uuid, digest) of a mark of this export; None for anything else."""
        prefix, _, rest = value.partition(f"{MARK_PREFIX}:{self.export}:")
        uuid, _, digest = rest.partition(":")
        return (uuid, digest) if not prefix and uuid else None

    def uuid_of(self, mark: str) -> str | None:
        """The uuid of a mark of this export; None for anything else."""
        found = self.read_mark(mark)
        return found[0] if found else None


def rdn(name: str) -> str:
    return f"{RDN}={escape_value(name)}"


def _printable(text: str) -> str:
    """``text`` without control characters (no server names an entry with them)."""
    return " ".join("".join(ch for ch in text if ch.isprintable() or ch == " ").split())
