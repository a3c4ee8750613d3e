"""Import replicators: one module per source kind, behind the interface in ``base``.

A replicator knows its source and nothing of the store or the LDAP server. ``REGISTRY``
maps a config ``type`` to the replicator's settings model; ``create`` builds one.
"""

from __future__ import annotations

from pathlib import Path

from replicators import csv as csv_replicator
from replicators import ldif as ldif_replicator
from replicators.base import Problem, Record, Replicator, ReplicatorConfig
from replicators.ldap import LdapConfig

REGISTRY: dict[str, type[ReplicatorConfig]] = {
    "csv": csv_replicator.CsvConfig,
    "ldap": LdapConfig,
    "ldif": ldif_replicator.LdifConfig,
}


def create(config: ReplicatorConfig, base_dir: Path) -> Replicator:
    """The replicator for ``config``; relative paths resolve against ``base_dir``."""
    return config.build(base_dir)


__all__ = ["REGISTRY", "Problem", "Record", "Replicator", "ReplicatorConfig", "create"]
