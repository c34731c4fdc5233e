"""Invoices, payments, credit notes and the CSV export."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from fastapi import APIRouter, Body, Depends, Query, status
from fastapi.responses import StreamingResponse
from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from flexbill.bootstrap import Context
from flexbill.clock import Clock
from flexbill.invoicing import service
from flexbill.invoicing.export import ExportFilter, invoice_rows, to_csv_text
from flexbill.invoicing.model import OPEN_STATUSES, InvoiceStatus
from flexbill.invoicing.store import CreditNoteRow, InvoiceRow, PaymentRow
from flexbill.web.api.billing import tax_rates_by_id
from flexbill.web.api.deps import DB, Now, ReadDB, context, require_read, require_write
from flexbill.web.api.paging import Cursor, Limit, paginate
from flexbill.web.api.views import (
    CreditNoteOut,
    InvoiceOut,
    Page,
    PaymentOut,
    credit_note_out,
    invoice_out,
    payment_out,
)

router = APIRouter()
read = [Depends(require_read)]
write = [Depends(require_write)]

StatusFilter = Literal["draft", "awaiting_payment", "partially_paid", "paid", "voided"]


@router.get("/invoices", dependencies=read, tags=["invoices"])
def list_invoices(
    db: ReadDB,
    clock: Now,
    limit: Limit = 100,
    cursor: Cursor = None,
    status_: StatusFilter | None = Query(None, alias="status"),
    customer_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
    bill_run_id: uuid.UUID | None = None,
    overdue: bool | None = Query(None, description="Only invoices past their due date with a balance (or not)."),
) -> Page[InvoiceOut]:
    todays = service.todays_by_location(db, clock)
    query = select(InvoiceRow)
    if status_:
        query = query.where(InvoiceRow.status == status_)
    if customer_id:
        query = query.where(InvoiceRow.customer_id == customer_id)
    if location_id:
        query = query.where(InvoiceRow.location_id == location_id)
    if bill_run_id:
        query = query.where(InvoiceRow.bill_run_id == bill_run_id)
    if overdue is not None:
        past_due = or_(
            false(),
            *(and_(InvoiceRow.location_id == where, InvoiceRow.due_date < today) for where, today in todays.items()),
        )
        late = InvoiceRow.status.in_([s.value for s in OPEN_STATUSES]) & past_due
        query = query.where(late if overdue else ~late)
    rates = tax_rates_by_id(db)
    return paginate(
        db, query, InvoiceRow.id, limit, cursor, lambda row: invoice_out(row, todays[row.location_id], rates)
    )


@router.get("/invoices/{invoice_id}", dependencies=read, tags=["invoices"])
def get_invoice(invoice_id: uuid.UUID, db: ReadDB, clock: Now) -> InvoiceOut:
    return _invoice_out(db, clock, service.get_invoice(db, invoice_id))


@router.post("/invoices/{invoice_id}/issue", dependencies=write, tags=["invoices"])
def issue_invoice(invoice_id: uuid.UUID, db: DB, clock: Now) -> InvoiceOut:
    return _invoice_out(db, clock, service.issue_invoice(db, clock, invoice_id))


@router.post("/invoices/{invoice_id}/void", dependencies=write, tags=["invoices"])
def void_invoice(
    invoice_id: uuid.UUID, db: DB, clock: Now, body: service.VoidRequest | None = Body(None)
) -> InvoiceOut:
    return _invoice_out(db, clock, service.void_invoice(db, clock, invoice_id, body or service.VoidRequest()))


def _invoice_out(db: Session, clock: Clock, invoice: InvoiceRow) -> InvoiceOut:
    return invoice_out(invoice, service.todays_by_location(db, clock)[invoice.location_id], tax_rates_by_id(db))


@router.post(
    "/invoices/{invoice_id}/payments",
    status_code=status.HTTP_201_CREATED,
    dependencies=write,
    tags=["invoices"],
)
def record_payment(invoice_id: uuid.UUID, body: service.NewPayment, db: DB) -> PaymentOut:
    return payment_out(service.record_payment(db, invoice_id, body))


@router.get("/invoices/{invoice_id}/payments", dependencies=read, tags=["invoices"])
def list_payments(invoice_id: uuid.UUID, db: ReadDB) -> Page[PaymentOut]:
    """Every payment recorded on the invoice, oldest first (one page: an invoice has few)."""
    service.get_invoice(db, invoice_id)
    rows = db.scalars(select(PaymentRow).where(PaymentRow.invoice_id == invoice_id).order_by(PaymentRow.id))
    return Page[PaymentOut](items=[payment_out(row) for row in rows], next_cursor=None)


@router.post(
    "/invoices/{invoice_id}/credit-notes",
    status_code=status.HTTP_201_CREATED,
    dependencies=write,
    tags=["invoices"],
)
def create_credit_note(invoice_id: uuid.UUID, body: service.NewCreditNote, db: DB, clock: Now) -> CreditNoteOut:
    return credit_note_out(service.create_credit_note(db, clock, invoice_id, body))


@router.get("/credit-notes", dependencies=read, tags=["invoices"])
def list_credit_notes(
    db: ReadDB, limit: Limit = 100, cursor: Cursor = None, invoice_id: uuid.UUID | None = None
) -> Page[CreditNoteOut]:
    query = select(CreditNoteRow)
    if invoice_id:
        query = query.where(CreditNoteRow.invoice_id == invoice_id)
    return paginate(db, query, CreditNoteRow.id, limit, cursor, credit_note_out)


@router.get("/credit-notes/{credit_note_id}", dependencies=read, tags=["invoices"])
def get_credit_note(credit_note_id: uuid.UUID, db: ReadDB) -> CreditNoteOut:
    return credit_note_out(service.get_credit_note(db, credit_note_id))


@router.get("/exports/invoices.csv", dependencies=read, tags=["exports"], response_class=StreamingResponse)
def export_invoices(
    ctx: Context = Depends(context),
    from_: date | None = Query(None, alias="from", description="First issue date (inclusive)."),
    to: date | None = Query(None, description="Last issue date (inclusive)."),
    location_id: uuid.UUID | None = None,
    status_: StatusFilter | None = Query(None, alias="status"),
) -> StreamingResponse:
    """One row per invoice line; the columns are listed in docs/api.md."""
    export = ExportFilter(from_, to, location_id, InvoiceStatus(status_) if status_ else None)

    def stream() -> object:
        with ctx.readers() as db:
            yield from to_csv_text(invoice_rows(db, export))

    return StreamingResponse(
        stream(),  # type: ignore[arg-type]
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="invoices.csv"'},
    )
