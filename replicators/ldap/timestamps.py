"""Incremental reads by modifyTimestamp (``incremental: modify_timestamp``): OpenLDAP,
Domino and other LDAPv3 servers.

Every read notes the highest modifyTimestamp among the entries it returns (the watermark);
the next asks for ``(modifyTimestamp>=watermark - OVERLAP)``. The server's timestamps have
whole seconds, and an entry written while a read runs may carry an earlier second than one
already seen, so the overlap reads a little again; unchanged entries are recognised by their
digest. A deleted entry leaves nothing to find: deletions are seen at the periodic whole
read (``full_every``), whose Checkpoint note says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import ldap3

from metadir.core.timestamps import format_generalized_time
from replicators.base import Checkpoint
from replicators.ldap.reading import Item, Reader
from replicators.ldap.server import Endpoint
from replicators.ldap.state import checkpoint, full_reason

METHOD = "modify_timestamp"
POSITION = {"watermark": str}
ATTRIBUTE = "modifyTimestamp"
# what is read again below the watermark: writes during a read, clocks a little apart
OVERLAP = timedelta(minutes=2)
# GeneralizedTime as servers write it: 20240131235959Z, with fractions or an offset
_TIME = re.compile(r"(\d{14})(?:[.,]\d+)?(Z|[+-]\d{4})")


def read(rep: Reader, state: dict[str, Any] | None) -> Iterator[Item | Checkpoint]:
    """The entries changed since ``state`` (all if it does not fit), then the Checkpoint."""
    started = rep.context.clock()
    reason = full_reason(rep.config, METHOD, state, POSITION, started)
    watermark: datetime | None = None
    if reason is None:
        assert state is not None
        watermark = parse_time(state["watermark"])
        if watermark is None:
            reason = f"saved state unusable: watermark is {state['watermark']!r}"
    # the highest modifyTimestamp of the entries read; the saved one if none is higher
    highest = [watermark]

    def seen(attributes: dict[str, list[bytes]]) -> None:
        for name, values in attributes.items():
            if name.lower() == ATTRIBUTE.lower():
                for value in values:
                    moment = parse_time(value.decode("ascii", "replace"))
                    if moment is not None and (highest[0] is None or moment > highest[0]):
                        highest[0] = moment

    search_filter = rep.config.search_filter
    incremental = watermark is not None
    if watermark is not None:
        since = format_generalized_time(watermark - OVERLAP)
        search_filter = f"(&{search_filter}({ATTRIBUTE}>={since}))"

    def items(conn: ldap3.Connection, endpoint: Endpoint) -> Iterator[Item]:
        yield from rep.entry_items(
            conn, endpoint, search_filter, removals=incremental, extra=(ATTRIBUTE,), seen=seen
        )

    yield from rep.collect(items)
    # no entry at all: the next read starts from when this one did
    mark = format_generalized_time(highest[0] or started)
    yield checkpoint(rep.config, METHOD, state, reason, started, watermark=mark)


def parse_time(text: str) -> datetime | None:
    """A GeneralizedTime (``20240131235959Z``) as a datetime in UTC; None if it is none."""
    match = _TIME.fullmatch(text.strip())
    if not match:
        return None
    digits, zone = match.groups()
    try:
        moment = datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    return moment
