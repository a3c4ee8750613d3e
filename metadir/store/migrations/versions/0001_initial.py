"""The first schema: directories, replicators, entries, sync runs, the change counter.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("base_dn", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_directories"),
        sa.UniqueConstraint("name", name="uq_directories_name"),
    )
    op.create_table(
        "replicators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("directory_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_replicators"),
        sa.UniqueConstraint("name", name="uq_replicators_name"),
        sa.ForeignKeyConstraint(
            ["directory_id"], ["directories.id"], name="fk_replicators_directory_id"
        ),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("replicator_id", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.Text(), nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("raw_numbers", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_entries"),
        sa.UniqueConstraint("uuid", name="uq_entries_uuid"),
        sa.UniqueConstraint(
            "replicator_id", "source_key", name="uq_entries_replicator_id_source_key"
        ),
        sa.ForeignKeyConstraint(
            ["replicator_id"], ["replicators.id"], name="fk_entries_replicator_id"
        ),
    )
    op.create_index("ix_entries_change_seq", "entries", ["change_seq"])
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("replicator_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sync_runs"),
        sa.ForeignKeyConstraint(
            ["replicator_id"], ["replicators.id"], name="fk_sync_runs_replicator_id"
        ),
    )
    op.create_index("ix_sync_runs_replicator_id_id", "sync_runs", ["replicator_id", "id"])
    op.create_table(
        "sync_problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sync_problems"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["sync_runs.id"], name="fk_sync_problems_run_id", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_sync_problems_run_id", "sync_problems", ["run_id"])
    counter = op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_change_counter"),
    )
    op.bulk_insert(counter, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("change_counter")
    op.drop_index("ix_sync_problems_run_id", table_name="sync_problems")
    op.drop_table("sync_problems")
    op.drop_index("ix_sync_runs_replicator_id_id", table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_index("ix_entries_change_seq", table_name="entries")
    op.drop_table("entries")
    op.drop_table("replicators")
    op.drop_table("directories")
