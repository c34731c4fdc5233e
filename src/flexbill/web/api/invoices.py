"""Invoices, payments, credit notes and the CSV export."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date
from itertools import chain
from typing import Literal

from fastapi import APIRouter, Body, Depends, Query, status
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from flexbill.accounting.model import RecordKind
from flexbill.bootstrap import Context, quickbooks_codes_for, xero_codes_for
from flexbill.clock import Clock
from flexbill.errors import InvalidInput
from flexbill.invoicing import service
from flexbill.invoicing.documents import invoice_pdf
from flexbill.invoicing.export import (
    QUICKBOOKS,
    XERO,
    CodesT,
    DateOrder,
    ExportFilter,
    ExportFormat,
    ImportTemplate,
    invoice_rows,
    plan_export,
    readme,
    repeatable_reads,
    template_files,
    to_csv_text,
    to_zip,
)
from flexbill.invoicing.model import OPEN_STATUSES, InvoiceStatus
from flexbill.invoicing.store import CreditNoteRow, InvoiceRow, PaymentRow
from flexbill.notify import service as notify
from flexbill.web.api.deps import DB, Now, ReadDB, context, require_read, require_write
from flexbill.web.api.paging import Cursor, Limit, paginate
from flexbill.web.api.views import (
    CreditNoteOut,
    EmailOut,
    InvoiceOut,
    Page,
    PaymentOut,
    credit_note_out,
    email_out,
    invoices_out,
    payment_out,
    with_accounting,
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
    return paginate(db, query, InvoiceRow.id, limit, cursor, convert_page=lambda rows: invoices_out(db, clock, rows))


@router.get("/invoices/{invoice_id}", dependencies=read, tags=["invoices"])
def get_invoice(invoice_id: uuid.UUID, db: ReadDB, clock: Now) -> InvoiceOut:
    return _invoice_out(db, clock, service.get_invoice(db, invoice_id))


@router.get(
    "/invoices/{invoice_id}/pdf",
    dependencies=read,
    tags=["invoices"],
    response_class=Response,
    responses={
        200: {
            "description": "The invoice as a PDF.",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                "X-Flexbill-Pdf-Source": {
                    "description": "Whose PDF it is: the accounting system's, or flexbill's own.",
                    "schema": {"type": "string", "enum": ["accounting", "flexbill"]},
                }
            },
        }
    },
)
def get_invoice_pdf(invoice_id: uuid.UUID, db: ReadDB, clock: Now, ctx: Context = Depends(context)) -> Response:
    """The invoice's PDF: the accounting system's own once flexbill has fetched it, flexbill's otherwise."""
    pdf = invoice_pdf(db, ctx.settings, clock, invoice_id)
    return Response(
        pdf.content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{pdf.filename}"', "X-Flexbill-Pdf-Source": pdf.source},
    )


@router.post("/invoices/{invoice_id}/issue", dependencies=write, tags=["invoices"])
def issue_invoice(invoice_id: uuid.UUID, db: DB, clock: Now) -> InvoiceOut:
    return _invoice_out(db, clock, service.issue_invoice(db, clock, invoice_id))


@router.post("/invoices/{invoice_id}/void", dependencies=write, tags=["invoices"])
def void_invoice(
    invoice_id: uuid.UUID, db: DB, clock: Now, body: service.VoidRequest | None = Body(None)
) -> InvoiceOut:
    return _invoice_out(db, clock, service.void_invoice(db, clock, invoice_id, body or service.VoidRequest()))


def _invoice_out(db: Session, clock: Clock, invoice: InvoiceRow) -> InvoiceOut:
    return invoices_out(db, clock, [invoice])[0]


@router.post(
    "/invoices/{invoice_id}/payments",
    status_code=status.HTTP_201_CREATED,
    dependencies=write,
    tags=["invoices"],
)
def record_payment(invoice_id: uuid.UUID, body: service.NewPayment, db: DB, clock: Now) -> PaymentOut:
    return with_accounting(db, RecordKind.PAYMENT, [payment_out(service.record_payment(db, clock, invoice_id, body))])[
        0
    ]


@router.get("/invoices/{invoice_id}/payments", dependencies=read, tags=["invoices"])
def list_payments(invoice_id: uuid.UUID, db: ReadDB) -> Page[PaymentOut]:
    """Every payment recorded on the invoice, oldest first (one page: an invoice has few)."""
    service.get_invoice(db, invoice_id)
    rows = db.scalars(select(PaymentRow).where(PaymentRow.invoice_id == invoice_id).order_by(PaymentRow.id))
    items = with_accounting(db, RecordKind.PAYMENT, [payment_out(row) for row in rows])
    return Page[PaymentOut](items=items, next_cursor=None)


@router.post("/invoices/{invoice_id}/send", status_code=status.HTTP_202_ACCEPTED, dependencies=write, tags=["invoices"])
def send_invoice(
    invoice_id: uuid.UUID, db: DB, clock: Now, body: notify.SendInvoiceRequest | None = Body(None)
) -> EmailOut:
    """Email the invoice and its PDF (again) now: to the customer, or to ``to``. Queued, and sent by the worker;
    follow it with GET .../emails. Drafts and voided invoices are refused."""
    return email_out(notify.send_invoice(db, clock.now(), invoice_id, to=body.to if body else None))


@router.get("/invoices/{invoice_id}/emails", dependencies=read, tags=["invoices"])
def list_emails(invoice_id: uuid.UUID, db: ReadDB) -> Page[EmailOut]:
    """Every email of the invoice (invoice, receipts, notices, reminders), oldest first, with how each went."""
    return Page[EmailOut](items=[email_out(row) for row in notify.emails_of(db, invoice_id)], next_cursor=None)


@router.post(
    "/invoices/{invoice_id}/credit-notes",
    status_code=status.HTTP_201_CREATED,
    dependencies=write,
    tags=["invoices"],
)
def create_credit_note(invoice_id: uuid.UUID, body: service.NewCreditNote, db: DB, clock: Now) -> CreditNoteOut:
    note = credit_note_out(service.create_credit_note(db, clock, invoice_id, body))
    return with_accounting(db, RecordKind.CREDIT_NOTE, [note])[0]


@router.get("/credit-notes", dependencies=read, tags=["invoices"])
def list_credit_notes(
    db: ReadDB, limit: Limit = 100, cursor: Cursor = None, invoice_id: uuid.UUID | None = None
) -> Page[CreditNoteOut]:
    query = select(CreditNoteRow)
    if invoice_id:
        query = query.where(CreditNoteRow.invoice_id == invoice_id)
    return paginate(
        db,
        query,
        CreditNoteRow.id,
        limit,
        cursor,
        convert_page=lambda rows: with_accounting(db, RecordKind.CREDIT_NOTE, [credit_note_out(row) for row in rows]),
    )


@router.get("/credit-notes/{credit_note_id}", dependencies=read, tags=["invoices"])
def get_credit_note(credit_note_id: uuid.UUID, db: ReadDB) -> CreditNoteOut:
    return with_accounting(db, RecordKind.CREDIT_NOTE, [credit_note_out(service.get_credit_note(db, credit_note_id))])[
        0
    ]


@router.get("/exports/invoices.csv", dependencies=read, tags=["exports"], response_class=StreamingResponse)
def export_invoices(
    ctx: Context = Depends(context),
    from_: date | None = Query(None, alias="from", description="First issue date (inclusive)."),
    to: date | None = Query(None, description="Last issue date (inclusive)."),
    location_id: uuid.UUID | None = None,
    status_: StatusFilter | None = Query(None, alias="status"),
    format_: Literal["flexbill", "xero", "quickbooks"] = Query(
        "flexbill",
        alias="format",
        description="flexbill's own columns, Xero's sales invoice import template, or QuickBooks Online's invoice "
        "import columns (a zip of several files when the invoices do not fit one: over 500 for Xero, over 100 for "
        "QuickBooks, or with both tax-exclusive and tax-inclusive prices).",
    ),
    date_order: Literal["dmy", "mdy"] | None = Query(
        None,
        description="Xero and QuickBooks only: dates as DD/MM/YYYY (dmy, the default) or MM/DD/YYYY (mdy, US "
        "organisations).",
    ),
) -> StreamingResponse:
    """One row per invoice line; the columns and the import templates are described in docs/api.md."""
    export = ExportFilter(from_, to, location_id, InvoiceStatus(status_) if status_ else None)
    order = DateOrder(date_order or DateOrder.DMY)
    match ExportFormat(format_):
        case ExportFormat.XERO:
            return _template_export(ctx, export, XERO, xero_codes_for, order)
        case ExportFormat.QUICKBOOKS:
            return _template_export(ctx, export, QUICKBOOKS, quickbooks_codes_for, order)
    if date_order is not None:
        raise InvalidInput(
            "applies only to format=xero and format=quickbooks (flexbill's own format writes dates as YYYY-MM-DD)",
            field="date_order",
        )

    def stream() -> object:
        with ctx.readers() as db:
            yield from to_csv_text(invoice_rows(db, export))

    return StreamingResponse(
        stream(),  # type: ignore[arg-type]
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="invoices.csv"'},
    )


def _template_export(
    ctx: Context,
    export: ExportFilter,
    template: ImportTemplate[CodesT],
    codes_for: Callable[[Context, Session], Callable[[uuid.UUID], CodesT]],
    date_order: DateOrder,
) -> StreamingResponse:
    """Checks and plans in the request (an error is a JSON answer), then streams from the same snapshot."""
    db = ctx.readers()
    try:
        repeatable_reads(db)
        codes = codes_for(ctx, db)
        plan = plan_export(db, export, template, codes)
    except BaseException:
        db.close()
        raise
    files = template_files(db, export, template, plan, codes, date_order)

    def one_file() -> Iterator[str]:
        with db:
            for _, rows in files:
                yield from to_csv_text(rows)

    def archive() -> Iterator[bytes]:
        with db:
            members = ((file.name, to_csv_text(rows)) for file, rows in files)
            guide = ("README.txt", [readme(template, plan, date_order)])
            yield from to_zip(chain(members, [guide]), ctx.clock.now())

    if plan.single:
        return StreamingResponse(
            one_file(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{plan.files[0].name}"'},
        )
    return StreamingResponse(
        archive(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{template.file_prefix}.zip"'},
    )
