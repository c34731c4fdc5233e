"""The payments received on the member's invoices, newest first, each leading to its invoice."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from flexbill.invoicing.model import InvoiceStatus
from flexbill.invoicing.store import InvoiceRow, PaymentRow
from flexbill.notify.render import METHOD_LABELS
from flexbill.web.portal.members import customer_ids_of
from flexbill.web.security import context_of, current_member
from flexbill.web.templating import render

router = APIRouter()
PAGE_SIZE = 25


@router.get("/receipts")
def receipts(request: Request, offset: Annotated[str, Query(max_length=10)] = "0") -> Response:
    ctx = context_of(request)
    member = current_member(request)
    start = int(offset) if offset.isdigit() else 0
    with ctx.readers() as db:
        query = (
            select(PaymentRow, InvoiceRow)
            .join(InvoiceRow, InvoiceRow.id == PaymentRow.invoice_id)
            .where(
                InvoiceRow.customer_id.in_(customer_ids_of(db, member)),
                InvoiceRow.status != InvoiceStatus.DRAFT.value,
            )
            .order_by(PaymentRow.date.desc(), PaymentRow.created_at.desc(), PaymentRow.id.desc())
            .offset(start)
            .limit(PAGE_SIZE + 1)
        )
        found = db.execute(query).all()
        items = [
            {
                "date": payment.date,
                "amount": payment.amount,
                "refunded": payment.amount_refunded,
                "currency": payment.currency,
                "method": METHOD_LABELS.get(payment.method, payment.method),
                "reference": payment.reference,
                "invoice_id": invoice.id,
                "invoice": invoice.number or "Not yet numbered",
            }
            for payment, invoice in found[:PAGE_SIZE]
        ]
    context = {
        "items": items,
        "newer": "?" + urlencode({"offset": max(start - PAGE_SIZE, 0)}) if start > 0 else None,
        "older": "?" + urlencode({"offset": start + PAGE_SIZE}) if len(found) > PAGE_SIZE else None,
    }
    return render(request, "portal/receipts.html", context)
