"""The CSV exports: invoices, in flexbill's own columns or as Xero's or QuickBooks Online's import template, for a
date range and a location. The download is the JSON API's export itself (``GET /api/v1/exports/invoices.csv``), so
the file is the same whichever way it is fetched."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field, model_validator
from sqlalchemy import select

from flexbill.access import audit
from flexbill.catalog.store import LocationRow
from flexbill.errors import FlexbillError, InvalidInput
from flexbill.validation import Command
from flexbill.web.admin.settings_support import NO_ERROR, form_error
from flexbill.web.api import invoices as invoices_api
from flexbill.web.forms import parse_form
from flexbill.web.security import context_of, current_staff, writing
from flexbill.web.templating import render

router = APIRouter()

FIELDS = ("from", "to", "location_id", "status", "format", "date_order")
LABELS = {"from": "From", "to": "To", "location_id": "Location", "status": "Status", "date_order": "Date order"}
STATUSES = (
    ("", "Every issued invoice that stands (no drafts, no voided)"),
    ("awaiting_payment", "Awaiting payment"),
    ("partially_paid", "Partly paid"),
    ("paid", "Paid"),
    ("draft", "Drafts"),
    ("voided", "Voided"),
)


class ExportForm(Command):
    issued_from: date | None = Field(None, alias="from")
    issued_to: date | None = Field(None, alias="to")
    location_id: uuid.UUID | None = None
    status: invoices_api.StatusFilter | None = None
    format: Literal["flexbill", "xero", "quickbooks"] = "flexbill"
    date_order: Literal["dmy", "mdy"] | None = None

    @model_validator(mode="after")
    def _range_in_order(self) -> ExportForm:
        if self.issued_from and self.issued_to and self.issued_from > self.issued_to:
            raise InvalidInput(
                f"the last date ({self.issued_to.isoformat()}) is before the first ({self.issued_from.isoformat()})",
                field="to",
            )
        return self


def _exports_page(request: Request, values: dict[str, str], extra: dict[str, Any], status: int = 200) -> Response:
    current_staff(request)
    with context_of(request).readers() as db:
        locations = list(db.scalars(select(LocationRow).order_by(LocationRow.name)))
    context = {**NO_ERROR, "values": values, "locations": locations, "statuses": STATUSES, **extra}
    return render(request, "admin/exports.html", context, status=status)


def _values(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "").strip()[:64] for name in FIELDS}


@router.get("/exports")
def exports_page(request: Request) -> Response:
    values = _values(request)
    values["format"] = values["format"] or "flexbill"
    return _exports_page(request, values, {})


def _filename(form: ExportForm) -> str:
    """``invoices-2026-11-01-to-2026-11-30.csv``: the range in the name, so downloads do not overwrite each other."""
    parts = ["invoices"]
    if form.issued_from:
        parts.append(f"from-{form.issued_from.isoformat()}")
    if form.issued_to:
        parts.append(f"to-{form.issued_to.isoformat()}")
    if form.status:
        parts.append(form.status.replace("_", "-"))
    return "-".join(parts) + ".csv"


@router.get("/exports/invoices.csv")
def download_invoices(request: Request) -> Response:
    """The file itself; a wrong field shows the form again, saying what is wrong."""
    values = _values(request)
    ctx = context_of(request)
    try:
        form = parse_form(ExportForm, values)
        response = invoices_api.export_invoices(
            ctx=ctx,
            from_=form.issued_from,
            to=form.issued_to,
            location_id=form.location_id,
            status_=form.status,
            format_=form.format,
            date_order=form.date_order,
        )
    except FlexbillError as error:
        return _exports_page(request, values, form_error(error, LABELS, name_the_field=True), error.status_code)
    if form.format == "flexbill":
        response.headers["content-disposition"] = f'attachment; filename="{_filename(form)}"'
    with writing(request) as db:
        audit.record(db, "invoices.export", entity_type="invoices", after=form.model_dump(mode="json", by_alias=True))
    return response
