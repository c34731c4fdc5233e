"""Tables of the billing rules, bill runs, and the claims that make billing idempotent.

``billed_membership_periods`` and ``billed_fees`` are the guard against billing anything twice: one row per
(membership, coverage start) and per fee, each pointing at the invoice line that billed it. Their unique keys
are what stop a second bill run, or two at once, from billing the same thing again. Voiding an invoice deletes
its claims (unless the items are waived), so the next run bills them afresh.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from flexbill.db import Base, new_id, utcnow


class BillingSettingsRow(Base):
    __tablename__ = "billing_settings"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("billing_day BETWEEN 1 AND 28", name="billing_day_in_range"),
        CheckConstraint("generate_days_before >= 0", name="generate_days_not_negative"),
        CheckConstraint("due_days >= 0", name="due_days_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    billing_day: Mapped[int] = mapped_column(default=1)
    generate_days_before: Mapped[int] = mapped_column(default=0)
    due_days: Mapped[int] = mapped_column(default=14)
    grouping: Mapped[str] = mapped_column(String(20), default="single")
    issue_mode: Mapped[str] = mapped_column(String(20), default="issue")
    tax_rounding: Mapped[str] = mapped_column(String(20), default="per_line")
    lock_date: Mapped[date | None]
    accounting_sync: Mapped[str] = mapped_column(String(20), default="off")
    auto_send: Mapped[bool] = mapped_column(default=False)
    auto_charge: Mapped[bool] = mapped_column(default=False)
    charge_retries: Mapped[int] = mapped_column(default=3, server_default="3")
    charge_retry_days: Mapped[int] = mapped_column(default=3, server_default="3")
    reminder_days: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BillRunRow(Base):
    __tablename__ = "bill_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    date: Mapped[date]
    location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("locations.id"))
    invoice_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BilledMembershipPeriodRow(Base):
    """One row per membership and coverage start: the primary key is the guard."""

    __tablename__ = "billed_membership_periods"

    membership_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("memberships.id"), primary_key=True)
    period_start: Mapped[date] = mapped_column(primary_key=True)
    period_end: Mapped[date]  # exclusive
    invoice_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoice_lines.id", ondelete="CASCADE"), index=True)


class BilledFeeRow(Base):
    __tablename__ = "billed_fees"

    fee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fees.id"), primary_key=True)
    invoice_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoice_lines.id", ondelete="CASCADE"), index=True)
