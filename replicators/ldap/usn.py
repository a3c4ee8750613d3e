"""Incremental reads of Active Directory by uSNChanged (``incremental: usn``).

Every write on a domain controller gets the next number of that DC's update sequence
(USN). Before a whole read the DC's highestCommittedUSN is taken; the next run asks the same
DC for the entries whose uSNChanged is above it — complete entries, renamed and moved ones
too (the key is objectGUID) — and, with the Show Deleted control, for the tombstones of
deleted ones. USNs are the DC's own: another DC, or the same one restored from a backup
(its invocationId changes), means a whole read. A plain domain user can read the changes
(Windows shows it tombstones only where it was granted read access on Deleted Objects:
otherwise deletions wait for the periodic whole read); DirSync would need "Replicating
Directory Changes".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ldap3

from metadir.core.errors import SourceError
from replicators.base import Checkpoint, Record, Removed
from replicators.ldap import ldap3_adapter, timestamps
from replicators.ldap.presets import DN
from replicators.ldap.reading import Item, Reader
from replicators.ldap.server import Endpoint
from replicators.ldap.state import checkpoint, full_reason
from replicators.ldap.values import EntryReader, dn_parts, guid_text

METHOD = "usn"
# the method's own part of the state, and its types
POSITION = {"url": str, "dc": str, "invocation_id": str, "usn": int}


class NoUsn(SourceError):
    """The server's root DSE has no update sequence: it is no Active Directory."""


@dataclass(frozen=True)
class DomainController:
    """Who answers, and how far its update sequence is."""

    url: str
    host: str  # dnsHostName
    invocation_id: str  # of its database: a restore from a backup gives a new one
    usn: int  # highestCommittedUSN
    naming_context: str  # the partition base_dn is in: where its tombstones are


def read(rep: Reader, state: dict[str, Any] | None) -> Iterator[Item | Checkpoint]:
    """The changes since ``state`` (all entries if it does not fit), then the Checkpoint.
    With ``incremental: auto`` a server without USNs (an AD-like OpenLDAP) is read by
    modifyTimestamp instead."""
    started = rep.context.clock()
    reason = full_reason(rep.config, METHOD, state, POSITION, started)
    # per attempt (a lost connection starts another): the DC read and whether it was whole
    attempt: dict[str, Any] = {}

    def items(conn: ldap3.Connection, endpoint: Endpoint) -> Iterator[Item]:
        dc = domain_controller(rep, conn, endpoint)
        why = reason if reason is not None else _other_dc(state, dc)
        attempt.update(dc=dc, reason=why)
        if why is not None:
            yield from rep.entry_items(conn, endpoint)
            return
        assert state is not None
        since = state["usn"] + 1
        changed = f"(&{rep.config.search_filter}(uSNChanged>={since}))"
        yield from rep.entry_items(conn, endpoint, changed, removals=True)
        yield from _tombstones(rep, conn, endpoint, dc, since)

    try:
        yield from rep.collect(items, state.get("url") if isinstance(state, dict) else None)
    except NoUsn:
        if rep.config.incremental != "auto":
            raise
        # nothing was handed on yet: the root DSE is read before any entry
        yield from timestamps.read(rep, state)
        return
    dc: DomainController = attempt["dc"]
    why: str | None = attempt["reason"]
    position = {"url": dc.url, "dc": dc.host, "invocation_id": dc.invocation_id, "usn": dc.usn}
    yield checkpoint(rep.config, METHOD, state, why, started, **position)


def _other_dc(state: dict[str, Any] | None, dc: DomainController) -> str | None:
    """Why the saved USN does not count on ``dc``, if it does not."""
    assert state is not None
    if state["dc"].lower() != dc.host.lower():
        return f"another domain controller ({dc.host}, last run read {state['dc']})"
    if state["invocation_id"] != dc.invocation_id:
        return "domain controller restored (invocationId changed)"
    if state["usn"] > dc.usn:
        return f"domain controller restored (its USN {dc.usn} is below the saved {state['usn']})"
    return None


def domain_controller(rep: Reader, conn: ldap3.Connection, endpoint: Endpoint) -> DomainController:
    """The root DSE's highestCommittedUSN and dnsHostName, and the invocationId of the DC's
    nTDSDSA object, which the root DSE's dsServiceName names."""
    wanted = ["highestCommittedUSN", "dnsHostName", "dsServiceName", "namingContexts"]
    root = rep.search(conn, endpoint, "", "(objectClass=*)", ldap3.BASE, wanted)
    usn, host, service = (root.values(name) for name in wanted[:3])
    if not (usn and host and service):
        raise NoUsn(
            f"{endpoint.url}: the root DSE has no highestCommittedUSN, dnsHostName or "
            "dsServiceName: not Active Directory? (use incremental: modify_timestamp or none)"
        )
    dsa = service[0].decode("utf-8", "replace")
    answer = rep.search(conn, endpoint, dsa, "(objectClass=*)", ldap3.BASE, ["invocationId"])
    invocation = answer.values("invocationId")
    if not invocation:
        raise SourceError(f"{endpoint.url}: cannot read the invocationId of {dsa}")
    return DomainController(
        url=endpoint.url,
        host=host[0].decode("utf-8", "replace"),
        invocation_id=guid_text(invocation[0]),
        usn=int(usn[0]),
        naming_context=_naming_context(rep.config.base_dn, root.values("namingContexts")),
    )


def _naming_context(base_dn: str, contexts: list[bytes]) -> str:
    """The longest naming context that holds ``base_dn`` (base_dn itself if none does)."""
    base = dn_parts(base_dn)
    holding = [
        text
        for text in (c.decode("utf-8", "replace") for c in contexts)
        if (parts := dn_parts(text)) and base[-len(parts) :] == parts
    ]
    return max(holding, key=lambda text: len(dn_parts(text)), default=base_dn)


def _tombstones(
    rep: Reader,
    conn: ldap3.Connection,
    endpoint: Endpoint,
    dc: DomainController,
    since: int,
) -> Iterator[Removed]:
    """The keys of the entries deleted since USN ``since``: tombstones (Show Deleted) in the
    partition's Deleted Objects. They lose objectCategory, so only objectClass selects."""
    config = rep.config
    classes = "".join(f"(objectClass={c})" for c in config.preset.classes[config.chosen_objects])
    deleted = f"(&(isDeleted=TRUE)(uSNChanged>={since})(|{classes}))"
    keys = [k for k in config.key_attributes if k.lower() != DN]
    reader = EntryReader(keys, config.key_attributes)
    controls = (ldap3_adapter.show_deleted(),)
    for dn, raw in rep.entries(conn, endpoint, deleted, keys, dc.naming_context, controls):
        item = reader.record(dn, raw)
        if isinstance(item, Record):  # a tombstone without the key cannot be matched
            yield Removed(item.key)
