"""Incremental runs: each sync run records whether it read its source in full or only what
changed, and the replicator's note on it. The replicators' state column is in 0001.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # every run before this revision read its source in full
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("mode", sa.String(16), nullable=False, server_default="full"))
        batch.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("note")
        batch.drop_column("mode")
