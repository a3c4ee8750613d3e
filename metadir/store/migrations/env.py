"""Alembic environment: metadir migrates online only, on the connection ``Store.open`` passes.

New revisions are written by hand from ``script.py.mako``: the next number as file name
prefix and revision id, ``down_revision`` the newest one before it.
"""

from __future__ import annotations

from alembic import context

from metadir.store.models import metadata

if context.is_offline_mode():
    raise RuntimeError("metadir migrations run online only, from Store.open()")

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters tables by copying them; alembic's batch mode does that
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
