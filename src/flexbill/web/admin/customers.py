"""The console's customers: a list to search and filter, each customer with their memberships and one-off fees, and
the forms that add and change them. Every change goes through the use cases of :mod:`flexbill.customers.service`
with the same commands as the JSON API, so a form meets the API's rules and shows the API's messages."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from flexbill import wire
from flexbill.access.model import Permission
from flexbill.billing.store import BilledFeeRow
from flexbill.catalog.service import get_plan
from flexbill.catalog.store import LocationRow, PlanRow, RevenueAccountRow, TaxRateRow
from flexbill.customers import service
from flexbill.customers.model import format_address
from flexbill.customers.store import CustomerRow, FeeRow, MembershipRow
from flexbill.errors import FlexbillError, InvalidInput, NotFound
from flexbill.invoicing.store import InvoiceLineRow, InvoiceRow
from flexbill.periods import inclusive_end
from flexbill.web.admin.listing import PAGE_SIZE, Limit, Offset, like, optional_id, page_of
from flexbill.web.forms import form_errors, parse_changes, parse_form, posted
from flexbill.web.security import check_csrf, context_of, current_staff, require, writing
from flexbill.web.templating import redirect, render

router = APIRouter()
csrf = [Depends(check_csrf)]
Posted = Annotated[dict[str, str], Depends(posted)]
CommandT = TypeVar("CommandT", bound=BaseModel)

KINDS = (("company", "Company"), ("individual", "Individual"))
DISCOUNTS = (("percent", "Percentage off"), ("amount", "Amount off"))
FEES_PER_PAGE = 25

CUSTOMER_LABELS = {
    "name": "Name",
    "kind": "Kind",
    "email": "Billing email",
    "address_line1": "Address line 1",
    "address_line2": "Address line 2",
    "city": "Town or city",
    "region": "County, state or region",
    "postal_code": "Postcode",
    "country": "Country",
    "tax_number": "Tax number",
    "home_location_id": "Home location",
    "tax_rate_id": "Tax rate for all their invoices",
}
MEMBERSHIP_LABELS = {
    "customer_id": "Customer",
    "plan_id": "Plan",
    "location_id": "Location",
    "start_date": "First day",
    "end_date": "Last day",
    "quantity": "Quantity",
    "price": "Own price",
    "discount_type": "Discount",
    "discount_value": "Discount value",
}
FEE_LABELS = {
    "customer_id": "Customer",
    "location_id": "Location",
    "date": "Date",
    "description": "Description",
    "quantity": "Quantity",
    "unit_price": "Unit price",
    "revenue_account_id": "Revenue account",
    "tax_rate_id": "Tax rate",
    "currency": "Currency",
}
CUSTOMER_FIELDS = tuple(service.CustomerFields.model_fields)
MEMBERSHIP_FIELDS = tuple(name for name in service.NewMembership.model_fields if name != "customer_id")
FEE_FIELDS = ("location_id", "date", "description", "quantity", "unit_price", "revenue_account_id", "tax_rate_id")


# --- The list ----------------------------------------------------------------------------------------------------


@router.get("/customers")
def customer_list(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    location_id: Annotated[str, Query(max_length=100)] = "",
    kind: Annotated[str, Query(max_length=20)] = "",
    offset: Offset = 0,
    limit: Limit = PAGE_SIZE,
) -> Response:
    """Sorted by name, a page at a time; each customer's memberships active today are counted in one query for
    the whole page."""
    ctx = context_of(request)
    filters = {"q": q, "location_id": location_id, "kind": kind}
    with ctx.readers() as db:
        locations = _locations(db)
        context: dict[str, Any] = {
            "filters": filters,
            "locations": locations,
            "location_names": {row.id: row.name for row in locations},
            "error": None,
        }
        try:
            query = _customers_matching(q, optional_id(location_id, "location_id", "locations"), kind)
        except FlexbillError as refused:
            context.update(page=None, error=refused.message)
            return render(request, "admin/customers/list.html", context, status=refused.status_code)
        page = page_of(db, query, request, offset, limit)
        context.update(page=page, active=_active_memberships(db, [row.id for row in page.rows], ctx.clock.today()))
    return render(request, "admin/customers/list.html", context)


def _customers_matching(q: str, location_id: uuid.UUID | None, kind: str) -> Select[Any]:
    query = select(CustomerRow)
    if q.strip():
        pattern = like(q)
        query = query.where(
            CustomerRow.name.ilike(pattern, escape="\\") | CustomerRow.email.ilike(pattern, escape="\\")
        )
    if location_id is not None:
        query = query.where(CustomerRow.home_location_id == location_id)
    if kind:
        if kind not in dict(KINDS):
            raise InvalidInput(f"{kind!r} is not a kind of customer (company or individual)", field="kind")
        query = query.where(CustomerRow.kind == kind)
    return query.order_by(func.lower(CustomerRow.name), CustomerRow.id)


def _active_memberships(db: Session, customer_ids: Sequence[uuid.UUID], today: dt.date) -> dict[uuid.UUID, int]:
    if not customer_ids:
        return {}
    m = MembershipRow
    query = (
        select(m.customer_id, func.count())
        .where(m.customer_id.in_(customer_ids), m.start_date <= today)
        .where(or_(m.end_exclusive.is_(None), m.end_exclusive > today))
        .group_by(m.customer_id)
    )
    return dict(db.execute(query).all())


# --- Adding and changing a customer ------------------------------------------------------------------------------
# /customers/new is declared before /customers/{customer_id}, which would take "new" for an id.


@router.get("/customers/new")
def new_customer_page(request: Request) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        locations = _locations(db)
        values = {"kind": "company", "home_location_id": str(locations[0].id) if len(locations) == 1 else ""}
        return _customer_form(request, db, None, values)


@router.post("/customers/new", dependencies=csrf)
def create_customer(request: Request, form: Posted) -> Response:
    require(current_staff(request), Permission.RUN_BILLING)
    values = _only(form, CUSTOMER_FIELDS)
    try:
        with writing(request) as db:
            row = service.create_customer(db, parse_form(service.CustomerFields, values))
            customer_id, name = row.id, row.name
    except FlexbillError as error:
        return _refused_customer_form(request, None, values, error)
    return redirect(request, f"/admin/customers/{customer_id}", f"{name} added.")


@router.get("/customers/{customer_id}/edit")
def edit_customer_page(request: Request, customer_id: uuid.UUID) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        customer = service.get_customer(db, customer_id)
        values = _as_form(_current_customer(customer))
        return _customer_form(request, db, customer, values)


@router.post("/customers/{customer_id}/edit", dependencies=csrf)
def update_customer(request: Request, customer_id: uuid.UUID, form: Posted) -> Response:
    require(current_staff(request), Permission.RUN_BILLING)
    ctx = context_of(request)
    values = _only(form, CUSTOMER_FIELDS)
    try:
        with writing(request) as db:
            changes = parse_changes(service.CustomerChanges, values)
            current = _current_customer(service.get_customer(db, customer_id))
            service.update_customer(db, ctx.clock, customer_id, _changed_only(changes, current))
    except FlexbillError as error:
        return _refused_customer_form(request, customer_id, values, error)
    return redirect(request, f"/admin/customers/{customer_id}", "Customer details saved.")


def _current_customer(row: CustomerRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in CUSTOMER_FIELDS}


def _customer_form(
    request: Request,
    db: Session,
    customer: CustomerRow | None,
    values: dict[str, str],
    error: FlexbillError | None = None,
) -> Response:
    summary, errors = form_errors(error, CUSTOMER_LABELS) if error else (None, {})
    context = {
        "customer": customer,
        "form": values,
        "errors": errors,
        "error": summary,
        "labels": CUSTOMER_LABELS,
        "kinds": KINDS,
        "locations": _location_options(db),
        "tax_rates": _tax_rate_options(db),
    }
    status = error.status_code if error else 200
    return render(request, "admin/customers/form.html", context, status=status)


def _refused_customer_form(
    request: Request, customer_id: uuid.UUID | None, values: dict[str, str], error: FlexbillError
) -> Response:
    """The same form again, with what was typed and what is wrong; nothing was changed."""
    with context_of(request).readers() as db:
        customer = service.get_customer(db, customer_id) if customer_id else None
        return _customer_form(request, db, customer, values, error)


# --- One customer ------------------------------------------------------------------------------------------------


@router.get("/customers/{customer_id}")
def customer_detail(request: Request, customer_id: uuid.UUID, offset: Offset = 0) -> Response:
    """The customer's details, every membership (newest first) and their one-off fees a page at a time."""
    ctx = context_of(request)
    with ctx.readers() as db:
        customer = service.get_customer(db, customer_id)
        names = _catalog_names(db)
        memberships = list(
            db.scalars(
                select(MembershipRow)
                .where(MembershipRow.customer_id == customer_id)
                .order_by(MembershipRow.start_date.desc(), MembershipRow.id.desc())
            )
        )
        billed_until = service.billed_until(db, [row.id for row in memberships])
        fees = page_of(
            db,
            select(FeeRow).where(FeeRow.customer_id == customer_id).order_by(FeeRow.date.desc(), FeeRow.id.desc()),
            request,
            offset,
            FEES_PER_PAGE,
        )
        context = {
            "customer": customer,
            "address": format_address(
                customer.address_line1,
                customer.address_line2,
                customer.city,
                customer.region,
                customer.postal_code,
                customer.country,
            ),
            "names": names,
            "memberships": [
                _membership_view(db, row, billed_until.get(row.id), ctx.clock.today()) for row in memberships
            ],
            "fees": fees,
            "fee_views": _fee_views(db, fees.rows),
        }
    return render(request, "admin/customers/detail.html", context)


def _membership_view(db: Session, row: MembershipRow, billed_until: dt.date | None, today: dt.date) -> dict[str, Any]:
    location, plan = db.get_one(LocationRow, row.location_id), db.get_one(PlanRow, row.plan_id)
    end = inclusive_end(row.end_exclusive)
    if row.start_date > today:
        state = "upcoming"
    elif end is not None and end < today:
        state = "ended"
    else:
        state = "active"
    return {
        "row": row,
        "plan": plan,
        "location": location,
        "end_date": end,
        "price": plan.price if row.price is None else row.price,
        "own_price": row.price is not None,
        "quantity": wire.number(row.quantity),
        "discount": None if row.discount_value is None else wire.number(row.discount_value),
        "billed_until": billed_until,
        "state": state,
    }


def _fee_views(db: Session, fees: Sequence[FeeRow]) -> list[dict[str, Any]]:
    locations = {row.id: row for row in _locations(db)}
    invoices = _invoices_of_fees(db, [row.id for row in fees])
    return [
        {
            "row": row,
            "location": locations[row.location_id].name,
            "currency": locations[row.location_id].currency,
            "quantity": wire.number(row.quantity),
            "amount": row.quantity * row.unit_price,
            "invoice": invoices.get(row.id),
        }
        for row in fees
    ]


def _invoices_of_fees(db: Session, fee_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, InvoiceRow]:
    """The invoice each billed fee is on (a fee not in the answer is still to be billed)."""
    if not fee_ids:
        return {}
    query = (
        select(BilledFeeRow.fee_id, InvoiceRow)
        .join(InvoiceLineRow, InvoiceLineRow.id == BilledFeeRow.invoice_line_id)
        .join(InvoiceRow, InvoiceRow.id == InvoiceLineRow.invoice_id)
        .where(BilledFeeRow.fee_id.in_(fee_ids))
    )
    return dict(db.execute(query).all())


# --- Memberships -------------------------------------------------------------------------------------------------


@router.get("/customers/{customer_id}/memberships/new")
def new_membership_page(request: Request, customer_id: uuid.UUID) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        customer = service.get_customer(db, customer_id)
        values = {"location_id": str(customer.home_location_id), "quantity": "1"}
        return _membership_form(request, db, customer, None, values)


@router.post("/customers/{customer_id}/memberships/new", dependencies=csrf)
def create_membership(request: Request, customer_id: uuid.UUID, form: Posted) -> Response:
    require(current_staff(request), Permission.RUN_BILLING)
    values = _only(form, MEMBERSHIP_FIELDS)
    try:
        with writing(request) as db:
            command = parse_form(service.NewMembership, {**values, "customer_id": str(customer_id)})
            row = service.create_membership(db, command)
            plan = get_plan(db, row.plan_id)
            done = f"Membership of {plan.name} added, from {row.start_date:%d %b %Y}."
    except FlexbillError as error:
        return _refused_membership_form(request, customer_id, None, values, error)
    return redirect(request, f"/admin/customers/{customer_id}", done)


@router.get("/customers/{customer_id}/memberships/{membership_id}/edit")
def edit_membership_page(request: Request, customer_id: uuid.UUID, membership_id: uuid.UUID) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        customer = service.get_customer(db, customer_id)
        membership = _membership_of(db, customer_id, membership_id)
        values = _as_form(_current_membership(membership))
        return _membership_form(request, db, customer, membership, values)


@router.post("/customers/{customer_id}/memberships/{membership_id}/edit", dependencies=csrf)
def update_membership(request: Request, customer_id: uuid.UUID, membership_id: uuid.UUID, form: Posted) -> Response:
    """Only what the person changed is sent to the use case: the location and first day of an invoiced
    membership are not on the form (the use case refuses to change them), and an unchanged last day that is now
    before the lock date must not count as changing it."""
    require(current_staff(request), Permission.RUN_BILLING)
    values = _only(form, MEMBERSHIP_FIELDS)
    try:
        with writing(request) as db:
            changes = parse_changes(service.MembershipChanges, values)
            current = _current_membership(_membership_of(db, customer_id, membership_id))
            service.update_membership(db, membership_id, _changed_only(changes, current))
    except FlexbillError as error:
        return _refused_membership_form(request, customer_id, membership_id, values, error)
    return redirect(request, f"/admin/customers/{customer_id}", "Membership saved.")


@router.post("/customers/{customer_id}/memberships/{membership_id}/end", dependencies=csrf)
def end_membership(request: Request, customer_id: uuid.UUID, membership_id: uuid.UUID, form: Posted) -> Response:
    """Set the membership's last day (and nothing else)."""
    require(current_staff(request), Permission.RUN_BILLING)
    values = {"end_date": form.get("end_date", "")}
    try:
        if not values["end_date"]:
            raise InvalidInput("give the last day of the membership", field="end_date")
        with writing(request) as db:
            _membership_of(db, customer_id, membership_id)
            row = service.update_membership(db, membership_id, parse_form(service.MembershipChanges, values))
            last_day = inclusive_end(row.end_exclusive)
    except FlexbillError as error:
        return _refused_membership_form(request, customer_id, membership_id, {}, error, ending=values)
    return redirect(request, f"/admin/customers/{customer_id}", f"Membership ends on {last_day:%d %b %Y}.")


def _membership_of(db: Session, customer_id: uuid.UUID, membership_id: uuid.UUID) -> MembershipRow:
    row = service.get_membership(db, membership_id)
    if row.customer_id != customer_id:  # a membership is reached through its own customer only
        raise NotFound("membership", membership_id)
    return row


def _current_membership(row: MembershipRow) -> dict[str, Any]:
    return {
        "plan_id": row.plan_id,
        "location_id": row.location_id,
        "start_date": row.start_date,
        "end_date": inclusive_end(row.end_exclusive),
        "quantity": row.quantity,
        "price": row.price,
        "discount_type": row.discount_type,
        "discount_value": row.discount_value,
    }


def _membership_form(
    request: Request,
    db: Session,
    customer: CustomerRow,
    membership: MembershipRow | None,
    values: dict[str, str],
    error: FlexbillError | None = None,
    ending: dict[str, str] | None = None,
) -> Response:
    """The form that adds a membership, or that changes one (with the form that ends it). ``ending`` holds what
    was typed in the form that ends it when that one was refused."""
    summary, errors = form_errors(error, MEMBERSHIP_LABELS) if error else (None, {})
    billed_until = service.billed_until(db, [membership.id]).get(membership.id) if membership else None
    context = {
        "customer": customer,
        "membership": membership,
        "billed_until": billed_until,
        # What the use case cannot change once a membership is invoiced is shown, not offered.
        "invoiced": billed_until is not None,
        "form": values,
        "errors": {} if ending is not None else errors,
        "ending": ending if ending is not None else {"end_date": values.get("end_date", "")},
        "ending_errors": errors if ending is not None else {},
        "error": summary,
        "labels": MEMBERSHIP_LABELS,
        "plans": _plan_options(db),
        "locations": _location_options(db),
        "location_names": {row.id: row.name for row in _locations(db)},
        "discounts": DISCOUNTS,
    }
    status = error.status_code if error else 200
    return render(request, "admin/customers/membership_form.html", context, status=status)


def _refused_membership_form(
    request: Request,
    customer_id: uuid.UUID,
    membership_id: uuid.UUID | None,
    values: dict[str, str],
    error: FlexbillError,
    ending: dict[str, str] | None = None,
) -> Response:
    with context_of(request).readers() as db:
        customer = service.get_customer(db, customer_id)
        membership = _membership_of(db, customer_id, membership_id) if membership_id else None
        if membership is not None:  # the fields the form did not send (not offered) show what is kept
            values = {**_as_form(_current_membership(membership)), **values}
        return _membership_form(request, db, customer, membership, values, error, ending)


# --- One-off fees ------------------------------------------------------------------------------------------------


@router.get("/customers/{customer_id}/fees/new")
def new_fee_page(request: Request, customer_id: uuid.UUID) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        customer = service.get_customer(db, customer_id)
        values = {
            "location_id": str(customer.home_location_id),
            "date": ctx.clock.today().isoformat(),
            "quantity": "1",
        }
        return _fee_form(request, db, customer, values)


@router.post("/customers/{customer_id}/fees/new", dependencies=csrf)
def create_fee(request: Request, customer_id: uuid.UUID, form: Posted) -> Response:
    require(current_staff(request), Permission.RUN_BILLING)
    values = _only(form, FEE_FIELDS)
    try:
        with writing(request) as db:
            service.create_fee(db, parse_form(service.NewFee, {**values, "customer_id": str(customer_id)}))
    except FlexbillError as error:
        with context_of(request).readers() as db:
            return _fee_form(request, db, service.get_customer(db, customer_id), values, error)
    return redirect(request, f"/admin/customers/{customer_id}", "Fee added: the next bill run invoices it.")


def _fee_form(
    request: Request,
    db: Session,
    customer: CustomerRow,
    values: dict[str, str],
    error: FlexbillError | None = None,
) -> Response:
    summary, errors = form_errors(error, FEE_LABELS) if error else (None, {})
    context = {
        "customer": customer,
        "form": values,
        "errors": errors,
        "error": summary,
        "labels": FEE_LABELS,
        "locations": _location_options(db),
        "accounts": [
            (str(row.id), f"{row.code} · {row.name}")
            for row in db.scalars(select(RevenueAccountRow).order_by(RevenueAccountRow.code))
        ],
        "tax_rates": _tax_rate_options(db),
    }
    status = error.status_code if error else 200
    return render(request, "admin/customers/fee_form.html", context, status=status)


# --- Shared by the forms -----------------------------------------------------------------------------------------


def _only(form: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """The form's values of the command's fields (the CSRF token and the buttons are not the command's)."""
    return {name: form[name] for name in names if name in form}


def _changed_only(changes: CommandT, current: Mapping[str, Any]) -> CommandT:
    """The changes that differ from what the record holds. An edit form sends every field, but the use case
    should see only what the person changed: an untouched address must not send the contact to accounting again."""
    differing = {
        name: getattr(changes, name) for name in changes.model_fields_set if getattr(changes, name) != current.get(name)
    }
    return type(changes).model_validate(differing)


def _as_form(values: Mapping[str, Any]) -> dict[str, str]:
    """A record's values as a form shows them: ids and dates as text, amounts without trailing zeros."""
    shown: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            shown[name] = ""
        elif isinstance(value, Decimal):
            shown[name] = wire.number(value)
        elif isinstance(value, dt.date):
            shown[name] = value.isoformat()
        else:
            shown[name] = str(value)
    return shown


def _locations(db: Session) -> list[LocationRow]:
    return list(db.scalars(select(LocationRow).order_by(LocationRow.name)))


def _location_options(db: Session) -> list[tuple[str, str]]:
    return [(str(row.id), f"{row.name} ({row.currency})") for row in _locations(db)]


def _tax_rate_options(db: Session) -> list[tuple[str, str]]:
    rows = db.scalars(select(TaxRateRow).order_by(TaxRateRow.name))
    return [(str(row.id), f"{row.name} ({wire.number(row.total_rate)}%)") for row in rows]


def _plan_options(db: Session) -> list[tuple[str, str]]:
    options = []
    for row in db.scalars(select(PlanRow).order_by(PlanRow.name)):
        every = "month" if row.interval_months == 1 else f"{row.interval_months} months"
        price = f"{wire.plain_price(row.price)} {row.currency}" if row.currency else wire.plain_price(row.price)
        options.append((str(row.id), f"{row.name} · {price} every {every}"))
    return options


def _catalog_names(db: Session) -> dict[str, dict[uuid.UUID, str]]:
    """The names a customer's page shows for the ids it holds."""
    return {
        "locations": {row.id: row.name for row in _locations(db)},
        "tax_rates": {row.id: row.name for row in db.scalars(select(TaxRateRow))},
    }
