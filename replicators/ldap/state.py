"""What an incremental LDAP read keeps between runs, and when a run must read everything.

Both ways of reading only changes (``usn.py``, ``timestamps.py``) save a dict with the
method, a fingerprint of the settings that decide what is read, and when the source was
last read whole; each adds its own position. A state that does not fit — another method,
other settings, malformed, or a whole read due (``full_every``) — means a full run, and the
reason becomes the Checkpoint's note.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from replicators.base import Checkpoint
from replicators.ldap.settings import LdapSettings

METHOD, FINGERPRINT, FULL_AT = "method", "fingerprint", "full_at"


def fingerprint(config: LdapSettings) -> str:
    """A digest of the settings that change which entries and values a read returns."""
    settings = {
        "url": config.url,
        "base_dn": config.base_dn,
        "filter": config.search_filter,
        "flavor": config.flavor,
        "objects": config.chosen_objects,
        "key": config.key_attributes,
        "mapping": config.mapping,
        "skip_disabled": config.skip_disabled,
    }
    text = json.dumps(settings, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def full_reason(
    config: LdapSettings,
    method: str,
    state: dict[str, Any] | None,
    position: Mapping[str, type],
    now: datetime,
) -> str | None:
    """Why this run must read everything ("" without a state: a first or ``--full`` run),
    or None when it may read only what changed since ``state``. ``position`` names the
    method's own keys of the state and their types."""
    if state is None:
        return ""
    if not isinstance(state, dict):
        return "saved state unusable: not a mapping"
    if state.get(METHOD) != method:
        return f"saved state unusable: written by incremental {state.get(METHOD)!r}, not {method}"
    for name, kind in {FINGERPRINT: str, FULL_AT: str, **position}.items():
        value = state.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"saved state unusable: {name} is {value!r}"
    try:
        full_at = datetime.fromisoformat(state[FULL_AT])
    except ValueError:
        return f"saved state unusable: {FULL_AT} is {state[FULL_AT]!r}"
    if full_at.tzinfo is None:
        return f"saved state unusable: {FULL_AT} {state[FULL_AT]!r} has no time zone"
    if state[FINGERPRINT] != fingerprint(config):
        return (
            "settings changed (url, base_dn, filter, flavor, objects, key, mapping or "
            "skip_disabled)"
        )
    if now - full_at >= timedelta(seconds=config.full_every):
        return (
            f"periodic full read (full_every {duration(config.full_every)}): "
            "finds deleted entries and those that left the filter"
        )
    return None


def checkpoint(
    config: LdapSettings,
    method: str,
    state: dict[str, Any] | None,
    reason: str | None,
    started: datetime,
    **position: Any,
) -> Checkpoint:
    """The Checkpoint a read ends with: the method's ``position`` and the common parts.
    ``reason`` is ``full_reason``'s: None for an incremental read, which keeps when the
    source was last read whole (from ``state``); else a full read that ``started`` then."""
    if reason is None:
        assert state is not None
        full_at = datetime.fromisoformat(state[FULL_AT])
    else:
        full_at = started
    saved = {
        METHOD: method,
        FINGERPRINT: fingerprint(config),
        FULL_AT: full_at.isoformat(),
        **position,
    }
    return Checkpoint(saved, full=reason is not None, note=reason or "")


def duration(seconds: float) -> str:
    """``86400`` as ``24h``, ``90`` as ``90s``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0 and not (unit == "d" and seconds < 172800):
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"
