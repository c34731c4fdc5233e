"""Payment gateways, saved payment methods, charge attempts and refunds."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Body, Depends, status
from pydantic import BaseModel
from sqlalchemy import select

from flexbill import wire
from flexbill.bootstrap import Context
from flexbill.invoicing.service import get_invoice
from flexbill.links import public_base_url
from flexbill.payments import service
from flexbill.payments.checkout import start_saving_method
from flexbill.payments.refunds import NewRefund, refund_payment
from flexbill.payments.store import ChargeAttemptRow, GatewayRow, PaymentMethodRow, RefundRow
from flexbill.validation import Command
from flexbill.web.api.deps import DB, ReadDB, context, require_read, require_write
from flexbill.web.api.views import ChargeAttemptOut, attempt_out

router = APIRouter()
read = [Depends(require_read)]
write = [Depends(require_write)]


class GatewayOut(BaseModel):
    id: uuid.UUID
    location_id: uuid.UUID
    provider: str
    base_url: str | None
    webhook_url: str  # where to point the gateway's webhooks
    created_at: datetime
    updated_at: datetime


class PaymentMethodOut(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    gateway_id: uuid.UUID
    provider_id: str  # the gateway's id of it (pm_...)
    kind: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool


class RefundOut(BaseModel):
    id: uuid.UUID
    payment_id: uuid.UUID
    amount: str
    currency: str
    date: str
    reason: str
    status: str
    provider_id: str | None
    credit_note_id: uuid.UUID | None


class SetupPageRequest(Command):
    location_id: uuid.UUID | None = None
    success_url: str | None = None
    cancel_url: str | None = None


class PageOut(BaseModel):
    url: str


def gateway_out(ctx: Context, row: GatewayRow) -> GatewayOut:
    return GatewayOut(
        id=row.id,
        location_id=row.location_id,
        provider=row.provider,
        base_url=row.base_url,
        webhook_url=f"{public_base_url(ctx.settings)}/webhooks/{row.provider}",
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def method_out(row: PaymentMethodRow) -> PaymentMethodOut:
    return PaymentMethodOut(
        id=row.id,
        customer_id=row.customer_id,
        gateway_id=row.gateway_id,
        provider_id=row.external_id,
        kind=row.kind,
        brand=row.brand,
        last4=row.last4,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
        is_default=row.is_default,
    )


def refund_out(row: RefundRow) -> RefundOut:
    return RefundOut(
        id=row.id,
        payment_id=row.payment_id,
        amount=wire.amount(row.amount, row.currency),
        currency=row.currency,
        date=row.date.isoformat(),
        reason=row.reason,
        status=row.status,
        provider_id=row.external_id,
        credit_note_id=row.credit_note_id,
    )


@router.post("/payments/gateways", status_code=status.HTTP_201_CREATED, dependencies=write, tags=["payments"])
def create_gateway(body: service.NewGateway, db: DB, ctx: Context = Depends(context)) -> GatewayOut:
    """Connect a location to its payment gateway account (Stripe: the secret key and the webhook endpoint's
    signing secret; ``base_url`` only for a sandbox). Keys are stored encrypted and never shown again."""
    return gateway_out(ctx, service.create_gateway(db, ctx.settings, ctx.clock.now(), body))


@router.get("/payments/gateways", dependencies=read, tags=["payments"])
def list_gateways(db: ReadDB, ctx: Context = Depends(context)) -> list[GatewayOut]:
    return [gateway_out(ctx, row) for row in db.scalars(select(GatewayRow).order_by(GatewayRow.created_at))]


@router.get("/payments/gateways/{gateway_id}", dependencies=read, tags=["payments"])
def get_gateway(gateway_id: uuid.UUID, db: ReadDB, ctx: Context = Depends(context)) -> GatewayOut:
    return gateway_out(ctx, service.get_gateway_row(db, gateway_id))


@router.patch("/payments/gateways/{gateway_id}", dependencies=write, tags=["payments"])
def update_gateway(
    gateway_id: uuid.UUID, body: service.GatewayChanges, db: DB, ctx: Context = Depends(context)
) -> GatewayOut:
    return gateway_out(ctx, service.update_gateway(db, ctx.settings, ctx.clock.now(), gateway_id, body))


@router.post(
    "/customers/{customer_id}/payment-methods",
    status_code=status.HTTP_201_CREATED,
    dependencies=write,
    tags=["payments"],
)
def add_payment_method(
    customer_id: uuid.UUID, body: service.NewPaymentMethod, ctx: Context = Depends(context)
) -> PaymentMethodOut:
    """Attach a payment method saved at the gateway (``pm_...``) to the customer's gateway customer (created
    when missing) and make it their default: the one charged on due dates."""
    return method_out(service.add_payment_method(ctx, customer_id, body))


@router.get("/customers/{customer_id}/payment-methods", dependencies=read, tags=["payments"])
def list_payment_methods(customer_id: uuid.UUID, db: ReadDB) -> list[PaymentMethodOut]:
    return [method_out(row) for row in service.payment_methods_of(db, customer_id)]


@router.post("/customers/{customer_id}/payment-methods/{method_id}/default", dependencies=write, tags=["payments"])
def make_default_method(customer_id: uuid.UUID, method_id: uuid.UUID, db: DB) -> PaymentMethodOut:
    return method_out(service.make_default(db, customer_id, method_id))


@router.delete(
    "/customers/{customer_id}/payment-methods/{method_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=write,
    tags=["payments"],
)
def remove_payment_method(customer_id: uuid.UUID, method_id: uuid.UUID, ctx: Context = Depends(context)) -> None:
    """Detach the method at the gateway and forget it here."""
    service.remove_method(ctx, customer_id, method_id)


@router.post("/customers/{customer_id}/payment-methods/setup-page", dependencies=write, tags=["payments"])
def payment_method_setup_page(
    customer_id: uuid.UUID, body: SetupPageRequest | None = Body(None), ctx: Context = Depends(context)
) -> PageOut:
    """A hosted page of the gateway where the member saves a card (no card data passes through flexbill). The
    method is kept, as the default, when the gateway reports the page completed."""
    request = body or SetupPageRequest()
    base = public_base_url(ctx.settings)
    url = start_saving_method(
        ctx,
        customer_id,
        request.location_id,
        success_url=request.success_url or f"{base}/pay/saved",
        cancel_url=request.cancel_url or f"{base}/pay/saved?canceled=1",
    )
    return PageOut(url=url)


@router.get("/invoices/{invoice_id}/charges", dependencies=read, tags=["payments"])
def list_charge_attempts(invoice_id: uuid.UUID, db: ReadDB) -> list[ChargeAttemptOut]:
    """Every try at charging the invoice through its gateway, automatic or on a payment page."""
    get_invoice(db, invoice_id)
    rows = db.scalars(
        select(ChargeAttemptRow).where(ChargeAttemptRow.invoice_id == invoice_id).order_by(ChargeAttemptRow.number)
    )
    return [attempt_out(row) for row in rows]


@router.post(
    "/payments/{payment_id}/refund", status_code=status.HTTP_201_CREATED, dependencies=write, tags=["payments"]
)
def refund(payment_id: uuid.UUID, body: NewRefund, ctx: Context = Depends(context)) -> RefundOut:
    """Give money back on a payment the gateway took (all that is left by default). The invoice gets a credit
    note for the amount, so it stays settled; both reach the accounting system."""
    return refund_out(refund_payment(ctx, payment_id, body))


@router.get("/payments/{payment_id}/refunds", dependencies=read, tags=["payments"])
def list_refunds(payment_id: uuid.UUID, db: ReadDB) -> list[RefundOut]:
    rows = db.scalars(select(RefundRow).where(RefundRow.payment_id == payment_id).order_by(RefundRow.created_at))
    return [refund_out(row) for row in rows]
