"""Outgoing webhook endpoints: the list, adding one, changing, disabling, deleting, a new signing secret (shown
once), and the log of what was delivered to each endpoint, with a re-send.

Every action is a use case of ``flexbill.events.service``; the pages only read its rows.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from flexbill.access.model import Permission
from flexbill.errors import FlexbillError
from flexbill.events import service as events
from flexbill.events.model import ALL_TYPES, EventType, event_public_id
from flexbill.events.store import WebhookDeliveryRow, WebhookEndpointRow
from flexbill.web.admin.settings_support import base_context, form_error
from flexbill.web.forms import parse_form
from flexbill.web.security import check_csrf, context_of, current_staff, require, writing
from flexbill.web.templating import redirect, render

router = APIRouter()

LABELS = {"url": "URL", "description": "Description", "event_types": "Events"}
EVENT_WORDS = {
    EventType.INVOICE_CREATED: "An invoice was made by a bill run (as a draft or issued)",
    EventType.INVOICE_ISSUED: "An invoice was issued: it has its number and is owed",
    EventType.INVOICE_UPDATED: "An invoice changed: paid in part, credited, refunded, numbered by accounting",
    EventType.INVOICE_PAID: "An invoice is paid in full",
    EventType.INVOICE_VOIDED: "An invoice was voided",
    EventType.PAYMENT_SUCCEEDED: "A payment was recorded (by staff, a gateway or the accounting system)",
    EventType.PAYMENT_FAILED: "A charge of a saved card was declined",
    EventType.PAYMENT_REFUNDED: "Money taken by a gateway was given back",
    EventType.CREDIT_NOTE_CREATED: "A credit note was made",
    EventType.SYNC_FAILED: "The accounting system refused a record, or its sync was given up",
}
DELIVERY_PAGE = 50
DELIVERY_WORDS = {
    "pending": ("warn", "Waiting"),
    "delivered": ("good", "Delivered"),
    "failed": ("bad", "Failed"),
    "cancelled": ("", "Cancelled"),
}


def _event_choices() -> list[tuple[str, str]]:
    return [(event_type.value, EVENT_WORDS.get(event_type, event_type.value)) for event_type in EventType]


def _endpoint_values(row: WebhookEndpointRow | None) -> dict[str, Any]:
    if row is None:
        return {"url": "", "description": "", "event_types": []}
    types = [] if ALL_TYPES in row.event_types else list(row.event_types)
    return {"url": row.url, "description": row.description, "event_types": types}


def _list_page(request: Request, extra: dict[str, Any], status: int = 200) -> Response:
    with context_of(request).readers() as db:
        endpoints = events.list_endpoints(db)
        context = {
            **base_context(current_staff(request)),
            "endpoints": endpoints,
            "all_types": ALL_TYPES,
            "event_choices": _event_choices(),
            "values": _endpoint_values(None),
            **extra,
        }
        return render(request, "admin/settings/webhooks.html", context, status=status)


@router.get("/settings/webhooks")
def webhooks_page(request: Request) -> Response:
    return _list_page(request, {})


def _secret_page(request: Request, row: WebhookEndpointRow, secret: str, *, rolled: bool) -> Response:
    context = {**base_context(current_staff(request)), "endpoint": row, "secret": secret, "rolled": rolled}
    return render(request, "admin/settings/webhook_secret.html", context, status=200 if rolled else 201)


def _endpoint_fields(url: str, description: str, event_types: list[str] | None) -> dict[str, Any]:
    chosen = [value for value in dict.fromkeys(event_types or []) if value]
    return {"url": url, "description": description, "event_types": chosen}


@router.post("/settings/webhooks", dependencies=[Depends(check_csrf)])
def add_endpoint(
    request: Request,
    url: Annotated[str, Form(max_length=2000)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
    event_types: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """The signing secret is shown on this answer, once."""
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    values = _endpoint_fields(url, description, event_types)
    try:
        command = parse_form(events.NewEndpoint, {**values, "event_types": values["event_types"] or [ALL_TYPES]})
        with writing(request) as db:
            made = events.create_endpoint(db, ctx.settings, ctx.clock.now(), command)
    except FlexbillError as error:
        return _list_page(request, {"values": values, **form_error(error, LABELS)}, error.status_code)
    return _secret_page(request, made.row, made.secret, rolled=False)


# --- one endpoint -------------------------------------------------------------------------------------------------


def _deliveries(
    db: Session, endpoint_id: uuid.UUID, before: uuid.UUID | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the endpoint's deliveries, newest first, each with its event and its last attempt."""
    query = events.deliveries_of(db, endpoint_id)
    if before is not None:
        query = query.where(WebhookDeliveryRow.id < before)
    rows = list(db.scalars(query.order_by(WebhookDeliveryRow.id.desc()).limit(DELIVERY_PAGE + 1)))
    older = str(rows[DELIVERY_PAGE - 1].id) if len(rows) > DELIVERY_PAGE else None
    rows = rows[:DELIVERY_PAGE]
    types = events.event_types_of(db, [row.event_id for row in rows])
    attempts = events.attempts_of(db, [row.id for row in rows])
    shown = []
    for row in rows:
        last = attempts[row.id][-1] if attempts[row.id] else None
        tone, word = DELIVERY_WORDS.get(row.status, ("", row.status))
        shown.append(
            {
                "row": row,
                "event_id": event_public_id(row.event_id),
                "event_type": types.get(row.event_id, ""),
                "tone": tone,
                "word": word,
                "excerpt": (last.response_excerpt if last else "") or "",
                "error": row.last_error or (last.error if last else None),
                "last_at": last.attempted_at if last else None,
            }
        )
    return shown, older


def _endpoint_page(
    request: Request, endpoint_id: uuid.UUID, extra: dict[str, Any], status: int = 200, before: str = ""
) -> Response:
    staff = current_staff(request)
    with context_of(request).readers() as db:
        try:
            row = events.get_endpoint(db, endpoint_id)
            after = uuid.UUID(before) if before else None
        except (FlexbillError, ValueError):
            context = {"title": "Not found", "message": "There is no such webhook endpoint or page.", "error": True}
            return render(request, "admin/message.html", {**context, "back": "/admin/settings/webhooks"}, status=404)
        deliveries, older = _deliveries(db, endpoint_id, after)
        context = {
            **base_context(staff),
            "endpoint": row,
            "all_types": ALL_TYPES,
            "event_choices": _event_choices(),
            "values": _endpoint_values(row),
            "deliveries": deliveries,
            "older": older,
            "paged": bool(before),
            **extra,
        }
        return render(request, "admin/settings/webhook.html", context, status=status)


@router.get("/settings/webhooks/{endpoint_id}")
def endpoint_page(
    request: Request, endpoint_id: uuid.UUID, before: str = Query("", max_length=64, description="Older than this.")
) -> Response:
    return _endpoint_page(request, endpoint_id, {}, before=before)


@router.post("/settings/webhooks/{endpoint_id}", dependencies=[Depends(check_csrf)])
def change_endpoint(
    request: Request,
    endpoint_id: uuid.UUID,
    url: Annotated[str, Form(max_length=2000)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
    event_types: Annotated[list[str] | None, Form()] = None,
) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    values = _endpoint_fields(url, description, event_types)
    try:
        fields = {"url": url, "event_types": values["event_types"] or [ALL_TYPES]}
        changes = parse_form(events.EndpointChanges, fields).model_copy(update={"description": description.strip()})
        with writing(request) as db:
            events.update_endpoint(db, ctx.clock.now(), endpoint_id, changes)
    except FlexbillError as error:
        return _endpoint_page(request, endpoint_id, {"values": values, **form_error(error, LABELS)}, error.status_code)
    return redirect(request, f"/admin/settings/webhooks/{endpoint_id}", "The endpoint is saved.")


def _switch(request: Request, endpoint_id: uuid.UUID, enabled: bool) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    try:
        with writing(request) as db:
            events.update_endpoint(db, ctx.clock.now(), endpoint_id, events.EndpointChanges(enabled=enabled))
    except FlexbillError as error:
        return _endpoint_page(request, endpoint_id, form_error(error), error.status_code)
    done = (
        "The endpoint is enabled: new events go to it."
        if enabled
        else "The endpoint is disabled: it gets nothing more, and what waited for it was cancelled."
    )
    return redirect(request, f"/admin/settings/webhooks/{endpoint_id}", done)


@router.post("/settings/webhooks/{endpoint_id}/disable", dependencies=[Depends(check_csrf)])
def disable_endpoint(request: Request, endpoint_id: uuid.UUID) -> Response:
    return _switch(request, endpoint_id, enabled=False)


@router.post("/settings/webhooks/{endpoint_id}/enable", dependencies=[Depends(check_csrf)])
def enable_endpoint(request: Request, endpoint_id: uuid.UUID) -> Response:
    return _switch(request, endpoint_id, enabled=True)


@router.post("/settings/webhooks/{endpoint_id}/delete", dependencies=[Depends(check_csrf)])
def delete_endpoint(request: Request, endpoint_id: uuid.UUID) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    try:
        with writing(request) as db:
            url = events.get_endpoint(db, endpoint_id).url
            events.delete_endpoint(db, ctx.clock.now(), endpoint_id)
    except FlexbillError as error:
        return _endpoint_page(request, endpoint_id, form_error(error), error.status_code)
    return redirect(request, "/admin/settings/webhooks", f"The endpoint {url} is deleted.")


@router.post("/settings/webhooks/{endpoint_id}/roll-secret", dependencies=[Depends(check_csrf)])
def roll_secret(request: Request, endpoint_id: uuid.UUID) -> Response:
    """The new secret is in use at once and shown on this answer, once."""
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    try:
        with writing(request) as db:
            made = events.roll_secret(db, ctx.settings, ctx.clock.now(), endpoint_id)
    except FlexbillError as error:
        return _endpoint_page(request, endpoint_id, form_error(error), error.status_code)
    return _secret_page(request, made.row, made.secret, rolled=True)


@router.post("/settings/webhooks/{endpoint_id}/deliveries/{delivery_id}/resend", dependencies=[Depends(check_csrf)])
def resend(request: Request, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    try:
        with writing(request) as db:
            delivery = events.resend_delivery(db, ctx.clock.now(), endpoint_id, delivery_id)
            event_id = event_public_id(delivery.event_id)
    except FlexbillError as error:
        return _endpoint_page(request, endpoint_id, form_error(error), error.status_code)
    return redirect(request, f"/admin/settings/webhooks/{endpoint_id}", f"Event {event_id} will be sent again now.")
