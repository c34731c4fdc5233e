"""getting paid: gateways, payment methods, charge attempts, refunds, webhook events; the location's invoice and
email details; retry and reminder rules; payment sources manual/gateway/accounting

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 19:57:54.504882
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Exact decimals: NUMERIC on PostgreSQL, text on SQLite (whose numbers are binary floats); see flexbill.db.Amount.
AMOUNT = sa.Numeric(19, 4).with_variant(sa.String(40), "sqlite")

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_gateways",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("secret_key", sa.Text(), nullable=False),
        sa.Column("webhook_secret", sa.Text(), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_payment_gateways_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_gateways")),
        sa.UniqueConstraint("location_id", name=op.f("uq_payment_gateways_location_id")),
    )
    op.create_table(
        "gateway_customers",
        sa.Column("gateway_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_gateway_customers_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["payment_gateways.id"], name=op.f("fk_gateway_customers_gateway_id_payment_gateways")
        ),
        sa.PrimaryKeyConstraint("gateway_id", "customer_id", name=op.f("pk_gateway_customers")),
    )
    op.create_table(
        "gateway_events",
        sa.Column("gateway_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["payment_gateways.id"], name=op.f("fk_gateway_events_gateway_id_payment_gateways")
        ),
        sa.PrimaryKeyConstraint("gateway_id", "event_id", name=op.f("pk_gateway_events")),
    )
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("gateway_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("brand", sa.String(length=30), nullable=True),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("exp_month", sa.Integer(), nullable=True),
        sa.Column("exp_year", sa.Integer(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_payment_methods_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["payment_gateways.id"], name=op.f("fk_payment_methods_gateway_id_payment_gateways")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint("gateway_id", "external_id", name=op.f("uq_payment_methods_gateway_id_external_id")),
    )
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_methods_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            "uq_payment_methods_default",
            ["gateway_id", "customer_id"],
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )

    op.create_table(
        "charge_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("gateway_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_method_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=200), server_default="", nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("failure_code", sa.String(length=100), nullable=True),
        sa.Column("failure_message", sa.String(length=500), nullable=True),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("checkout_url", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["payment_gateways.id"], name=op.f("fk_charge_attempts_gateway_id_payment_gateways")
        ),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_charge_attempts_invoice_id_invoices")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_charge_attempts_payment_id_payments")),
        sa.ForeignKeyConstraint(
            ["payment_method_id"],
            ["payment_methods.id"],
            name=op.f("fk_charge_attempts_payment_method_id_payment_methods"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_attempts")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_charge_attempts_idempotency_key")),
        sa.UniqueConstraint("invoice_id", "number", name=op.f("uq_charge_attempts_invoice_id_number")),
    )
    with op.batch_alter_table("charge_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charge_attempts_external_id"), ["external_id"], unique=False)
        batch_op.create_index("ix_charge_attempts_status", ["status"], unique=False)
        batch_op.create_index(
            "uq_charge_attempts_open",
            ["invoice_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('pending', 'unknown')"),
            postgresql_where=sa.text("status IN ('pending', 'unknown')"),
        )

    op.create_table(
        "refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("credit_note_id", sa.Uuid(), nullable=True),
        sa.Column("failure_message", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_note_id"], ["credit_notes.id"], name=op.f("fk_refunds_credit_note_id_credit_notes")
        ),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("external_id", name=op.f("uq_refunds_external_id")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_payment_id"), ["payment_id"], unique=False)

    with op.batch_alter_table("billing_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("charge_retries", sa.Integer(), server_default="3", nullable=False))
        batch_op.add_column(sa.Column("charge_retry_days", sa.Integer(), server_default="3", nullable=False))
        batch_op.add_column(sa.Column("reminder_days", sa.Integer(), nullable=True))

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_failure_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("disputed_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legal_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("address", sa.String(length=1000), server_default="", nullable=False))
        batch_op.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("tax_number", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("payment_details", sa.String(length=1000), server_default="", nullable=False))
        batch_op.add_column(sa.Column("logo", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("logo_media_type", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("email_sender_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("email_reply_to", sa.String(length=320), nullable=True))

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=20), server_default="succeeded", nullable=False))
        batch_op.add_column(sa.Column("amount_refunded", AMOUNT, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("gateway_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_payments_gateway_id_external_id"), ["gateway_id", "external_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_payments_gateway_id_payment_gateways"), "payment_gateways", ["gateway_id"], ["id"]
        )
        # "flexbill" (recorded here) becomes "manual": payments taken by a gateway are recorded here too now.
        batch_op.drop_constraint(op.f("ck_payments_source_known"), type_="check")
        batch_op.drop_constraint(op.f("ck_payments_method_known"), type_="check")
        batch_op.alter_column("source", server_default="manual", existing_type=sa.String(length=20))
    op.execute("UPDATE payments SET source = 'manual' WHERE source = 'flexbill'")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_payments_source_known"), "source IN ('manual', 'gateway', 'accounting')"
        )
        batch_op.create_check_constraint(
            op.f("ck_payments_method_known"), "method IN ('bank_transfer', 'cash', 'card', 'direct_debit', 'other')"
        )
        batch_op.create_check_constraint(
            op.f("ck_payments_status_known"), "status IN ('succeeded', 'partially_refunded', 'refunded')"
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payments_status_known"), type_="check")
        batch_op.drop_constraint(op.f("ck_payments_method_known"), type_="check")
        batch_op.drop_constraint(op.f("ck_payments_source_known"), type_="check")
        batch_op.alter_column("source", server_default="flexbill", existing_type=sa.String(length=20))
    op.execute("UPDATE payments SET source = 'flexbill' WHERE source IN ('manual', 'gateway')")
    op.execute("UPDATE payments SET method = 'other' WHERE method = 'direct_debit'")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f("ck_payments_source_known"), "source IN ('flexbill', 'accounting')")
        batch_op.create_check_constraint(
            op.f("ck_payments_method_known"), "method IN ('bank_transfer', 'cash', 'card', 'other')"
        )
        batch_op.drop_constraint(batch_op.f("fk_payments_gateway_id_payment_gateways"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_payments_gateway_id_external_id"), type_="unique")
        batch_op.drop_column("external_id")
        batch_op.drop_column("gateway_id")
        batch_op.drop_column("amount_refunded")
        batch_op.drop_column("status")

    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.drop_column("email_reply_to")
        batch_op.drop_column("email_sender_name")
        batch_op.drop_column("logo_media_type")
        batch_op.drop_column("logo")
        batch_op.drop_column("payment_details")
        batch_op.drop_column("tax_number")
        batch_op.drop_column("phone")
        batch_op.drop_column("email")
        batch_op.drop_column("address")
        batch_op.drop_column("legal_name")

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("disputed_at")
        batch_op.drop_column("payment_failure_reason")

    with op.batch_alter_table("billing_settings", schema=None) as batch_op:
        batch_op.drop_column("reminder_days")
        batch_op.drop_column("charge_retry_days")
        batch_op.drop_column("charge_retries")

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_payment_id"))

    op.drop_table("refunds")
    with op.batch_alter_table("charge_attempts", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_charge_attempts_open",
            sqlite_where=sa.text("status IN ('pending', 'unknown')"),
            postgresql_where=sa.text("status IN ('pending', 'unknown')"),
        )
        batch_op.drop_index("ix_charge_attempts_status")
        batch_op.drop_index(batch_op.f("ix_charge_attempts_external_id"))

    op.drop_table("charge_attempts")
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_payment_methods_default", sqlite_where=sa.text("is_default"), postgresql_where=sa.text("is_default")
        )
        batch_op.drop_index(batch_op.f("ix_payment_methods_customer_id"))

    op.drop_table("payment_methods")
    op.drop_table("gateway_events")
    op.drop_table("gateway_customers")
    op.drop_table("payment_gateways")
