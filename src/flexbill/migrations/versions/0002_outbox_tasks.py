"""outbox tasks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:45:35.907319
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The claim only looks at active tasks; the partial indexes hold just those (see flexbill.tasks.store).
ACTIVE = sa.text("status IN ('pending', 'running')")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_groups",
        sa.Column("group", sa.String(length=200), nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("group", name=op.f("pk_task_groups")),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("group", sa.String(length=200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status <> 'running' OR lease_expires_at IS NOT NULL", name=op.f("ck_tasks_running_has_lease")
        ),
        sa.CheckConstraint("status IN ('pending', 'running', 'done', 'failed')", name=op.f("ck_tasks_status_known")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_tasks_attempts_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("key", name=op.f("uq_tasks_key")),
    )
    op.create_index("ix_tasks_due", "tasks", ["run_at", "id"], sqlite_where=ACTIVE, postgresql_where=ACTIVE)
    op.create_index(
        "ix_tasks_kind_group_due", "tasks", ["kind", "group", "run_at"], sqlite_where=ACTIVE, postgresql_where=ACTIVE
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_kind_group_due", table_name="tasks")
    op.drop_index("ix_tasks_due", table_name="tasks")
    op.drop_table("tasks")
    op.drop_table("task_groups")
