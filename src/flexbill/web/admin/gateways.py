"""Payment gateways, per location: add one (Stripe's keys), replace its keys, or remove one never used. Keys are
stored encrypted and never shown again, not even on a form sent back with a mistake."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from flexbill.access.model import Permission
from flexbill.catalog.store import LocationRow
from flexbill.errors import FlexbillError, InvalidInput
from flexbill.links import public_base_url
from flexbill.payments import service
from flexbill.payments.store import GatewayRow
from flexbill.web.admin.settings_support import base_context, form_error
from flexbill.web.forms import parse_form
from flexbill.web.security import check_csrf, context_of, current_staff, require, writing
from flexbill.web.templating import redirect, render

router = APIRouter()

LABELS = {
    "location_id": "Location",
    "secret_key": "Secret key",
    "webhook_secret": "Webhook signing secret",
    "base_url": "API address",
}


def _gateways_page(request: Request, extra: dict[str, Any], status: int = 200) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        locations = list(db.scalars(select(LocationRow).order_by(LocationRow.name)))
        gateways = {row.location_id: row for row in db.scalars(select(GatewayRow))}
        rows = [{"location": location, "gateway": gateways.get(location.id)} for location in locations]
        context = {
            **base_context(current_staff(request)),
            "rows": rows,
            "webhook_base": f"{public_base_url(ctx.settings)}/webhooks/",
            "without_gateway": [location for location in locations if location.id not in gateways],
            "values": {"location_id": "", "base_url": ""},
            "error_gateway": None,
            **extra,
        }
        return render(request, "admin/settings/payments.html", context, status=status)


@router.get("/settings/payments")
def gateways_page(request: Request) -> Response:
    return _gateways_page(request, {})


@router.post("/settings/payments", dependencies=[Depends(check_csrf)])
def add_gateway(
    request: Request,
    location_id: Annotated[str, Form(max_length=64)] = "",
    secret_key: Annotated[str, Form(max_length=500)] = "",
    webhook_secret: Annotated[str, Form(max_length=500)] = "",
    base_url: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    values = {"location_id": location_id, "base_url": base_url}  # the keys are never sent back
    fields = {**values, "secret_key": secret_key, "webhook_secret": webhook_secret, "provider": "stripe"}
    try:
        command = parse_form(service.NewGateway, fields)
        with writing(request) as db:
            row = service.create_gateway(db, ctx.settings, ctx.clock.now(), command)
            location = db.get(LocationRow, row.location_id)
            name = location.name if location else "the location"
    except FlexbillError as error:
        return _gateways_page(request, {"values": values, **form_error(error, LABELS)}, error.status_code)
    return redirect(request, "/admin/settings/payments", f"{name} now takes card payments through Stripe.")


@router.post("/settings/payments/{gateway_id}/keys", dependencies=[Depends(check_csrf)])
def replace_keys(
    request: Request,
    gateway_id: uuid.UUID,
    secret_key: Annotated[str, Form(max_length=500)] = "",
    webhook_secret: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Blank keeps a key as it is; the page says which were replaced."""
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    try:
        if not secret_key.strip() and not webhook_secret.strip():
            raise InvalidInput("enter a new secret key, a new webhook signing secret, or both", field="secret_key")
        changes = parse_form(service.GatewayChanges, {"secret_key": secret_key, "webhook_secret": webhook_secret})
        with writing(request) as db:
            service.update_gateway(db, ctx.settings, ctx.clock.now(), gateway_id, changes)
    except FlexbillError as error:
        extra = {"error_gateway": gateway_id, **form_error(error, LABELS)}
        return _gateways_page(request, extra, error.status_code)
    replaced = [LABELS[name].lower() for name in ("secret_key", "webhook_secret") if name in changes.model_fields_set]
    verb = "are" if len(replaced) > 1 else "is"
    return redirect(request, "/admin/settings/payments", f"The {' and the '.join(replaced)} {verb} replaced.")


@router.post("/settings/payments/{gateway_id}/remove", dependencies=[Depends(check_csrf)])
def remove_gateway(request: Request, gateway_id: uuid.UUID) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    try:
        with writing(request) as db:
            service.remove_gateway(db, gateway_id)
    except FlexbillError as error:
        return _gateways_page(request, {"error_gateway": gateway_id, **form_error(error)}, error.status_code)
    return redirect(request, "/admin/settings/payments", "The payment gateway is removed.")
