"""Webhooks from payment gateways: verified on the raw body, taken in once each, in any order.

An event is a hint, not the truth: it may be late, repeated or older than one already handled. So each event
only names what changed, and flexbill reads its current state from the gateway before acting; every action is
idempotent (a gateway's payment is recorded once, a settled attempt never goes back), so the same event three
times, or a failure arriving after the success, changes nothing more.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill.catalog.store import LocationRow
from flexbill.clock import local_today
from flexbill.db import insert_for
from flexbill.invoicing.service import get_invoice
from flexbill.invoicing.store import PaymentRow
from flexbill.payments.charging import apply_charge_result, record_gateway_payment
from flexbill.payments.checkout import finish_saving_method, resolve_checkout
from flexbill.payments.model import ATTEMPT_KEY, INVOICE_KEY, AttemptStatus
from flexbill.payments.ports import BadSignature, ChargeResult, GatewayEvent, GatewaySession
from flexbill.payments.refunds import apply_refund, refunds_in_flight
from flexbill.payments.service import GatewayUnreadable, gateway_of_location, open_gateway
from flexbill.payments.store import ChargeAttemptRow, GatewayEventRow, GatewayRow, RefundRow

if TYPE_CHECKING:
    from flexbill.bootstrap import Context

log = logging.getLogger(__name__)


def receive_event(ctx: Context, provider: str, payload: bytes, signature: str) -> str:
    """Verify and take in one webhook delivery; what was done, in a few words. Raises :class:`BadSignature`
    when no gateway account of ``provider`` signed it (nothing is changed then)."""
    with ctx.readers() as db:
        gateways = list(db.scalars(select(GatewayRow).where(GatewayRow.provider == provider)))
        for gateway in gateways:
            db.expunge(gateway)
    if not signature:
        raise BadSignature("the request has no signature header")
    event: GatewayEvent | None = None
    for gateway in gateways:
        try:
            remote = open_gateway(ctx.settings, gateway)
            event = remote.parse_event(payload, signature)
        except (BadSignature, GatewayUnreadable):  # not this account's (or its keys need entering again)
            continue
        break
    else:
        raise BadSignature(f"no {provider} gateway's webhook secret verifies this signature, or it is too old")
    assert event is not None
    with ctx.readers() as db:
        if db.get(GatewayEventRow, (gateway.id, event.external_id)) is not None:
            return "duplicate: already taken in"
    done = _handle(ctx, gateway, remote, event)
    with ctx.sessions() as db, db.begin():
        db.execute(
            insert_for(db)(GatewayEventRow)
            .values(gateway_id=gateway.id, event_id=event.external_id, kind=event.kind, received_at=ctx.clock.now())
            .on_conflict_do_nothing()
        )
    return done


def _handle(ctx: Context, gateway: GatewayRow, remote: GatewaySession, event: GatewayEvent) -> str:
    if event.payment is not None and event.payment.external_id:
        current = remote.get_payment(event.payment.external_id)
        return _payment_changed(ctx, gateway, current)
    if event.checkout_id is not None:
        with ctx.readers() as db:
            attempt = db.scalars(
                select(ChargeAttemptRow).where(
                    ChargeAttemptRow.gateway_id == gateway.id, ChargeAttemptRow.external_id == event.checkout_id
                )
            ).first()
        if attempt is not None:
            resolve_checkout(ctx, attempt.id)
            return "payment page checked"
        if event.kind == "checkout_completed" and finish_saving_method(ctx, gateway.id, event.checkout_id):
            return "payment method saved"
        return "ignored: not a page of flexbill's"
    if event.kind == "charge_refunded" and event.payment_external_id:
        refunded = remote.refunded_amount(event.payment_external_id)
        return _refunded_at_gateway(ctx, gateway, event.payment_external_id, refunded)
    if event.kind == "dispute_created" and event.payment_external_id:
        return _disputed(ctx, gateway, event.payment_external_id, event.reason)
    return f"ignored: {event.kind}"


def _payment_changed(ctx: Context, gateway: GatewayRow, current: ChargeResult) -> str:
    with ctx.readers() as db:
        # By the gateway's own ids, whichever location's account verified the event: several locations may share
        # one Stripe account, and so one signing secret.
        attempt = db.scalars(
            select(ChargeAttemptRow).where(
                (ChargeAttemptRow.external_id == current.external_id)
                | (ChargeAttemptRow.idempotency_key == current.metadata.get(ATTEMPT_KEY, "-")),
            )
        ).first()
    if attempt is not None:
        if attempt.external_id is not None and attempt.external_id != current.external_id:
            # A pay-now page's attempt holds the page's id; its payment is read through the page.
            return f"payment page: {resolve_checkout(ctx, attempt.id).__class__.__name__.lower()}"
        status = apply_charge_result(ctx, attempt.id, current)
        return f"attempt {attempt.number}: {status.value}"
    invoice_id = current.metadata.get(INVOICE_KEY)
    if (
        current.status != AttemptStatus.SUCCEEDED
        or invoice_id is None
        or current.external_id is None
        or current.amount is None
    ):
        return "ignored: not a payment of flexbill's"
    # A payment for one of our invoices made at the gateway without an attempt here (an operator charging by hand
    # in the gateway's dashboard with our metadata): money taken, so it is recorded.
    with ctx.sessions() as db, db.begin():
        invoice = get_invoice(db, uuid.UUID(invoice_id), for_update=True)
        gateway_row = gateway_of_location(db, invoice.location_id)
        if gateway_row is None:
            return "ignored: the invoice's location takes no card payments"
        _, new = record_gateway_payment(db, ctx.clock, gateway_row, invoice, current.external_id, current.amount)
    return "payment recorded" if new else "payment known"


def _refunded_at_gateway(ctx: Context, gateway: GatewayRow, payment_external_id: str, refunded: Decimal) -> str:
    """A charge refunded at the gateway: refunds made there (not through flexbill) are recorded here too."""
    with ctx.sessions() as db, db.begin():
        payment = _gateway_payment(db, payment_external_id)
        if payment is None:
            return "ignored: not a payment of flexbill's"
        get_invoice(db, payment.invoice_id, for_update=True)
        db.refresh(payment)
        in_flight = refunds_in_flight(db, payment.id)
        missing = refunded - payment.amount_refunded - in_flight
        if missing <= 0:
            return "refund known"
        refund = RefundRow(
            payment_id=payment.id,
            amount=missing,
            currency=payment.currency,
            date=max(payment.date, local_today(ctx.clock, _timezone(db, payment))),
            reason="Refunded in the gateway's dashboard",
            status="pending",
            created_at=ctx.clock.now(),
        )
        db.add(refund)
        db.flush()
        apply_refund(ctx, db, refund)
    return "refund recorded"


def _gateway_payment(db: Session, external_id: str) -> PaymentRow | None:
    """The payment a gateway took, by the gateway's id of it (unique across accounts)."""
    return db.scalars(
        select(PaymentRow).where(PaymentRow.external_id == external_id, PaymentRow.gateway_id.is_not(None))
    ).first()


def _timezone(db: Session, payment: PaymentRow) -> str:
    invoice = get_invoice(db, payment.invoice_id)
    location = db.get(LocationRow, invoice.location_id)
    assert location is not None
    return location.timezone


def _disputed(ctx: Context, gateway: GatewayRow, payment_external_id: str, reason: str | None) -> str:
    with ctx.sessions() as db, db.begin():
        payment = _gateway_payment(db, payment_external_id)
        if payment is None:
            return "ignored: not a payment of flexbill's"
        invoice = get_invoice(db, payment.invoice_id, for_update=True)
        if invoice.disputed_at is None:
            invoice.disputed_at = ctx.clock.now()
            log.warning(
                "the payment %s of invoice %s is disputed (%s): answer the dispute in the gateway's dashboard",
                payment_external_id,
                invoice.number,
                reason or "no reason given",
            )
    return "invoice flagged as disputed"
