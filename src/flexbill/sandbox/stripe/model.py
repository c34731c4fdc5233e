"""The objects one Stripe account holds, as plain records; :mod:`.render` writes them in Stripe's JSON.

Amounts are integers in the currency's minor unit, as on Stripe's wire; ``created`` is a Unix timestamp of
sandbox time, and ``seq`` orders objects created in the same second (lists are newest first).
"""

from __future__ import annotations

import hashlib
import random
import secrets
import string
from dataclasses import dataclass, field
from typing import Any, Literal

from flexbill.sandbox.stripe.cards import TestCard

IntentStatus = Literal[
    "requires_payment_method", "requires_confirmation", "requires_action", "processing", "succeeded", "canceled"
]
SessionStatus = Literal["open", "complete", "expired"]
ALPHABET = string.ascii_letters + string.digits


class IdFactory:
    """Stripe-shaped ids (``pi_`` + 24 letters and digits): random, or from a seed to replay a rehearsal."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng: random.Random | secrets.SystemRandom = (
            random.Random(seed) if seed is not None else secrets.SystemRandom()
        )

    def token(self, length: int) -> str:
        return "".join(self._rng.choice(ALPHABET) for _ in range(length))

    def new(self, prefix: str, length: int = 24) -> str:
        return f"{prefix}_{self.token(length)}"


def account_id_for(secret_key: str) -> str:
    """The account behind a secret key: the same key always reaches the same account, across restarts."""
    return "acct_" + hashlib.sha256(secret_key.encode("utf-8")).hexdigest()[:16].upper()


@dataclass(frozen=True)
class Origin:
    """The API request that caused a change (``None`` for the hosted pages and the control endpoints)."""

    request_id: str | None = None
    idempotency_key: str | None = None


NO_ORIGIN = Origin()


@dataclass
class Record:
    id: str
    created: int
    seq: int


@dataclass
class Customer(Record):
    email: str | None = None
    name: str | None = None
    description: str | None = None
    phone: str | None = None
    address: dict[str, str | None] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    default_payment_method: str | None = None
    invoice_prefix: str = ""
    preferred_locales: list[str] = field(default_factory=list)


@dataclass
class PaymentMethod(Record):
    card: TestCard
    customer: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    billing_email: str | None = None
    billing_name: str | None = None


@dataclass
class PaymentIntent(Record):
    amount: int
    currency: str
    client_secret: str
    status: IntentStatus = "requires_payment_method"
    customer: str | None = None
    payment_method: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    receipt_email: str | None = None
    payment_method_types: list[str] = field(default_factory=lambda: ["card"])
    automatic_payment_methods: bool = True
    allow_redirects: Literal["always", "never"] = "always"
    return_url: str | None = None
    setup_future_usage: str | None = None
    amount_received: int = 0
    latest_charge: str | None = None
    last_payment_error: dict[str, Any] | None = None
    next_action: dict[str, Any] | None = None
    canceled_at: int | None = None
    cancellation_reason: str | None = None
    checkout_session: str | None = None  # the hosted Checkout Session that made it, if any


@dataclass
class Charge(Record):
    amount: int
    currency: str
    card: TestCard
    payment_method: str
    status: Literal["succeeded", "failed"]
    payment_intent: str | None = None
    customer: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    receipt_email: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    balance_transaction: str | None = None
    amount_refunded: int = 0
    refunds: list[str] = field(default_factory=list)
    dispute: str | None = None
    three_d_secure: bool = False

    @property
    def refunded(self) -> bool:
        return self.status == "succeeded" and self.amount_refunded >= self.amount


@dataclass
class Refund(Record):
    amount: int
    currency: str
    charge: str
    payment_intent: str | None
    balance_transaction: str
    reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Dispute(Record):
    amount: int
    currency: str
    charge: str
    payment_intent: str | None
    card: TestCard
    reason: str
    due_by: int
    status: str = "needs_response"
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class SetupIntent(Record):
    client_secret: str
    status: Literal["requires_payment_method", "succeeded", "canceled"] = "requires_payment_method"
    customer: str | None = None
    payment_method: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    usage: str = "off_session"


@dataclass(frozen=True)
class LineItem:
    name: str
    currency: str
    unit_amount: int
    quantity: int
    description: str | None = None

    @property
    def amount(self) -> int:
        return self.unit_amount * self.quantity


@dataclass
class CheckoutSession(Record):
    mode: Literal["payment", "setup"]
    expires_at: int
    status: SessionStatus = "open"
    currency: str | None = None
    line_items: list[LineItem] = field(default_factory=list)
    customer: str | None = None
    customer_email: str | None = None
    client_reference_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    success_url: str | None = None
    cancel_url: str | None = None
    payment_method_types: list[str] | None = None
    intent_metadata: dict[str, str] = field(default_factory=dict)  # payment_intent_data / setup_intent_data
    intent_description: str | None = None
    receipt_email: str | None = None
    setup_future_usage: str | None = None
    payment_intent: str | None = None
    setup_intent: str | None = None
    customer_details: dict[str, Any] | None = None
    last_error: str | None = None  # what the hosted page tells the member after a failed attempt

    @property
    def amount_total(self) -> int:
        return sum(item.amount for item in self.line_items)

    @property
    def payment_status(self) -> str:
        if self.mode == "setup":
            return "no_payment_required"
        return "paid" if self.status == "complete" else "unpaid"


@dataclass
class Event(Record):
    type: str
    api_version: str
    data: dict[str, Any]
    origin: Origin


@dataclass
class WebhookEndpoint(Record):
    url: str
    secret: str
    enabled_events: list[str]
    api_version: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: Literal["enabled", "disabled"] = "enabled"

    def wants(self, event_type: str) -> bool:
        return self.status == "enabled" and ("*" in self.enabled_events or event_type in self.enabled_events)
