"""Per-flavor defaults for directory sources, read from ``schema/ldap_presets.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from metadir.core import fields

Flavor = Literal["ad", "openldap", "domino", "generic"]
BinaryKind = Literal["guid", "sid", "base64"]
# how a read after the first finds what changed (``incremental:``)
Incremental = Literal["usn", "modify_timestamp", "none"]
# the key "attribute" that stands for the entry's DN
DN = "dn"


@dataclass(frozen=True, slots=True)
class Preset:
    flavor: str
    label: str
    # objects choice -> LDAP filter; the first is the default
    filters: dict[str, str]
    # objects choice -> object classes an LDIF entry needs (one of them)
    classes: dict[str, tuple[str, ...]]
    exclude: tuple[str, ...]
    key: tuple[str, ...]
    mapping: dict[str, str]
    # what ``incremental: auto`` means for this flavor
    incremental: Incremental

    @property
    def default_objects(self) -> str:
        return next(iter(self.filters))


def _load() -> dict:
    return fields.load_schema_file("ldap_presets.yaml")


@cache
def preset(flavor: str) -> Preset:
    row = _load()["flavors"][flavor]
    mapping = row["mapping"]
    if mapping == "identity":
        # photos only when a mapping asks for them
        mapping = {f.name: f.name for f in fields.all_fields() if not f.is_binary}
    return Preset(
        flavor=flavor,
        label=row["label"],
        filters=dict(row["filters"]),
        classes={name: tuple(classes) for name, classes in row["classes"].items()},
        exclude=tuple(row["exclude"]),
        key=tuple(row["key"]),
        mapping=dict(mapping),
        incremental=row["incremental"],
    )


@cache
def binary_attributes() -> dict[str, BinaryKind]:
    """Lower-cased attribute name -> how its bytes become text."""
    return {name.lower(): kind for name, kind in _load()["binary"].items()}
