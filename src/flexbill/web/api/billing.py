"""Billing rules and bill runs."""

from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter, Depends, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill.billing import service
from flexbill.bootstrap import Context
from flexbill.clock import Clock
from flexbill.invoicing.service import todays_by_location
from flexbill.invoicing.store import InvoiceRow
from flexbill.validation import Command
from flexbill.web.api.deps import DB, Now, ReadDB, context, require_read, require_write
from flexbill.web.api.views import (
    BillingRulesOut,
    BillRunOut,
    bill_run_out,
    billing_rules_out,
    invoice_out,
    planned_invoice_out,
    tax_rates_by_id,
)

router = APIRouter()
read = [Depends(require_read)]
write = [Depends(require_write)]


class NewBillRun(Command):
    date: date
    location_id: uuid.UUID | None = None
    preview: bool = False


@router.get("/settings/billing", dependencies=read, tags=["billing"])
def get_billing_rules(db: ReadDB) -> BillingRulesOut:
    return billing_rules_out(service.get_billing_rules(db))


@router.patch("/settings/billing", dependencies=write, tags=["billing"])
def update_billing_rules(body: service.BillingRulesChanges, db: DB) -> BillingRulesOut:
    return billing_rules_out(service.update_billing_rules(db, body))


@router.post("/bill-runs", status_code=status.HTTP_201_CREATED, dependencies=write, tags=["billing"])
def create_bill_run(body: NewBillRun, clock: Now, response: Response, ctx: Context = Depends(context)) -> BillRunOut:
    """Bill everything due on a billing day (201); with ``preview`` nothing is written (200). Running it again
    for the same date bills only what was added since."""
    if body.preview:
        response.status_code = status.HTTP_200_OK
        with ctx.readers() as db:
            result = service.preview_bill_run(db, body.date, body.location_id)
            bill_to = service.bill_to_details(db, {inv.customer_id for inv in result.invoices})
        return BillRunOut(
            id=None,
            date=result.date,
            location_id=result.location_id,
            preview=True,
            invoice_count=len(result.invoices),
            invoices=[planned_invoice_out(inv, bill_to[inv.customer_id]._asdict()) for inv in result.invoices],
        )
    result = service.run_bill_run(ctx.sessions, clock, body.date, body.location_id)  # its own transaction
    assert result.id is not None
    with ctx.readers() as db:
        return read_bill_run(result.id, db, clock)


@router.get("/bill-runs/{bill_run_id}", dependencies=read, tags=["billing"])
def get_bill_run(bill_run_id: uuid.UUID, db: ReadDB, clock: Now) -> BillRunOut:
    return read_bill_run(bill_run_id, db, clock)


def read_bill_run(bill_run_id: uuid.UUID, db: Session, clock: Clock) -> BillRunOut:
    run = service.get_bill_run(db, bill_run_id)
    invoices = db.scalars(
        select(InvoiceRow).where(InvoiceRow.bill_run_id == run.id).order_by(InvoiceRow.number, InvoiceRow.id)
    ).all()
    rates = tax_rates_by_id(db)
    todays = todays_by_location(db, clock)
    return bill_run_out(run, [invoice_out(inv, todays[inv.location_id], rates) for inv in invoices])
