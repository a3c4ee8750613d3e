"""The ``type: sql`` entry point: the settings (``settings.py``) and how they build the
replicator. SQLAlchemy and the drivers are imported when a replicator is built, not when
the configuration is loaded."""

from __future__ import annotations

from replicators.base import Context, Replicator
from replicators.sql.settings import SqlSettings


class SqlConfig(SqlSettings):
    def build(self, context: Context) -> Replicator:
        from replicators.sql.source import SqlReplicator

        return SqlReplicator(self, context)
