"""The store's layout: the directories, the replicators that fill them, and each
replicator's saved state (the cursor or token its next incremental read resumes from).

(Not ``replicators.py``: that name is the sources' package.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, null, select, update

from metadir.core.errors import StoreError
from metadir.store.connection import insert_ignoring_conflict, now, shown_url
from metadir.store.entries import next_seq, restamp
from metadir.store.models import directories, replicators


def ensure_directory(conn: Connection, name: str, base_dn: str) -> None:
    """Create the directory ``name``, or give it ``base_dn`` if that changed."""
    insert_ignoring_conflict(
        conn, directories, {"name": name, "base_dn": base_dn, "created_at": now()}
    )
    conn.execute(
        update(directories)
        .where(directories.c.name == name, directories.c.base_dn != base_dn)
        .values(base_dn=base_dn)
    )


def ensure_replicator(conn: Connection, name: str, type: str, directory: str) -> None:
    """Create the replicator ``name``, or update its type (dropping its saved state) and
    directory; moving it rewrites its entries under a new change sequence number."""
    directory_id = conn.execute(
        select(directories.c.id).where(directories.c.name == directory)
    ).scalar()
    if directory_id is None:
        raise StoreError(f"store {shown_url(conn.engine)}: no directory named {directory!r}")
    insert_ignoring_conflict(
        conn,
        replicators,
        {"name": name, "type": type, "directory_id": directory_id, "created_at": now()},
    )
    # another kind of source cannot resume from the old one's state
    conn.execute(
        update(replicators)
        .where(replicators.c.name == name, replicators.c.type != type)
        .values(type=type, state=null())
    )
    moved = conn.execute(
        update(replicators)
        .where(replicators.c.name == name, replicators.c.directory_id != directory_id)
        .values(directory_id=directory_id)
        .returning(replicators.c.id)
    ).scalar()
    if moved is not None:
        # readers of the change feed see the entries in their new place
        restamp(conn, moved, next_seq(conn), now())


def replicator_id(conn: Connection, name: str) -> int:
    found = conn.execute(select(replicators.c.id).where(replicators.c.name == name)).scalar()
    if found is None:
        raise StoreError(f"store {shown_url(conn.engine)}: no replicator named {name!r}")
    return found


def replicator_state(conn: Connection, name: str, type: str | None) -> dict[str, Any] | None:
    """The state replicator ``name`` saved last; with ``type``, only if it is of that type."""
    query = select(replicators.c.state).where(replicators.c.name == name)
    if type is not None:
        query = query.where(replicators.c.type == type)
    return conn.execute(query).scalar()


def save_state(conn: Connection, replicator_id: int, state: dict[str, Any] | None) -> None:
    """Keep ``state`` (None: none) for the replicator's next run. Takes the replicator's row
    lock, which a writer must take before the change counter's (see ``Store.apply``)."""
    conn.execute(
        update(replicators)
        .where(replicators.c.id == replicator_id)
        .values(state=null() if state is None else state)
    )
