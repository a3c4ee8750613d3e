"""The ``type: graph`` entry point: the settings (``settings.py``) and how they build the
replicator. httpx and msal are imported when a replicator is built, not when the
configuration is loaded."""

from __future__ import annotations

from replicators.base import Context, Replicator
from replicators.graph.settings import GraphSettings


class GraphConfig(GraphSettings):
    def build(self, context: Context) -> Replicator:
        from replicators.graph.source import GraphReplicator

        return GraphReplicator(self, context)
