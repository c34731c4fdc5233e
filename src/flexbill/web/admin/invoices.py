"""The console's invoices: a filterable list with bulk sync and issue (the semi-automated mode), and each invoice
with its lines, tax, payments, credit notes, emails and sync log, and the actions staff take on it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session, raiseload
from starlette.concurrency import run_in_threadpool

from flexbill import wire
from flexbill.access.model import Permission
from flexbill.accounting.model import RecordKind
from flexbill.accounting.service import request_sync
from flexbill.accounting.store import SyncLogRow, SyncRecordRow
from flexbill.catalog.store import LocationRow
from flexbill.customers.store import CustomerRow
from flexbill.errors import FlexbillError, InvalidInput, NotFound
from flexbill.invoicing import service as invoicing
from flexbill.invoicing.documents import invoice_pdf
from flexbill.invoicing.model import OPEN_STATUSES, InvoiceStatus
from flexbill.invoicing.reports import ATTENTION_KINDS, ATTENTION_LABELS, needs_attention
from flexbill.invoicing.store import CreditNoteRow, InvoiceRow, PaymentRow
from flexbill.notify import service as notify
from flexbill.payments.refunds import NewRefund, refund_payment
from flexbill.payments.store import RefundRow
from flexbill.web.api.views import AccountingOut, accounting_states, credit_note_out, invoices_out, payment_failed
from flexbill.web.forms import parse_form
from flexbill.web.security import check_csrf, context_of, current_staff, require, writing
from flexbill.web.templating import redirect, render

router = APIRouter()
csrf = [Depends(check_csrf)]
PAGE_SIZE = 50
SYNC_STATES = ("not_synced", "pending", "synced", "failed", "out_of_date")
STATUSES = tuple(status.value for status in InvoiceStatus)


# --- The list ----------------------------------------------------------------------------------------------------


def _filtered(query: Select[Any], filters: dict[str, Any], todays: dict[uuid.UUID, dt.date]) -> Select[Any]:
    if filters["q"]:
        like = f"%{filters['q'].strip().lower()}%"
        query = query.where(or_(InvoiceRow.number.ilike(like), InvoiceRow.bill_to_name.ilike(like)))
    if filters["status"] in STATUSES:
        query = query.where(InvoiceRow.status == filters["status"])
    for name, column in (("location_id", InvoiceRow.location_id), ("customer_id", InvoiceRow.customer_id)):
        if filters[name]:
            query = query.where(column == filters[name])
    if filters["issued_from"]:
        query = query.where(InvoiceRow.issue_date >= filters["issued_from"])
    if filters["issued_to"]:
        query = query.where(InvoiceRow.issue_date <= filters["issued_to"])
    if filters["attention"] in ATTENTION_KINDS:
        query = query.where(needs_attention(filters["attention"], todays))
    sync = filters["sync"]
    if sync in SYNC_STATES:
        record = select(SyncRecordRow.record_id).where(
            SyncRecordRow.kind == RecordKind.INVOICE.value, SyncRecordRow.record_id == InvoiceRow.id
        )
        if sync == "not_synced":
            query = query.where(~exists(record))
        else:
            query = query.where(exists(record.where(SyncRecordRow.status == sync)))
    return query


@router.get("/invoices")
def invoice_list(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    status: str = "",
    location_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    sync: str = "",
    attention: str = "",
    issued_from: dt.date | None = None,
    issued_to: dt.date | None = None,
    before: uuid.UUID | None = None,
) -> Response:
    """Newest first, :data:`PAGE_SIZE` at a time; ``before`` is the last id of the previous page (ids are
    time-ordered, so the page is one index range scan however many invoices there are)."""
    ctx = context_of(request)
    filters = {
        "q": q, "status": status, "location_id": location_id, "customer_id": customer_id, "sync": sync,
        "attention": attention, "issued_from": issued_from, "issued_to": issued_to,
    }  # fmt: skip
    with ctx.readers() as db:
        locations = list(db.scalars(select(LocationRow).order_by(LocationRow.name)))
        todays = invoicing.todays_at(ctx.clock, ((location.id, location.timezone) for location in locations))
        query = _filtered(select(InvoiceRow).options(raiseload(InvoiceRow.lines)), filters, todays)
        if before is not None:
            query = query.where(InvoiceRow.id < before)
        rows = list(db.scalars(query.order_by(InvoiceRow.id.desc()).limit(PAGE_SIZE + 1)))
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        items = _listed(db, rows, todays)
        customer = db.get(CustomerRow, customer_id) if customer_id else None
    next_query = request.query_params.multi_items()
    next_params = [(k, v) for k, v in next_query if k != "before"]
    return render(
        request,
        "admin/invoices/list.html",
        {
            "items": items,
            "filters": filters,
            "locations": locations,
            "location_names": {row.id: row.name for row in locations},
            "customer": customer,
            "statuses": STATUSES,
            "sync_states": SYNC_STATES,
            "attention_kinds": [(kind, ATTENTION_LABELS[kind]) for kind in ATTENTION_KINDS],
            "next_page": "?" + urlencode([*next_params, ("before", str(rows[-1].id))]) if more and rows else None,
            "this_page": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        },
    )


@dataclass(frozen=True, slots=True)
class ListedInvoice:
    """A row of the list, under the names of the API's invoice that the invoice's page shows (``status_badge``
    takes either). The list shows none of an invoice's lines, tax or payments, so it reads none: reading and
    shaping them was most of the list's work."""

    id: uuid.UUID
    number: str | None
    bill_to: dict[str, str]
    location_id: uuid.UUID
    issue_date: dt.date
    due_date: dt.date
    currency: str
    total: str
    amount_due: str
    status: str
    overdue: bool
    payment_failed: bool
    payment_failure_reason: str | None
    disputed: bool
    accounting: AccountingOut


def _listed(db: Session, rows: list[InvoiceRow], todays: dict[uuid.UUID, dt.date]) -> list[ListedInvoice]:
    states = accounting_states(db, RecordKind.INVOICE, [row.id for row in rows])
    return [
        ListedInvoice(
            id=row.id, number=row.number, bill_to={"name": row.bill_to_name}, location_id=row.location_id,
            issue_date=row.issue_date, due_date=row.due_date, currency=row.currency,
            total=wire.amount(row.total, row.currency),
            amount_due=wire.amount(invoicing.amount_due(row), row.currency), status=row.status,
            overdue=invoicing.is_overdue(row, todays[row.location_id]), payment_failed=payment_failed(row),
            payment_failure_reason=row.payment_failure_reason, disputed=row.disputed_at is not None,
            accounting=states[row.id],
        )
        for row in rows
    ]  # fmt: skip


@router.post("/invoices/bulk", dependencies=csrf)
async def bulk_action(request: Request) -> Response:
    """Sync or issue the ticked invoices: all of them, or none when one cannot be (the error names which)."""
    staff = current_staff(request)
    require(staff, Permission.RUN_BILLING)
    form = await request.form()
    action = str(form.get("action", ""))
    back = str(form.get("back", "/admin/invoices"))
    back = back if back.startswith("/admin/invoices") else "/admin/invoices"
    ids: list[uuid.UUID] = []
    for value in form.getlist("invoice_ids"):
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            return _bulk_refused(request, back, f"{value!r} is not an invoice id")
    if not ids:
        return _bulk_refused(request, back, "tick at least one invoice first")
    ctx = context_of(request)

    def act() -> str:
        with writing(request) as db:
            if action == "sync":
                request_sync(db, ctx, [str(invoice_id) for invoice_id in ids])
                return f"{len(ids)} invoice{'s' if len(ids) != 1 else ''} queued to sync."
            if action == "issue":
                for invoice_id in ids:
                    invoicing.issue_invoice(db, ctx.clock, invoice_id)
                return f"{len(ids)} invoice{'s' if len(ids) != 1 else ''} issued."
        raise _unknown_action(action)

    try:
        done = await run_in_threadpool(act)
    except FlexbillError as refused:
        return _bulk_refused(request, back, refused.message)
    return redirect(request, back, done)


def _unknown_action(action: str) -> FlexbillError:
    return InvalidInput(f"{action!r} is not something the invoice list does (sync or issue)", field="action")


def _bulk_refused(request: Request, back: str, message: str) -> Response:
    return redirect(request, back, f"Nothing was changed: {message}")


# --- One invoice -------------------------------------------------------------------------------------------------


def _detail(request: Request, db: Session, invoice_id: uuid.UUID) -> dict[str, Any]:
    ctx = context_of(request)
    row = invoicing.get_invoice(db, invoice_id)
    invoice = invoices_out(db, ctx.clock, [row])[0]
    credit_notes = [
        credit_note_out(note)
        for note in db.scalars(
            select(CreditNoteRow).where(CreditNoteRow.invoice_id == invoice_id).order_by(CreditNoteRow.id)
        )
    ]
    payment_ids = [payment.id for payment in invoice.payments]
    refunds = (
        list(db.scalars(select(RefundRow).where(RefundRow.payment_id.in_(payment_ids)).order_by(RefundRow.created_at)))
        if payment_ids
        else []
    )
    log = list(
        db.scalars(
            select(SyncLogRow)
            .where(SyncLogRow.kind == RecordKind.INVOICE.value, SyncLogRow.record_id == invoice_id)
            .order_by(SyncLogRow.at.desc(), SyncLogRow.id.desc())
            .limit(50)
        )
    )
    return {
        "invoice": invoice,
        "row": row,
        "customer": db.get(CustomerRow, row.customer_id),
        "location": db.get(LocationRow, row.location_id),
        "credit_notes": credit_notes,
        "refunds": refunds,
        "gateway_payments": {payment.id for payment in invoice.payments if payment.source == "gateway"},
        "emails": notify.emails_of(db, invoice_id),
        "sync_log": log,
        "is_open": row.status in OPEN_STATUSES,
        "errors": {},
        "form": {},
        "error": None,
    }


@router.get("/invoices/{invoice_id}")
def invoice_detail(request: Request, invoice_id: uuid.UUID) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        context = _detail(request, db, invoice_id)
    return render(request, "admin/invoices/detail.html", context)


@router.get("/invoices/{invoice_id}/pdf")
def invoice_pdf_download(request: Request, invoice_id: uuid.UUID) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        pdf = invoice_pdf(db, ctx.settings, ctx.clock, invoice_id)
    return Response(
        pdf.content,
        media_type="application/pdf",
        headers={"content-disposition": f'inline; filename="{pdf.filename}"', "cache-control": "no-store"},
    )


def _refused(request: Request, invoice_id: uuid.UUID, error: FlexbillError, form: dict[str, Any]) -> Response:
    """The invoice's page again, with what was typed kept and the reason shown (nothing was changed)."""
    ctx = context_of(request)
    with ctx.readers() as db:
        context = _detail(request, db, invoice_id)
    context.update(error=error.message, form=form, errors={error.field: error.message} if error.field else {})
    return render(request, "admin/invoices/detail.html", context, status=error.status_code)


def _act(request: Request, invoice_id: uuid.UUID, form: dict[str, Any], change: Any, done: str) -> Response:
    require(current_staff(request), Permission.RUN_BILLING)
    try:
        with writing(request) as db:
            change(db)
    except FlexbillError as error:
        return _refused(request, invoice_id, error, form)
    return redirect(request, f"/admin/invoices/{invoice_id}", done)


@router.post("/invoices/{invoice_id}/issue", dependencies=csrf)
def issue(request: Request, invoice_id: uuid.UUID) -> Response:
    ctx = context_of(request)
    return _act(request, invoice_id, {}, lambda db: invoicing.issue_invoice(db, ctx.clock, invoice_id), "Issued.")


@router.post("/invoices/{invoice_id}/void", dependencies=csrf)
def void(request: Request, invoice_id: uuid.UUID, write_off: Annotated[str, Form()] = "") -> Response:
    ctx = context_of(request)
    command = invoicing.VoidRequest(release_items=not write_off)
    note = "Voided; its items will be billed again." if command.release_items else "Voided and written off."
    return _act(request, invoice_id, {}, lambda db: invoicing.void_invoice(db, ctx.clock, invoice_id, command), note)


@router.post("/invoices/{invoice_id}/payments", dependencies=csrf)
def record_payment(
    request: Request,
    invoice_id: uuid.UUID,
    date: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    method: Annotated[str, Form()] = "bank_transfer",
    reference: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    ctx = context_of(request)
    form = {"date": date, "amount": amount, "method": method, "reference": reference}

    def change(db: Session) -> None:
        invoicing.record_payment(db, ctx.clock, invoice_id, parse_form(invoicing.NewPayment, form))

    return _act(request, invoice_id, form, change, "Payment recorded.")


@router.post("/invoices/{invoice_id}/credit-notes", dependencies=csrf)
def credit(
    request: Request,
    invoice_id: uuid.UUID,
    amount: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    ctx = context_of(request)
    form = {"amount": amount, "reason": reason}

    def change(db: Session) -> None:
        invoicing.create_credit_note(db, ctx.clock, invoice_id, parse_form(invoicing.NewCreditNote, form))

    return _act(request, invoice_id, form, change, "Credit note made.")


@router.post("/invoices/{invoice_id}/send", dependencies=csrf)
def send(request: Request, invoice_id: uuid.UUID, to: Annotated[str, Form(max_length=320)] = "") -> Response:
    ctx = context_of(request)

    def change(db: Session) -> None:
        notify.send_invoice(db, ctx.clock.now(), invoice_id, to=to.strip() or None)

    return _act(request, invoice_id, {"to": to}, change, "Email queued: it goes out in a moment.")


@router.post("/invoices/{invoice_id}/sync", dependencies=csrf)
def sync(request: Request, invoice_id: uuid.UUID) -> Response:
    ctx = context_of(request)
    return _act(request, invoice_id, {}, lambda db: request_sync(db, ctx, [str(invoice_id)]), "Queued to sync.")


@router.post("/invoices/{invoice_id}/payments/{payment_id}/refund", dependencies=csrf)
async def refund(
    request: Request,
    invoice_id: uuid.UUID,
    payment_id: uuid.UUID,
    amount: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Refund through the payment gateway (the gateway is called in this request; see payments.refunds)."""
    require(current_staff(request), Permission.RUN_BILLING)
    ctx = context_of(request)
    form = {"amount": amount, "reason": reason}

    def payment_of_this_invoice() -> bool:
        with ctx.readers() as db:
            payment = db.get(PaymentRow, payment_id)
            return payment is not None and payment.invoice_id == invoice_id

    if not await run_in_threadpool(payment_of_this_invoice):
        raise NotFound("payment", payment_id)
    try:
        command = parse_form(NewRefund, form)
        await run_in_threadpool(refund_payment, ctx, payment_id, command)
    except FlexbillError as error:
        return await run_in_threadpool(_refused, request, invoice_id, error, form)
    return redirect(request, f"/admin/invoices/{invoice_id}", "Refund made.")
