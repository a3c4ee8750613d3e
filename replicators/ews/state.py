"""What an Exchange (EWS) source keeps between runs, and when a run must read everything.

The state holds each chosen folder's SyncState (opaque, as the server gave it) by
"mailbox/folder id", and what ``full_reads`` keeps: a fingerprint of the settings that decide
what a read returns, and when the source was last read whole. A state that does not fit
means a full run, its reason the Checkpoint's note.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from metadir.core.records import Checkpoint
from replicators import full_reads
from replicators.ews.settings import EwsSettings

SYNC_STATES = "sync_states"


def settings(config: EwsSettings) -> dict[str, Any]:
    """The settings that change which contacts and values a read returns, by their names."""
    return {
        "url": config.url,
        "access": config.access,
        "mailboxes": [m.model_dump() for m in config.mailboxes],
        "mapping": config.mapping,
    }


def full_reason(config: EwsSettings, state: dict[str, Any] | None, now: datetime) -> str | None:
    """Why this run must read everything ("" without a state: a first or ``--full`` run),
    or None when it may go on from the saved SyncStates."""
    return full_reads.streams_reason(
        state, SYNC_STATES, "SyncStates", settings(config), config.full_every, now
    )


def checkpoint(
    config: EwsSettings,
    state: dict[str, Any] | None,
    reason: str | None,
    started: datetime,
    tokens: dict[str, str],
) -> Checkpoint:
    """The Checkpoint a read ends with; ``reason`` as ``full_reason`` gave it (or why an
    incremental read turned into a full one)."""
    return full_reads.streams_checkpoint(
        settings(config), state, reason, started, SYNC_STATES, tokens
    )
