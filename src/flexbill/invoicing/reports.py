"""What the console's dashboard shows about invoices: money owed by age, and the invoices that need someone.

Ages are counted from the due date, in days, at each invoice's own location (its "today"):

>>> [age_bucket(days) for days in (-3, 0, 1, 30, 31, 60, 61, 90, 91)]
['current', 'current', '1-30', '1-30', '31-60', '31-60', '61-90', '61-90', '90+']
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from flexbill.accounting.model import RecordKind, SyncStatus
from flexbill.accounting.store import SyncRecordRow
from flexbill.invoicing.model import OPEN_STATUSES
from flexbill.invoicing.store import InvoiceRow
from flexbill.money import ZERO

AGE_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
AGE_LABELS = {
    "current": "Not yet due",
    "1-30": "1 to 30 days",
    "31-60": "31 to 60 days",
    "61-90": "61 to 90 days",
    "90+": "Over 90 days",
}


def age_bucket(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "90+"


@dataclass(slots=True)
class Receivables:
    currency: str
    by_age: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(AGE_BUCKETS, ZERO))

    @property
    def total(self) -> Decimal:
        return sum(self.by_age.values(), ZERO)


def receivables_by_age(session: Session, todays: Mapping[uuid.UUID, dt.date]) -> list[Receivables]:
    """What customers owe on issued invoices, per currency and age. One grouped query: the database sums, and
    only one row per (currency, location, due date) comes back."""
    balance = InvoiceRow.total - InvoiceRow.amount_paid - InvoiceRow.amount_credited
    rows = session.execute(
        select(InvoiceRow.currency, InvoiceRow.location_id, InvoiceRow.due_date, func.sum(balance))
        .where(InvoiceRow.status.in_([s.value for s in OPEN_STATUSES]))
        .group_by(InvoiceRow.currency, InvoiceRow.location_id, InvoiceRow.due_date)
    ).all()
    result: dict[str, Receivables] = {}
    for currency, location_id, due_date, owed in rows:
        today = todays.get(location_id)
        if today is None:
            continue
        bucket = age_bucket((today - due_date).days)
        entry = result.setdefault(currency, Receivables(currency))
        entry.by_age[bucket] += Decimal(owed)
    return [result[currency] for currency in sorted(result)]


ATTENTION_KINDS = ("sync_failed", "payment_failed", "overdue", "disputed")
ATTENTION_LABELS = {
    "sync_failed": "Failed to sync",
    "payment_failed": "Payment failed",
    "overdue": "Overdue",
    "disputed": "Disputed",
}


def needs_attention(attention: str, todays: Mapping[uuid.UUID, dt.date]) -> ColumnElement[bool]:
    """The condition (a SQL expression on invoices) of one kind of invoice needing attention; the console's
    dashboard counts with it and its invoice list filters with it, so both always agree."""
    open_statuses = [s.value for s in OPEN_STATUSES]
    if attention == "sync_failed":
        failed = select(SyncRecordRow.record_id).where(
            SyncRecordRow.kind == RecordKind.INVOICE.value, SyncRecordRow.status == SyncStatus.FAILED.value
        )
        return InvoiceRow.id.in_(failed)
    if attention == "payment_failed":
        return InvoiceRow.payment_failure_reason.is_not(None) & InvoiceRow.status.in_(open_statuses)
    if attention == "disputed":
        return InvoiceRow.disputed_at.is_not(None)
    if attention == "overdue":
        past_due = or_(
            false(),
            *(and_(InvoiceRow.location_id == where, InvoiceRow.due_date < today) for where, today in todays.items()),
        )
        return InvoiceRow.status.in_(open_statuses) & past_due
    raise ValueError(f"unknown attention kind {attention!r}")


def attention_counts(session: Session, todays: Mapping[uuid.UUID, dt.date]) -> dict[str, int]:
    return {
        kind: session.scalar(select(func.count()).select_from(InvoiceRow).where(needs_attention(kind, todays))) or 0
        for kind in ATTENTION_KINDS
    }
