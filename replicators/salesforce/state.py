"""What a Salesforce source keeps between runs, and when a run must read everything.

Per kind of object the state holds two positions: the ``SystemModstamp`` the next query
asks for changes after (``overlap`` before the last read began, or the newest record it
read if that is older) and how far the object's delete log has been read (its
``latestDateCovered``); and what ``full_reads``
keeps: a fingerprint of the settings that decide what a read returns, and when the source
was last read whole. A state that does not fit, or a delete log that no longer reaches
back to the saved position (Salesforce keeps it 15 days at most, and purges early), means
a full run, its reason the Checkpoint's note.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from metadir.core.records import Checkpoint
from replicators import full_reads
from replicators.salesforce.settings import SalesforceSettings

POSITIONS = "positions"
MODSTAMP, DELETED = "modstamp", "deleted"
# how far back the delete log answers (sObject Get Deleted)
DELETE_LOG_DAYS = 15


@dataclass(slots=True)
class Position:
    """Where one kind's next incremental read starts."""

    # the next query asks for records whose SystemModstamp is after this
    modstamp: datetime
    # the delete log has been read up to here
    deleted: datetime

    def saved(self) -> dict[str, str]:
        return {MODSTAMP: self.modstamp.isoformat(), DELETED: self.deleted.isoformat()}


def settings(config: SalesforceSettings) -> dict[str, Any]:
    """The settings that change which records and values a read returns, by their names."""
    return {
        "login_url": config.login_url,
        "username": config.username,
        "api_version": config.api_version,
        "objects": config.objects,
        "mapping": config.mapping,
    }


def positions(state: dict[str, Any], config: SalesforceSettings) -> dict[str, Position] | str:
    """The saved position of each kind read, or why there is none to use."""
    saved = state.get(POSITIONS)
    if not isinstance(saved, dict):
        return "saved state unusable: no positions"
    found: dict[str, Position] = {}
    for kind in config.objects:
        entry = saved.get(kind)
        if not isinstance(entry, dict):
            return f"no position yet for {kind}"
        try:
            modstamp = datetime.fromisoformat(entry[MODSTAMP])
            deleted = datetime.fromisoformat(entry[DELETED])
        except (KeyError, TypeError, ValueError):
            return f"saved state unusable: the position of {kind} is {entry!r}"
        if deleted.tzinfo is None or modstamp.tzinfo is None:
            return f"saved state unusable: the position of {kind} has no time zone"
        found[kind] = Position(modstamp, deleted)
    return found


def full_reason(
    config: SalesforceSettings, state: dict[str, Any] | None, now: datetime
) -> str | dict[str, Position]:
    """Why this run must read everything ("" without a state: a first or ``--full`` run),
    or the positions an incremental read starts from."""
    if state is None:
        return ""
    if not isinstance(state, dict):
        return "saved state unusable"
    found = positions(state, config)
    if isinstance(found, str):
        return found
    stale = full_reads.stale(
        state, settings(config), config.full_every, "finds records the user lost access to",
        now,
    )  # fmt: skip
    if stale is not None:
        return stale
    oldest = now - timedelta(days=DELETE_LOG_DAYS)
    for kind, position in found.items():
        if position.deleted < oldest:
            return (f"the delete log of {kind} was last read {position.deleted:%Y-%m-%d}: "
                    f"Salesforce keeps it {DELETE_LOG_DAYS} days")  # fmt: skip
    return found


def checkpoint(
    config: SalesforceSettings,
    state: dict[str, Any] | None,
    reason: str | None,
    started: datetime,
    found: dict[str, Position],
) -> Checkpoint:
    """The Checkpoint a read ends with; ``reason`` as ``full_reason`` gave it (or why an
    incremental read turned into a full one), None for an incremental read."""
    saved: dict[str, Any] = full_reads.kept(settings(config), state, reason, started)
    saved[POSITIONS] = {kind: position.saved() for kind, position in found.items()}
    return Checkpoint(saved, full=reason is not None, note=reason or "")
