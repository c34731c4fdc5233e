"""Tables of outgoing webhooks: the endpoints integrators register, the events published to them, one delivery
per event and endpoint, and one row per attempt to deliver it.

An event is written only when at least one enabled endpoint subscribes to its type, in the transaction of the
change that causes it, together with its deliveries and the outbox task of each (``webhook:<delivery id>``).
There is no check constraint on ``type``: the list of event types grows, and a new one must not need a rebuild of
a large table on SQLite.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flexbill.db import Base, UtcDateTime, new_id

PENDING = "pending"  # waiting for its first attempt, or for a retry
DELIVERED = "delivered"  # the endpoint answered 2xx
FAILED = "failed"  # still refused when the retry window closed
CANCELLED = "cancelled"  # its endpoint was disabled or deleted before it was delivered


class WebhookEndpointRow(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON)  # ["*"] for all; see flexbill.events.model
    enabled: Mapped[bool] = mapped_column(default=True)
    secret: Mapped[str] = mapped_column(Text)  # the signing secret, encrypted with flexbill's key (Fernet)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Deleted endpoints are kept (hidden) so that their deliveries' history still names them.
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WebhookEventRow(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_type", "type", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)  # evt_<hex> on the wire
    type: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())  # from the clock, as in the payload
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # exactly what is posted


class WebhookDeliveryRow(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed', 'cancelled')", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_event", "event_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_events.id"))
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)  # every attempt, re-sends included
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WebhookAttemptRow(Base):
    """One POST of a delivery: what the endpoint answered, or why there was no answer."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        CheckConstraint("attempt >= 1", name="attempt_positive"),
        CheckConstraint("duration_ms >= 0", name="duration_not_negative"),
        UniqueConstraint("delivery_id", "attempt"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id"))
    attempt: Mapped[int]  # 1 for the first, counting on through re-sends
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status_code: Mapped[int | None]  # None: no answer (see error)
    error: Mapped[str | None] = mapped_column(Text)  # the network error, or why the answer is not a delivery
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int]
