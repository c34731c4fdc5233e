"""The console's catalog: the locations that bill, their tax rates, the revenue accounts income is booked to and the
plans members hold. Each has a list, a form to add one and a page of its own. Changes go through
:mod:`flexbill.catalog.service` with the JSON API's commands, so the rules and messages are the API's; what the
use cases cannot change once made (a location's code, currency and numbering, and any tax rate, revenue account
or plan) is shown and explained rather than offered."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from flexbill import wire
from flexbill.access.model import Permission
from flexbill.catalog import service
from flexbill.catalog.store import LocationRow, PlanRow, RevenueAccountRow, TaxRateRow
from flexbill.customers.store import CustomerRow, FeeRow, MembershipRow
from flexbill.errors import FlexbillError, InvalidInput
from flexbill.web.admin.listing import PAGE_SIZE, Limit, Offset, like, page_of
from flexbill.web.forms import InvalidForm, form_errors, parse_changes, parse_form, posted
from flexbill.web.security import check_csrf, context_of, current_staff, require, writing
from flexbill.web.templating import redirect, render

router = APIRouter()
csrf = [Depends(check_csrf)]
Posted = Annotated[dict[str, str], Depends(posted)]
Search = Annotated[str, Query(max_length=200)]

MAX_COMPONENTS = 5  # as many as NewTaxRate takes
PRORATIONS = (
    ("first_invoice", "On the first invoice: the part of the first period is billed with the next full one"),
    ("second_invoice", "On the second invoice: the first invoice bills the next full period, the part follows"),
    ("none", "Not prorated: a membership that starts mid-period pays the whole period"),
)

DETAIL_LABELS = {
    "legal_name": "Legal name",
    "address": "Address",
    "email": "Email",
    "phone": "Phone",
    "tax_number": "Tax number",
    "payment_details": "How to pay by bank transfer",
    "email_sender_name": "Emails are sent as",
    "email_reply_to": "Replies to emails go to",
}
LOCATION_LABELS = {
    "name": "Name",
    "code": "Code",
    "currency": "Currency",
    "timezone": "Time zone",
    "prices_include_tax": "Prices include tax",
    "invoice_number_template": "Invoice numbers",
    "credit_note_number_template": "Credit note numbers",
    **DETAIL_LABELS,
    "logo": "Logo",
}
TAX_RATE_LABELS = {
    "name": "Name",
    "code": "Code",
    "components": "Components",
    **{f"components.{i}.name": f"Component {i + 1} name" for i in range(MAX_COMPONENTS)},
    **{f"components.{i}.rate": f"Component {i + 1} rate" for i in range(MAX_COMPONENTS)},
}
ACCOUNT_LABELS = {"name": "Name", "code": "Code", "tax_rate_id": "Default tax rate"}
PLAN_LABELS = {
    "name": "Name",
    "price": "Price per period",
    "currency": "Currency",
    "revenue_account_id": "Revenue account",
    "proration": "A membership that starts mid-period",
    "interval_months": "Billing period",
}
NEW_LOCATION_FIELDS = tuple(service.NewLocation.model_fields)
LOCATION_CHANGE_FIELDS = tuple(service.LocationChanges.model_fields)


# --- The overview ------------------------------------------------------------------------------------------------


@router.get("/catalog")
def catalog_overview(request: Request) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        counts = {
            name: db.scalar(select(func.count()).select_from(model)) or 0
            for name, model in (
                ("locations", LocationRow),
                ("tax_rates", TaxRateRow),
                ("revenue_accounts", RevenueAccountRow),
                ("plans", PlanRow),
            )
        }
    return render(request, "admin/catalog/overview.html", {"counts": counts})


# --- Locations ---------------------------------------------------------------------------------------------------
# Each /new is declared before /{id}, which would take "new" for an id.


@router.get("/catalog/locations")
def location_list(request: Request, q: Search = "", offset: Offset = 0, limit: Limit = PAGE_SIZE) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        query = _named(select(LocationRow), LocationRow, q).order_by(func.lower(LocationRow.name), LocationRow.id)
        page = page_of(db, query, request, offset, limit)
        customers = _counts(db, CustomerRow.home_location_id, [row.id for row in page.rows])
    return render(request, "admin/catalog/locations.html", {"page": page, "q": q, "customers": customers})


@router.get("/catalog/locations/new")
def new_location_page(request: Request) -> Response:
    defaults = {
        "timezone": "UTC",
        "invoice_number_template": "INV-{number:05}",
        "credit_note_number_template": "CN-{number:05}",
    }
    return _location_form(request, None, defaults)


@router.post("/catalog/locations/new", dependencies=csrf)
def create_location(request: Request, form: Posted) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    values = _only(form, NEW_LOCATION_FIELDS)
    values["prices_include_tax"] = "on" if form.get("prices_include_tax") else ""  # unticked: the default, False
    try:
        with writing(request) as db:
            row = service.create_location(db, parse_form(service.NewLocation, values))
            location_id, name = row.id, row.name
    except FlexbillError as error:
        return _location_form(request, None, values, error)
    return redirect(request, f"/admin/catalog/locations/{location_id}/edit", f"{name} added. Add its logo below.")


@router.get("/catalog/locations/{location_id}/edit")
def edit_location_page(request: Request, location_id: uuid.UUID) -> Response:
    with context_of(request).readers() as db:
        location = service.get_location(db, location_id)
    return _location_form(request, location, _location_values(location))


@router.post("/catalog/locations/{location_id}/edit", dependencies=csrf)
def update_location(request: Request, location_id: uuid.UUID, form: Posted) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    values = _only(form, LOCATION_CHANGE_FIELDS)
    try:
        with writing(request) as db:
            service.update_location(db, location_id, parse_changes(service.LocationChanges, values))
    except FlexbillError as error:
        with context_of(request).readers() as db:
            location = service.get_location(db, location_id)
        return _location_form(request, location, {**_location_values(location), **values}, error)
    return redirect(request, "/admin/catalog/locations", "Location saved.")


@router.post("/catalog/locations/{location_id}/logo", dependencies=csrf)
async def set_location_logo(request: Request, location_id: uuid.UUID) -> Response:
    """A new logo from the form's file input, or none with the form's remove button (as an empty upload does
    through the API)."""
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    form = await request.form()
    upload = form.get("logo")
    removing = bool(form.get("remove"))
    image, media_type = b"", ""
    if not removing and isinstance(upload, UploadFile):
        image, media_type = await upload.read(), upload.content_type or ""
    try:
        if not image and not removing:  # an empty upload would remove the logo: only the remove button does
            raise InvalidInput("choose a PNG, JPEG or SVG file first", field="logo")
        await run_in_threadpool(_store_logo, request, location_id, image, media_type)
    except FlexbillError as error:
        return await run_in_threadpool(_refused_logo, request, location_id, error)
    done = "Logo saved." if image else "Logo removed."
    return redirect(request, f"/admin/catalog/locations/{location_id}/edit", done)


def _store_logo(request: Request, location_id: uuid.UUID, image: bytes, media_type: str) -> None:
    with writing(request) as db:
        service.set_location_logo(db, location_id, image, media_type)


def _refused_logo(request: Request, location_id: uuid.UUID, error: FlexbillError) -> Response:
    with context_of(request).readers() as db:
        location = service.get_location(db, location_id)
    error.field = error.field or "logo"  # the use case's errors are all about the file
    return _location_form(request, location, _location_values(location), error)


@router.get("/catalog/locations/{location_id}/logo")
def location_logo(request: Request, location_id: uuid.UUID) -> Response:
    with context_of(request).readers() as db:
        location = service.get_location(db, location_id)
        image, media_type = location.logo, location.logo_media_type
    if image is None or media_type is None:
        return Response(status_code=404)
    # An SVG can carry scripts: opened on its own it runs none, and it is never taken for another type.
    headers = {
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
    }
    return Response(image, media_type=media_type, headers=headers)


def _location_values(row: LocationRow) -> dict[str, str]:
    values = {name: "" if getattr(row, name) is None else str(getattr(row, name)) for name in NEW_LOCATION_FIELDS}
    values["prices_include_tax"] = "on" if row.prices_include_tax else ""
    return values


def _location_form(
    request: Request, location: LocationRow | None, values: dict[str, str], error: FlexbillError | None = None
) -> Response:
    summary, errors = form_errors(error, LOCATION_LABELS) if error else (None, {})
    context = {"location": location, "form": values, "errors": errors, "error": summary, "labels": LOCATION_LABELS}
    return render(request, "admin/catalog/location_form.html", context, status=error.status_code if error else 200)


# --- Tax rates ---------------------------------------------------------------------------------------------------


@router.get("/catalog/tax-rates")
def tax_rate_list(request: Request, q: Search = "", offset: Offset = 0, limit: Limit = PAGE_SIZE) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        query = _named(select(TaxRateRow), TaxRateRow, q).order_by(func.lower(TaxRateRow.name), TaxRateRow.id)
        page = page_of(db, query, request, offset, limit)
        rates = {row.id: wire.number(row.total_rate) for row in page.rows}
    return render(request, "admin/catalog/tax_rates.html", {"page": page, "q": q, "rates": rates})


@router.get("/catalog/tax-rates/new")
def new_tax_rate_page(request: Request) -> Response:
    return _tax_rate_form(request, {})


@router.post("/catalog/tax-rates/new", dependencies=csrf)
def create_tax_rate(request: Request, form: Posted) -> Response:
    """The components are the form's numbered rows; empty rows are left out."""
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    values = _only(form, ["name", "code", *TAX_RATE_LABELS])
    filled = [
        i for i in range(MAX_COMPONENTS) if values.get(f"components.{i}.name") or values.get(f"components.{i}.rate")
    ]
    command = {
        "name": values.get("name", ""),
        "code": values.get("code", ""),
        "components": [
            {"name": values.get(f"components.{i}.name", ""), "rate": values.get(f"components.{i}.rate", "")}
            for i in filled
        ],
    }
    try:
        with writing(request) as db:
            row = service.create_tax_rate(db, parse_form(service.NewTaxRate, command))
            tax_rate_id, name = row.id, row.name
    except FlexbillError as error:
        return _tax_rate_form(request, values, _to_form_rows(error, filled))
    return redirect(request, f"/admin/catalog/tax-rates/{tax_rate_id}", f"{name} added.")


def _to_form_rows(error: FlexbillError, filled: Sequence[int]) -> FlexbillError:
    """The error with its fields naming the form's rows (component 2 of the command is row 3 of the form when
    a row above was left empty)."""

    def row_of(field: str | None) -> str | None:
        parts = (field or "").split(".")
        if len(parts) == 3 and parts[0] == "components" and parts[1].isdigit() and int(parts[1]) < len(filled):
            return f"components.{filled[int(parts[1])]}.{parts[2]}"
        return field

    if isinstance(error, InvalidForm):
        return InvalidForm([(row_of(field), text) for field, text in error.problems])
    error.field = row_of(error.field)
    return error


@router.get("/catalog/tax-rates/{tax_rate_id}")
def tax_rate_detail(request: Request, tax_rate_id: uuid.UUID) -> Response:
    with context_of(request).readers() as db:
        tax_rate = service.get_tax_rate(db, tax_rate_id)
        used_by = {
            "revenue_accounts": _count(db, RevenueAccountRow.tax_rate_id, tax_rate_id),
            "customers": _count(db, CustomerRow.tax_rate_id, tax_rate_id),
            "fees": _count(db, FeeRow.tax_rate_id, tax_rate_id),
        }
        context = {
            "tax_rate": tax_rate,
            "total": wire.number(tax_rate.total_rate),
            "components": [(c.name, wire.number(c.rate)) for c in tax_rate.components],
            "used_by": used_by,
        }
    return render(request, "admin/catalog/tax_rate.html", context)


def _tax_rate_form(request: Request, values: dict[str, str], error: FlexbillError | None = None) -> Response:
    summary, errors = form_errors(error, TAX_RATE_LABELS) if error else (None, {})
    context = {
        "form": values,
        "errors": errors,
        "error": summary,
        "labels": TAX_RATE_LABELS,
        "rows": range(MAX_COMPONENTS),
    }
    return render(request, "admin/catalog/tax_rate_form.html", context, status=error.status_code if error else 200)


# --- Revenue accounts --------------------------------------------------------------------------------------------


@router.get("/catalog/revenue-accounts")
def revenue_account_list(request: Request, q: Search = "", offset: Offset = 0, limit: Limit = PAGE_SIZE) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        query = _named(select(RevenueAccountRow), RevenueAccountRow, q).order_by(
            RevenueAccountRow.code, RevenueAccountRow.id
        )
        page = page_of(db, query, request, offset, limit)
        context = {"page": page, "q": q, "tax_rates": _tax_rate_names(db)}
    return render(request, "admin/catalog/revenue_accounts.html", context)


@router.get("/catalog/revenue-accounts/new")
def new_revenue_account_page(request: Request) -> Response:
    return _account_form(request, {})


@router.post("/catalog/revenue-accounts/new", dependencies=csrf)
def create_revenue_account(request: Request, form: Posted) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    values = _only(form, tuple(service.NewRevenueAccount.model_fields))
    try:
        with writing(request) as db:
            row = service.create_revenue_account(db, parse_form(service.NewRevenueAccount, values))
            account_id, name = row.id, row.name
    except FlexbillError as error:
        return _account_form(request, values, error)
    return redirect(request, f"/admin/catalog/revenue-accounts/{account_id}", f"{name} added.")


@router.get("/catalog/revenue-accounts/{account_id}")
def revenue_account_detail(request: Request, account_id: uuid.UUID) -> Response:
    with context_of(request).readers() as db:
        account = service.get_revenue_account(db, account_id)
        context = {
            "account": account,
            "tax_rate": service.get_tax_rate(db, account.tax_rate_id),
            "used_by": {
                "plans": _count(db, PlanRow.revenue_account_id, account_id),
                "fees": _count(db, FeeRow.revenue_account_id, account_id),
            },
        }
    return render(request, "admin/catalog/revenue_account.html", context)


def _account_form(request: Request, values: dict[str, str], error: FlexbillError | None = None) -> Response:
    summary, errors = form_errors(error, ACCOUNT_LABELS) if error else (None, {})
    with context_of(request).readers() as db:
        context = {
            "form": values,
            "errors": errors,
            "error": summary,
            "labels": ACCOUNT_LABELS,
            "tax_rates": _tax_rate_options(db),
        }
    status = error.status_code if error else 200
    return render(request, "admin/catalog/revenue_account_form.html", context, status=status)


# --- Plans -------------------------------------------------------------------------------------------------------


@router.get("/catalog/plans")
def plan_list(request: Request, q: Search = "", offset: Offset = 0, limit: Limit = PAGE_SIZE) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        query = select(PlanRow)
        if q.strip():
            query = query.where(PlanRow.name.ilike(like(q), escape="\\"))
        page = page_of(db, query.order_by(func.lower(PlanRow.name), PlanRow.id), request, offset, limit)
        context = {
            "page": page,
            "q": q,
            "accounts": {row.id: f"{row.code} · {row.name}" for row in db.scalars(select(RevenueAccountRow))},
            "prices": {row.id: wire.plain_price(row.price) for row in page.rows},
            "memberships": _counts(db, MembershipRow.plan_id, [row.id for row in page.rows]),
        }
    return render(request, "admin/catalog/plans.html", context)


@router.get("/catalog/plans/new")
def new_plan_page(request: Request) -> Response:
    return _plan_form(request, {"proration": "first_invoice", "interval_months": "1"})


@router.post("/catalog/plans/new", dependencies=csrf)
def create_plan(request: Request, form: Posted) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    values = _only(form, tuple(service.NewPlan.model_fields))
    try:
        with writing(request) as db:
            row = service.create_plan(db, parse_form(service.NewPlan, values))
            plan_id, name = row.id, row.name
    except FlexbillError as error:
        return _plan_form(request, values, error)
    return redirect(request, f"/admin/catalog/plans/{plan_id}", f"{name} added.")


@router.get("/catalog/plans/{plan_id}")
def plan_detail(request: Request, plan_id: uuid.UUID) -> Response:
    with context_of(request).readers() as db:
        plan = service.get_plan(db, plan_id)
        context = {
            "plan": plan,
            "price": wire.plain_price(plan.price),
            "account": service.get_revenue_account(db, plan.revenue_account_id),
            "proration": dict(PRORATIONS)[plan.proration],
            "memberships": _count(db, MembershipRow.plan_id, plan_id),
        }
    return render(request, "admin/catalog/plan.html", context)


def _plan_form(request: Request, values: dict[str, str], error: FlexbillError | None = None) -> Response:
    summary, errors = form_errors(error, PLAN_LABELS) if error else (None, {})
    with context_of(request).readers() as db:
        accounts = [
            (str(row.id), f"{row.code} · {row.name}")
            for row in db.scalars(select(RevenueAccountRow).order_by(RevenueAccountRow.code))
        ]
    context = {
        "form": values,
        "errors": errors,
        "error": summary,
        "labels": PLAN_LABELS,
        "accounts": accounts,
        "prorations": PRORATIONS,
    }
    return render(request, "admin/catalog/plan_form.html", context, status=error.status_code if error else 200)


# --- Shared by the pages -----------------------------------------------------------------------------------------


def _only(form: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """The form's values of the command's fields (the CSRF token and the buttons are not the command's)."""
    return {name: form[name] for name in names if name in form}


def _named(query: Select[Any], model: type[LocationRow | TaxRateRow | RevenueAccountRow], q: str) -> Select[Any]:
    """Rows whose name or code holds ``q``, in any case."""
    if not q.strip():
        return query
    pattern = like(q)
    return query.where(or_(model.name.ilike(pattern, escape="\\"), model.code.ilike(pattern, escape="\\")))


def _count(db: Session, column: Any, value: uuid.UUID) -> int:
    return db.scalar(select(func.count()).where(column == value)) or 0


def _counts(db: Session, column: Any, values: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many rows refer to each of ``values``, in one grouped query."""
    if not values:
        return {}
    rows = db.execute(select(column, func.count()).where(column.in_(values)).group_by(column)).all()
    return dict(rows)


def _tax_rate_names(db: Session) -> dict[uuid.UUID, str]:
    return {row.id: f"{row.name} ({wire.number(row.total_rate)}%)" for row in db.scalars(select(TaxRateRow))}


def _tax_rate_options(db: Session) -> list[tuple[str, str]]:
    rows = db.scalars(select(TaxRateRow).order_by(TaxRateRow.name))
    return [(str(row.id), f"{row.name} ({wire.number(row.total_rate)}%)") for row in rows]
