"""accounting sync: connections, sync records and log, accounting PDFs, payment source

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 16:48:24.179474
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounting_connections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("redirect_uri", sa.String(length=500), nullable=False),
        sa.Column("oauth_state", sa.String(length=100), nullable=True),
        sa.Column("tenant_id", sa.String(length=100), nullable=True),
        sa.Column("tenant_name", sa.String(length=300), nullable=True),
        sa.Column("tenants", sa.JSON(), nullable=False),
        sa.Column("numbering", sa.String(length=20), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=True),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mappings", sa.JSON(), nullable=False),
        sa.Column("pulled_as_of", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounting_connections")),
        sa.UniqueConstraint("oauth_state", name=op.f("uq_accounting_connections_oauth_state")),
    )
    with op.batch_alter_table("accounting_connections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounting_connections_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "accounting_inbound_events",
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_accounting_inbound_events")),
    )
    op.create_table(
        "accounting_connection_locations",
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["accounting_connections.id"],
            name=op.f("fk_accounting_connection_locations_connection_id_accounting_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_accounting_connection_locations_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("location_id", name=op.f("pk_accounting_connection_locations")),
    )
    with op.batch_alter_table("accounting_connection_locations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_accounting_connection_locations_connection_id"), ["connection_id"], unique=False
        )

    op.create_table(
        "sync_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["accounting_connections.id"],
            name=op.f("fk_sync_log_connection_id_accounting_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_log")),
    )
    with op.batch_alter_table("sync_log", schema=None) as batch_op:
        batch_op.create_index("ix_sync_log_record", ["kind", "record_id", "at"], unique=False)

    op.create_table(
        "sync_records",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("synced_revision", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("external_number", sa.String(length=255), nullable=True),
        sa.Column("remote_status", sa.String(length=30), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["accounting_connections.id"],
            name=op.f("fk_sync_records_connection_id_accounting_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("kind", "record_id", "connection_id", name=op.f("pk_sync_records")),
        sa.UniqueConstraint(
            "connection_id", "kind", "external_id", name=op.f("uq_sync_records_connection_id_kind_external_id")
        ),
    )
    with op.batch_alter_table("sync_records", schema=None) as batch_op:
        batch_op.create_index("ix_sync_records_status", ["connection_id", "status"], unique=False)

    op.create_table(
        "accounting_documents",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_accounting_documents_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_accounting_documents")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=20), server_default="flexbill", nullable=False))
        batch_op.create_check_constraint(op.f("ck_payments_source_known"), "source IN ('flexbill', 'accounting')")
    # An invoice of a location numbered by the accounting system is issued first and numbered when synced.
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_invoices_issued_has_number"), type_="check")


def downgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_invoices_issued_has_number"), "status = 'draft' OR status = 'voided' OR number IS NOT NULL"
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payments_source_known"), type_="check")
        batch_op.drop_column("source")

    op.drop_table("accounting_documents")
    with op.batch_alter_table("sync_records", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_records_status")

    op.drop_table("sync_records")
    with op.batch_alter_table("sync_log", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_log_record")

    op.drop_table("sync_log")
    with op.batch_alter_table("accounting_connection_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounting_connection_locations_connection_id"))

    op.drop_table("accounting_connection_locations")
    op.drop_table("accounting_inbound_events")
    with op.batch_alter_table("accounting_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounting_connections_tenant_id"))

    op.drop_table("accounting_connections")
