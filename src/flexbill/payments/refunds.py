"""Giving money back on a payment a gateway took.

A refund is written (``pending``) before the gateway is asked, with an idempotency key of its own id, so asking
twice returns one refund. Once the gateway has refunded, the invoice gets a credit note for the amount: the
member owes that much less and has been paid it back, so the invoice stays settled and is never charged again
for it; the credit note and the reduced payment reach the accounting system through the sync.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill.catalog.store import LocationRow
from flexbill.clock import local_today
from flexbill.errors import Conflict, FlexbillError, InvalidInput, NotFound
from flexbill.events import service as events
from flexbill.events.model import EventType
from flexbill.invoicing.model import InvoiceStatus, status_after_settlement
from flexbill.invoicing.service import NewCreditNote, amount_due, create_credit_note, get_invoice
from flexbill.invoicing.store import InvoiceRow, PaymentRow
from flexbill.money import describe
from flexbill.payments.model import PaymentSource, refund_idempotency_key, status_after_refund
from flexbill.payments.ports import OutcomeUnknown, Refused, Unavailable
from flexbill.payments.service import open_gateway
from flexbill.payments.store import GatewayRow, RefundRow
from flexbill.validation import Command, PositiveAmount, check_places_for_currency

if TYPE_CHECKING:
    from flexbill.bootstrap import Context


class NewRefund(Command):
    amount: PositiveAmount | None = Field(default=None, description="Default: all that is left to refund.")
    reason: Annotated[str, Field(min_length=1, max_length=400)] = "Refund"


class RefundOutcomeUnknown(FlexbillError):
    """The gateway did not answer: the refund may have been made. It stays ``unknown`` until checked."""

    status_code = 502


class RefundRefused(FlexbillError):
    status_code = 502


def refund_payment(ctx: Context, payment_id: uuid.UUID, command: NewRefund) -> RefundRow:
    """Refund through the gateway, once. A refund whose answer was lost stays open; asking again for the same
    amount sends that refund again under its own key (the gateway answers what it did), never a second one."""
    now = ctx.clock.now()
    with ctx.sessions() as db, db.begin():
        payment = db.get(PaymentRow, payment_id)
        if payment is None:
            raise NotFound("payment", payment_id)
        invoice = get_invoice(db, payment.invoice_id, for_update=True)
        db.refresh(payment)
        if payment.source != PaymentSource.GATEWAY or payment.gateway_id is None or payment.external_id is None:
            raise Conflict(
                f"payment {payment.id} was not taken by a payment gateway ({payment.source}); give the money back "
                "outside flexbill and record a credit note",
                field="payment_id",
            )
        open_refund = db.scalars(
            select(RefundRow).where(RefundRow.payment_id == payment.id, RefundRow.status.in_(OPEN_REFUND_STATUSES))
        ).first()
        left = payment.amount - payment.amount_refunded
        amount = command.amount if command.amount is not None else left - refunds_in_flight(db, payment.id)
        if open_refund is not None:
            if command.amount is not None and command.amount != open_refund.amount:
                raise Conflict(
                    f"a refund of {describe(open_refund.amount, payment.currency)} on this payment has no answer "
                    "from the gateway yet; ask for that amount again to settle it, before refunding more",
                    field="amount",
                )
            refund_id = open_refund.id
        else:
            if left <= 0:
                raise Conflict(f"payment {payment.id} has nothing left to refund", field="amount")
            if not check_places_for_currency(amount, payment.currency):
                raise InvalidInput(f"{amount} has more decimal places than {payment.currency} has", field="amount")
            if amount > left:
                raise InvalidInput(
                    f"the refund of {describe(amount, payment.currency)} is more than the "
                    f"{describe(left, payment.currency)} left to refund on this payment",
                    field="amount",
                )
            location = db.get(LocationRow, invoice.location_id)
            assert location is not None
            refund = RefundRow(
                payment_id=payment.id,
                amount=amount,
                currency=payment.currency,
                date=local_today(ctx.clock, location.timezone),
                reason=command.reason,
                status="pending",
                created_at=now,
            )
            db.add(refund)
            db.flush()
            refund_id = refund.id
    return send_refund(ctx, refund_id, raise_errors=True)


OPEN_REFUND_STATUSES = ("pending", "unknown")


def send_refund(ctx: Context, refund_id: uuid.UUID, *, raise_errors: bool) -> RefundRow:
    """Ask the gateway for an open refund (again: the same key) and record its answer."""
    with ctx.readers() as db:
        refund = db.get(RefundRow, refund_id)
        assert refund is not None
        payment = db.get(PaymentRow, refund.payment_id)
        assert payment is not None
        assert payment.gateway_id is not None
        assert payment.external_id is not None
        gateway = db.get(GatewayRow, payment.gateway_id)
        assert gateway is not None
        db.expunge(gateway)
        amount, currency, external_payment = refund.amount, refund.currency, payment.external_id
    try:
        result = open_gateway(ctx.settings, gateway).refund(
            external_payment, amount, currency, refund_idempotency_key(refund_id)
        )
    except (OutcomeUnknown, Unavailable) as error:
        _set_status(ctx, refund_id, "unknown", error.message)
        if raise_errors:
            raise RefundOutcomeUnknown(
                f"{error.message}; the refund may have been made: flexbill checks it with the gateway, or ask "
                "again for the same amount to find out now"
            ) from error
        return _refund(ctx, refund_id)
    except Refused as error:
        _set_status(ctx, refund_id, "failed", error.message)
        if raise_errors:
            raise RefundRefused(f"the gateway refused the refund: {error.message}") from error
        return _refund(ctx, refund_id)
    if result.status in ("failed", "canceled"):
        _set_status(ctx, refund_id, "failed", f"the gateway's refund {result.external_id} {result.status}")
        if raise_errors:
            raise RefundRefused(f"the gateway's refund {result.external_id} {result.status}")
        return _refund(ctx, refund_id)
    with ctx.sessions() as db, db.begin():
        made = db.get(RefundRow, refund_id, with_for_update=True)
        assert made is not None
        made.external_id = result.external_id
        apply_refund(ctx, db, made)
    return _refund(ctx, refund_id)


def _refund(ctx: Context, refund_id: uuid.UUID) -> RefundRow:
    with ctx.readers() as db:
        row = db.get(RefundRow, refund_id)
        assert row is not None
        db.expunge(row)
        return row


def sweep_open_refunds(ctx: Context, *, older_than: timedelta = timedelta(minutes=1)) -> None:
    """The janitor's round for refunds without an answer (lost, or never asked: the process stopped between
    writing the refund and asking): each is asked again under its own key."""
    cutoff = ctx.clock.now() - older_than
    with ctx.readers() as db:
        open_ids = list(
            db.scalars(
                select(RefundRow.id).where(RefundRow.status.in_(OPEN_REFUND_STATUSES), RefundRow.created_at < cutoff)
            )
        )
    for refund_id in open_ids:
        send_refund(ctx, refund_id, raise_errors=False)


def refunds_in_flight(db: Session, payment_id: uuid.UUID) -> Decimal:
    """What is being refunded on a payment and not settled yet (asked, or asked without an answer)."""
    amounts = db.scalars(
        select(RefundRow.amount).where(RefundRow.payment_id == payment_id, RefundRow.status.in_(OPEN_REFUND_STATUSES))
    )
    return sum(amounts, Decimal(0))


def _set_status(ctx: Context, refund_id: uuid.UUID, status: str, message: str) -> None:
    with ctx.sessions() as db, db.begin():
        refund = db.get(RefundRow, refund_id)
        if refund is not None and refund.status in OPEN_REFUND_STATUSES:
            refund.status, refund.failure_message = status, message[:500]


def apply_refund(ctx: Context, db: Session, refund: RefundRow) -> None:
    """A refund the gateway made, on the payment and its invoice (once). Money paid above what was due (an overpaid
    invoice) goes back first and only lowers what was paid; the rest gets a credit note, so the invoice stays
    settled and is not charged again. The refund is recorded even if the credit note cannot be written (the
    money has gone back either way); the reason is kept on the refund."""
    if refund.status == "succeeded":
        return
    payment = db.get(PaymentRow, refund.payment_id)
    assert payment is not None
    invoice = get_invoice(db, payment.invoice_id, for_update=True)
    status_before = invoice.status
    _settle_refund(ctx, db, refund, payment, invoice)
    events.publish(db, ctx.clock, EventType.PAYMENT_REFUNDED, payment)
    events.invoice_settled(db, ctx.clock, invoice, status_before)


def _settle_refund(ctx: Context, db: Session, refund: RefundRow, payment: PaymentRow, invoice: InvoiceRow) -> None:
    refund.status = "succeeded"
    refund.failure_message = None
    payment.amount_refunded += refund.amount
    payment.status = status_after_refund(payment.amount, payment.amount_refunded).value
    overpaid = max(-amount_due(invoice), Decimal(0))
    invoice.amount_paid -= refund.amount
    to_credit = refund.amount - min(refund.amount, overpaid)
    if invoice.status == InvoiceStatus.VOIDED:
        return
    invoice.status = status_after_settlement(invoice.total, invoice.amount_paid + invoice.amount_credited)
    db.flush()
    if to_credit <= 0:
        return
    try:
        with db.begin_nested():
            note = create_credit_note(
                db,
                ctx.clock,
                invoice.id,
                NewCreditNote(amount=to_credit, reason=f"{refund.reason} (refunded to the member)", date=None),
                invoice_event=False,  # the refund tells what became of the invoice, once
            )
        refund.credit_note_id = note.id
    except FlexbillError as error:
        refund.failure_message = f"refunded, but the credit note could not be made: {error.message}"[:500]
