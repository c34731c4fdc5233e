"""The invoices CSV export: one row per invoice line, flexbill's own documented columns (docs/api.md)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill import wire
from flexbill.catalog.store import LocationRow
from flexbill.invoicing.model import InvoiceStatus
from flexbill.invoicing.service import amount_due
from flexbill.invoicing.store import InvoiceRow

COLUMNS = (
    "invoice_number", "invoice_id", "status", "issue_date", "due_date", "currency", "location_code",
    "contact_name", "contact_email", "contact_tax_number", "line_number", "description", "quantity", "unit_price",
    "discount_amount", "net_amount", "tax_amount", "gross_amount", "account_code", "tax_rate_code", "tax_rate",
    "period_start", "period_end", "invoice_subtotal", "invoice_tax_total", "invoice_total", "invoice_amount_due",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExportFilter:
    issued_from: date | None = None
    issued_to: date | None = None  # inclusive
    location_id: uuid.UUID | None = None
    status: InvoiceStatus | None = None  # default: every issued invoice that stands (drafts and voided left out)


def invoice_rows(session: Session, export: ExportFilter, batch: int = 500) -> Iterator[list[str]]:
    """The CSV rows, header first, invoices by location, issue date and number; streamed in batches."""
    yield list(COLUMNS)
    codes = {row[0]: row[1] for row in session.execute(select(LocationRow.id, LocationRow.code))}
    query = select(InvoiceRow).order_by(InvoiceRow.location_id, InvoiceRow.issue_date, InvoiceRow.number)
    if export.status is not None:
        query = query.where(InvoiceRow.status == export.status.value)
    else:
        query = query.where(InvoiceRow.status.not_in([InvoiceStatus.DRAFT.value, InvoiceStatus.VOIDED.value]))
    if export.issued_from is not None:
        query = query.where(InvoiceRow.issue_date >= export.issued_from)
    if export.issued_to is not None:
        query = query.where(InvoiceRow.issue_date <= export.issued_to)
    if export.location_id is not None:
        query = query.where(InvoiceRow.location_id == export.location_id)
    for invoice in session.scalars(query.execution_options(yield_per=batch)):
        c = invoice.currency
        for position, line in enumerate(invoice.lines, start=1):
            last = wire.last_day(line.period_end_exclusive)
            yield [
                invoice.number or "",
                str(invoice.id),
                invoice.status,
                invoice.issue_date.isoformat(),
                invoice.due_date.isoformat(),
                c,
                codes[invoice.location_id],
                invoice.bill_to_name,
                invoice.bill_to_email,
                invoice.bill_to_tax_number or "",
                str(position),
                line.description,
                wire.number(line.quantity),
                wire.unit_price(line.unit_price, c),
                wire.amount(line.discount_amount, c),
                wire.amount(line.net_amount, c),
                wire.amount(line.tax_amount, c),
                wire.amount(line.gross_amount, c),
                line.account_code,
                line.tax_rate_code,
                wire.number(line.tax_rate_percent),
                line.period_start.isoformat() if line.period_start else "",
                last.isoformat() if last else "",
                wire.amount(invoice.subtotal, c),
                wire.amount(invoice.tax_total, c),
                wire.amount(invoice.total, c),
                wire.amount(amount_due(invoice), c),
            ]


def to_csv_text(rows: Iterator[list[str]]) -> Iterator[str]:
    """Encode rows as CSV text chunks (RFC 4180, CRLF line ends, as spreadsheets and Xero expect)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
