"""What a Google source keeps between runs, and when a run must read everything.

The state holds the sync token of each stream (the directory; each user's contacts and
other contacts), verbatim as the service gave it on the last page of the read before, and
what ``full_reads`` keeps: a fingerprint of the settings that decide what a read returns
(the parameters of a sync request must be those of the first call), and when the source
was last read whole. A state that does not fit means a full run, its reason the
Checkpoint's note.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from metadir.core.records import Checkpoint
from replicators import full_reads
from replicators.google.settings import GoogleSettings, service_account

TOKENS = "sync_tokens"


def settings(config: GoogleSettings) -> dict[str, Any]:
    """The settings that change which people and values a read returns, by their names."""
    key = config.service_account_key.get_secret_value()
    return {
        # which account: the service account's address (a new key of it reads the same
        # people) or the OAuth client, never a secret
        "account": service_account(key)["client_email"] if key else config.client_id,
        "people_url": config.people_url,
        "objects": config.objects,
        "sources": config.sources,
        "users": config.users,
        "subject": config.acting_as,
        # a sync request must repeat every parameter of the first call, the page size too
        "page_size": config.page_size,
        "mapping": config.mapping,
    }


def full_reason(config: GoogleSettings, state: dict[str, Any] | None, now: datetime) -> str | None:
    """Why this run must read everything ("" without a state: a first or ``--full`` run),
    or None when it may go on from the saved sync tokens."""
    return full_reads.streams_reason(
        state, TOKENS, "sync tokens", settings(config), config.full_every, now
    )


def checkpoint(
    config: GoogleSettings,
    state: dict[str, Any] | None,
    reason: str | None,
    started: datetime,
    tokens: dict[str, str],
) -> Checkpoint:
    """The Checkpoint a read ends with; ``reason`` as ``full_reason`` gave it (or why an
    incremental read turned into a full one)."""
    return full_reads.streams_checkpoint(settings(config), state, reason, started, TOKENS, tokens)
