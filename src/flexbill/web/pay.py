"""The member's "pay online" page of one invoice, reached from the link in its email and on its PDF.

The link carries a signature of the invoice id (see :mod:`flexbill.links`): it needs no sign-in and opens only
that invoice. The page shows what is due and sends the member to the gateway's hosted payment page; nothing about
cards passes through flexbill. When the member comes back, the payment is read from the gateway at once, so the
page can say "paid" without waiting for the webhook.
"""

from __future__ import annotations

import uuid
from html import escape

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from flexbill.bootstrap import Context
from flexbill.catalog.store import LocationRow
from flexbill.errors import FlexbillError
from flexbill.formatting import format_money
from flexbill.invoicing.model import OPEN_STATUSES
from flexbill.invoicing.service import amount_due, get_invoice
from flexbill.links import is_pay_token, pay_url, public_base_url
from flexbill.payments.checkout import resolve_invoice_checkouts, start_pay_now
from flexbill.web.api.deps import context

router = APIRouter(include_in_schema=False)


def _page(status: int, title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1f2933}"
        "h1{font-size:1.4rem}.amount{font-size:2rem;font-weight:600;margin:.5rem 0}"
        "button{font-size:1rem;padding:.7rem 1.4rem;border:0;border-radius:6px;background:#1f5fbf;color:#fff;"
        "cursor:pointer}.muted{color:#52606d}</style>"
        f"<main><h1>{escape(title)}</h1>{body}</main></html>",
        status_code=status,
    )


def _checked(ctx: Context, invoice_id: uuid.UUID, token: str) -> HTMLResponse | None:
    if not is_pay_token(ctx.settings, invoice_id, token):
        return _page(404, "Link not valid", "<p>This payment link is not valid. Use the link in your latest email.</p>")
    return None


@router.get("/pay/saved", response_class=HTMLResponse)
def method_saved(canceled: int = 0) -> HTMLResponse:
    if canceled:
        return _page(200, "No card saved", "<p>Nothing was saved. You can close this page.</p>")
    return _page(200, "Card saved", "<p>Your card is saved and will be used for your next invoices.</p>")


@router.get("/pay/{invoice_id}", response_class=HTMLResponse)
def pay_page(invoice_id: uuid.UUID, token: str = Query(""), ctx: Context = Depends(context)) -> HTMLResponse:
    refused = _checked(ctx, invoice_id, token)
    if refused is not None:
        return refused
    with ctx.readers() as db:
        invoice = get_invoice(db, invoice_id)
        location = db.get(LocationRow, invoice.location_id)
        assert location is not None
        label = escape(invoice.number or "draft")
        seller = escape(location.legal_name or location.name)
        due = amount_due(invoice)
        if invoice.status not in OPEN_STATUSES or due <= 0:
            return _page(200, f"Invoice {label}", f"<p>Invoice {label} from {seller} is {escape(invoice.status)}: "
                         "there is nothing to pay. Thank you.</p>")  # fmt: skip
        amount = escape(format_money(due, invoice.currency))
        return _page(
            200,
            f"Pay invoice {label}",
            f"<p>{seller}</p><p class='amount'>{amount}</p>"
            f"<p class='muted'>Due {invoice.due_date.strftime('%d %b %Y')}</p>"
            f"<form method='post' action='/pay/{invoice.id}?token={escape(token)}'>"
            f"<button type='submit'>Pay {amount} by card</button></form>",
        )


@router.post("/pay/{invoice_id}")
async def start_payment(invoice_id: uuid.UUID, token: str = Query(""), ctx: Context = Depends(context)) -> Response:
    refused = _checked(ctx, invoice_id, token)
    if refused is not None:
        return refused
    back = pay_url(ctx.settings, invoice_id)
    done = f"{public_base_url(ctx.settings)}/pay/{invoice_id}/done?token={token}"
    try:
        url = await run_in_threadpool(start_pay_now, ctx, invoice_id, success_url=done, cancel_url=back)
    except FlexbillError as problem:
        return _page(409, "Payment not possible now", f"<p>{escape(problem.message)}</p>")
    return RedirectResponse(url, status_code=303)


@router.get("/pay/{invoice_id}/done", response_class=HTMLResponse)
async def payment_done(invoice_id: uuid.UUID, token: str = Query(""), ctx: Context = Depends(context)) -> HTMLResponse:
    refused = _checked(ctx, invoice_id, token)
    if refused is not None:
        return refused

    def settle() -> str:
        resolve_invoice_checkouts(ctx, invoice_id)
        with ctx.readers() as db:
            return get_invoice(db, invoice_id).status

    status = await run_in_threadpool(settle)
    if status == "paid":
        return _page(200, "Thank you", "<p>Your payment was received. A receipt is on its way by email.</p>")
    return _page(200, "Payment received for processing", "<p>Your payment is being processed; you will get a "
                 "receipt by email once it is confirmed.</p>")  # fmt: skip
