"""Stripe's JSON for each object, with every top-level field Stripe sends (``null`` where it has no value).

Ids of related objects are strings unless the request expands them (``expand[]=latest_charge``,
``expand[]=data.customer`` in lists): :func:`expand` swaps the id for the object, as Stripe does.

>>> display_amount(1250, "gbp"), display_amount(500, "jpy"), display_amount(1999, "chf")
('£12.50', '¥500', 'CHF 19.99')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from flexbill.sandbox.stripe.cards import TestCard
from flexbill.sandbox.stripe.errors import invalid_request
from flexbill.sandbox.stripe.model import (
    Charge,
    CheckoutSession,
    Customer,
    Dispute,
    Event,
    PaymentIntent,
    PaymentMethod,
    Refund,
    SetupIntent,
    WebhookEndpoint,
)

Json = dict[str, Any]
Lookup = Callable[[str], Json | None]

# Stripe's zero-decimal currencies: amounts are whole units (``amount=500`` in JPY is ¥500).
_ZERO_DECIMAL_CODES = "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf"
ZERO_DECIMAL = frozenset(_ZERO_DECIMAL_CODES.split())
_SYMBOLS = {"gbp": "£", "usd": "$", "eur": "€", "jpy": "¥", "aud": "A$", "cad": "CA$", "nzd": "NZ$"}
MAX_EXPAND_DEPTH = 4


def display_amount(amount: int, currency: str) -> str:
    """An amount in minor units as a person reads it (the form Stripe's messages use)."""
    places = 0 if currency.lower() in ZERO_DECIMAL else 2
    value = Decimal(amount).scaleb(-places)
    text = f"{value:,.{places}f}"
    symbol = _SYMBOLS.get(currency.lower())
    return f"{symbol}{text}" if symbol else f"{currency.upper()} {text}"


def _address() -> Json:
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


def _billing_details(email: str | None = None, name: str | None = None) -> Json:
    return {"address": _address(), "email": email, "name": name, "phone": None, "tax_id": None}


def customer(record: Customer) -> Json:
    return {
        "id": record.id,
        "object": "customer",
        "address": dict(record.address) if record.address is not None else None,
        "balance": 0,
        "created": record.created,
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": record.description,
        "discount": None,
        "email": record.email,
        "invoice_prefix": record.invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": record.default_payment_method,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(record.metadata),
        "name": record.name,
        "next_invoice_sequence": 1,
        "phone": record.phone,
        "preferred_locales": list(record.preferred_locales),
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def deleted(object_name: str, object_id: str) -> Json:
    return {"id": object_id, "object": object_name, "deleted": True}


def _card(card: TestCard) -> Json:
    return {
        "brand": card.brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": None},
        "country": card.country,
        "display_brand": card.brand.replace("amex", "american_express"),
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "fingerprint": card.fingerprint,
        "funding": card.funding,
        "generated_from": None,
        "last4": card.last4,
        "networks": {"available": [card.brand], "preferred": None},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def payment_method(record: PaymentMethod) -> Json:
    return {
        "id": record.id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": _billing_details(record.billing_email, record.billing_name),
        "card": _card(record.card),
        "created": record.created,
        "customer": record.customer,
        "customer_account": None,
        "livemode": False,
        "metadata": dict(record.metadata),
        "type": "card",
    }


def _card_options() -> Json:
    return {
        "card": {"installments": None, "mandate_options": None, "network": None, "request_three_d_secure": "automatic"}
    }


def payment_intent(record: PaymentIntent) -> Json:
    automatic = (
        {"allow_redirects": record.allow_redirects, "enabled": True} if record.automatic_payment_methods else None
    )
    return {
        "id": record.id,
        "object": "payment_intent",
        "amount": record.amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": record.amount_received,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": automatic,
        "canceled_at": record.canceled_at,
        "cancellation_reason": record.cancellation_reason,
        "capture_method": "automatic",
        "client_secret": record.client_secret,
        "confirmation_method": "automatic",
        "created": record.created,
        "currency": record.currency,
        "customer": record.customer,
        "customer_account": None,
        "description": record.description,
        "excluded_payment_method_types": None,
        "last_payment_error": dict(record.last_payment_error) if record.last_payment_error else None,
        "latest_charge": record.latest_charge,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": dict(record.metadata),
        "next_action": dict(record.next_action) if record.next_action else None,
        "on_behalf_of": None,
        "payment_method": record.payment_method,
        "payment_method_configuration_details": (
            {"id": "pmc_sandbox_default", "parent": None} if record.automatic_payment_methods else None
        ),
        "payment_method_options": _card_options(),
        "payment_method_types": list(record.payment_method_types),
        "processing": None,
        "receipt_email": record.receipt_email,
        "review": None,
        "setup_future_usage": record.setup_future_usage,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": record.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def _outcome(record: Charge) -> Json:
    card = record.card
    if record.status == "succeeded":
        network_status, reason, kind = "approved_by_network", None, "authorized"
        seller_message = "Payment complete."
    else:
        network_status, reason, kind = "declined_by_network", card.decline_code, "issuer_declined"
        seller_message = (
            "The bank did not return any further details with this decline."
            if card.decline_code == "generic_decline"
            else f"The bank returned the decline code `{card.decline_code}`."
        )
    return {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": network_status,
        "reason": reason,
        "risk_level": "normal",
        "risk_score": 20,
        "seller_message": seller_message,
        "type": kind,
    }


def _charge_card(record: Charge) -> Json:
    card = record.card
    return {
        "amount_authorized": record.amount if record.status == "succeeded" else None,
        "authorization_code": None,
        "brand": card.brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": None},
        "country": card.country,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "extended_authorization": {"status": "disabled"},
        "fingerprint": card.fingerprint,
        "funding": card.funding,
        "incremental_authorization": {"status": "unavailable"},
        "installments": None,
        "last4": card.last4,
        "mandate": None,
        "multicapture": {"status": "unavailable"},
        "network": card.brand,
        "network_token": {"used": False},
        "network_transaction_id": None,
        "overcapture": {"maximum_amount_capturable": record.amount, "status": "unavailable"},
        "regulated_status": "unregulated",
        "three_d_secure": (
            {
                "authentication_flow": "challenge",
                "electronic_commerce_indicator": "05",
                "exemption_indicator": None,
                "result": "authenticated",
                "result_reason": None,
                "transaction_id": None,
                "version": "2.2.0",
            }
            if record.three_d_secure
            else None
        ),
        "wallet": None,
    }


def charge(record: Charge, refunds: Sequence[Refund], base_url: str) -> Json:
    succeeded = record.status == "succeeded"
    return {
        "id": record.id,
        "object": "charge",
        "amount": record.amount,
        "amount_captured": record.amount if succeeded else 0,
        "amount_refunded": record.amount_refunded,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": record.balance_transaction,
        "billing_details": _billing_details(),
        "calculated_statement_descriptor": "FLEXBILL SANDBOX",
        "captured": succeeded,
        "created": record.created,
        "currency": record.currency,
        "customer": record.customer,
        "description": record.description,
        "disputed": record.dispute is not None,
        "failure_balance_transaction": None,
        "failure_code": record.failure_code,
        "failure_message": record.failure_message,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(record.metadata),
        "on_behalf_of": None,
        "outcome": _outcome(record),
        "paid": succeeded,
        "payment_intent": record.payment_intent,
        "payment_method": record.payment_method,
        "payment_method_details": {"card": _charge_card(record), "type": "card"},
        "radar_options": {},
        "receipt_email": record.receipt_email,
        "receipt_number": None,
        "receipt_url": f"{base_url}/receipts/{record.id}",
        "refunded": record.refunded,
        "refunds": list_object(
            [refund(item) for item in sorted(refunds, key=lambda r: -r.seq)], False, f"/v1/charges/{record.id}/refunds"
        ),
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": record.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(record: Refund) -> Json:
    return {
        "id": record.id,
        "object": "refund",
        "amount": record.amount,
        "balance_transaction": record.balance_transaction,
        "charge": record.charge,
        "created": record.created,
        "currency": record.currency,
        "customer": None,
        "customer_account": None,
        "destination_details": {
            "card": {"reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"},
            "type": "card",
        },
        "metadata": dict(record.metadata),
        "payment_intent": record.payment_intent,
        "payment_method": None,
        "reason": record.reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


_EVIDENCE_NAMES = (
    "access_activity_log billing_address cancellation_policy cancellation_policy_disclosure cancellation_rebuttal "
    "customer_communication customer_email_address customer_name customer_purchase_ip customer_signature "
    "duplicate_charge_documentation duplicate_charge_explanation duplicate_charge_id product_description receipt "
    "refund_policy refund_policy_disclosure refund_refusal_explanation service_date service_documentation "
    "shipping_address shipping_carrier shipping_date shipping_documentation shipping_tracking_number "
    "uncategorized_file uncategorized_text"
)
_EVIDENCE_FIELDS = _EVIDENCE_NAMES.split()
# The card networks' reason codes Stripe shows for each dispute reason (Visa's codes).
_NETWORK_REASON_CODES = {"fraudulent": "10.4", "product_not_received": "13.1", "duplicate": "12.6.1"}


def dispute(record: Dispute) -> Json:
    return {
        "id": record.id,
        "object": "dispute",
        "amount": record.amount,
        "balance_transactions": [],
        "charge": record.charge,
        "created": record.created,
        "currency": record.currency,
        "enhanced_eligibility_types": [],
        "evidence": {**dict.fromkeys(_EVIDENCE_FIELDS), "enhanced_evidence": {}},
        "evidence_details": {
            "due_by": record.due_by,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": dict(record.metadata),
        "payment_intent": record.payment_intent,
        "payment_method_details": {
            "card": {
                "brand": record.card.brand,
                "case_type": "chargeback",
                "network": record.card.brand,
                "network_reason_code": _NETWORK_REASON_CODES.get(record.reason, "13.3"),
            },
            "type": "card",
        },
        "reason": record.reason,
        "status": record.status,
    }


def setup_intent(record: SetupIntent) -> Json:
    return {
        "id": record.id,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": record.client_secret,
        "created": record.created,
        "customer": record.customer,
        "description": record.description,
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": dict(record.metadata),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": record.payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": _card_options(),
        "payment_method_types": ["card"],
        "single_use_mandate": None,
        "status": record.status,
        "usage": record.usage,
    }


def checkout_session(record: CheckoutSession, base_url: str) -> Json:
    payment = record.mode == "payment"
    amount = record.amount_total if payment else None
    return {
        "id": record.id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": record.cancel_url,
        "client_reference_id": record.client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": record.created,
        "currency": record.currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": record.customer,
        "customer_account": None,
        "customer_creation": "if_required" if payment and record.customer is None else None,
        "customer_details": dict(record.customer_details) if record.customer_details else None,
        "customer_email": record.customer_email,
        "discounts": [],
        "expires_at": record.expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": (
            {
                "enabled": False,
                "invoice_data": {
                    "account_tax_ids": None,
                    "custom_fields": None,
                    "description": None,
                    "footer": None,
                    "issuer": None,
                    "metadata": {},
                    "rendering_options": None,
                },
            }
            if payment
            else None
        ),
        "livemode": False,
        "locale": None,
        "managed_payments": {"enabled": False},
        "metadata": dict(record.metadata),
        "mode": record.mode,
        "origin_context": None,
        "payment_intent": record.payment_intent,
        "payment_link": None,
        "payment_method_collection": "always" if payment else None,
        "payment_method_configuration_details": (
            None if record.payment_method_types else {"id": "pmc_sandbox_default", "parent": None}
        ),
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": list(record.payment_method_types or ["card"]),
        "payment_status": record.payment_status,
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": record.setup_intent,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": record.status,
        "submit_type": None,
        "subscription": None,
        "success_url": record.success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0} if payment else None,
        "ui_mode": "hosted",
        "url": f"{base_url}/checkout/{record.id}" if record.status == "open" else None,
        "wallet_options": None,
    }


def event(record: Event, pending_webhooks: int) -> Json:
    return {
        "id": record.id,
        "object": "event",
        "api_version": record.api_version,
        "created": record.created,
        "data": record.data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": record.origin.request_id, "idempotency_key": record.origin.idempotency_key},
        "type": record.type,
    }


def webhook_endpoint(record: WebhookEndpoint, *, with_secret: bool = False) -> Json:
    body: Json = {
        "id": record.id,
        "object": "webhook_endpoint",
        "api_version": record.api_version,
        "application": None,
        "created": record.created,
        "description": record.description,
        "enabled_events": list(record.enabled_events),
        "livemode": False,
        "metadata": dict(record.metadata),
        "status": record.status,
        "url": record.url,
    }
    if with_secret:  # Stripe shows the signing secret only in the answer that creates the endpoint
        body["secret"] = record.secret
    return body


def list_object(data: list[Json], has_more: bool, url: str) -> Json:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def expand(body: Json, paths: Sequence[str], lookup: Lookup) -> Json:
    """Replace the ids at ``paths`` (``latest_charge``, ``data.customer``, ``payment_intent.latest_charge``)
    with the objects they name; a path that is not an expandable id is refused as Stripe refuses it."""
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_EXPAND_DEPTH:
            raise invalid_request(
                f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. Property: {path}",
                param="expand",
            )
        _expand(body, parts, lookup, path)
    return body


def _expand(node: Json, parts: list[str], lookup: Lookup, path: str) -> None:
    head, rest = parts[0], parts[1:]
    if node.get("object") in ("list", "search_result") and head == "data":
        for item in node["data"]:
            if rest:
                _expand(item, rest, lookup, path)
        return
    if head not in node:
        raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
    value = node[head]
    if isinstance(value, str):
        found = lookup(value)
        if found is None:
            raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
        node[head] = value = found
    if not rest or value is None:
        return
    if not isinstance(value, dict):
        raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
    _expand(value, rest, lookup, path)
