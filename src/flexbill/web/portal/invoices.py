"""The member's invoices: the list (open, paid or all), each invoice with its lines, tax and payments, its PDF,
and paying it on the gateway's hosted page."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import raiseload

from flexbill import wire
from flexbill.catalog.service import tax_rate_terms
from flexbill.catalog.store import LocationRow, TaxRateRow
from flexbill.clock import local_today
from flexbill.errors import FlexbillError
from flexbill.invoicing.documents import invoice_pdf
from flexbill.invoicing.model import OPEN_STATUSES, InvoiceStatus
from flexbill.invoicing.pdf import format_quantity, format_unit_price, is_payable_online, tax_word
from flexbill.invoicing.service import amount_due, is_overdue, stored_tax_breakdown
from flexbill.invoicing.store import InvoiceLineRow, InvoiceRow, PaymentRow
from flexbill.links import public_base_url
from flexbill.notify.render import METHOD_LABELS
from flexbill.payments.checkout import resolve_invoice_checkouts, start_pay_now
from flexbill.payments.service import gateway_of_location
from flexbill.web.portal.members import customer_ids_of, invoice_of, not_found
from flexbill.web.security import Member, check_csrf, context_of, current_member
from flexbill.web.templating import render

router = APIRouter()
csrf = [Depends(check_csrf)]
PAGE_SIZE = 25
SHOWN = {"all": "All", "open": "Open", "paid": "Paid"}
RECEIVED = "Thank you: your payment was received."
PROCESSING = "Thank you: your payment is being processed. This invoice shows it as paid once it is confirmed."


def member_status(invoice: InvoiceRow, today: dt.date) -> tuple[str, str]:
    """What the member reads of where an invoice stands, and its badge's colour. An open invoice past its due
    date is overdue whether or not part of it is paid: that is what the member must act on."""
    if invoice.status == InvoiceStatus.VOIDED:
        return "Void", ""
    if invoice.status == InvoiceStatus.PAID:
        return "Paid", "good"
    if is_overdue(invoice, today):
        return "Overdue", "bad"
    if invoice.status == InvoiceStatus.PARTIALLY_PAID:
        return "Partly paid", "warn"
    return "Due", "warn"


def _offset(value: str) -> int:
    return int(value) if value.isdigit() else 0


@router.get("")
def invoice_list(
    request: Request,
    show: str = "all",
    q: Annotated[str, Query(max_length=100)] = "",
    offset: Annotated[str, Query(max_length=10)] = "0",
) -> Response:
    """Newest first, :data:`PAGE_SIZE` at a time."""
    ctx = context_of(request)
    member = current_member(request)
    show = show if show in SHOWN else "all"
    start = _offset(offset)
    with ctx.readers() as db:
        customer_ids = customer_ids_of(db, member)
        query = (
            select(InvoiceRow, LocationRow.name, LocationRow.timezone)
            .join(LocationRow, LocationRow.id == InvoiceRow.location_id)
            .where(InvoiceRow.customer_id.in_(customer_ids), InvoiceRow.status != InvoiceStatus.DRAFT.value)
        )
        if show == "open":
            query = query.where(InvoiceRow.status.in_([status.value for status in OPEN_STATUSES]))
        elif show == "paid":
            query = query.where(InvoiceRow.status == InvoiceStatus.PAID.value)
        if q.strip():
            query = query.where(InvoiceRow.number.ilike(f"%{q.strip()}%"))
        query = query.order_by(InvoiceRow.issue_date.desc(), InvoiceRow.id.desc()).offset(start)
        query = query.options(raiseload(InvoiceRow.lines))  # the list shows no lines: do not read them
        found = db.execute(query.limit(PAGE_SIZE + 1)).all()
        todays = {timezone: local_today(ctx.clock, timezone) for _, _, timezone in found}
        items = [_summary(invoice, location, todays[timezone]) for invoice, location, timezone in found[:PAGE_SIZE]]
    filters = {"show": show, "q": q}
    return render(
        request,
        "portal/invoices.html",
        {
            "items": items,
            "filters": filters,
            "shown": SHOWN,
            "several_customers": len(customer_ids) > 1,
            "newer": _page_link(filters, start - PAGE_SIZE) if start > 0 else None,
            "older": _page_link(filters, start + PAGE_SIZE) if len(found) > PAGE_SIZE else None,
        },
    )


def _summary(invoice: InvoiceRow, location: str, today: dt.date) -> dict[str, Any]:
    label, badge = member_status(invoice, today)
    return {
        "id": invoice.id, "number": invoice.number or "Not yet numbered", "issue_date": invoice.issue_date,
        "due_date": invoice.due_date, "status": label, "badge": badge, "total": invoice.total,
        "amount_due": amount_due(invoice), "currency": invoice.currency, "location": location,
        "billed_to": invoice.bill_to_name,
    }  # fmt: skip


def _page_link(filters: dict[str, str], offset: int) -> str:
    return "?" + urlencode({**{k: v for k, v in filters.items() if v}, "offset": max(offset, 0)})


# --- One invoice ---------------------------------------------------------------------------------------------------


@router.get("/invoices/{invoice_id}")
def invoice_page(request: Request, invoice_id: str, paid: str = "") -> Response:
    """``paid=1``: the member is back from the gateway's payment page, whose outcome is read from the gateway at
    once (as on the pay link's page), so the page can say "paid" without waiting for the webhook."""
    ctx = context_of(request)
    member = current_member(request)
    if paid != "1":
        return _detail(request, member, invoice_id)
    with ctx.readers() as db:
        invoice = invoice_of(db, member, invoice_id)
        if invoice is None:
            return not_found(request)
        found = invoice.id
    try:
        resolve_invoice_checkouts(ctx, found)
    except FlexbillError:  # the gateway cannot be asked now: its webhook, or the janitor, settles it later
        return _detail(request, member, str(found), notice=PROCESSING)
    with ctx.readers() as db:
        settled = db.get(InvoiceRow, found)
        assert settled is not None
        notice = RECEIVED if settled.status == InvoiceStatus.PAID else PROCESSING
    return _detail(request, member, str(found), notice=notice)


def _detail(
    request: Request, member: Member, invoice_id: str, *, notice: str | None = None, error: str | None = None,
    status: int = 200,
) -> Response:  # fmt: skip
    """The invoice's page, or not found when it is not the member's (checked here, in the same read)."""
    ctx = context_of(request)
    with ctx.readers() as db:
        invoice = invoice_of(db, member, invoice_id)
        if invoice is None:
            return not_found(request)
        location = db.get(LocationRow, invoice.location_id)
        assert location is not None  # a foreign key
        rate_ids = {line.tax_rate_id for line in invoice.lines}
        rates = {
            row.id: tax_rate_terms(row) for row in db.scalars(select(TaxRateRow).where(TaxRateRow.id.in_(rate_ids)))
        }
        breakdown = stored_tax_breakdown(invoice, rates)
        payments = list(
            db.scalars(select(PaymentRow).where(PaymentRow.invoice_id == invoice.id).order_by(PaymentRow.date))
        )
        label, badge = member_status(invoice, local_today(ctx.clock, location.timezone))
        context = {
            "invoice": invoice,
            "number": invoice.number or "Not yet numbered",
            "location": location,
            "status": label,
            "badge": badge,
            "amount_due": amount_due(invoice),
            "lines": [_line(line, invoice) for line in invoice.lines],
            "breakdown": [(row, wire.number(row.rate)) for row in breakdown],
            "tax_word": tax_word(breakdown),
            "payments": [(payment, METHOD_LABELS.get(payment.method, payment.method)) for payment in payments],
            "can_pay": is_payable_online(invoice) and gateway_of_location(db, invoice.location_id) is not None,
            "notice": notice,
            "error": error,
        }
        return render(request, "portal/invoice.html", context, status=status)


def _line(line: InvoiceLineRow, invoice: InvoiceRow) -> dict[str, Any]:
    """A line as the invoice's PDF prints it: in the basis of the location's prices (with or without tax)."""
    return {
        "description": line.description,
        "quantity": format_quantity(line.quantity),
        "unit_price": format_unit_price(line.unit_price, invoice.currency),
        "amount": line.gross_amount if invoice.prices_include_tax else line.net_amount,
        "tax": line.tax_amount,
        "rate": wire.number(line.tax_rate_percent),
    }


@router.get("/invoices/{invoice_id}/pdf")
def download_pdf(request: Request, invoice_id: str) -> Response:
    ctx = context_of(request)
    member = current_member(request)
    with ctx.readers() as db:
        invoice = invoice_of(db, member, invoice_id)
        if invoice is None:
            return not_found(request)
        pdf = invoice_pdf(db, ctx.settings, ctx.clock, invoice.id)
    return Response(
        pdf.content,
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="{pdf.filename}"',
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
        },
    )


@router.post("/invoices/{invoice_id}/pay", dependencies=csrf)
def pay_now(request: Request, invoice_id: str) -> Response:
    """To the gateway's hosted page for the invoice's balance, and back to the invoice (``paid=1``) after it."""
    ctx = context_of(request)
    member = current_member(request)
    with ctx.readers() as db:
        invoice = invoice_of(db, member, invoice_id)
        if invoice is None:
            return not_found(request)
        found = invoice.id
    page = f"{public_base_url(ctx.settings)}/portal/invoices/{found}"
    try:
        url = start_pay_now(ctx, found, success_url=f"{page}?paid=1", cancel_url=page)
    except FlexbillError as problem:
        message = problem.message[0].upper() + problem.message[1:] + "."
        return _detail(request, member, str(found), error=message, status=problem.status_code)
    return RedirectResponse(url, status_code=303)
