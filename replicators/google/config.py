"""The ``type: google`` entry point: the settings (``settings.py``) and how they build the
replicator. httpx and google-auth are imported when a replicator is built, not when the
configuration is loaded."""

from __future__ import annotations

from replicators.base import Context, Replicator
from replicators.google.settings import GoogleSettings


class GoogleConfig(GoogleSettings):
    def build(self, context: Context) -> Replicator:
        from replicators.google.source import GoogleReplicator

        return GoogleReplicator(self, context)
