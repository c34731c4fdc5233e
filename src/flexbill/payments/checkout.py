"""Paying on the gateway's hosted page: one invoice's balance (pay now, and the way out of a 3-D Secure request),
or saving a payment method for the automatic charges.

A pay-now is an attempt like an automatic charge (kind ``checkout``), open while its page is: the invoice is
not charged automatically while the member is paying it by hand, and a second click on "Pay now" returns to
the same page instead of opening a second way to pay the same balance.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from flexbill.catalog.store import LocationRow
from flexbill.customers.store import CustomerRow
from flexbill.errors import Conflict, NotFound
from flexbill.invoicing.model import OPEN_STATUSES
from flexbill.invoicing.service import amount_due, get_invoice
from flexbill.money import describe
from flexbill.payments.charging import apply_charge_result
from flexbill.payments.model import (
    ATTEMPT_KEY,
    CUSTOMER_KEY,
    INVOICE_KEY,
    OPEN_ATTEMPT_STATUSES,
    AttemptKind,
    AttemptStatus,
)
from flexbill.payments.ports import (
    ChargeResult,
    CheckoutRequest,
    CheckoutResult,
    GatewayError,
)
from flexbill.payments.service import ensure_gateway_customer, gateway_of_location, open_gateway, save_method
from flexbill.payments.store import ChargeAttemptRow, GatewayRow
from flexbill.worker import Done, Outcome, RetryLater

if TYPE_CHECKING:
    from flexbill.bootstrap import Context

# A hosted page left open this long is closed (the gateway's own limit is 24 hours), and the invoice goes back to
# being charged automatically.
PAGE_LIFETIME = timedelta(hours=1)


class PaymentNotPossible(Conflict):
    """The invoice cannot be paid online now (paid already, no gateway, a charge in progress)."""


def start_pay_now(ctx: Context, invoice_id: uuid.UUID, *, success_url: str, cancel_url: str) -> str:
    """The address of the hosted page where the member pays the invoice's balance.

    The attempt is written first (its number taken under the invoice's lock), the gateway is asked outside any
    transaction, and the page is kept on the attempt; if the gateway cannot make the page, the attempt is closed."""
    now = ctx.clock.now()
    with ctx.sessions() as db, db.begin():
        invoice = get_invoice(db, invoice_id, for_update=True)
        label = invoice.number or "draft"
        due = amount_due(invoice)
        if invoice.status not in OPEN_STATUSES or due <= 0:
            raise PaymentNotPossible(f"invoice {label} is {invoice.status}: there is nothing to pay")
        gateway = gateway_of_location(db, invoice.location_id)
        if gateway is None:
            raise PaymentNotPossible(f"invoice {label} cannot be paid online: its location takes no card payments")
        for attempt in db.scalars(
            select(ChargeAttemptRow).where(
                ChargeAttemptRow.invoice_id == invoice.id,
                ChargeAttemptRow.status.in_([s.value for s in OPEN_ATTEMPT_STATUSES]),
            )
        ):
            if attempt.kind == AttemptKind.CHECKOUT and attempt.checkout_url and attempt.amount == due:
                return attempt.checkout_url  # a second click: the same page, one way to pay one balance
            raise PaymentNotPossible(
                f"a payment of {describe(attempt.amount, attempt.currency)} for invoice {label} is in progress; "
                "try again in a few minutes"
            )
        number = (
            db.scalar(select(func.max(ChargeAttemptRow.number)).where(ChargeAttemptRow.invoice_id == invoice.id)) or 0
        ) + 1
        key = f"flexbill:checkout:{invoice.id}:{number}"
        attempt = ChargeAttemptRow(
            invoice_id=invoice.id,
            gateway_id=gateway.id,
            number=number,
            kind=AttemptKind.CHECKOUT.value,
            description=f"Invoice {label}",
            amount=due,
            currency=invoice.currency,
            idempotency_key=key,
            status=AttemptStatus.PENDING.value,
            created_at=now,
            updated_at=now,
        )
        db.add(attempt)
        db.flush()
        attempt_id, customer_id, currency = attempt.id, invoice.customer_id, invoice.currency
        db.expunge(gateway)
    try:
        remote = open_gateway(ctx.settings, gateway)
        external_customer = ensure_gateway_customer(ctx, gateway, remote, customer_id)
        page = remote.create_checkout(
            CheckoutRequest(
                customer_external_id=external_customer,
                success_url=success_url,
                cancel_url=cancel_url,
                metadata={INVOICE_KEY: str(invoice_id), ATTEMPT_KEY: key},
                currency=currency,
                amount=due,
                description=f"Invoice {label}",
                idempotency_key=key,
            )
        )
    except GatewayError:
        closed = ChargeResult(AttemptStatus.CANCELED, None, failure_message="the payment page could not be opened")
        apply_charge_result(ctx, attempt_id, closed, notify_member=False)
        raise
    with ctx.sessions() as db, db.begin():
        made = db.get(ChargeAttemptRow, attempt_id, with_for_update=True)
        assert made is not None
        made.external_id, made.checkout_url = page.external_id, page.url
    return page.url


def resolve_checkout(ctx: Context, attempt_id: uuid.UUID) -> Outcome:
    """Where a pay-now page stands: paid (recorded once), still open (checked again later), or abandoned
    (closed at the gateway, so it cannot be paid after flexbill has stopped waiting for it)."""
    with ctx.readers() as db:
        attempt = db.get(ChargeAttemptRow, attempt_id)
        if attempt is None or attempt.status not in OPEN_ATTEMPT_STATUSES:
            return Done()
        gateway = db.get(GatewayRow, attempt.gateway_id)
        assert gateway is not None
        age = ctx.clock.now() - attempt.created_at
        checkout_id, invoice_id = attempt.external_id, attempt.invoice_id
    if checkout_id is None:  # the page was never made (the process stopped between the two steps)
        if age < PAGE_LIFETIME:
            return RetryLater(PAGE_LIFETIME - age, "the payment page is being opened")
        apply_charge_result(ctx, attempt_id, ChargeResult(AttemptStatus.CANCELED, None, failure_message="no page"))
        return Done()
    remote = open_gateway(ctx.settings, gateway)
    try:
        result = remote.get_checkout(checkout_id)
        if result.complete and result.payment is not None:
            apply_charge_result(ctx, attempt_id, result.payment)
            if result.saved_method is not None:
                _keep_method(ctx, gateway.id, invoice_id, result)
            return Done()
        if not result.expired:
            if age < PAGE_LIFETIME:
                return RetryLater(PAGE_LIFETIME - age, "the member has not finished paying yet")
            remote.expire_checkout(checkout_id)
    except GatewayError as error:
        return RetryLater(timedelta(minutes=5), f"the payment page could not be checked: {error.message}")
    apply_charge_result(
        ctx, attempt_id, ChargeResult(AttemptStatus.CANCELED, None, failure_message="the payment page was not used")
    )
    return Done()


def resolve_invoice_checkouts(ctx: Context, invoice_id: uuid.UUID) -> None:
    """Where each pay-now page of the invoice stands, read from the gateway now: the member is back from paying,
    and the page they come back to can say "paid" without waiting for the webhook."""
    with ctx.readers() as db:
        attempt_ids = list(
            db.scalars(
                select(ChargeAttemptRow.id).where(
                    ChargeAttemptRow.invoice_id == invoice_id, ChargeAttemptRow.kind == AttemptKind.CHECKOUT.value
                )
            )
        )
    for attempt_id in attempt_ids:
        resolve_checkout(ctx, attempt_id)


def _keep_method(ctx: Context, gateway_id: uuid.UUID, invoice_id: uuid.UUID, result: CheckoutResult) -> None:
    if result.saved_method is None:
        return
    with ctx.sessions() as db, db.begin():
        gateway = db.get(GatewayRow, gateway_id)
        invoice = get_invoice(db, invoice_id)
        assert gateway is not None
        save_method(db, gateway, invoice.customer_id, result.saved_method, ctx.clock.now())


def start_saving_method(
    ctx: Context, customer_id: uuid.UUID, location_id: uuid.UUID | None, *, success_url: str, cancel_url: str
) -> str:
    """The address of the hosted page where the member saves a card for the automatic charges."""
    with ctx.readers() as db:
        customer = db.get(CustomerRow, customer_id)
        if customer is None:
            raise NotFound("customer", customer_id)
        gateway = gateway_of_location(db, location_id or customer.home_location_id)
        if gateway is None:
            raise PaymentNotPossible("this location takes no card payments: add a payment gateway first")
        location = db.get(LocationRow, gateway.location_id)
        assert location is not None
        currency = location.currency
        db.expunge(gateway)
    remote = open_gateway(ctx.settings, gateway)
    external_customer = ensure_gateway_customer(ctx, gateway, remote, customer_id)
    page = remote.create_checkout(
        CheckoutRequest(
            customer_external_id=external_customer,
            success_url=success_url,
            cancel_url=cancel_url,
            metadata={CUSTOMER_KEY: str(customer_id)},
            currency=currency,
        )
    )
    return page.url


def finish_saving_method(
    ctx: Context, gateway_id: uuid.UUID, checkout_id: str, *, only_for: Collection[uuid.UUID] | None = None
) -> bool:
    """Keep the method a completed setup page saved (from its webhook, or when the member comes back). With
    ``only_for``, only when the page was opened for one of these customers: a member coming back with another
    customer's page id changes nothing."""
    with ctx.readers() as db:
        gateway = db.get(GatewayRow, gateway_id)
        assert gateway is not None
    result = open_gateway(ctx.settings, gateway).get_checkout(checkout_id)
    customer_id = result.metadata.get(CUSTOMER_KEY)
    if not result.complete or result.saved_method is None or customer_id is None:
        return False
    if only_for is not None and uuid.UUID(customer_id) not in only_for:
        return False
    with ctx.sessions() as db, db.begin():
        gateway = db.get(GatewayRow, gateway_id)
        assert gateway is not None
        save_method(db, gateway, uuid.UUID(customer_id), result.saved_method, ctx.clock.now())
    return True
