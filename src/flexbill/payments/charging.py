"""Charging saved payment methods on the due date, and finding out what happened when the answer was lost.

The path of one charge (one *attempt*):

1. The due-date work picks the invoices to charge and queues one task per (invoice, attempt number). The task
   key is unique, so planning the same day twice, or on two machines, queues each attempt once.
2. The task re-reads the invoice from the accounting system when it is synced there (a member who paid by bank
   transfer in the books this morning is not charged), then, under the invoice's row lock, checks the balance and
   writes the attempt as ``pending`` before calling the gateway. Attempt numbers are unique per invoice and only
   one attempt per invoice may be open, so two workers cannot both charge.
3. The gateway gets an idempotency key made of the invoice and the attempt number: the same attempt sent twice is
   one charge there.
4. An answer that never came (timeout, dropped connection, 5xx, rate limit) leaves the attempt ``unknown``; the
   same task runs again shortly and resolves it: while the invoice still wants the money it replays the request
   with the same key (the gateway answers what it did the first time, or does it now, once); otherwise it looks
   the charge up, and records it if it was made.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flexbill.billing.service import get_billing_rules
from flexbill.catalog.store import LocationRow
from flexbill.clock import Clock, local_today
from flexbill.events import service as events
from flexbill.events.model import EventType
from flexbill.invoicing.model import OPEN_STATUSES, InvoiceStatus
from flexbill.invoicing.service import NewPayment, amount_due, get_invoice, record_payment
from flexbill.invoicing.store import InvoiceRow, PaymentRow
from flexbill.money import describe
from flexbill.payments.model import (
    OPEN_ATTEMPT_STATUSES,
    AttemptKind,
    AttemptStatus,
    PaymentSource,
    RetryPolicy,
    charge_idempotency_key,
)
from flexbill.payments.ports import ChargeRequest, ChargeResult, GatewayError, OutcomeUnknown, Refused, Unavailable
from flexbill.payments.service import default_method, open_gateway
from flexbill.payments.store import ChargeAttemptRow, GatewayCustomerRow, GatewayRow, PaymentMethodRow
from flexbill.tasks.service import Task, enqueue
from flexbill.worker import DelayGroup, Done, Outcome, PauseGroup, RetryLater

if TYPE_CHECKING:
    from flexbill.bootstrap import Context

log = logging.getLogger(__name__)

CHARGE_TASK = "payments.charge"
DUE_TASK = "payments.due"
SCHEDULE_TASK = "payments.schedule"
JANITOR_TASK = "payments.janitor"
# A first charge is made on the due date, or within this many days after it when the due-date work did not run
# that day (the worker was down; an operator catching up with `flexbill run-due`). Older invoices are left to
# staff: charging a card weeks late surprises members.
CATCH_UP_DAYS = 7
RECHECK_UNKNOWN = timedelta(seconds=5)
# An attempt the gateway has no trace of this long after it was last sent never reached it: it is closed, and
# the next day's due-date work may try again with a new attempt (a new idempotency key).
GIVE_UP_LOOKING_AFTER = timedelta(minutes=15)
# An attempt without an answer is sent again (same key) for this long after it was made; after that it is only
# looked up, and closed once nothing was sent for GIVE_UP_LOOKING_AFTER. Well inside the 24 hours Stripe keeps a
# key: a key the gateway had forgotten would make a second charge.
RESEND_FOR = timedelta(hours=1)
PROCESSING_RECHECK = timedelta(hours=6)  # a direct debit is confirmed in days, by webhook or by the janitor
JANITOR_EVERY = timedelta(minutes=5)
BOOKS_UNREADABLE_RECHECK = timedelta(minutes=1)  # the accounting system failed to answer before a charge
BOOKS_PAUSED_RECHECK = timedelta(minutes=30)  # its connection waits for a person (reconnect)
JANITOR_AFTER = timedelta(minutes=1)  # an open attempt younger than this is still its own task's business


def group_of(gateway_id: uuid.UUID) -> str:
    return f"gateway:{gateway_id}"


def charge_task_key(invoice_id: uuid.UUID, attempt: int, day: date) -> str:
    """The task of attempt ``attempt`` planned on ``day``. With the day in it, an attempt a day's task did not make
    (the books could not be read, charging was off for a moment) is planned again the next day."""
    return f"{CHARGE_TASK}:{invoice_id}:{attempt}:{day.isoformat()}"


# --- the due-date work ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DuePlan:
    charges: list[str]  # task keys of the charges queued
    reminders: int


def plan_due_work(session: Session, clock: Clock, day: date, location_ids: list[uuid.UUID] | None = None) -> DuePlan:
    """Queue the due-date work of ``day`` (a date at each location): a charge for every invoice that is due to be
    charged or tried again, and the reminders. Safe to run again for the same day: nothing is queued twice."""
    rules = get_billing_rules(session)
    now = clock.now()
    policy = RetryPolicy(rules.charge_retries, rules.charge_retry_days)
    keys: list[str] = []
    query = select(GatewayRow)
    if location_ids is not None:
        query = query.where(GatewayRow.location_id.in_(location_ids))
    gateways = list(session.scalars(query))
    if rules.auto_charge:
        for gateway in gateways:
            keys.extend(_plan_charges(session, gateway, day, now, policy))
    reminders = 0
    locations = location_ids or list(session.scalars(select(LocationRow.id)))
    from flexbill.notify.service import queue_reminders

    for location_id in locations:
        reminders += queue_reminders(session, now, location_id, day)
    return DuePlan(keys, reminders)


def _plan_charges(session: Session, gateway: GatewayRow, day: date, now: datetime, policy: RetryPolicy) -> list[str]:
    invoices = list(
        session.scalars(
            select(InvoiceRow).where(
                InvoiceRow.location_id == gateway.location_id,
                InvoiceRow.status.in_([s.value for s in OPEN_STATUSES]),
                InvoiceRow.due_date <= day,
                InvoiceRow.disputed_at.is_(None),
                InvoiceRow.customer_id.in_(
                    select(PaymentMethodRow.customer_id).where(
                        PaymentMethodRow.gateway_id == gateway.id, PaymentMethodRow.is_default.is_(True)
                    )
                ),
            )
        )
    )
    if not invoices:
        return []
    attempts: dict[uuid.UUID, list[ChargeAttemptRow]] = {}
    for attempt in session.scalars(
        select(ChargeAttemptRow)
        .where(ChargeAttemptRow.invoice_id.in_([invoice.id for invoice in invoices]))
        .order_by(ChargeAttemptRow.number)
    ):
        attempts.setdefault(attempt.invoice_id, []).append(attempt)
    timezone = session.get(LocationRow, gateway.location_id).timezone  # type: ignore[union-attr]
    keys = []
    for invoice in invoices:
        if amount_due(invoice) <= 0:
            continue
        number = next_attempt(invoice, attempts.get(invoice.id, []), day, timezone, policy)
        if number is None:
            continue
        key = charge_task_key(invoice.id, number, day)
        enqueue(
            session,
            CHARGE_TASK,
            key,
            group=group_of(gateway.id),
            payload={"invoice_id": str(invoice.id), "attempt": str(number), "day": day.isoformat()},
            run_at=now,
        )
        keys.append(key)
    return keys


def next_attempt(
    invoice: InvoiceRow, attempts: list[ChargeAttemptRow], day: date, timezone: str, policy: RetryPolicy
) -> int | None:
    """The number of the automatic attempt to make on ``day``, or None.

    First attempts are made from the due date to :data:`CATCH_UP_DAYS` after it. After a decline, the next
    comes ``policy.days_apart`` days later, ``policy.retries`` times. Nothing is tried while an attempt is open,
    after one succeeded, or when the bank asked for the member (3-D Secure: they pay from the emailed link)."""
    if any(a.status in OPEN_ATTEMPT_STATUSES or a.status == AttemptStatus.SUCCEEDED for a in attempts):
        return None
    number = (attempts[-1].number + 1) if attempts else 1
    automatic = [a for a in attempts if a.kind == AttemptKind.AUTO]
    if automatic and automatic[-1].status == AttemptStatus.REQUIRES_ACTION:
        return None
    declines = [a for a in automatic if a.status == AttemptStatus.FAILED]
    if not declines:
        return number if invoice.due_date <= day <= invoice.due_date + timedelta(days=CATCH_UP_DAYS) else None
    retry_on = policy.next_try(_day_of(declines[-1], timezone), len(declines))
    return number if retry_on is not None and retry_on <= day else None


def _day_of(attempt: ChargeAttemptRow, timezone: str) -> date:
    """The due-date work day of an attempt (for an attempt without one: the day it was made, at the location)."""
    return attempt.day or attempt.created_at.astimezone(ZoneInfo(timezone)).date()


def schedule_due_work(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    """The worker's clock for due dates: once each location's day has begun, its due-date work is queued (once a
    day: the key holds the date)."""
    now = ctx.clock.now()
    with ctx.sessions() as db, db.begin():
        for location_id, timezone in db.execute(select(LocationRow.id, LocationRow.timezone)):
            day = local_today(ctx.clock, timezone)
            enqueue(
                db,
                DUE_TASK,
                f"{DUE_TASK}:{location_id}:{day.isoformat()}",
                payload={"location_id": str(location_id), "day": day.isoformat()},
                run_at=now,
            )
    return {task.id: Done() for task in tasks}


def run_due_work(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    outcomes: dict[uuid.UUID, Outcome] = {}
    for task in tasks:
        with ctx.sessions() as db, db.begin():
            plan_due_work(
                db, ctx.clock, date.fromisoformat(task.payload["day"]), [uuid.UUID(task.payload["location_id"])]
            )
        outcomes[task.id] = Done()
    return outcomes


# --- one charge ----------------------------------------------------------------------------------------------


def charge_invoices(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    """A batch of charges. The invoices still to charge are first read again from the accounting system, in one
    call per connection; if that cannot be done, none of them is charged now."""
    wanted = {
        task.id: (
            uuid.UUID(task.payload["invoice_id"]),
            int(task.payload["attempt"]),
            date.fromisoformat(task.payload["day"]) if "day" in task.payload else None,
        )
        for task in tasks
    }
    outcomes: dict[uuid.UUID, Outcome] = {}
    made: dict[uuid.UUID, uuid.UUID] = {}  # task -> its attempt, made by an earlier run of the task
    with ctx.readers() as db:
        for task_id, (invoice_id, number, _) in wanted.items():
            attempt = _attempt(db, invoice_id, number)
            if attempt is not None:
                made[task_id] = attempt.id
    to_start = {task_id: plan for task_id, plan in wanted.items() if task_id not in made}
    voided: set[uuid.UUID] = set()
    if to_start:
        try:
            voided = _voided_in_books(ctx, [invoice_id for invoice_id, _, _ in to_start.values()])
        except _BooksUnreadable as error:
            for task_id in to_start:
                outcomes[task_id] = RetryLater(error.retry_after, f"not charged yet: {error}")
            to_start = {}
    for task_id, attempt_id in made.items():
        outcomes[task_id] = resolve_attempt(ctx, attempt_id)
    for task_id, (invoice_id, number, day) in to_start.items():
        outcomes[task_id] = _start_and_send(ctx, invoice_id, number, day, voided_in_books=invoice_id in voided)
    return outcomes


def charge_once(ctx: Context, invoice_id: uuid.UUID, number: int, day: date | None = None) -> Outcome:
    """Make attempt ``number`` of charging the invoice, or find out how it ended if it was made already."""
    with ctx.readers() as db:
        made = _attempt(db, invoice_id, number)
    if made is not None:
        return resolve_attempt(ctx, made.id)
    try:
        voided = _voided_in_books(ctx, [invoice_id])
    except _BooksUnreadable as error:
        return RetryLater(error.retry_after, f"not charged yet: {error}")
    return _start_and_send(ctx, invoice_id, number, day, voided_in_books=invoice_id in voided)


def _start_and_send(
    ctx: Context, invoice_id: uuid.UUID, number: int, day: date | None, *, voided_in_books: bool
) -> Outcome:
    try:
        with ctx.sessions() as db, db.begin():
            started = _start_attempt(ctx, db, invoice_id, number, day, voided_in_books=voided_in_books)
    except IntegrityError:
        return Done()  # another worker made this attempt (or another is open): it will see it through
    if isinstance(started, str):
        log.info("invoice %s not charged: %s", invoice_id, started)
        return Done()
    return _send(ctx, started)


class _BooksUnreadable(Exception):
    """The accounting system could not be read before charging: the charge waits ``retry_after``."""

    def __init__(self, message: str, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _voided_in_books(ctx: Context, invoice_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The invoices voided in the books, after taking in what changed there for all of them."""
    from flexbill.accounting.ports import ConnectorError
    from flexbill.accounting.sync import refresh_from_books

    unreadable = "the accounting system could not be read to check the invoice"
    try:
        documents = refresh_from_books(ctx, invoice_ids)
    except DelayGroup as error:  # its rate limit: back as soon as it allows
        raise _BooksUnreadable(f"{unreadable}: {error.reason}", timedelta(seconds=error.seconds)) from error
    except PauseGroup as error:  # the connection needs a person: charges wait for them
        raise _BooksUnreadable(f"{unreadable}: {error.reason}", BOOKS_PAUSED_RECHECK) from error
    except ConnectorError as error:
        raise _BooksUnreadable(f"{unreadable}: {error.message}", BOOKS_UNREADABLE_RECHECK) from error
    return {invoice_id for invoice_id, document in documents.items() if document.voided}


@dataclass(frozen=True, slots=True)
class _Started:
    attempt_id: uuid.UUID
    gateway: GatewayRow
    request: ChargeRequest


def _start_attempt(
    ctx: Context, db: Session, invoice_id: uuid.UUID, number: int, day: date | None, *, voided_in_books: bool
) -> _Started | str:
    """Write the attempt, under the invoice's lock, if the invoice still wants charging; else say why not."""
    invoice = get_invoice(db, invoice_id, for_update=True)
    rules = get_billing_rules(db)
    due = amount_due(invoice)
    if not rules.auto_charge:
        return "automatic charging is off"
    if invoice.status not in OPEN_STATUSES or due <= 0:
        return f"it is {invoice.status}"
    if voided_in_books:
        return "it is voided in the accounting system"
    if invoice.disputed_at is not None:
        return "a payment of it is disputed"
    gateway = db.scalars(select(GatewayRow).where(GatewayRow.location_id == invoice.location_id)).first()
    if gateway is None:
        return "its location has no payment gateway"
    method = default_method(db, gateway.id, invoice.customer_id)
    customer = db.get(GatewayCustomerRow, (gateway.id, invoice.customer_id))
    if method is None or customer is None:
        return "the customer has no saved payment method"
    now = ctx.clock.now()
    key = charge_idempotency_key(invoice.id, number)
    attempt = ChargeAttemptRow(
        description=f"Invoice {invoice.number}" if invoice.number else f"{location_name(db, invoice)} invoice",
        invoice_id=invoice.id,
        gateway_id=gateway.id,
        number=number,
        kind=AttemptKind.AUTO.value,
        day=day,
        amount=due,
        currency=invoice.currency,
        payment_method_id=method.id,
        idempotency_key=key,
        status=AttemptStatus.PENDING.value,
        created_at=now,
        updated_at=now,
    )
    db.add(attempt)
    db.flush()
    request = _request(invoice, attempt, customer.external_id, method.external_id)
    db.expunge(gateway)
    return _Started(attempt.id, gateway, request)


def location_name(db: Session, invoice: InvoiceRow) -> str:
    location = db.get(LocationRow, invoice.location_id)
    assert location is not None
    return location.legal_name or location.name


def _request(invoice: InvoiceRow, attempt: ChargeAttemptRow, customer_id: str, method_id: str) -> ChargeRequest:
    """The attempt's request, the same each time it is sent: only what was fixed when the attempt was made."""
    return ChargeRequest(
        invoice_id=invoice.id,
        attempt=attempt.number,
        customer_external_id=customer_id,
        method_external_id=method_id,
        amount=attempt.amount,
        currency=attempt.currency,
        idempotency_key=attempt.idempotency_key,
        description=attempt.description,
    )


def _send(ctx: Context, started: _Started) -> Outcome:
    try:
        remote = open_gateway(ctx.settings, started.gateway)
        result = remote.charge(started.request)
    except (OutcomeUnknown, Unavailable) as error:
        _mark_unknown(ctx, started.attempt_id, error.message)
        return RetryLater(RECHECK_UNKNOWN, error.message)
    except Refused as error:
        result = ChargeResult(
            AttemptStatus.FAILED, None, failure_code=error.code or "refused", failure_message=error.message
        )
        apply_charge_result(ctx, started.attempt_id, result, notify_member=False)
        return Done()
    return _outcome(apply_charge_result(ctx, started.attempt_id, result))


def _outcome(status: AttemptStatus) -> Outcome:
    if status == AttemptStatus.PENDING:
        return RetryLater(PROCESSING_RECHECK, "the gateway is still processing the payment")
    return Done()


def _attempt(db: Session, invoice_id: uuid.UUID, number: int) -> ChargeAttemptRow | None:
    return db.scalars(
        select(ChargeAttemptRow).where(ChargeAttemptRow.invoice_id == invoice_id, ChargeAttemptRow.number == number)
    ).first()


def _mark_unknown(ctx: Context, attempt_id: uuid.UUID, message: str) -> None:
    with ctx.sessions() as db, db.begin():
        attempt = db.get(ChargeAttemptRow, attempt_id, with_for_update=True)
        if attempt is not None and attempt.status in OPEN_ATTEMPT_STATUSES:
            attempt.status = AttemptStatus.UNKNOWN.value
            attempt.failure_message = message[:500]
            attempt.updated_at = ctx.clock.now()


def _touch(ctx: Context, attempt_id: uuid.UUID) -> None:
    """Note that the attempt is being sent again now: the time without a trace at the gateway counts from here."""
    with ctx.sessions() as db, db.begin():
        attempt = db.get(ChargeAttemptRow, attempt_id, with_for_update=True)
        if attempt is not None and attempt.status in OPEN_ATTEMPT_STATUSES:
            attempt.updated_at = ctx.clock.now()


def resolve_attempt(ctx: Context, attempt_id: uuid.UUID) -> Outcome:
    """Settle an attempt whose outcome is not known here (the janitor's work): look the charge up at the gateway;
    not found, and the invoice still wanting the money, send the same request with the same key again (the
    gateway answers what it did, or does it now, once) during :data:`RESEND_FOR`; an attempt without a trace long
    after it was last sent is closed."""
    with ctx.readers() as db:
        attempt = db.get(ChargeAttemptRow, attempt_id)
        if attempt is None or attempt.status not in OPEN_ATTEMPT_STATUSES:
            return Done()
        if attempt.kind == AttemptKind.CHECKOUT:
            from flexbill.payments.checkout import resolve_checkout

            return resolve_checkout(ctx, attempt_id)
        invoice = get_invoice(db, attempt.invoice_id)
        gateway = db.get(GatewayRow, attempt.gateway_id)
        assert gateway is not None
        customer = db.get(GatewayCustomerRow, (attempt.gateway_id, invoice.customer_id))
        method = db.get(PaymentMethodRow, attempt.payment_method_id) if attempt.payment_method_id else None
        request = _request(
            invoice, attempt, customer.external_id if customer else "", method.external_id if method else ""
        )
        now = ctx.clock.now()
        age, quiet = now - attempt.created_at, now - attempt.updated_at
        may_send_again = (
            invoice.status in OPEN_STATUSES
            and amount_due(invoice) >= attempt.amount
            and customer is not None
            and method is not None
            and age < RESEND_FOR
        )
    remote = open_gateway(ctx.settings, gateway)
    try:
        found = remote.find_charge(request) if request.customer_external_id else None
        if found is None and may_send_again:
            _touch(ctx, attempt_id)
            try:
                found = remote.charge(request)
            except Refused as error:
                # A refusal of the very request that may have gone through (a rotated key, a parameter the
                # gateway remembers differently) proves nothing: keep looking.
                return RetryLater(_recheck_after(age), f"the charge could not be checked: {error.message}")
    except GatewayError as error:
        return RetryLater(_recheck_after(age), f"the outcome of the charge is not known yet: {error.message}")
    if found is not None:
        return _outcome(apply_charge_result(ctx, attempt_id, found))
    if quiet < GIVE_UP_LOOKING_AFTER:
        return RetryLater(_recheck_after(age), "the gateway has no trace of the charge yet")
    closed = ChargeResult(
        AttemptStatus.CANCELED, None, failure_message="not charged: the gateway has no trace of the request"
    )
    apply_charge_result(ctx, attempt_id, closed, notify_member=False)
    return Done()


def _recheck_after(age: timedelta) -> timedelta:
    return max(RECHECK_UNKNOWN, min(timedelta(minutes=10), age / 2))


def sweep_open_attempts(ctx: Context, tasks: Sequence[Task] = ()) -> dict[uuid.UUID, Outcome]:
    """The janitor's round: every attempt still open a while after it was made is settled from the gateway, whatever
    became of the task that made it (a worker that died, a task that ran out of tries, a payment page left
    open). Nothing is ever left open for good."""
    cutoff = ctx.clock.now() - JANITOR_AFTER
    with ctx.readers() as db:
        open_ids = list(
            db.scalars(
                select(ChargeAttemptRow.id)
                .where(
                    ChargeAttemptRow.status.in_([s.value for s in OPEN_ATTEMPT_STATUSES]),
                    ChargeAttemptRow.created_at < cutoff,
                )
                .order_by(ChargeAttemptRow.created_at)
            )
        )
    for attempt_id in open_ids:
        try:
            resolve_attempt(ctx, attempt_id)
        except Exception:  # one attempt's trouble must not keep the others open; the next round tries again
            log.exception("charge attempt %s could not be settled in this round", attempt_id)
    from flexbill.payments.refunds import sweep_open_refunds

    sweep_open_refunds(ctx)
    return {task.id: Done() for task in tasks}


# --- what an outcome changes ---------------------------------------------------------------------------------


def apply_charge_result(
    ctx: Context, attempt_id: uuid.UUID, result: ChargeResult, *, notify_member: bool = True
) -> AttemptStatus:
    """Record where an attempt stands at the gateway: a success becomes a payment (once, whoever reports it: the
    charge, the janitor or a webhook, and whatever was believed of the attempt before: money taken is never
    dropped); a decline flags the invoice and tells the member. Only a success settles an attempt for good."""
    with ctx.sessions() as db, db.begin():
        attempt = db.get(ChargeAttemptRow, attempt_id)
        assert attempt is not None
        invoice = get_invoice(db, attempt.invoice_id, for_update=True)  # serializes with a webhook's update
        db.refresh(attempt, with_for_update=True)
        current = AttemptStatus(attempt.status)
        if current == AttemptStatus.SUCCEEDED:
            return current
        if current not in OPEN_ATTEMPT_STATUSES and result.status != AttemptStatus.SUCCEEDED:
            return current  # a late failure or a second look after a decision changes nothing
        now = ctx.clock.now()
        attempt.external_id = result.external_id or attempt.external_id
        attempt.updated_at = now
        status = result.status
        if status == AttemptStatus.SUCCEEDED:
            gateway = db.get(GatewayRow, attempt.gateway_id)
            assert gateway is not None
            assert attempt.external_id is not None
            payment, new = record_gateway_payment(
                db, ctx.clock, gateway, invoice, attempt.external_id, result.amount or attempt.amount
            )
            attempt.status, attempt.payment_id = status.value, payment.id
            attempt.failure_code = attempt.failure_message = None
            if new:
                _notify(db, now, "receipt", invoice.id, payment_id=payment.id)
        elif status == AttemptStatus.FAILED:
            attempt.status = status.value
            attempt.failure_code = (result.failure_code or "declined")[:100]
            attempt.failure_message = (result.failure_message or "The payment was declined.")[:500]
            invoice.payment_failure_reason = attempt.failure_message
            events.publish(db, ctx.clock, EventType.PAYMENT_FAILED, attempt)
            if notify_member:
                context = _retry_context(db, invoice, attempt)
                _notify(db, now, "payment_failed", invoice.id, attempt=attempt.number, context=context)
        elif status == AttemptStatus.REQUIRES_ACTION:
            attempt.status = status.value
            attempt.failure_code = (result.failure_code or "authentication_required")[:100]
            attempt.failure_message = (result.failure_message or "The bank asks the cardholder to confirm.")[:500]
            invoice.payment_failure_reason = "the bank asks the member to confirm the payment (3-D Secure)"
            if notify_member:
                _notify(db, now, "action_required", invoice.id, attempt=attempt.number)
        elif status == AttemptStatus.CANCELED:
            attempt.status = status.value
            attempt.failure_message = (result.failure_message or "canceled")[:500]
        # PENDING (a direct debit processing): stays open until its outcome is known.
        return status


def _retry_context(db: Session, invoice: InvoiceRow, attempt: ChargeAttemptRow) -> dict[str, str]:
    rules = get_billing_rules(db)
    declines = db.scalar(
        select(func.count())
        .select_from(ChargeAttemptRow)
        .where(
            ChargeAttemptRow.invoice_id == invoice.id,
            ChargeAttemptRow.kind == AttemptKind.AUTO.value,
            ChargeAttemptRow.status == AttemptStatus.FAILED.value,
        )
    )
    location = db.get(LocationRow, invoice.location_id)
    assert location is not None
    retry_on = RetryPolicy(rules.charge_retries, rules.charge_retry_days).next_try(
        _day_of(attempt, location.timezone), int(declines or 0)
    )
    context = {"reason": attempt.failure_message or "", "amount": str(attempt.amount)}
    if retry_on is not None and attempt.kind == AttemptKind.AUTO:
        context["retry_on"] = retry_on.isoformat()
    return context


def record_gateway_payment(
    db: Session, clock: Clock, gateway: GatewayRow, invoice: InvoiceRow, external_id: str, amount: Decimal
) -> tuple[PaymentRow, bool]:
    """The payment of a gateway's charge, recorded once: (payment, whether it was recorded now). The caller holds
    the invoice's row lock, so two reports of the same charge take turns and the second finds the first's row."""
    existing = db.scalars(
        select(PaymentRow).where(PaymentRow.gateway_id == gateway.id, PaymentRow.external_id == external_id)
    ).first()
    if existing is not None:
        return existing, False
    location = db.get(LocationRow, invoice.location_id)
    assert location is not None
    paid_on = local_today(clock, location.timezone)
    try:
        with db.begin_nested():
            payment = record_payment(
                db,
                clock,
                invoice.id,
                NewPayment(
                    date=paid_on,
                    amount=amount,
                    method="card",
                    reference=f"{gateway.provider} {external_id}"[:200],
                ),
                source=PaymentSource.GATEWAY,
                gateway_id=gateway.id,
                external_id=external_id,
            )
    except IntegrityError:
        found = db.scalars(
            select(PaymentRow).where(PaymentRow.gateway_id == gateway.id, PaymentRow.external_id == external_id)
        ).one()
        return found, False
    if invoice.status == InvoiceStatus.PAID:
        invoice.payment_failure_reason = None
    if amount_due(invoice) < 0:
        log.warning(
            "invoice %s is overpaid by %s: refund the member",
            invoice.number,
            describe(-amount_due(invoice), invoice.currency),
        )
    return payment, True


def _notify(
    db: Session,
    now: datetime,
    kind: str,
    invoice_id: uuid.UUID,
    *,
    payment_id: uuid.UUID | None = None,
    attempt: int | None = None,
    context: dict[str, str] | None = None,
) -> None:
    from flexbill.notify.service import notify

    notify(db, now, kind, invoice_id=invoice_id, payment_id=payment_id, attempt=attempt, context=context)


# --- running a day's work now ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DueReport:
    charges: dict[str, int]  # attempt status -> how many of the day's charges ended so
    reminders: int
    unfinished: int  # charges whose outcome is still being found out (the worker goes on with them)


def run_due(ctx: Context, day: date, *, timeout: timedelta = timedelta(minutes=10)) -> DueReport:
    """Do the due-date work of ``day`` now, through the same tasks the worker runs, and wait for it: the charges
    (and the janitor's checks of unclear ones), then the emails and syncs they caused."""
    from flexbill.accounting.runner import run_and_wait
    from flexbill.worker import Worker, default_handlers

    with ctx.sessions() as db, db.begin():
        plan = plan_due_work(db, ctx.clock, day)
    waited = run_and_wait(ctx, plan.charges, timeout=timeout) if plan.charges else None
    Worker(ctx, default_handlers(ctx)).run_until_idle()  # the receipts, notices and syncs the charges queued
    counts: dict[str, int] = {}
    with ctx.readers() as db:
        for key in plan.charges:
            _, invoice_id, number, _day = key.split(":")
            attempt = _attempt(db, uuid.UUID(invoice_id), int(number))
            status = attempt.status if attempt is not None else "not charged"
            counts[status] = counts.get(status, 0) + 1
    unfinished = len(waited.unfinished) if waited is not None else 0
    return DueReport(counts, plan.reminders, unfinished)
