"""The ``type: dynamics`` entry point: the settings (``settings.py``) and how they build the
replicator. httpx and msal are imported when a replicator is built, not when the
configuration is loaded."""

from __future__ import annotations

from replicators.base import Context, Replicator
from replicators.dynamics.settings import DynamicsSettings


class DynamicsConfig(DynamicsSettings):
    def build(self, context: Context) -> Replicator:
        from replicators.dynamics.source import DynamicsReplicator

        return DynamicsReplicator(self, context)
