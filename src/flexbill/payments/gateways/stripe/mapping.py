"""Stripe's objects read into flexbill's terms, and flexbill's requests written in Stripe's. Pure: plain dicts in
and out (what the SDK's objects hold), no SDK calls.

>>> result = charge_result({"id": "pi_1", "status": "requires_payment_method", "amount": 12000, "currency": "gbp",
...     "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds",
...                            "message": "Your card has insufficient funds."}, "metadata": {}})
>>> result.status.value, result.failure_code, str(result.amount)
('failed', 'insufficient_funds', '120.00')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flexbill.money import from_minor_units, to_minor_units
from flexbill.payments.model import ATTEMPT_KEY, INVOICE_KEY, AttemptStatus
from flexbill.payments.ports import ChargeRequest, ChargeResult, CheckoutRequest, GatewayEvent, SavedMethod

_STATUSES = {
    "succeeded": AttemptStatus.SUCCEEDED,
    "requires_action": AttemptStatus.REQUIRES_ACTION,
    "processing": AttemptStatus.PENDING,  # a direct debit takes days: its webhook or the janitor tells the end
    "requires_capture": AttemptStatus.PENDING,
    "requires_confirmation": AttemptStatus.PENDING,
    "canceled": AttemptStatus.CANCELED,
}


def charge_params(request: ChargeRequest) -> dict[str, Any]:
    """An off-session charge of a saved method, confirmed at once. Card-only, redirect-free: a payment that would
    need the member is refused with ``authentication_required`` instead of waiting for a ``return_url``."""
    return {
        "amount": to_minor_units(request.amount, request.currency),
        "currency": request.currency.lower(),
        "customer": request.customer_external_id,
        "payment_method": request.method_external_id,
        "off_session": True,
        "confirm": True,
        "payment_method_types": ["card"],
        "description": request.description,
        "metadata": {INVOICE_KEY: str(request.invoice_id), ATTEMPT_KEY: request.idempotency_key},
    }


def charge_result(intent: Mapping[str, Any]) -> ChargeResult:
    """A PaymentIntent's state. ``requires_payment_method`` after an attempt is a failure (its last error says
    why); before any attempt it is still pending."""
    status = intent.get("status", "")
    error = intent.get("last_payment_error") or {}
    currency = str(intent.get("currency", "")).upper() or None
    amount = (
        from_minor_units(int(intent["amount"]), currency) if currency and intent.get("amount") is not None else None
    )
    method = intent.get("payment_method")
    method_id = method.get("id") if isinstance(method, Mapping) else method
    if status == "requires_payment_method":
        mapped = AttemptStatus.FAILED if error else AttemptStatus.PENDING
    else:
        mapped = _STATUSES.get(status, AttemptStatus.PENDING)
    if mapped == AttemptStatus.REQUIRES_ACTION and not error:
        error = {"code": "authentication_required", "message": "The bank asks the cardholder to authenticate."}
    return ChargeResult(
        status=mapped,
        external_id=intent.get("id"),
        amount=amount,
        currency=currency,
        failure_code=(error.get("decline_code") or error.get("code")) if error else None,
        failure_message=error.get("message") if error else None,
        method_external_id=method_id,
        metadata={str(k): str(v) for k, v in (intent.get("metadata") or {}).items()},
    )


def declined_result(error: Mapping[str, Any], request: ChargeRequest) -> ChargeResult:
    """A 402 card error: the PaymentIntent it carries, or what the error says when it carries none."""
    intent = error.get("payment_intent")
    code = error.get("decline_code") or error.get("code") or "card_declined"
    message = error.get("message") or "The card was declined."
    if isinstance(intent, Mapping):
        result = charge_result(intent)
        status = AttemptStatus.REQUIRES_ACTION if code == "authentication_required" else AttemptStatus.FAILED
        return ChargeResult(
            status=status,
            external_id=result.external_id,
            amount=result.amount,
            currency=result.currency,
            failure_code=code,
            failure_message=message,
            method_external_id=result.method_external_id,
            metadata=result.metadata,
        )
    status = AttemptStatus.REQUIRES_ACTION if code == "authentication_required" else AttemptStatus.FAILED
    return ChargeResult(status, None, request.amount, request.currency, code, message, request.method_external_id)


def saved_method(method: Mapping[str, Any]) -> SavedMethod:
    kind = str(method.get("type", "card"))
    details = method.get(kind) or {}
    return SavedMethod(
        external_id=str(method["id"]),
        kind=kind,
        brand=details.get("brand"),
        last4=details.get("last4"),
        exp_month=details.get("exp_month"),
        exp_year=details.get("exp_year"),
    )


def checkout_params(request: CheckoutRequest) -> dict[str, Any]:
    common: dict[str, Any] = {
        "customer": request.customer_external_id,
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "metadata": dict(request.metadata),
        "payment_method_types": ["card"],
    }
    if request.amount is None:
        return {
            **common,
            "mode": "setup",
            "currency": request.currency.lower(),
            "setup_intent_data": {"metadata": dict(request.metadata)},
        }
    return {
        **common,
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": request.currency.lower(),
                    "unit_amount": to_minor_units(request.amount, request.currency),
                    "product_data": {"name": request.description or "Invoice"},
                },
                "quantity": 1,
            }
        ],
        # The card is saved for the next automatic charges, and the intent carries the invoice like ours do.
        "payment_intent_data": {"metadata": dict(request.metadata), "setup_future_usage": "off_session"},
    }


EVENT_KINDS = {
    "payment_intent.succeeded": "payment_succeeded",
    "payment_intent.payment_failed": "payment_failed",
    "payment_intent.requires_action": "payment_requires_action",
    "payment_intent.canceled": "payment_canceled",
    "checkout.session.completed": "checkout_completed",
    "checkout.session.expired": "checkout_expired",
    "charge.refunded": "charge_refunded",
    "charge.dispute.created": "dispute_created",
}


def gateway_event(event: Mapping[str, Any]) -> GatewayEvent:
    """A verified event. Only ids are trusted from it: events arrive late, twice and out of order, so flexbill
    reads the current state of what they are about from Stripe before acting."""
    kind = EVENT_KINDS.get(str(event.get("type")), "other")
    obj: Mapping[str, Any] = (event.get("data") or {}).get("object") or {}
    created = datetime.fromtimestamp(int(event.get("created", 0)), tz=UTC)
    event_id = str(event["id"])
    if kind.startswith("payment_"):
        return GatewayEvent(event_id, kind, created, payment=charge_result(obj))
    if kind.startswith("checkout_"):
        return GatewayEvent(event_id, kind, created, checkout_id=obj.get("id"))
    if kind in ("charge_refunded", "dispute_created"):
        currency = str(obj.get("currency", "")).upper()
        field = "amount_refunded" if kind == "charge_refunded" else "amount"
        amount = from_minor_units(int(obj.get(field, 0)), currency) if currency else None
        return GatewayEvent(
            event_id,
            kind,
            created,
            payment_external_id=_payment_of_charge(obj),
            amount=amount,
            reason=obj.get("reason"),
        )
    return GatewayEvent(event_id, kind, created)


def _payment_of_charge(obj: Mapping[str, Any]) -> str | None:
    intent = obj.get("payment_intent")
    if isinstance(intent, Mapping):
        return str(intent.get("id"))
    return str(intent) if intent else None
