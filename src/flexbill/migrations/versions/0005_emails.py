"""emails: what flexbill mails, and what became of each

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 21:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "emails",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("requested_by", sa.String(length=10), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('invoice', 'receipt', 'payment_failed', 'action_required', 'reminder')",
            name=op.f("ck_emails_kind_known"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'uncertain')", name=op.f("ck_emails_status_known")
        ),
        sa.CheckConstraint("requested_by IN ('auto', 'staff')", name=op.f("ck_emails_requested_by_known")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_emails_attempts_not_negative")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_emails_invoice_id_invoices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emails")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_emails_dedupe_key")),
    )
    op.create_index("ix_emails_invoice", "emails", ["invoice_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_emails_invoice", table_name="emails")
    op.drop_table("emails")
