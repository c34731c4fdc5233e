"""The bill run from the console: preview it for a billing day (and a location), run it, and see what it made."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from flexbill.access.model import Permission
from flexbill.billing import service as billing
from flexbill.billing.model import next_billing_day
from flexbill.catalog.store import LocationRow
from flexbill.errors import FlexbillError, InvalidInput
from flexbill.invoicing.store import InvoiceRow
from flexbill.money import ZERO
from flexbill.web.api.views import invoices_out, planned_invoice_out
from flexbill.web.security import check_csrf, context_of, current_staff, require
from flexbill.web.templating import redirect, render

router = APIRouter()


def _totals(invoices: list[Any]) -> list[tuple[str, Decimal]]:
    sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for invoice in invoices:
        sums[invoice.currency] += Decimal(invoice.total)
    return sorted(sums.items())


def _preview_page(
    request: Request,
    run_date: dt.date | None,
    location_id: uuid.UUID | None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        rules = billing.get_billing_rules(db)
        chosen = run_date or next_billing_day(ctx.clock.today(), rules.billing_day)
        locations = list(db.scalars(select(LocationRow).order_by(LocationRow.name)))
        preview: list[Any] = []
        try:
            result = billing.preview_bill_run(db, chosen, location_id)
            bill_to = billing.bill_to_details(db, {inv.customer_id for inv in result.invoices})
            preview = [planned_invoice_out(inv, bill_to[inv.customer_id]._asdict()) for inv in result.invoices]
        except FlexbillError as refused:
            error = error or refused.message
            status = refused.status_code if status == 200 else status
        names = {row.id: row.name for row in locations}
    return render(
        request,
        "admin/billing/bill_run.html",
        {
            "run_date": chosen,
            "location_id": location_id,
            "locations": locations,
            "location_names": names,
            "preview": preview,
            "totals": _totals(preview),
            "rules": rules,
            "error": error,
        },
        status=status,
    )


@router.get("/bill-run")
def bill_run_page(request: Request, date: dt.date | None = None, location_id: uuid.UUID | None = None) -> Response:
    return _preview_page(request, date, location_id)


@router.post("/bill-run", dependencies=[Depends(check_csrf)])
async def run_bill_run(
    request: Request, date: Annotated[str, Form()] = "", location_id: Annotated[str, Form()] = ""
) -> Response:
    require(current_staff(request), Permission.RUN_BILLING)
    ctx = context_of(request)
    try:
        run_date = dt.date.fromisoformat(date)
    except ValueError:
        error = InvalidInput(f"{date!r} is not a date: dates are YYYY-MM-DD", field="date")
        return await run_in_threadpool(_preview_page, request, None, None, error.message, 422)
    try:
        where = uuid.UUID(location_id) if location_id else None
    except ValueError:
        return await run_in_threadpool(_preview_page, request, run_date, None, "choose a location from the list", 422)
    try:
        result = await run_in_threadpool(billing.run_bill_run, ctx.sessions, ctx.clock, run_date, where)
    except FlexbillError as refused:
        return await run_in_threadpool(_preview_page, request, run_date, where, refused.message, refused.status_code)
    assert result.id is not None  # recorded in the audit trail by the run itself, under this user's name
    count = len(result.invoice_ids)
    return redirect(
        request, f"/admin/bill-runs/{result.id}", f"Bill run done: {count} invoice{'s' if count != 1 else ''} made."
    )


@router.get("/bill-runs/{bill_run_id}")
def bill_run_result(request: Request, bill_run_id: uuid.UUID) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        run = billing.get_bill_run(db, bill_run_id)
        rows = list(
            db.scalars(
                select(InvoiceRow).where(InvoiceRow.bill_run_id == run.id).order_by(InvoiceRow.number, InvoiceRow.id)
            )
        )
        invoices = invoices_out(db, ctx.clock, rows)
        names = {row.id: row.name for row in db.scalars(select(LocationRow))}
    drafts = sum(1 for invoice in invoices if invoice.status == "draft")
    return render(
        request,
        "admin/billing/result.html",
        {"run": run, "invoices": invoices, "totals": _totals(invoices), "location_names": names, "drafts": drafts},
    )
