"""Replicators: one module per source kind, behind the contract in ``base``.

A replicator knows its source and nothing of the store or the LDAP server. Source kinds are
found through the ``metadir.replicators`` entry-point group, the built-in ones too: a
package that declares ``[project.entry-points."metadir.replicators"] NAME =
"package.module:SettingsModel"`` adds ``type: NAME`` to the configuration by being
installed. The settings model (a ``ReplicatorConfig``) builds the replicator.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from replicators.base import ReplicatorConfig

GROUP = "metadir.replicators"


@dataclass(frozen=True, slots=True)
class Kind:
    """One installed source kind: its ``type:``, its settings model and where it comes from."""

    name: str
    settings: type[ReplicatorConfig]
    # the distribution that declared it, and its version ("" when not known)
    package: str
    version: str


class KindError(Exception):
    """An installed entry point of the group does not give a usable settings model."""


@cache
def kinds() -> dict[str, Kind]:
    """Every installed source kind by its ``type:`` name, in name order."""
    found = {ep.name: _load(ep) for ep in entry_points(group=GROUP)}
    return dict(sorted(found.items()))


def _load(ep: EntryPoint) -> Kind:
    dist = ep.dist
    package, version = (dist.metadata["Name"], dist.version) if dist else ("", "")
    try:
        settings = ep.load()
    except Exception as exc:  # a broken plug-in must name itself, not stop with a traceback
        raise KindError(f"replicator type {ep.name!r} ({ep.value}, {package}): {exc}") from exc
    if not (isinstance(settings, type) and issubclass(settings, ReplicatorConfig)):
        raise KindError(
            f"replicator type {ep.name!r} ({ep.value}, {package}): not a ReplicatorConfig"
        )
    if settings.model_fields["type"].annotation is str:
        raise KindError(
            f"replicator type {ep.name!r} ({ep.value}, {package}): its settings model must "
            f"declare type: Literal[{ep.name!r}]"
        )
    return Kind(ep.name, settings, package, version)
