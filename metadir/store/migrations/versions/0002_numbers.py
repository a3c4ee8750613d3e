"""Phone numbers: the canonical form of each number attribute, and per entry and per run
the count of phone values kept as written because they are no number.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # entries written before carry no canonical numbers; the next sync of their
    # replicator fills them (the server reads the served values until then)
    with op.batch_alter_table("entries") as batch:
        batch.add_column(
            sa.Column("numbers", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch.add_column(
            sa.Column("numbers_kept", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(
            sa.Column("numbers_kept", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("numbers_kept")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("numbers_kept")
        batch.drop_column("numbers")
