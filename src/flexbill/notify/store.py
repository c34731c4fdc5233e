"""The table of emails: one row per email flexbill means to send, and what became of it.

The row is written in the same transaction as the change that causes it, together with the outbox task that
sends it (``email:<id>``). ``dedupe_key`` is unique: a second request for the same email writes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from flexbill.db import Base, UtcDateTime, new_id


class EmailRow(Base):
    __tablename__ = "emails"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('invoice', 'receipt', 'payment_failed', 'action_required', 'reminder')", name="kind_known"
        ),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'uncertain')", name="status_known"),
        CheckConstraint("requested_by IN ('auto', 'staff')", name="requested_by_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_emails_invoice", "invoice_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20))
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"))
    payment_id: Mapped[uuid.UUID | None]  # the payment a receipt is for
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)  # see flexbill.notify.model
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))  # as queued; as sent, once sent
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(default=0)  # times handed to the mail server (or tried to be)
    last_error: Mapped[str | None] = mapped_column(Text)  # also a note when it went as it should not have
    message_id: Mapped[str] = mapped_column(String(200))  # the Message-ID header, from the row's id
    requested_by: Mapped[str] = mapped_column(String(10))  # auto (the billing rules) or staff
    # What the message says that the database does not hold: a decline reason, the date of the next charge.
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
