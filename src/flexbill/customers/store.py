"""Tables of customers and what they are billed for: memberships (in advance) and one-off fees (in arrears)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from flexbill.db import Amount, Base, new_id, utcnow


class CustomerRow(Base):
    __tablename__ = "customers"
    __table_args__ = (CheckConstraint("kind IN ('company', 'individual')", name="kind_known"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(320))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    tax_number: Mapped[str | None] = mapped_column(String(50))
    home_location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    tax_rate_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tax_rates.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# The portal finds a member's customers by billing address, compared without case, on every page it shows. On
# PostgreSQL only: SQLite cannot reflect an index on an expression, so its schema could not be checked against this
# one, and the embedded default's few customers are read in a moment anyway.
Index("ix_customers_lower_email", func.lower(CustomerRow.email)).ddl_if(dialect="postgresql")


class MembershipRow(Base):
    """A customer's membership of a plan at a location. ``end_exclusive`` is the day after the last day."""

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint("CAST(quantity AS NUMERIC) > 0", name="quantity_positive"),
        CheckConstraint("end_exclusive IS NULL OR end_exclusive > start_date", name="ends_after_start"),
        CheckConstraint("discount_type IS NULL OR discount_type IN ('percent', 'amount')", name="discount_known"),
        Index("ix_memberships_location_start", "location_id", "start_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    start_date: Mapped[date]
    end_exclusive: Mapped[date | None]
    quantity: Mapped[Decimal] = mapped_column(Amount())
    price: Mapped[Decimal | None] = mapped_column(Amount())
    discount_type: Mapped[str | None] = mapped_column(String(10))
    discount_value: Mapped[Decimal | None] = mapped_column(Amount())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FeeRow(Base):
    """A one-off charge (a meeting room, printing, a day pass), billed on the first bill run after its date."""

    __tablename__ = "fees"
    __table_args__ = (
        CheckConstraint("CAST(quantity AS NUMERIC) > 0", name="quantity_positive"),
        Index("ix_fees_location_date", "location_id", "date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    date: Mapped[date]
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(Amount())
    unit_price: Mapped[Decimal] = mapped_column(Amount())
    revenue_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("revenue_accounts.id"))
    tax_rate_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tax_rates.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
