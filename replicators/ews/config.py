"""The ``type: ews`` entry point: the settings (``settings.py``) and how they build the
replicator. exchangelib is imported when a replicator is built, not when the configuration
is loaded."""

from __future__ import annotations

from replicators.base import Context, Replicator
from replicators.ews.settings import EwsSettings


class EwsConfig(EwsSettings):
    def build(self, context: Context) -> Replicator:
        from replicators.ews.source import EwsReplicator

        return EwsReplicator(self, context)
