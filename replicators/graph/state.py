"""What a Microsoft 365 source keeps between runs, and when a run must read everything.

The state holds the delta link of each stream (users, organisational contacts, each
mailbox folder by its id), verbatim as the service gave it; with ``group``, a digest of the
group's members (a user who joins or leaves the group is no change of the user); and what
``full_reads`` keeps: a fingerprint of the settings that decide what a read returns, and
when the source was last read whole. A state that does not fit means a full run, its reason
the Checkpoint's note.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from metadir.core.records import Checkpoint
from replicators import full_reads
from replicators.graph.objects import PHOTO
from replicators.graph.settings import GraphSettings

LINKS, MEMBERS = "delta_links", "group_members"


def settings(config: GraphSettings) -> dict[str, Any]:
    """The settings that change which objects and values a read returns, by their names."""
    chosen = {
        "tenant_id": config.tenant_id,
        "graph_url": config.graph_url,
        "objects": config.objects,
        "mailboxes": [m.model_dump() for m in config.mailboxes],
        "group": config.group,
        "skip_disabled": config.skip_disabled,
        "mapping": config.mapping,
    }
    if PHOTO in config.wanted_fields:  # only then: a photo_size of no effect changes nothing
        chosen["photo_size"] = config.photo_size
    return chosen


def members_digest(members: Iterable[str] | None) -> str | None:
    if members is None:
        return None
    return hashlib.sha256("\n".join(sorted(members)).encode()).hexdigest()[:32]


def full_reason(
    config: GraphSettings, state: dict[str, Any] | None, members: str | None, now: datetime
) -> str | None:
    """Why this run must read everything ("" without a state: a first or ``--full`` run),
    or None when it may follow the saved delta links. ``members``: ``members_digest`` of
    the group now."""
    reason = full_reads.streams_reason(
        state, LINKS, "delta links", settings(config), config.full_every, now
    )
    if reason is None and state is not None and state.get(MEMBERS) != members:
        return f"the members of group {config.group} changed"
    return reason


def checkpoint(
    config: GraphSettings,
    state: dict[str, Any] | None,
    reason: str | None,
    started: datetime,
    links: dict[str, str],
    members: str | None,
) -> Checkpoint:
    """The Checkpoint a read ends with; ``reason`` as ``full_reason`` gave it (or why an
    incremental read turned into a full one)."""
    ended = full_reads.streams_checkpoint(settings(config), state, reason, started, LINKS, links)
    if members is not None:
        ended.state[MEMBERS] = members
    return ended
