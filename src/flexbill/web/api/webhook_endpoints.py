"""Outgoing webhooks: the endpoints flexbill posts events to, their deliveries, and the events themselves.

The signing secret is in the answer when an endpoint is made and when its secret is rolled, and nowhere else: a
key that may only read cannot learn it (and so cannot forge deliveries); a key that lost it rolls a new one.
Staff read it again in the console.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from flexbill.bootstrap import Context
from flexbill.errors import NotFound
from flexbill.events import service
from flexbill.events.model import EventType, event_public_id, parse_event_id
from flexbill.events.store import WebhookAttemptRow, WebhookDeliveryRow, WebhookEndpointRow, WebhookEventRow
from flexbill.web.api.deps import DB, ReadDB, context, require_read, require_write
from flexbill.web.api.paging import Cursor, Limit, paginate
from flexbill.web.api.views import Page

router = APIRouter()
read = [Depends(require_read)]
write = [Depends(require_write)]


class EndpointOut(BaseModel):
    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]  # ["*"]: every type
    enabled: bool
    created_at: datetime
    updated_at: datetime


class EndpointWithSecretOut(EndpointOut):
    secret: str  # whsec_...: the key of the HMAC in the flexbill-signature header (see docs/webhooks.md)


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None  # None: no answer (see error)
    error: str | None
    response_excerpt: str
    duration_ms: int


class DeliveryOut(BaseModel):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: str  # evt_...
    event_type: str
    status: str  # pending, delivered, failed, cancelled
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    log: list[AttemptOut]  # every attempt, oldest first


class EventOut(BaseModel):
    """The event as it is posted: the body of every delivery of it."""

    id: str  # evt_...
    type: str
    created: str
    data: dict[str, Any]


def endpoint_out(row: WebhookEndpointRow) -> EndpointOut:
    return EndpointOut(
        id=row.id,
        url=row.url,
        description=row.description,
        event_types=list(row.event_types),
        enabled=row.enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _with_secret(made: service.EndpointWithSecret) -> EndpointWithSecretOut:
    return EndpointWithSecretOut(**endpoint_out(made.row).model_dump(), secret=made.secret)


def deliveries_out(db: Session, rows: Sequence[WebhookDeliveryRow]) -> list[DeliveryOut]:
    """Deliveries with their event's type and their attempts, in two queries for all of them."""
    ids = [row.id for row in rows]
    attempts = service.attempts_of(db, ids)
    types = service.event_types_of(db, [row.event_id for row in rows])
    return [
        DeliveryOut(
            id=row.id,
            endpoint_id=row.endpoint_id,
            event_id=event_public_id(row.event_id),
            event_type=types[row.event_id],
            status=row.status,
            attempts=row.attempts,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            next_attempt_at=row.next_attempt_at,
            created_at=row.created_at,
            finished_at=row.finished_at,
            log=[attempt_out(attempt) for attempt in attempts[row.id]],
        )
        for row in rows
    ]


def attempt_out(row: WebhookAttemptRow) -> AttemptOut:
    return AttemptOut(
        attempt=row.attempt,
        attempted_at=row.attempted_at,
        status_code=row.status_code,
        error=row.error,
        response_excerpt=row.response_excerpt,
        duration_ms=row.duration_ms,
    )


def event_out(row: WebhookEventRow) -> EventOut:
    return EventOut.model_validate(row.payload)


# --- endpoints -----------------------------------------------------------------------------------------------


@router.post("/webhook-endpoints", status_code=status.HTTP_201_CREATED, dependencies=write, tags=["webhooks"])
def create_endpoint(body: service.NewEndpoint, db: DB, ctx: Context = Depends(context)) -> EndpointWithSecretOut:
    """Register a receiver: an https URL (plain http only to this machine, for testing), the event types it wants
    (``["*"]``, the default, for all). The answer holds its signing secret, shown this once."""
    return _with_secret(service.create_endpoint(db, ctx.settings, ctx.clock.now(), body))


@router.get("/webhook-endpoints", dependencies=read, tags=["webhooks"])
def list_endpoints(db: ReadDB, limit: Limit = 100, cursor: Cursor = None) -> Page[EndpointOut]:
    return paginate(db, service.live_endpoints(), WebhookEndpointRow.id, limit, cursor, endpoint_out)


@router.get("/webhook-endpoints/{endpoint_id}", dependencies=read, tags=["webhooks"])
def get_endpoint(endpoint_id: uuid.UUID, db: ReadDB) -> EndpointOut:
    return endpoint_out(service.get_endpoint(db, endpoint_id))


@router.patch("/webhook-endpoints/{endpoint_id}", dependencies=write, tags=["webhooks"])
def update_endpoint(
    endpoint_id: uuid.UUID, body: service.EndpointChanges, db: DB, ctx: Context = Depends(context)
) -> EndpointOut:
    """Change the URL, description, event types or ``enabled``. A disabled endpoint gets nothing, and its
    deliveries still waiting are cancelled."""
    return endpoint_out(service.update_endpoint(db, ctx.clock.now(), endpoint_id, body))


@router.delete(
    "/webhook-endpoints/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=write, tags=["webhooks"]
)
def delete_endpoint(endpoint_id: uuid.UUID, db: DB, ctx: Context = Depends(context)) -> None:
    service.delete_endpoint(db, ctx.clock.now(), endpoint_id)


@router.post("/webhook-endpoints/{endpoint_id}/roll-secret", dependencies=write, tags=["webhooks"])
def roll_secret(endpoint_id: uuid.UUID, db: DB, ctx: Context = Depends(context)) -> EndpointWithSecretOut:
    """A new signing secret, used from the next attempt on; the old one stops working at once."""
    return _with_secret(service.roll_secret(db, ctx.settings, ctx.clock.now(), endpoint_id))


# --- deliveries ----------------------------------------------------------------------------------------------


@router.get("/webhook-endpoints/{endpoint_id}/deliveries", dependencies=read, tags=["webhooks"])
def list_deliveries(
    endpoint_id: uuid.UUID, db: ReadDB, limit: Limit = 100, cursor: Cursor = None
) -> Page[DeliveryOut]:  # fmt: skip
    """The endpoint's deliveries, newest first, each with every attempt made."""
    query = service.deliveries_of(db, endpoint_id)
    return paginate(
        db, query, WebhookDeliveryRow.id, limit, cursor, convert_page=lambda rows: deliveries_out(db, rows),
        newest_first=True,
    )  # fmt: skip


@router.post(
    "/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=write,
    tags=["webhooks"],
)
def resend_delivery(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, db: DB, ctx: Context = Depends(context)
) -> DeliveryOut:  # fmt: skip
    """Post the event again (same id and body, a fresh signature), retried for a day if it fails again. Queued:
    follow it in the deliveries."""
    return deliveries_out(db, [service.resend_delivery(db, ctx.clock.now(), endpoint_id, delivery_id)])[0]


# --- events --------------------------------------------------------------------------------------------------


@router.get("/events", dependencies=read, tags=["webhooks"])
def list_events(
    db: ReadDB,
    limit: Limit = 100,
    cursor: Cursor = None,
    type_: EventType | None = Query(None, alias="type", description="Only events of this type."),
) -> Page[EventOut]:
    """The events published, newest first. An event is recorded only when some enabled endpoint wanted it."""
    query = service.events_of_type(type_)
    return paginate(db, query, WebhookEventRow.id, limit, cursor, event_out, newest_first=True)


@router.get("/events/{event_id}", dependencies=read, tags=["webhooks"])
def get_event(event_id: str, db: ReadDB) -> EventOut:
    """One event, by its id (``evt_...``)."""
    try:
        parsed = parse_event_id(event_id)
    except ValueError:
        raise NotFound("event", event_id) from None
    return event_out(service.get_event(db, parsed))
