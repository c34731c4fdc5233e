"""Stripe through its official SDK: one ``StripeClient`` per location's account, API version pinned here.

The SDK never retries (``max_network_retries=0``): the worker owns retries, and a request that may have been
carried out is reported as :class:`OutcomeUnknown` for the janitor to resolve with the same idempotency key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import stripe

from flexbill.money import from_minor_units, to_minor_units
from flexbill.payments.gateways.stripe import mapping
from flexbill.payments.model import ATTEMPT_KEY, CUSTOMER_KEY
from flexbill.payments.ports import (
    BadSignature,
    ChargeRequest,
    ChargeResult,
    CheckoutPage,
    CheckoutRequest,
    CheckoutResult,
    GatewayAccount,
    GatewayCustomer,
    GatewayEvent,
    MalformedEvent,
    OutcomeUnknown,
    RefundResult,
    Refused,
    SavedMethod,
    Unavailable,
)

# Every request names this version, so a change of Stripe's default never changes what flexbill reads.
STRIPE_API_VERSION = "2026-10-28.endive"
TIMEOUT_SECONDS = 30.0
WEBHOOK_TOLERANCE_SECONDS = 300
T = TypeVar("T")


class StripeGateway:
    key = "stripe"
    display_name = "Stripe"

    def open_session(self, account: GatewayAccount) -> StripeSession:
        return StripeSession(account)


class StripeSession:
    def __init__(self, account: GatewayAccount) -> None:
        self.account = account
        options: dict[str, Any] = {}
        if account.base_url:
            options["base_addresses"] = {"api": account.base_url.rstrip("/")}
        self.client = stripe.StripeClient(
            account.secret_key,
            stripe_version=STRIPE_API_VERSION,
            http_client=stripe.HTTPXClient(timeout=TIMEOUT_SECONDS, allow_sync_methods=True),
            max_network_retries=0,
            **options,
        )

    # --- customers and methods ---------------------------------------------------------------------------------

    def ensure_customer(self, customer: GatewayCustomer, external_id: str | None) -> str:
        if external_id is not None:
            return external_id
        created = _call(
            lambda: self.client.v1.customers.create(
                params={"name": customer.name, "email": customer.email,
                        "metadata": {CUSTOMER_KEY: str(customer.customer_id)}},
                options={"idempotency_key": f"flexbill:customer:{customer.customer_id}"},
            )
        )  # fmt: skip
        return str(created.id)

    def attach_method(self, customer_external_id: str, method_external_id: str) -> SavedMethod:
        method = _call(
            lambda: self.client.v1.payment_methods.attach(method_external_id, params={"customer": customer_external_id})
        )
        _call(
            lambda: self.client.v1.customers.update(
                customer_external_id, params={"invoice_settings": {"default_payment_method": method.id}}
            )
        )
        return mapping.saved_method(_plain(method))

    def detach_method(self, method_external_id: str) -> None:
        _call(lambda: self.client.v1.payment_methods.detach(method_external_id))

    # --- charges -----------------------------------------------------------------------------------------------

    def charge(self, request: ChargeRequest) -> ChargeResult:
        try:
            intent = self.client.v1.payment_intents.create(
                params=mapping.charge_params(request),  # type: ignore[arg-type]
                options={"idempotency_key": request.idempotency_key},
            )
        except stripe.CardError as error:
            return mapping.declined_result(_error_body(error), request)
        except stripe.StripeError as error:
            raise _translate(error) from error
        return mapping.charge_result(_plain(intent))

    def find_charge(self, request: ChargeRequest) -> ChargeResult | None:
        """The PaymentIntent of an attempt whose answer was lost, found among the customer's recent ones by the
        attempt key in its metadata (a list is consistent at once; Stripe's search is not)."""
        since = int((datetime.now(UTC) - timedelta(days=30)).timestamp())
        params: dict[str, Any] = {"customer": request.customer_external_id, "created": {"gte": since}, "limit": 100}
        while True:
            page = _call(lambda: self.client.v1.payment_intents.list(params=params))  # type: ignore[arg-type]
            for intent in page.data:
                plain = _plain(intent)
                if (plain.get("metadata") or {}).get(ATTEMPT_KEY) == request.idempotency_key:
                    return mapping.charge_result(plain)
            if not page.has_more or not page.data:
                return None
            params["starting_after"] = page.data[-1].id

    def get_payment(self, external_id: str) -> ChargeResult:
        return mapping.charge_result(_plain(_call(lambda: self.client.v1.payment_intents.retrieve(external_id))))

    def refunded_amount(self, payment_external_id: str) -> Decimal:
        """How much of a payment has been given back so far, by any means (flexbill, or Stripe's dashboard)."""
        intent = _plain(
            _call(
                lambda: self.client.v1.payment_intents.retrieve(
                    payment_external_id, params={"expand": ["latest_charge"]}
                )
            )
        )
        charge = intent.get("latest_charge")
        currency = str(intent.get("currency", "")).upper()
        if not isinstance(charge, Mapping) or not currency:
            return Decimal(0)
        return from_minor_units(int(charge.get("amount_refunded", 0)), currency)

    def refund(self, payment_external_id: str, amount: Decimal, currency: str, idempotency_key: str) -> RefundResult:
        refund = _call(
            lambda: self.client.v1.refunds.create(
                params={"payment_intent": payment_external_id, "amount": to_minor_units(amount, currency)},
                options={"idempotency_key": idempotency_key},
            )
        )
        return RefundResult(str(refund.id), str(refund.status), from_minor_units(int(refund.amount), currency))

    # --- hosted pages ------------------------------------------------------------------------------------------

    def create_checkout(self, request: CheckoutRequest) -> CheckoutPage:
        options = {"idempotency_key": request.idempotency_key} if request.idempotency_key else {}
        session = _call(
            lambda: self.client.v1.checkout.sessions.create(
                params=mapping.checkout_params(request),  # type: ignore[arg-type]
                options=options,  # type: ignore[arg-type]
            )
        )
        return CheckoutPage(str(session.id), str(session.url))

    def get_checkout(self, external_id: str) -> CheckoutResult:
        session = _call(
            lambda: self.client.v1.checkout.sessions.retrieve(
                external_id, params={"expand": ["payment_intent", "setup_intent.payment_method"]}
            )
        )
        plain = _plain(session)
        payment = None
        saved = None
        intent = plain.get("payment_intent")
        if isinstance(intent, str):
            intent_id = intent
            intent = _plain(_call(lambda: self.client.v1.payment_intents.retrieve(intent_id)))
        if isinstance(intent, Mapping):
            payment = mapping.charge_result(intent)
        setup = plain.get("setup_intent")
        if isinstance(setup, str):
            setup_id = setup
            setup = _plain(_call(lambda: self.client.v1.setup_intents.retrieve(setup_id)))
        method_id = None
        if isinstance(setup, Mapping):
            method = setup.get("payment_method")
            method_id = method.get("id") if isinstance(method, Mapping) else method
        elif payment is not None and payment.method_external_id:
            method_id = payment.method_external_id
        if method_id:
            saved = mapping.saved_method(_plain(_call(lambda: self.client.v1.payment_methods.retrieve(method_id))))
        return CheckoutResult(
            external_id=str(plain["id"]),
            complete=plain.get("status") == "complete",
            mode=str(plain.get("mode")),
            expired=plain.get("status") == "expired",
            payment=payment,
            saved_method=saved,
            metadata={str(k): str(v) for k, v in (plain.get("metadata") or {}).items()},
        )

    def expire_checkout(self, external_id: str) -> None:
        _call(lambda: self.client.v1.checkout.sessions.expire(external_id))

    # --- webhooks ----------------------------------------------------------------------------------------------

    def parse_event(self, payload: bytes, signature: str) -> GatewayEvent:
        """Verify ``Stripe-Signature`` on the raw body (HMAC-SHA256 with the endpoint's secret, at most 300 s
        old by the real clock, as Stripe signs it) and read the event."""
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8"), signature, self.account.webhook_secret, WEBHOOK_TOLERANCE_SECONDS
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as error:
            raise BadSignature(f"the Stripe-Signature does not verify: {error}") from error
        try:
            event = json.loads(payload)
        except ValueError as error:
            raise MalformedEvent("the signed body is not JSON") from error
        if not isinstance(event, dict) or "id" not in event:
            raise MalformedEvent("the signed body is not a Stripe event")
        return mapping.gateway_event(event)


def _plain(obj: Any) -> dict[str, Any]:
    """An SDK object as the plain dict of its JSON."""
    result: dict[str, Any] = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    return result


def _error_body(error: stripe.StripeError) -> dict[str, Any]:
    body = error.json_body or {}
    found = body.get("error") if isinstance(body, dict) else None
    return found if isinstance(found, dict) else {"message": error.user_message or str(error)}


def _call(action: Callable[[], T]) -> T:
    try:
        return action()
    except stripe.StripeError as error:
        raise _translate(error) from error


def _translate(error: stripe.StripeError) -> Exception:
    message = f"Stripe: {error.user_message or error}"
    if isinstance(error, stripe.RateLimitError):
        retry_after = (error.headers or {}).get("Retry-After")
        return Unavailable(message, float(retry_after) if retry_after else 1.0)
    if isinstance(error, stripe.APIConnectionError):
        return OutcomeUnknown(f"Stripe did not answer: {error.user_message or error}")
    if isinstance(error, stripe.APIError):  # 5xx, and 409: the same key is being executed right now
        return OutcomeUnknown(message)
    if isinstance(error, stripe.CardError):
        return Refused(message, _error_body(error).get("code"))
    code = _error_body(error).get("code")
    return Refused(message, str(code) if code else None)
