"""The nodes running ``metadir serve`` on this store: each registers at start and then now
and again (``last_seen``, by the database's clock), so ``metadir status`` on any node can
tell who is up, and nodes long silent can be forgotten."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

from metadir.store.connection import upsert
from metadir.store.leases import db_now
from metadir.store.models import nodes


@dataclass(frozen=True, slots=True)
class NodeRecord:
    name: str
    version: str  # metadir's
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime  # db clock
    schedules: bool  # whether it runs schedules (else it only serves)


def register(
    conn: Connection,
    name: str,
    version: str,
    host: str,
    pid: int,
    started_at: datetime,
    schedules: bool,
) -> None:
    """Add node ``name`` or say it is still there (``last_seen`` is now)."""
    values = {
        "version": version,
        "host": host,
        "pid": pid,
        "started_at": started_at,
        "last_seen": db_now(conn),
        "schedules": schedules,
    }
    upsert(conn, nodes, {"name": name, **values}, values)


def listed(conn: Connection) -> list[NodeRecord]:
    """Every registered node, by name."""
    rows = conn.execute(select(nodes).order_by(nodes.c.name))
    return [
        NodeRecord(
            row.name, row.version, row.host, row.pid, row.started_at, row.last_seen, row.schedules
        )
        for row in rows
    ]


def forget(conn: Connection, before: datetime) -> int:
    """Remove the nodes last seen before ``before``; how many."""
    return conn.execute(delete(nodes).where(nodes.c.last_seen < before)).rowcount
