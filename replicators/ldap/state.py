"""What an incremental LDAP read keeps between runs, and when a run must read everything.

Both ways of reading only changes (``usn.py``, ``timestamps.py``) save a dict with the
method, a fingerprint of the settings that decide what is read, and when the source was
last read whole; each adds its own position. A state that does not fit — another method,
other settings, malformed, or a whole read due (``full_every``) — means a full run, and the
reason becomes the Checkpoint's note.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from replicators import full_reads
from replicators.base import Checkpoint
from replicators.ldap.settings import LdapSettings

METHOD = "method"


def settings(config: LdapSettings) -> dict[str, Any]:
    """The settings that change which entries and values a read returns, by their names."""
    return {
        "url": config.url,
        "base_dn": config.base_dn,
        "filter": config.search_filter,
        "flavor": config.flavor,
        "objects": config.chosen_objects,
        "key": config.key_attributes,
        "mapping": config.mapping,
        "skip_disabled": config.skip_disabled,
    }


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
    for name, kind in {full_reads.FINGERPRINT: str, full_reads.FULL_AT: str, **position}.items():
        value = state.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"saved state unusable: {name} is {value!r}"
    finds = "finds deleted entries and those that left the filter"
    return full_reads.stale(state, settings(config), config.full_every, finds, now)


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
    saved = {
        METHOD: method,
        **full_reads.kept(settings(config), state, reason, started),
        **position,
    }
    return Checkpoint(saved, full=reason is not None, note=reason or "")
