"""The ``type: salesforce`` entry point: the settings (``settings.py``) and how they build
the replicator. httpx and PyJWT are imported when a replicator is built, not when the
configuration is loaded."""

from __future__ import annotations

from replicators.base import Context, Replicator
from replicators.salesforce.settings import SalesforceSettings


class SalesforceConfig(SalesforceSettings):
    def build(self, context: Context) -> Replicator:
        from replicators.salesforce.source import SalesforceReplicator

        return SalesforceReplicator(self, context)
