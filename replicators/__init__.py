"""Import replicators: one module per source kind, behind the interface in ``base``.

A replicator knows its source and nothing of the store or the LDAP server. ``REGISTRY``
maps a config ``type`` to the replicator's settings model; its ``build`` makes the replicator.
"""

from __future__ import annotations

from replicators import csv as csv_replicator
from replicators import ldif as ldif_replicator
from replicators.base import ReplicatorConfig
from replicators.ldap import LdapConfig

REGISTRY: dict[str, type[ReplicatorConfig]] = {
    "csv": csv_replicator.CsvConfig,
    "ldap": LdapConfig,
    "ldif": ldif_replicator.LdifConfig,
}
