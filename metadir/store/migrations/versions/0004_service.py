"""Running as a service on several nodes: each sync run records the node that ran it and
what started it; a lease per replicator (who runs it now, with a fencing token, and the
progress of that run); the nodes that run ``metadir serve``.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # every run before this revision was started by hand, on a node nobody recorded
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("node", sa.String(200), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("trigger", sa.String(16), nullable=False, server_default="manual")
        )
        batch.add_column(sa.Column("slot", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "leases",
        sa.Column("replicator_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("token", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trigger", sa.String(16), nullable=True),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("slot_done", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("phase", sa.String(16), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("replicator_id", name="pk_leases"),
        sa.ForeignKeyConstraint(
            ["replicator_id"],
            ["replicators.id"],
            name="fk_leases_replicator_id",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("schedules", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_nodes"),
    )


def downgrade() -> None:
    op.drop_table("nodes")
    op.drop_table("leases")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("slot")
        batch.drop_column("trigger")
        batch.drop_column("node")
