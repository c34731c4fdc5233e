"""Tables of the accounting sync: connections, what each local record is in the accounting system, and the log.

``sync_records`` holds one row per (kind, local record): its status, the remote id and number, and two revision
counters. ``revision`` goes up each time the record changes here in a way the accounting system must hear about
(issued, voided, credited, paid); ``synced_revision`` is the revision the accounting system last confirmed. Each
outbox task carries the revision it was made for, so its key (``accounting:invoice:<id>:v<revision>``) is unique
and a change made while a task runs gets a task of its own.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flexbill.db import Base, UtcDateTime, new_id, utcnow


class AccountingConnectionRow(Base):
    """One organisation in an accounting system, serving one or more locations."""

    __tablename__ = "accounting_connections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(40))
    # authorizing -> connected; connected -> reconnect_needed (tokens refused) -> connected (authorized again);
    # choose_tenant when the consent covered several organisations and none is chosen yet.
    status: Mapped[str] = mapped_column(String(30))
    base_url: Mapped[str | None] = mapped_column(String(500))  # a sandbox's root; None for the vendor's own
    redirect_uri: Mapped[str] = mapped_column(String(500))
    oauth_state: Mapped[str | None] = mapped_column(String(100), unique=True)
    tenant_id: Mapped[str | None] = mapped_column(String(100), index=True)
    tenant_name: Mapped[str | None] = mapped_column(String(300))
    tenants: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)  # offered by the last consent
    numbering: Mapped[str] = mapped_column(String(20), default="accounting")
    tokens: Mapped[str | None] = mapped_column(Text)  # encrypted JSON; see flexbill.accounting.secrets
    access_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    mappings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The remote clock's reading at the last successful pull: the next pull asks for changes since a little
    # before it (an overlapping window), so nothing changed around the boundary is missed.
    pulled_as_of: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class ConnectionLocationRow(Base):
    """Which connection a location syncs to: at most one per location; several locations may share one."""

    __tablename__ = "accounting_connection_locations"

    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounting_connections.id", ondelete="CASCADE"), index=True
    )


class SyncRecordRow(Base):
    __tablename__ = "sync_records"
    __table_args__ = (
        # A remote record is ours once: a payment pulled from the accounting system is recorded here once.
        UniqueConstraint("connection_id", "kind", "external_id"),
        Index("ix_sync_records_status", "connection_id", "status"),
    )

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Part of the key: a customer billed at locations that keep their books in different organisations is a
    # contact in each. Invoices, payments and credit notes belong to one location, so to one connection.
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounting_connections.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(20))
    revision: Mapped[int] = mapped_column(default=0)
    synced_revision: Mapped[int] = mapped_column(default=0)
    external_id: Mapped[str | None] = mapped_column(String(100))
    external_number: Mapped[str | None] = mapped_column(String(255))
    remote_status: Mapped[str | None] = mapped_column(String(30))  # the accounting system's word, e.g. PAID
    synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    # Set once an unclear failure happened: the next attempt looks the record up before creating it again.
    uncertain: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class SyncLogRow(Base):
    """What the sync did with a record, and how it went: the answer to "why is this not in Xero?"."""

    __tablename__ = "sync_log"
    __table_args__ = (Index("ix_sync_log_record", "kind", "record_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[uuid.UUID]
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounting_connections.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    action: Mapped[str] = mapped_column(String(30))  # create, update, void, pdf, pull, allocate
    result: Mapped[str] = mapped_column(String(20))  # ok, failed, retry
    detail: Mapped[str] = mapped_column(Text, default="")


class AccountingDocumentRow(Base):
    """The accounting system's own PDF of an invoice, fetched once it is synced and will be sent."""

    __tablename__ = "accounting_documents"

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime())


class InboundEventRow(Base):
    """Webhook events already taken in: the accounting system re-delivers, we act once."""

    __tablename__ = "accounting_inbound_events"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
