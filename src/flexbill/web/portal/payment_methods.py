"""The member's saved cards, per customer and per location's gateway account: add one on the gateway's hosted
page (no card number passes through flexbill), remove one, choose the one charged by default."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill.catalog.store import LocationRow
from flexbill.customers.store import CustomerRow
from flexbill.errors import FlexbillError
from flexbill.invoicing.store import InvoiceRow
from flexbill.links import public_base_url
from flexbill.payments.checkout import finish_saving_method, start_saving_method
from flexbill.payments.service import make_default, payment_methods_of, remove_method
from flexbill.payments.store import GatewayRow, PaymentMethodRow
from flexbill.web.portal.members import customer_ids_of, customer_of, customers_of, not_found, parse_id
from flexbill.web.security import Member, check_csrf, context_of, current_member, writing
from flexbill.web.templating import redirect, render

router = APIRouter()
csrf = [Depends(check_csrf)]
PAGE = "/portal/payment-methods"


def _sentence(message: str) -> str:
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")


def gateway_locations(db: Session, customer: CustomerRow) -> list[LocationRow]:
    """Where the customer can save a card: its home location and those that bill it, if they take cards."""
    billed_at = select(InvoiceRow.location_id).where(InvoiceRow.customer_id == customer.id)
    return list(
        db.scalars(
            select(LocationRow)
            .join(GatewayRow, GatewayRow.location_id == LocationRow.id)
            .where((LocationRow.id == customer.home_location_id) | LocationRow.id.in_(billed_at))
            .order_by(LocationRow.name)
        )
    )


def _method_of(db: Session, member: Member, method_id: str) -> PaymentMethodRow | None:
    found = parse_id(method_id)
    method = db.get(PaymentMethodRow, found) if found is not None else None
    if method is None or method.customer_id not in customer_ids_of(db, member):
        return None
    return method


def _card(method: PaymentMethodRow) -> str:
    """How a card is named in a sentence: "Visa ending 4242"."""
    brand = (method.brand or method.kind).replace("_", " ").title()
    return f"{brand} ending {method.last4}" if method.last4 else brand


def _expiry(method: PaymentMethodRow) -> str:
    return f"{method.exp_month:02d}/{method.exp_year}" if method.exp_month and method.exp_year else ""


def _page(
    request: Request, *, error: str | None = None, field_error: dict[str, str] | None = None, status: int = 200
) -> Response:
    ctx = context_of(request)
    member = current_member(request)
    with ctx.readers() as db:
        where = select(GatewayRow.id, LocationRow.name).join(LocationRow, LocationRow.id == GatewayRow.location_id)
        gateway_places: dict[uuid.UUID, str] = dict(db.execute(where).all())
        customers: list[dict[str, Any]] = []
        for customer in customers_of(db, member.email):
            methods = [
                {
                    "id": method.id,
                    "card": _card(method),
                    "expires": _expiry(method),
                    "default": method.is_default,
                    "location": gateway_places.get(method.gateway_id, ""),
                }
                for method in payment_methods_of(db, customer.id)
            ]
            customers.append({"customer": customer, "methods": methods, "locations": gateway_locations(db, customer)})
    context = {"customers": customers, "error": error, "field_error": field_error or {}}
    return render(request, "portal/payment_methods.html", context, status=status)


@router.get("/payment-methods")
def payment_methods_page(request: Request) -> Response:
    return _page(request)


@router.post("/payment-methods/add", dependencies=csrf)
def add_card(
    request: Request,
    customer_id: Annotated[str, Form(max_length=100)] = "",
    location_id: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """To the gateway's page where the member saves a card; back to :func:`card_saved` after it."""
    ctx = context_of(request)
    member = current_member(request)
    with ctx.readers() as db:
        customer = customer_of(db, member, customer_id)
        if customer is None:
            return not_found(request, "customer")
        places = {location.id: location for location in gateway_locations(db, customer)}
        chosen = parse_id(location_id) if location_id else (next(iter(places)) if len(places) == 1 else None)
        gateway = db.scalars(select(GatewayRow).where(GatewayRow.location_id == chosen)).first()
        found, name = customer.id, customer.name
    if chosen not in places or gateway is None:
        message = (
            "Choose the location whose invoices the card is for."
            if places
            else f"{name}'s locations take no card payments online, so no card can be saved."
        )
        return _page(request, error=message, field_error={str(found): message}, status=422)
    base = public_base_url(ctx.settings)
    try:
        url = start_saving_method(
            ctx,
            found,
            chosen,
            # The gateway puts its page's id in place of {CHECKOUT_SESSION_ID} when it sends the member back.
            success_url=f"{base}{PAGE}/saved?gateway={gateway.id}&page={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{base}{PAGE}/saved?canceled=1",
        )
    except FlexbillError as problem:
        return _page(request, error=_sentence(problem.message), status=problem.status_code)
    return RedirectResponse(url, status_code=303)


@router.get("/payment-methods/saved")
def card_saved(request: Request, gateway: str = "", page: str = "", canceled: str = "") -> Response:
    """Back from the gateway's page: the card it saved is kept now (its webhook would keep it too, later)."""
    ctx = context_of(request)
    member = current_member(request)
    if canceled:
        return redirect(request, PAGE, "No card was saved.")
    with ctx.readers() as db:
        row = db.get(GatewayRow, parse_id(gateway)) if parse_id(gateway) is not None else None
        usable = {
            location.id for customer in customers_of(db, member.email) for location in gateway_locations(db, customer)
        }
        if row is None or row.location_id not in usable or not page:
            return not_found(request, "card")
        gateway_id = row.id
        mine = {customer.id for customer in customers_of(db, member.email)}
    try:
        saved = finish_saving_method(ctx, gateway_id, page, only_for=mine)
    except FlexbillError as problem:
        return _page(request, error=_sentence(problem.message), status=problem.status_code)
    if not saved:
        return redirect(request, PAGE, "No card was saved: the card page was not completed.")
    return redirect(request, PAGE, "Your card is saved, and will be charged for your next invoices.")


@router.post("/payment-methods/{method_id}/default", dependencies=csrf)
def choose_default(request: Request, method_id: str) -> Response:
    ctx = context_of(request)
    member = current_member(request)
    with ctx.readers() as db:
        method = _method_of(db, member, method_id)
        if method is None:
            return not_found(request, "card")
        card, customer_id, found = _card(method), method.customer_id, method.id
    try:
        with writing(request) as db:
            make_default(db, customer_id, found)
    except FlexbillError as problem:
        return _page(request, error=_sentence(problem.message), status=problem.status_code)
    return redirect(request, PAGE, f"The {card} is now charged by default.")


@router.post("/payment-methods/{method_id}/remove", dependencies=csrf)
def remove_card(request: Request, method_id: str) -> Response:
    ctx = context_of(request)
    member = current_member(request)
    with ctx.readers() as db:
        method = _method_of(db, member, method_id)
        if method is None:
            return not_found(request, "card")
        card, customer_id, found = _card(method), method.customer_id, method.id
    try:
        remove_method(ctx, customer_id, found)
    except FlexbillError as problem:
        return _page(request, error=_sentence(problem.message), status=problem.status_code)
    return redirect(request, PAGE, f"The {card} is removed.")
