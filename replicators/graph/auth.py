"""Access tokens for Microsoft Graph: Entra ID's client-credentials grant
(``replicators.entra``, shared with Dataverse) for the scope of ``graph_url``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from replicators import entra
from replicators.graph.settings import GraphSettings

if TYPE_CHECKING:
    import httpx


class Credentials(entra.Credentials):
    """Graph tokens for one read; called with ``refresh`` after Graph refused the last."""

    def __init__(self, config: GraphSettings, client: httpx.Client) -> None:
        super().__init__(config, [f"{config.graph_url}/.default"], client)
