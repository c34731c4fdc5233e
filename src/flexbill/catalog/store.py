"""Tables of the catalog: locations, tax rates, revenue accounts and plans."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flexbill.db import Amount, Base, new_id, utcnow


class LocationRow(Base):
    __tablename__ = "locations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    prices_include_tax: Mapped[bool]
    invoice_number_template: Mapped[str] = mapped_column(String(100))
    credit_note_number_template: Mapped[str] = mapped_column(String(100))
    # What the location's invoices and emails say of it (the operator's own details, per location: a group of
    # spaces often runs each one as its own company).
    legal_name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    tax_number: Mapped[str | None] = mapped_column(String(50))
    payment_details: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_media_type: Mapped[str | None] = mapped_column(String(50))
    email_sender_name: Mapped[str | None] = mapped_column(String(200))
    email_reply_to: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaxRateRow(Base):
    __tablename__ = "tax_rates"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    components: Mapped[list[TaxComponentRow]] = relationship(
        order_by="TaxComponentRow.position", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def total_rate(self) -> Decimal:
        return sum((c.rate for c in self.components), Decimal(0))


class TaxComponentRow(Base):
    __tablename__ = "tax_rate_components"
    __table_args__ = (
        UniqueConstraint("tax_rate_id", "position"),
        CheckConstraint("position >= 0", name="position_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tax_rate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tax_rates.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    rate: Mapped[Decimal] = mapped_column(Amount())


class RevenueAccountRow(Base):
    __tablename__ = "revenue_accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    tax_rate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tax_rates.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlanRow(Base):
    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint("interval_months >= 1", name="interval_at_least_one_month"),
        CheckConstraint("proration IN ('first_invoice', 'second_invoice', 'none')", name="proration_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str | None] = mapped_column(String(3))
    revenue_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("revenue_accounts.id"))
    proration: Mapped[str] = mapped_column(String(20))
    interval_months: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
