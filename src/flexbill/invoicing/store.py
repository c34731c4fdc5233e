"""Tables of invoices, their lines, payments, credit notes and number sequences."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from flexbill.db import Amount, Base, UtcDateTime, new_id, utcnow


class NumberSequenceRow(Base):
    """The next number of a location's invoices (``kind='invoice'``) or credit notes. Taken in the same
    transaction as the document, under a row lock, so numbers are unique and gap-free."""

    __tablename__ = "number_sequences"

    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    next_number: Mapped[int] = mapped_column(default=1)


def create_number_sequences(session: Session, location_id: uuid.UUID) -> None:
    """Every location gets its sequences when it is created, so taking a number is always a row lock."""
    for kind in ("invoice", "credit_note"):
        session.add(NumberSequenceRow(location_id=location_id, kind=kind, next_number=1))
    session.flush()


class InvoiceRow(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("location_id", "number"),
        CheckConstraint(
            "status IN ('draft', 'awaiting_payment', 'partially_paid', 'paid', 'voided')", name="status_known"
        ),
        Index("ix_invoices_status_due", "status", "due_date"),
        Index("ix_invoices_customer", "customer_id", "issue_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[str | None] = mapped_column(String(100))
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    bill_run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bill_runs.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[date]
    due_date: Mapped[date]
    status: Mapped[str] = mapped_column(String(20))
    prices_include_tax: Mapped[bool]
    tax_rounding: Mapped[str] = mapped_column(String(20))
    subtotal: Mapped[Decimal] = mapped_column(Amount())
    tax_total: Mapped[Decimal] = mapped_column(Amount())
    total: Mapped[Decimal] = mapped_column(Amount())
    amount_paid: Mapped[Decimal] = mapped_column(Amount())
    amount_credited: Mapped[Decimal] = mapped_column(Amount())
    # Bill-to details as they were when the invoice was made: editing the customer never changes an invoice.
    bill_to_name: Mapped[str] = mapped_column(String(200))
    bill_to_email: Mapped[str] = mapped_column(String(320))
    bill_to_address: Mapped[str] = mapped_column(String(1000), default="")
    bill_to_tax_number: Mapped[str | None] = mapped_column(String(50))
    issued_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    # Set when the last automatic charge failed (the gateway's reason), cleared when the invoice is paid.
    payment_failure_reason: Mapped[str | None] = mapped_column(String(500))
    disputed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lines: Mapped[list[InvoiceLineRow]] = relationship(
        order_by="InvoiceLineRow.position", lazy="selectin", cascade="all, delete-orphan"
    )


class InvoiceLineRow(Base):
    """A line as it was issued. It copies the codes and rate it was billed with and keeps the ids of its account,
    tax rate, membership and fee as plain references, without foreign keys: an issued line never changes, what
    it billed is enforced by the claims tables (which do have foreign keys), and a bill run writes hundreds of
    thousands of lines, each foreign key a lookup per line."""

    __tablename__ = "invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(Amount())
    unit_price: Mapped[Decimal] = mapped_column(Amount())
    discount_rate: Mapped[Decimal | None] = mapped_column(Amount())
    discount_amount: Mapped[Decimal] = mapped_column(Amount())
    net_amount: Mapped[Decimal] = mapped_column(Amount())
    tax_amount: Mapped[Decimal] = mapped_column(Amount())
    gross_amount: Mapped[Decimal] = mapped_column(Amount())
    account_id: Mapped[uuid.UUID]
    account_code: Mapped[str] = mapped_column(String(40))
    tax_rate_id: Mapped[uuid.UUID]
    tax_rate_code: Mapped[str] = mapped_column(String(40))
    tax_rate_percent: Mapped[Decimal] = mapped_column(Amount())
    period_start: Mapped[date | None]
    period_end_exclusive: Mapped[date | None]
    membership_id: Mapped[uuid.UUID | None]
    fee_id: Mapped[uuid.UUID | None]


class PaymentRow(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("method IN ('bank_transfer', 'cash', 'card', 'direct_debit', 'other')", name="method_known"),
        CheckConstraint("CAST(amount AS NUMERIC) > 0", name="amount_positive"),
        CheckConstraint("source IN ('manual', 'gateway', 'accounting')", name="source_known"),
        CheckConstraint("status IN ('succeeded', 'partially_refunded', 'refunded')", name="status_known"),
        # A gateway's payment is recorded once, whichever of the charge, the janitor and its webhooks gets there
        # first.
        UniqueConstraint("gateway_id", "external_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    date: Mapped[date]
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(200))
    # manual: recorded by staff, gateway: taken by a payment gateway (both sent to the accounting system);
    # accounting: taken from the accounting system (never sent back).
    source: Mapped[str] = mapped_column(String(20), default="manual", server_default="manual")
    status: Mapped[str] = mapped_column(String(20), default="succeeded", server_default="succeeded")
    amount_refunded: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0), server_default="0")
    gateway_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payment_gateways.id"))
    external_id: Mapped[str | None] = mapped_column(String(100))  # the gateway's payment (pi_...)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditNoteRow(Base):
    __tablename__ = "credit_notes"
    __table_args__ = (UniqueConstraint("location_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(100))
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    currency: Mapped[str] = mapped_column(String(3))
    date: Mapped[date]
    reason: Mapped[str] = mapped_column(String(500))
    subtotal: Mapped[Decimal] = mapped_column(Amount())
    tax_total: Mapped[Decimal] = mapped_column(Amount())
    total: Mapped[Decimal] = mapped_column(Amount())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lines: Mapped[list[CreditNoteLineRow]] = relationship(
        order_by="CreditNoteLineRow.position", lazy="selectin", cascade="all, delete-orphan"
    )


class CreditNoteLineRow(Base):
    __tablename__ = "credit_note_lines"
    __table_args__ = (UniqueConstraint("credit_note_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    credit_note_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_notes.id", ondelete="CASCADE"))
    position: Mapped[int]
    invoice_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoice_lines.id"), index=True)
    description: Mapped[str] = mapped_column(String(500))
    net_amount: Mapped[Decimal] = mapped_column(Amount())
    tax_amount: Mapped[Decimal] = mapped_column(Amount())
    gross_amount: Mapped[Decimal] = mapped_column(Amount())
    account_code: Mapped[str] = mapped_column(String(40))
    tax_rate_code: Mapped[str] = mapped_column(String(40))
