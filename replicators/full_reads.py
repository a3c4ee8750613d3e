"""When an incremental source must read everything again: what the LDAP and SQL sources
keep for that beside their own position. A digest of the settings that decide what a read
returns (other settings: other rows), and when the source was last read whole (a periodic
whole read finds what the changes do not show, rows deleted for good)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

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
