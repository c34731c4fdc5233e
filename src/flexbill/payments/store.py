"""Tables of getting paid: each location's gateway account, the gateway's customers and saved payment methods,
charge attempts, refunds and the gateway's webhook events already taken in."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from flexbill.db import Amount, Base, UtcDateTime, new_id


class GatewayRow(Base):
    """A location's payment gateway account. Keys are encrypted at rest with flexbill's secret key."""

    __tablename__ = "payment_gateways"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"), unique=True)
    provider: Mapped[str] = mapped_column(String(40))
    secret_key: Mapped[str] = mapped_column(Text)  # sealed
    webhook_secret: Mapped[str] = mapped_column(Text)  # sealed
    base_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class GatewayCustomerRow(Base):
    """The gateway's customer (cus_...) of a flexbill customer, per gateway account."""

    __tablename__ = "gateway_customers"

    gateway_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_gateways.id"), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PaymentMethodRow(Base):
    """A payment method saved at the gateway (flexbill keeps only its id and what identifies it to a person)."""

    __tablename__ = "payment_methods"
    __table_args__ = (
        UniqueConstraint("gateway_id", "external_id"),
        # One default per customer and gateway account.
        Index(
            "uq_payment_methods_default",
            "gateway_id",
            "customer_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    gateway_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_gateways.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    brand: Mapped[str | None] = mapped_column(String(30))
    last4: Mapped[str | None] = mapped_column(String(4))
    exp_month: Mapped[int | None]
    exp_year: Mapped[int | None]
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ChargeAttemptRow(Base):
    """One try at charging an invoice, written before the gateway is called.

    Two constraints make a double charge impossible from here: attempt numbers are unique per invoice (two
    workers that both decide to charge make the same attempt, and only one of them can write it), and at most one
    attempt per invoice is open (pending or unknown) at a time. The gateway gets the attempt's idempotency key,
    so the same attempt sent twice is one charge there too."""

    __tablename__ = "charge_attempts"
    __table_args__ = (
        UniqueConstraint("invoice_id", "number"),
        UniqueConstraint("idempotency_key"),
        Index(
            "uq_charge_attempts_open",
            "invoice_id",
            unique=True,
            sqlite_where=text("status IN ('pending', 'unknown')"),
            postgresql_where=text("status IN ('pending', 'unknown')"),
        ),
        Index("ix_charge_attempts_status", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"))
    gateway_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_gateways.id"))
    number: Mapped[int]
    kind: Mapped[str] = mapped_column(String(20))
    # The day (at the location) whose due-date work made an automatic attempt: retries count from it, so an
    # operator catching up on several days gets the same schedule as a worker that ran each day.
    day: Mapped[date | None]
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    # The method charged; kept as history when the member removes it later.
    payment_method_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payment_methods.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    # What the member's statement says; fixed when the attempt is made, so that sending it again is the same
    # request (the gateway refuses a key reused with different parameters).
    description: Mapped[str] = mapped_column(String(200), default="", server_default="")
    status: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(100), index=True)
    failure_code: Mapped[str | None] = mapped_column(String(100))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))
    checkout_url: Mapped[str | None] = mapped_column(String(1000))  # the hosted page of a pay-now attempt
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RefundRow(Base):
    """Money given back on a gateway payment, written before the gateway is asked."""

    __tablename__ = "refunds"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    date: Mapped[date]
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))  # pending, succeeded, failed, unknown
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    credit_note_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credit_notes.id"))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class GatewayEventRow(Base):
    """Webhook events already taken in: gateways deliver more than once, flexbill acts once."""

    __tablename__ = "gateway_events"

    gateway_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_gateways.id"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
