"""Use cases of outgoing webhooks: manage endpoints, publish events, list them and their deliveries, re-send one,
and the delivery's bookkeeping for the worker (``handlers`` does the HTTP).

Publishing is the outbox: ``publish`` runs in the transaction of the change that causes the event and writes the
event, one delivery per enabled endpoint subscribed to its type, and the task of each delivery
(``webhooks.deliver``, key ``webhook:<delivery id>``). With no such endpoint it writes nothing and costs one small
query, so a bill run of a hundred thousand invoices pays nothing for webhooks nobody listens to; when some endpoint
does listen, ``publish_invoices_created`` writes the run's events in bulk.

Each function runs in the session's current transaction; the caller commits. Time comes from the caller.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from cryptography.fernet import InvalidToken
from pydantic import AfterValidator, Field, StringConstraints
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from flexbill.clock import Clock
from flexbill.db import bulk_insert, new_id
from flexbill.errors import Conflict, InvalidInput, NotFound
from flexbill.events.model import (
    ALL_TYPES,
    EventType,
    UnknownEventType,
    check_endpoint_url,
    delivered,
    event_body,
    invoice_event_after_settlement,
    new_secret,
    next_attempt_at,
    normalise_event_types,
    subscribes,
)
from flexbill.events.store import (
    CANCELLED,
    DELIVERED,
    FAILED,
    PENDING,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
    WebhookEventRow,
)
from flexbill.invoicing.store import CreditNoteRow, InvoiceRow, PaymentRow
from flexbill.keys import fernet_for
from flexbill.settings import Settings
from flexbill.tasks import store as tasks
from flexbill.tasks.service import enqueue
from flexbill.validation import Command

if TYPE_CHECKING:
    from flexbill.events.snapshots import Subject

DELIVER_TASK = "webhooks.deliver"
CHUNK = 500  # invoices read back at once when a bill run publishes: bounded memory, few round trips


# --- endpoints -----------------------------------------------------------------------------------------------


def _endpoint_url(value: str) -> str:
    return check_endpoint_url(value)


def _event_type_name(value: str) -> str:
    try:
        normalise_event_types([value])
    except UnknownEventType as error:
        raise ValueError(str(error)) from None
    return value


EndpointUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), AfterValidator(_endpoint_url)
]
EventTypeName = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_event_type_name)]
EventTypes = Annotated[list[EventTypeName], Field(max_length=50)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class NewEndpoint(Command):
    url: EndpointUrl
    description: Description = ""
    event_types: EventTypes = Field(default_factory=lambda: [ALL_TYPES], description="['*'] or [] for all")
    enabled: bool = True


class EndpointChanges(Command):
    url: EndpointUrl | None = None
    description: Description | None = None
    event_types: EventTypes | None = None
    enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class EndpointWithSecret:
    row: WebhookEndpointRow
    secret: str  # shown when made and when rolled, and never again


def create_endpoint(session: Session, settings: Settings, now: datetime, command: NewEndpoint) -> EndpointWithSecret:
    secret = new_secret()
    row = WebhookEndpointRow(
        url=command.url,
        description=command.description,
        event_types=normalise_event_types(command.event_types),
        enabled=command.enabled,
        secret=_encrypt(settings, secret),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return EndpointWithSecret(row, secret)


def live_endpoints() -> Select[WebhookEndpointRow]:
    """The endpoints not deleted, oldest first (for paging)."""
    return select(WebhookEndpointRow).where(WebhookEndpointRow.deleted_at.is_(None))


def list_endpoints(session: Session) -> list[WebhookEndpointRow]:
    return list(session.scalars(live_endpoints().order_by(WebhookEndpointRow.id)))


def get_endpoint(session: Session, endpoint_id: uuid.UUID, *, for_update: bool = False) -> WebhookEndpointRow:
    row = session.get(WebhookEndpointRow, endpoint_id, with_for_update=for_update)
    if row is None or row.deleted_at is not None:
        raise NotFound("webhook endpoint", endpoint_id)
    return row


def update_endpoint(
    session: Session, now: datetime, endpoint_id: uuid.UUID, changes: EndpointChanges
) -> WebhookEndpointRow:  # fmt: skip
    """Change what was given. Disabling an endpoint cancels its deliveries still waiting: it gets nothing more,
    not even when it is enabled again (re-send those wanted)."""
    row = get_endpoint(session, endpoint_id, for_update=True)
    given = changes.model_dump(include=changes.model_fields_set)
    for name, value in given.items():
        if value is None:
            raise InvalidInput(f"{name} cannot be empty", field=name)
    if "url" in given:
        row.url = given["url"]
    if "description" in given:
        row.description = given["description"]
    if "event_types" in given:
        row.event_types = normalise_event_types(given["event_types"])
    if "enabled" in given:
        if row.enabled and not given["enabled"]:
            _cancel_waiting(session, now, row.id, "the endpoint was disabled")
        row.enabled = given["enabled"]
    row.updated_at = now
    session.flush()
    return row


def delete_endpoint(session: Session, now: datetime, endpoint_id: uuid.UUID) -> None:
    """Delete the endpoint: it gets nothing more, and is gone from lists. Its deliveries' history is kept."""
    row = get_endpoint(session, endpoint_id, for_update=True)
    _cancel_waiting(session, now, row.id, "the endpoint was deleted")
    row.deleted_at = row.updated_at = now
    row.enabled = False
    session.flush()


def roll_secret(session: Session, settings: Settings, now: datetime, endpoint_id: uuid.UUID) -> EndpointWithSecret:
    """A new signing secret, in use from the next attempt on (the old one is forgotten at once)."""
    row = get_endpoint(session, endpoint_id, for_update=True)
    secret = new_secret()
    row.secret = _encrypt(settings, secret)
    row.updated_at = now
    session.flush()
    return EndpointWithSecret(row, secret)


def endpoint_secret(session: Session, settings: Settings, endpoint_id: uuid.UUID) -> str:
    """The endpoint's signing secret, decrypted (the API and the console show it only when made or rolled)."""
    return _decrypt(settings, get_endpoint(session, endpoint_id))


class SecretUnreadable(Conflict):
    """The stored secret cannot be decrypted with the current secret key."""


def _encrypt(settings: Settings, secret: str) -> str:
    return fernet_for(settings).encrypt(secret.encode()).decode()


def _decrypt(settings: Settings, row: WebhookEndpointRow) -> str:
    try:
        return fernet_for(settings).decrypt(row.secret.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(
            f"the signing secret of webhook endpoint {row.id} cannot be decrypted with the current secret key; "
            "roll it (POST /api/v1/webhook-endpoints/{id}/roll-secret) and give the new one to the receiver"
        ) from error


def _cancel_waiting(session: Session, now: datetime, endpoint_id: uuid.UUID, reason: str) -> None:
    session.execute(
        update(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.endpoint_id == endpoint_id, WebhookDeliveryRow.status == PENDING)
        .values(status=CANCELLED, last_error=reason, next_attempt_at=None, finished_at=now)
        .execution_options(synchronize_session=False)
    )


# --- publishing ----------------------------------------------------------------------------------------------


def subscribers(session: Session, event_type: EventType) -> list[uuid.UUID]:
    """The enabled endpoints that want events of ``event_type``. Endpoints are few: they are all read, and the
    subscription is checked here rather than in SQL (JSON queries differ between the databases)."""
    rows = session.execute(
        select(WebhookEndpointRow.id, WebhookEndpointRow.event_types)
        .where(WebhookEndpointRow.enabled.is_(True), WebhookEndpointRow.deleted_at.is_(None))
        .order_by(WebhookEndpointRow.id)
    )
    return [endpoint_id for endpoint_id, types in rows if subscribes(types, event_type)]


@dataclass(frozen=True, slots=True)
class _NewEvent:
    id: uuid.UUID
    type: EventType
    body: dict[str, object]


def publish(session: Session, clock: Clock, event_type: EventType, subject: Subject) -> uuid.UUID | None:
    """Publish that ``event_type`` happened to ``subject`` (an invoice, payment, credit note or charge attempt
    row, flushed): its snapshot as the API shows it now. The event's id, or None when no endpoint wants it."""
    endpoints = subscribers(session, event_type)
    if not endpoints:
        return None
    # Imported here: the API's shapes read the invoicing service, which publishes through this module.
    from flexbill.events import snapshots

    now = clock.now()
    event_id = new_id()
    obj = snapshots.snapshot(session, clock, subject)
    body = event_body(event_id, event_type, now, snapshots.object_type(subject), obj)
    _write(session, now, [_NewEvent(event_id, event_type, body)], {event_type: endpoints})
    return event_id


def invoice_settled(session: Session, clock: Clock, invoice: InvoiceRow, status_before: str) -> uuid.UUID | None:
    """What is paid or credited on ``invoice`` changed (a payment, a credit note, a refund): ``invoice.paid`` when
    that made it paid, ``invoice.updated`` otherwise."""
    return publish(session, clock, invoice_event_after_settlement(status_before, invoice.status), invoice)


def publish_sync_failed(session: Session, clock: Clock, record_kind: str, record_id: uuid.UUID) -> uuid.UUID | None:
    """The accounting sync gave up on a record (refused by the accounting system, or out of attempts):
    ``sync.failed`` with the invoice, payment or credit note, whose ``accounting`` block says why. A customer
    whose contact failed is not an event of its own: the invoice that needed it fails and says so."""
    row: InvoiceRow | PaymentRow | CreditNoteRow | None
    if record_kind == "invoice":
        row = session.get(InvoiceRow, record_id)
    elif record_kind == "payment":
        row = session.get(PaymentRow, record_id)
    elif record_kind == "credit_note":
        row = session.get(CreditNoteRow, record_id)
    else:
        return None
    return None if row is None else publish(session, clock, EventType.SYNC_FAILED, row)


def publish_invoices_created(
    session: Session, clock: Clock, invoice_ids: Sequence[uuid.UUID], *, issued: bool
) -> int:  # fmt: skip
    """A bill run's invoices: ``invoice.created`` for each, and ``invoice.issued`` too when the run issued them.
    Only the types some endpoint wants are written, in bulk, reading the invoices back a chunk at a time; with no
    such endpoint, one query per type and nothing else. Returns how many events were written."""
    types = [EventType.INVOICE_CREATED, *([EventType.INVOICE_ISSUED] if issued else [])]
    wanted = {event_type: endpoints for event_type in types if (endpoints := subscribers(session, event_type))}
    if not wanted or not invoice_ids:
        return 0
    from flexbill.events import snapshots  # see ``publish``

    now = clock.now()
    written = 0
    for start in range(0, len(invoice_ids), CHUNK):
        chunk = list(invoice_ids[start : start + CHUNK])
        rows = list(session.scalars(select(InvoiceRow).where(InvoiceRow.id.in_(chunk)).order_by(InvoiceRow.id)))
        events = []
        for obj in snapshots.invoice_snapshots(session, clock, rows):
            for event_type in wanted:
                event_id = new_id()
                events.append(_NewEvent(event_id, event_type, event_body(event_id, event_type, now, "invoice", obj)))
        _write(session, now, events, wanted)
        written += len(events)
    return written


_EVENT_COLUMNS = ("id", "type", "created_at", "payload")
_DELIVERY_COLUMNS = (
    "id", "endpoint_id", "event_id", "status", "attempts", "last_status_code", "last_error", "next_attempt_at",
    "created_at", "finished_at",
)  # fmt: skip
_TASK_COLUMNS = ("id", "kind", "key", "group", "payload", "status", "attempts", "run_at", "created_at", "updated_at")


def _write(
    session: Session, now: datetime, events: Sequence[_NewEvent], endpoints: Mapping[EventType, Sequence[uuid.UUID]]
) -> None:  # fmt: skip
    """Write the events, their deliveries and the deliveries' tasks, in bulk (COPY on PostgreSQL)."""
    as_json = _json_cell(session)
    event_rows = [(event.id, event.type.value, now, as_json(event.body)) for event in events]
    delivery_rows: list[tuple[object, ...]] = []
    task_rows: list[tuple[object, ...]] = []
    since = now.isoformat()
    for event in events:
        for endpoint_id in endpoints[event.type]:
            delivery_id = new_id()
            delivery_rows.append((delivery_id, endpoint_id, event.id, PENDING, 0, None, None, now, now, None))
            payload = {"delivery_id": str(delivery_id), "since": since}
            task_rows.append(
                (new_id(), DELIVER_TASK, delivery_task_key(delivery_id), endpoint_group(endpoint_id),
                 as_json(payload), tasks.PENDING, 0, now, now, now)
            )  # fmt: skip
    bulk_insert(session, WebhookEventRow, _EVENT_COLUMNS, event_rows)
    bulk_insert(session, WebhookDeliveryRow, _DELIVERY_COLUMNS, delivery_rows)
    bulk_insert(session, tasks.TaskRow, _TASK_COLUMNS, task_rows)


def _json_cell(session: Session) -> Callable[[object], object]:
    """A JSON column's value as ``bulk_insert`` takes it: text for PostgreSQL's COPY, the object elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return json.dumps
    return lambda value: value


def delivery_task_key(delivery_id: uuid.UUID) -> str:
    return f"webhook:{delivery_id}"


def endpoint_group(endpoint_id: uuid.UUID) -> str:
    """The tasks of one endpoint share a group: a batch posts to one receiver over one connection."""
    return f"webhook:{endpoint_id}"


# --- events and deliveries -----------------------------------------------------------------------------------


def get_event(session: Session, event_id: uuid.UUID) -> WebhookEventRow:
    row = session.get(WebhookEventRow, event_id)
    if row is None:
        raise NotFound("event", event_id)
    return row


def events_of_type(event_type: EventType | None = None) -> Select[WebhookEventRow]:
    """The events (of a type), for paging."""
    query = select(WebhookEventRow)
    return query if event_type is None else query.where(WebhookEventRow.type == event_type.value)


def deliveries_of(session: Session, endpoint_id: uuid.UUID) -> Select[WebhookDeliveryRow]:
    """The endpoint's deliveries, for paging (the endpoint must exist)."""
    get_endpoint(session, endpoint_id)
    return select(WebhookDeliveryRow).where(WebhookDeliveryRow.endpoint_id == endpoint_id)


def recent_deliveries(session: Session, endpoint_id: uuid.UUID, limit: int = 50) -> list[WebhookDeliveryRow]:
    """The endpoint's latest deliveries, newest first."""
    query = deliveries_of(session, endpoint_id).order_by(WebhookDeliveryRow.id.desc()).limit(limit)
    return list(session.scalars(query))


def get_delivery(session: Session, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDeliveryRow:
    get_endpoint(session, endpoint_id)
    row = session.get(WebhookDeliveryRow, delivery_id)
    if row is None or row.endpoint_id != endpoint_id:
        raise NotFound("delivery", delivery_id)
    return row


def event_types_of(session: Session, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not event_ids:
        return {}
    rows = session.execute(select(WebhookEventRow.id, WebhookEventRow.type).where(WebhookEventRow.id.in_(event_ids)))
    return {row.id: row.type for row in rows}


def attempts_of(session: Session, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[WebhookAttemptRow]]:
    """Every attempt of these deliveries, oldest first, in one query."""
    found: dict[uuid.UUID, list[WebhookAttemptRow]] = {delivery_id: [] for delivery_id in delivery_ids}
    if delivery_ids:
        rows = session.scalars(
            select(WebhookAttemptRow)
            .where(WebhookAttemptRow.delivery_id.in_(delivery_ids))
            .order_by(WebhookAttemptRow.delivery_id, WebhookAttemptRow.attempt)
        )
        for row in rows:
            found[row.delivery_id].append(row)
    return found


def resend_delivery(
    session: Session, now: datetime, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDeliveryRow:  # fmt: skip
    """Send the delivery's event again (the same id and body, a fresh signature), with retries for a day from
    now if the endpoint fails again: a new task, whatever became of the delivery."""
    endpoint = get_endpoint(session, endpoint_id)
    if not endpoint.enabled:
        raise Conflict(f"webhook endpoint {endpoint_id} is disabled: enable it before sending it anything")
    delivery = get_delivery(session, endpoint_id, delivery_id)
    session.refresh(delivery, with_for_update=True)
    delivery.status = PENDING
    delivery.next_attempt_at = now
    delivery.finished_at = None
    enqueue(
        session,
        DELIVER_TASK,
        f"{delivery_task_key(delivery.id)}:resend:{new_id()}",
        group=endpoint_group(endpoint_id),
        payload={"delivery_id": str(delivery.id), "since": now.isoformat()},
        run_at=now,
    )
    session.flush()
    return delivery


# --- the worker's bookkeeping --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """One POST to make."""

    url: str
    secret: str
    body: bytes
    event_id: str  # evt_...
    event_type: str


def prepare_send(session: Session, settings: Settings, now: datetime, delivery_id: uuid.UUID) -> Send | str:
    """What to post for the delivery, or why nothing is posted (it is no longer pending, its endpoint was
    disabled or deleted, its secret cannot be read: then the delivery ends so)."""
    delivery = session.get(WebhookDeliveryRow, delivery_id)
    if delivery is None:
        return f"delivery {delivery_id} does not exist"
    if delivery.status != PENDING:
        return f"delivery {delivery_id} is {delivery.status}"
    endpoint = session.get(WebhookEndpointRow, delivery.endpoint_id)
    assert endpoint is not None  # a foreign key
    if endpoint.deleted_at is not None or not endpoint.enabled:
        reason = "the endpoint was deleted" if endpoint.deleted_at is not None else "the endpoint is disabled"
        _end(delivery, CANCELLED, reason, now)
        return reason
    try:
        secret = _decrypt(settings, endpoint)
    except SecretUnreadable as error:
        _end(delivery, FAILED, error.message, now)
        return error.message
    event = session.get(WebhookEventRow, delivery.event_id)
    assert event is not None  # a foreign key
    return Send(endpoint.url, secret, serialise(event.payload), str(event.payload["id"]), event.type)


def serialise(payload: Mapping[str, object]) -> bytes:
    """The body posted: the stored event as compact JSON, the same bytes on every attempt and re-send."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What became of the delivery after an attempt: ``delivered``; ``retry`` at ``retry_at``; ``failed`` for
    good (the retry window is over); or ``ended`` meanwhile by something else (its endpoint disabled, a re-send
    that got through)."""

    state: str
    retry_at: datetime | None = None
    error: str | None = None


def record_attempt(
    session: Session,
    delivery_id: uuid.UUID,
    *,
    attempted_at: datetime,
    finished_at: datetime,
    since: datetime,
    run_attempt: int,
    status_code: int | None,
    error: str | None,
    excerpt: str,
    duration_ms: int,
) -> AttemptResult:
    """Log one attempt and move the delivery on. ``run_attempt`` counts the attempts of this run (the task's
    attempts), which sets the wait; ``since`` opened the run's retry window (the event, or the re-send)."""
    delivery = session.get(WebhookDeliveryRow, delivery_id, with_for_update=True)
    assert delivery is not None
    delivery.attempts += 1
    session.add(
        WebhookAttemptRow(
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            attempted_at=attempted_at,
            status_code=status_code,
            error=error,
            response_excerpt=excerpt,
            duration_ms=max(duration_ms, 0),
        )
    )
    delivery.last_status_code = status_code
    if delivered(status_code):
        _end(delivery, DELIVERED, None, finished_at)
        session.flush()
        return AttemptResult("delivered")
    delivery.last_error = error
    if delivery.status != PENDING:  # cancelled, or delivered by another run, while this one was posting
        session.flush()
        return AttemptResult("ended", error=error)
    retry_at = next_attempt_at(since, finished_at, run_attempt)
    if retry_at is None:
        given_up = f"gave up after a day of attempts: {error}"
        _end(delivery, FAILED, given_up, finished_at)
        session.flush()
        return AttemptResult("failed", error=given_up)
    delivery.next_attempt_at = retry_at
    session.flush()
    return AttemptResult("retry", retry_at, error)


def _end(delivery: WebhookDeliveryRow, status: str, error: str | None, now: datetime) -> None:
    delivery.status = status
    delivery.next_attempt_at = None
    delivery.finished_at = now
    if error is not None or status == DELIVERED:
        delivery.last_error = error
