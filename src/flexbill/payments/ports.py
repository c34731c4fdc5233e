"""What flexbill needs from a payment gateway, in flexbill's own terms.

A gateway adapter (Stripe's is in ``gateways/stripe``) takes and returns these frozen dataclasses, never SDK
objects, and turns the gateway's errors into the small taxonomy below. It never retries or sleeps: the worker owns
retries, and an adapter that cannot tell whether money moved says so (:class:`OutcomeUnknown`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from flexbill.errors import FlexbillError
from flexbill.payments.model import AttemptStatus


class GatewayError(FlexbillError):
    """The gateway refused or did not answer. Reaching an API caller, it is a 502 (503 when it asks to wait)."""

    status_code = 502


class OutcomeUnknown(GatewayError):
    """The request may or may not have been carried out (timeout, dropped connection, a 5xx): ask again with the
    same idempotency key, or look the payment up, before doing anything else."""


class Unavailable(GatewayError):
    """The gateway refused before doing anything (it is down, rate-limited us, or said so): try again later."""

    status_code = 503

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(GatewayError):
    """The gateway refused the request itself (bad key, unknown customer, refund above what is left): retrying
    the same request fails the same way."""

    status_code = 422

    def __init__(self, message: str, code: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.code = code


class BadSignature(GatewayError):
    """A webhook whose signature is missing, wrong or too old."""

    status_code = 400


class MalformedEvent(GatewayError):
    """A correctly signed webhook whose body is not an event this gateway sends."""

    status_code = 400


@dataclass(frozen=True, slots=True)
class GatewayCustomer:
    """A flexbill customer as the gateway should know it."""

    customer_id: uuid.UUID
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class SavedMethod:
    external_id: str  # pm_...
    kind: str  # card, sepa_debit, bacs_debit ...
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    invoice_id: uuid.UUID
    attempt: int
    customer_external_id: str
    method_external_id: str
    amount: Decimal
    currency: str
    idempotency_key: str
    description: str


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """Where a charge stands at the gateway."""

    status: AttemptStatus
    external_id: str | None  # the gateway's payment (pi_...)
    amount: Decimal | None = None
    currency: str | None = None
    failure_code: str | None = None  # card_declined, insufficient_funds, authentication_required ...
    failure_message: str | None = None
    method_external_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RefundResult:
    external_id: str
    status: str  # succeeded, pending, failed
    amount: Decimal


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    """A hosted page where the member pays one invoice (``amount`` set) or saves a payment method (no amount)."""

    customer_external_id: str
    success_url: str
    cancel_url: str
    metadata: dict[str, str]
    currency: str
    amount: Decimal | None = None
    description: str = ""
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class CheckoutPage:
    external_id: str
    url: str


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    external_id: str
    complete: bool
    mode: str  # payment or setup
    expired: bool  # closed unpaid: by the gateway's own limit, or by flexbill
    payment: ChargeResult | None  # for a payment
    saved_method: SavedMethod | None  # for a setup (and a payment that saved its card)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    """A webhook event, verified and read into what flexbill acts on. ``kind`` is one of: payment_succeeded,
    payment_failed, payment_requires_action, checkout_completed, charge_refunded, dispute_created, or other."""

    external_id: str  # evt_...
    kind: str
    created: datetime
    payment: ChargeResult | None = None
    checkout_id: str | None = None
    payment_external_id: str | None = None  # for refunds and disputes: the payment they are about
    amount: Decimal | None = None  # refunded so far / disputed
    reason: str | None = None


@runtime_checkable
class GatewaySession(Protocol):
    """One gateway account (one location's), ready to use."""

    def ensure_customer(self, customer: GatewayCustomer, external_id: str | None) -> str: ...

    def attach_method(self, customer_external_id: str, method_external_id: str) -> SavedMethod: ...

    def detach_method(self, method_external_id: str) -> None: ...

    def charge(self, request: ChargeRequest) -> ChargeResult: ...

    def find_charge(self, request: ChargeRequest) -> ChargeResult | None: ...

    def get_payment(self, external_id: str) -> ChargeResult: ...

    def refunded_amount(self, payment_external_id: str) -> Decimal: ...

    def refund(
        self, payment_external_id: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> RefundResult: ...

    def create_checkout(self, request: CheckoutRequest) -> CheckoutPage: ...

    def get_checkout(self, external_id: str) -> CheckoutResult: ...

    def expire_checkout(self, external_id: str) -> None: ...

    def parse_event(self, payload: bytes, signature: str) -> GatewayEvent: ...


@dataclass(frozen=True, slots=True)
class GatewayAccount:
    """What a session needs: the location's keys and, for a sandbox, its address."""

    secret_key: str
    webhook_secret: str
    base_url: str | None = None


class Gateway(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    def open_session(self, account: GatewayAccount) -> GatewaySession: ...
