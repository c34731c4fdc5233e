"""Use cases of a location's gateway account and of the payment methods members save with it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from cryptography.fernet import InvalidToken
from pydantic import Field, StringConstraints
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from flexbill.catalog.service import get_location
from flexbill.customers.store import CustomerRow
from flexbill.db import insert_for
from flexbill.errors import Conflict, InvalidInput, NotFound
from flexbill.invoicing.store import PaymentRow
from flexbill.keys import fernet_for
from flexbill.payments.ports import GatewayAccount, GatewayCustomer, GatewaySession, Refused, SavedMethod
from flexbill.payments.registry import get_gateway
from flexbill.payments.store import (
    ChargeAttemptRow,
    GatewayCustomerRow,
    GatewayEventRow,
    GatewayRow,
    PaymentMethodRow,
)
from flexbill.settings import Settings

if TYPE_CHECKING:
    from flexbill.bootstrap import Context
from flexbill.validation import Command

Secret = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=500)]
BaseUrl = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^https?://[^\s]+$", max_length=500)]


class NewGateway(Command):
    location_id: uuid.UUID
    provider: Literal["stripe"] = "stripe"
    secret_key: Secret
    webhook_secret: Secret
    base_url: BaseUrl | None = Field(default=None, description="Another address of the API (a sandbox's).")


class GatewayChanges(Command):
    secret_key: Secret | None = None
    webhook_secret: Secret | None = None
    base_url: BaseUrl | None = None


class NewPaymentMethod(Command):
    provider: Literal["stripe"] = "stripe"
    payment_method: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=100)]
    location_id: uuid.UUID | None = Field(
        default=None, description="The location whose gateway account keeps it; default: the customer's home."
    )


class GatewayUnreadable(Conflict):
    """The stored keys cannot be decrypted with the current secret key."""


def create_gateway(session: Session, settings: Settings, now: datetime, command: NewGateway) -> GatewayRow:
    location = get_location(session, command.location_id, field="location_id")
    get_gateway(command.provider)
    existing = session.scalars(select(GatewayRow).where(GatewayRow.location_id == location.id)).first()
    if existing is not None:
        raise Conflict(
            f"location {location.code} already has a {existing.provider} gateway ({existing.id}); change its keys "
            "with PATCH /api/v1/payments/gateways/{id}",
            field="location_id",
        )
    if command.secret_key.startswith("pk_"):
        raise InvalidInput(
            "that is a publishable key (pk_...); the secret key starts with sk_ or rk_", field="secret_key"
        )
    fernet = fernet_for(settings)
    row = GatewayRow(
        location_id=location.id,
        provider=command.provider,
        secret_key=fernet.encrypt(command.secret_key.encode()).decode(),
        webhook_secret=fernet.encrypt(command.webhook_secret.encode()).decode(),
        base_url=command.base_url,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def update_gateway(
    session: Session, settings: Settings, now: datetime, gateway_id: uuid.UUID, changes: GatewayChanges
) -> GatewayRow:
    row = get_gateway_row(session, gateway_id)
    fernet = fernet_for(settings)
    given = changes.model_dump(exclude_unset=True)
    if given.get("secret_key"):
        row.secret_key = fernet.encrypt(given["secret_key"].encode()).decode()
    if given.get("webhook_secret"):
        row.webhook_secret = fernet.encrypt(given["webhook_secret"].encode()).decode()
    if "base_url" in given:
        row.base_url = given["base_url"]
    row.updated_at = now
    session.flush()
    return row


def remove_gateway(session: Session, gateway_id: uuid.UUID) -> None:
    """Forget a gateway that was never used (keys entered for the wrong location, say). One that has saved cards,
    tried a charge or taken a payment keeps its history: replace its keys instead."""
    row = get_gateway_row(session, gateway_id)
    used = {
        "saved payment methods": session.scalar(select(func.count()).where(PaymentMethodRow.gateway_id == row.id)),
        "charge attempts": session.scalar(select(func.count()).where(ChargeAttemptRow.gateway_id == row.id)),
        "payments": session.scalar(select(func.count()).where(PaymentRow.gateway_id == row.id)),
    }
    history = ", ".join(f"{count} {what}" for what, count in used.items() if count)
    if history:
        raise Conflict(
            f"this {row.provider} gateway has {history}, which stay linked to it; replace its keys instead of "
            "removing it",
            field="gateway",
        )
    session.execute(delete(GatewayCustomerRow).where(GatewayCustomerRow.gateway_id == row.id))
    session.execute(delete(GatewayEventRow).where(GatewayEventRow.gateway_id == row.id))
    session.delete(row)
    session.flush()


def get_gateway_row(session: Session, gateway_id: uuid.UUID) -> GatewayRow:
    row = session.get(GatewayRow, gateway_id)
    if row is None:
        raise NotFound("payment gateway", gateway_id)
    return row


def gateway_of_location(session: Session, location_id: uuid.UUID) -> GatewayRow | None:
    return session.scalars(select(GatewayRow).where(GatewayRow.location_id == location_id)).first()


def account_of(settings: Settings, row: GatewayRow) -> GatewayAccount:
    fernet = fernet_for(settings)
    try:
        return GatewayAccount(
            secret_key=fernet.decrypt(row.secret_key.encode()).decode(),
            webhook_secret=fernet.decrypt(row.webhook_secret.encode()).decode(),
            base_url=row.base_url,
        )
    except InvalidToken as error:
        raise GatewayUnreadable(
            f"the keys of payment gateway {row.id} cannot be decrypted with the current secret key; enter them again"
        ) from error


def open_gateway(settings: Settings, row: GatewayRow) -> GatewaySession:
    return get_gateway(row.provider).open_session(account_of(settings, row))


# --- customers and their payment methods ---------------------------------------------------------------------


def ensure_gateway_customer(ctx: Context, gateway: GatewayRow, remote: GatewaySession, customer_id: uuid.UUID) -> str:
    """The gateway's customer of a flexbill customer, created there (outside any transaction) the first time, with
    an idempotency key derived from our id, so two requests at once make one."""
    with ctx.readers() as db:
        known = db.get(GatewayCustomerRow, (gateway.id, customer_id))
        customer = db.get(CustomerRow, customer_id)
        if customer is None:
            raise NotFound("customer", customer_id)
        if known is not None:
            return known.external_id
        who = GatewayCustomer(customer.id, customer.name, customer.email)
    external_id = remote.ensure_customer(who, None)
    with ctx.sessions() as db, db.begin():
        db.execute(
            insert_for(db)(GatewayCustomerRow)
            .values(gateway_id=gateway.id, customer_id=customer_id, external_id=external_id, created_at=ctx.clock.now())
            .on_conflict_do_nothing()
        )
    return external_id


def add_payment_method(ctx: Context, customer_id: uuid.UUID, command: NewPaymentMethod) -> PaymentMethodRow:
    """Attach a method saved at the gateway to the customer's gateway customer and make it their default. The
    gateway is called outside any transaction; only what it confirmed is written."""
    with ctx.readers() as db:
        customer = db.get(CustomerRow, customer_id)
        if customer is None:
            raise NotFound("customer", customer_id)
        location_id = command.location_id or customer.home_location_id
        gateway = gateway_of_location(db, location_id)
        if gateway is None or gateway.provider != command.provider:
            location = get_location(db, location_id, field="location_id")
            raise Conflict(
                f"location {location.code} has no {command.provider} gateway; add one with "
                "POST /api/v1/payments/gateways",
                field="location_id",
            )
        db.expunge(gateway)
    remote = open_gateway(ctx.settings, gateway)
    external_customer = ensure_gateway_customer(ctx, gateway, remote, customer_id)
    try:
        saved = remote.attach_method(external_customer, command.payment_method)
    except Refused as error:
        raise Refused(error.message, error.code, field="payment_method") from error
    with ctx.sessions() as db, db.begin():
        row = save_method(db, gateway, customer_id, saved, ctx.clock.now())
        db.flush()
        db.expunge(row)
    return row


def save_method(
    session: Session, gateway: GatewayRow, customer_id: uuid.UUID, saved: SavedMethod, now: datetime
) -> PaymentMethodRow:
    """Keep a method the gateway has attached to the customer, as their default (a member who just saved a card
    expects that card to be charged)."""
    _clear_default(session, gateway.id, customer_id)
    row = session.scalars(
        select(PaymentMethodRow).where(
            PaymentMethodRow.gateway_id == gateway.id, PaymentMethodRow.external_id == saved.external_id
        )
    ).first()
    if row is None:
        row = PaymentMethodRow(
            gateway_id=gateway.id, customer_id=customer_id, external_id=saved.external_id, created_at=now
        )
        session.add(row)
    row.kind, row.brand, row.last4 = saved.kind, saved.brand, saved.last4
    row.exp_month, row.exp_year = saved.exp_month, saved.exp_year
    session.flush()
    row.is_default = True
    session.flush()
    return row


def payment_methods_of(session: Session, customer_id: uuid.UUID) -> list[PaymentMethodRow]:
    return list(
        session.scalars(
            select(PaymentMethodRow)
            .where(PaymentMethodRow.customer_id == customer_id)
            .order_by(PaymentMethodRow.created_at, PaymentMethodRow.id)
        )
    )


def default_method(session: Session, gateway_id: uuid.UUID, customer_id: uuid.UUID) -> PaymentMethodRow | None:
    return session.scalars(
        select(PaymentMethodRow).where(
            PaymentMethodRow.gateway_id == gateway_id,
            PaymentMethodRow.customer_id == customer_id,
            PaymentMethodRow.is_default.is_(True),
        )
    ).first()


def _clear_default(session: Session, gateway_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    """No method of the customer at this gateway is the default any more. Row by row, through the ORM (a customer
    has a few cards), so the audit trail sees the change; flushed before another becomes the default, which the
    partial unique index requires."""
    for other in session.scalars(
        select(PaymentMethodRow).where(
            PaymentMethodRow.gateway_id == gateway_id,
            PaymentMethodRow.customer_id == customer_id,
            PaymentMethodRow.is_default.is_(True),
        )
    ):
        other.is_default = False
    session.flush()


def make_default(session: Session, customer_id: uuid.UUID, method_id: uuid.UUID) -> PaymentMethodRow:
    row = session.get(PaymentMethodRow, method_id)
    if row is None or row.customer_id != customer_id:
        raise NotFound("payment method", method_id)
    _clear_default(session, row.gateway_id, customer_id)
    row.is_default = True
    session.flush()
    return row


def remove_method(ctx: Context, customer_id: uuid.UUID, method_id: uuid.UUID) -> None:
    """Detach the method at the gateway, then forget it here (past charges keep their history without it)."""
    with ctx.readers() as db:
        row = db.get(PaymentMethodRow, method_id)
        if row is None or row.customer_id != customer_id:
            raise NotFound("payment method", method_id)
        gateway = get_gateway_row(db, row.gateway_id)
        external_id = row.external_id
        db.expunge(gateway)
    open_gateway(ctx.settings, gateway).detach_method(external_id)
    with ctx.sessions() as db, db.begin():
        found = db.get(PaymentMethodRow, method_id)
        if found is not None:
            db.delete(found)
