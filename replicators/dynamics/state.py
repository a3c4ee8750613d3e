"""What a Dynamics 365 / Dataverse source keeps between runs, and when a run must read
everything.

The state holds the delta link of each table (contacts, accounts), verbatim as the service
gave it, and what ``full_reads`` keeps: a fingerprint of the settings that decide what a
read returns, and when the source was last read whole. A state that does not fit means a
full run, its reason the Checkpoint's note.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from metadir.core.records import Checkpoint
from replicators import full_reads
from replicators.dynamics.settings import DynamicsSettings

LINKS = "delta_links"


def settings(config: DynamicsSettings) -> dict[str, Any]:
    """The settings that change which rows and values a read returns, by their names."""
    return {
        "environment_url": config.environment_url,
        "api_version": config.api_version,
        "objects": config.objects,
        "active_only": config.active_only,
        "mapping": config.mapping,
    }


def full_reason(
    config: DynamicsSettings, state: dict[str, Any] | None, now: datetime
) -> str | None:
    """Why this run must read everything ("" without a state: a first or ``--full`` run),
    or None when it may follow the saved delta links."""
    return full_reads.streams_reason(
        state, LINKS, "delta links", settings(config), config.full_every, now
    )


def checkpoint(
    config: DynamicsSettings,
    state: dict[str, Any] | None,
    reason: str | None,
    started: datetime,
    links: dict[str, str],
    warning: str = "",
) -> Checkpoint:
    """The Checkpoint a read ends with; ``reason`` as ``full_reason`` gave it (or why an
    incremental read turned into a full one); ``warning``, what the admin should fix
    (a table without change tracking), told in the note too."""
    ended = full_reads.streams_checkpoint(settings(config), state, reason, started, LINKS, links)
    if not warning:
        return ended
    note = "; ".join(part for part in (ended.note, warning) if part)
    return Checkpoint(ended.state, full=ended.full, note=note)
