"""When an incremental source must read everything again: what every incremental source
keeps for that beside its own position. A digest of the settings that decide what a read
returns (other settings: other rows), and when the source was last read whole (a periodic
whole read finds what the changes do not show, rows deleted for good).

Sources that go on from one opaque token per stream (delta links, sync tokens, SyncStates)
keep them by stream name under one key: ``streams_reason`` and ``streams_checkpoint``."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from metadir.core.records import Checkpoint
from metadir.core.schedule import format_duration

FINGERPRINT, FULL_AT = "fingerprint", "full_at"


def fingerprint(settings: dict[str, Any]) -> str:
    """A short digest of ``settings`` (JSON-able)."""
    text = json.dumps(settings, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def stale(
    state: dict[str, Any],
    settings: dict[str, Any],
    full_every: timedelta,
    finds: str,
    now: datetime,
) -> str | None:
    """Why ``state``'s common part calls for a whole read, or None: ``settings`` as given to
    ``fingerprint`` (their names are told when they changed); ``finds``, what a periodic
    whole read finds that the changes do not show."""
    try:
        full_at = datetime.fromisoformat(state[FULL_AT])
    except (KeyError, TypeError, ValueError):
        return f"saved state unusable: {FULL_AT} is {state.get(FULL_AT)!r}"
    if full_at.tzinfo is None:
        return f"saved state unusable: {FULL_AT} {state[FULL_AT]!r} has no time zone"
    if state.get(FINGERPRINT) != fingerprint(settings):
        names = list(settings)
        return f"settings changed ({', '.join(names[:-1])} or {names[-1]})"
    if now - full_at >= full_every:
        return f"periodic full read (full_every {format_duration(full_every)}): {finds}"
    return None


def kept(
    settings: dict[str, Any], state: dict[str, Any] | None, reason: str | None, started: datetime
) -> dict[str, str]:
    """The common part of the state a read ends with. ``reason`` is the read's reason to be
    whole: None for an incremental read, which keeps when the source was last read whole;
    else a whole read that ``started`` then."""
    full_at = state[FULL_AT] if reason is None and state else started.isoformat()
    return {FINGERPRINT: fingerprint(settings), FULL_AT: full_at}


def streams_reason(
    state: dict[str, Any] | None,
    key: str,
    what: str,
    settings: dict[str, Any],
    full_every: timedelta,
    now: datetime,
) -> str | None:
    """Why a read must be whole ("" without a state: a first or ``--full`` run), or None
    when it may go on from the tokens saved under ``key`` (``what`` names them: "delta
    links")."""
    if state is None:
        return ""
    tokens = state.get(key) if isinstance(state, dict) else None
    if not isinstance(tokens, dict) or not all(isinstance(v, str) for v in tokens.values()):
        return f"saved state unusable: no {what}"
    return stale(state, settings, full_every, f"finds what the {what} missed", now)


def streams_checkpoint(
    settings: dict[str, Any],
    state: dict[str, Any] | None,
    reason: str | None,
    started: datetime,
    key: str,
    tokens: dict[str, str],
) -> Checkpoint:
    """The Checkpoint a read by stream tokens ends with: ``tokens`` under ``key``;
    ``reason`` as ``streams_reason`` gave it, or why an incremental read turned whole."""
    saved: dict[str, Any] = kept(settings, state, reason, started)
    saved[key] = tokens
    return Checkpoint(saved, full=reason is not None, note=reason or "")
