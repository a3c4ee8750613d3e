"""Replicators: one module per source kind, behind the contract in ``base``.

A replicator knows its source and nothing of the store or the LDAP server. Source kinds are
found through the ``metadir.replicators`` entry-point group, the built-in ones too: a
package that declares ``[project.entry-points."metadir.replicators"] NAME =
"package.module:SettingsModel"`` adds ``type: NAME`` to the configuration by being
installed. The settings model (a ``ReplicatorConfig``) builds the replicator. Export kinds
(targets) are found the same way, through ``metadir.exports``: an ``ExportConfig`` builds
the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from pydantic import BaseModel

from replicators.base import ExportConfig, ReplicatorConfig

GROUP = "metadir.replicators"
EXPORT_GROUP = "metadir.exports"

Settings = TypeVar("Settings", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Kind(Generic[Settings]):
    """One installed source or export kind: its ``type:``, its settings model and where it
    comes from."""

    name: str
    settings: type[Settings]
    # the distribution that declared it, and its version ("" when not known)
    package: str
    version: str


class KindError(Exception):
    """An installed entry point of the group does not give a usable settings model."""


@cache
def kinds() -> dict[str, Kind[ReplicatorConfig]]:
    """Every installed source kind by its ``type:`` name, in name order."""
    found = {ep.name: _load(ep, ReplicatorConfig, "replicator") for ep in entry_points(group=GROUP)}
    return dict(sorted(found.items()))


@cache
def export_kind(name: str) -> Kind[ExportConfig] | None:
    """The installed export kind (target) called ``name``, or None if there is none.
    Loads only that one: a broken export plug-in stops the configs that use it, not all."""
    ep = _export_points().get(name)
    return None if ep is None else _load(ep, ExportConfig, "export")


def export_kinds() -> dict[str, Kind[ExportConfig]]:
    """Every installed export kind by its ``type:`` name, in name order."""
    return {ep.name: _load(ep, ExportConfig, "export") for ep in _export_points().values()}


def export_kind_names() -> list[str]:
    """The ``type:`` names of the installed export kinds, without loading them."""
    return list(_export_points())


def _export_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in sorted(entry_points(group=EXPORT_GROUP), key=lambda e: e.name)}


def _load(ep: EntryPoint, base: type[Settings], what: str) -> Kind[Settings]:
    dist = ep.dist
    package, version = (dist.metadata["Name"], dist.version) if dist else ("", "")
    where = f"{what} type {ep.name!r} ({ep.value}, {package})"
    try:
        settings = ep.load()
    except Exception as exc:  # a broken plug-in must name itself, not stop with a traceback
        raise KindError(f"{where}: {exc}") from exc
    if not (isinstance(settings, type) and issubclass(settings, base)):
        raise KindError(f"{where}: not a {base.__name__}")
    if settings.model_fields["type"].annotation is str:
        raise KindError(f"{where}: its settings model must declare type: Literal[{ep.name!r}]")
    return Kind(ep.name, settings, package, version)
