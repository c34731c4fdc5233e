"""PaymentIntents through the official SDK: test cards succeed, decline, need 3-D Secure, and Stripe's gotchas."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import stripe

from flexbill.sandbox import RunningSandbox
from tests.sandbox.stripe.conftest import ClientFactory
from tests.sandbox.stripe.support import START_TS, Control, charge_saved_card, sdk

CARD_ONLY = {"payment_method_types": ["card"]}


@pytest.mark.parametrize(
    ("card", "brand", "last4"),
    [("pm_card_visa", "visa", "4242"), ("pm_card_mastercard", "mastercard", "4444"), ("pm_card_amex", "amex", "8431")],
)
def test_a_saved_card_is_charged_off_session(client: stripe.StripeClient, card: str, brand: str, last4: str) -> None:
    intent = charge_saved_card(client, card, amount=4500, description="Invoice INV-0042")
    assert intent.status == "succeeded"
    assert (intent.amount, intent.amount_received, intent.currency) == (4500, 4500, "gbp")
    assert intent.created == START_TS  # sandbox time, not the wall clock
    assert intent.metadata["invoice_id"] == "inv_0042"
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.id.startswith("ch_")
    assert (charge.amount, charge.amount_refunded, charge.refunded, charge.paid) == (4500, 0, False, True)
    assert charge.payment_intent == intent.id
    assert charge.customer == intent.customer
    assert charge.description == "Invoice INV-0042"
    assert (charge.payment_method_details.card.brand, charge.payment_method_details.card.last4) == (brand, last4)


def test_attaching_a_test_token_makes_a_new_payment_method_each_time(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "ada@example.com"})
    first = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    second = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    assert first.id != second.id
    assert first.id.startswith("pm_")
    assert first.id != "pm_card_visa"
    assert (first.customer, first.card.brand, first.card.last4) == (customer.id, "visa", "4242")
    assert (first.card.exp_month, first.card.exp_year) == (12, 2034)
    listed = client.v1.payment_methods.list(params={"customer": customer.id, "type": "card"})
    assert {m.id for m in listed.data} == {first.id, second.id}
    assert {m.id for m in client.v1.customers.payment_methods.list(customer.id).data} == {first.id, second.id}
    detached = client.v1.payment_methods.detach(first.id)
    assert detached.customer is None
    assert [m.id for m in client.v1.payment_methods.list(params={"customer": customer.id}).data] == [second.id]
    updated = client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": second.id}}
    )
    assert updated.invoice_settings.default_payment_method == second.id
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": first.id}})
    assert refused.value.param == "invoice_settings[default_payment_method]"


@pytest.mark.parametrize(
    ("card", "code", "decline_code", "message"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline", "Your card was declined."),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "card_declined",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card", "Your card has expired."),
    ],
)
def test_a_declined_card_is_a_402_and_the_intent_keeps_the_failure(
    client: stripe.StripeClient, card: str, code: str, decline_code: str, message: str
) -> None:
    with pytest.raises(stripe.CardError) as declined:
        charge_saved_card(client, card)
    error = declined.value
    assert error.http_status == 402
    assert (error.code, error.error.decline_code, error.user_message) == (code, decline_code, message)
    assert error.error.type == "card_error"
    assert error.request_id is not None
    assert error.request_id.startswith("req_")
    embedded = error.error.payment_intent
    assert embedded.status == "requires_payment_method"
    assert embedded.last_payment_error.decline_code == decline_code
    assert error.error.payment_method.card.last4 == embedded.last_payment_error.payment_method.card.last4
    failed = client.v1.charges.retrieve(error.error.charge)
    assert (failed.status, failed.paid, failed.failure_code) == ("failed", False, code)
    kept = client.v1.payment_intents.retrieve(embedded.id)
    assert kept.status == "requires_payment_method"
    assert kept.payment_method is None
    assert kept.last_payment_error.code == code
    assert kept.latest_charge == failed.id
    retried = client.v1.payment_intents.confirm(kept.id, params={"payment_method": "pm_card_visa"})
    assert retried.status == "succeeded"  # the member's other card, on the same PaymentIntent


@pytest.mark.parametrize("card", ["pm_card_authenticationRequired", "pm_card_threeDSecureRequired"])
def test_a_card_that_needs_3d_secure_fails_off_session(client: stripe.StripeClient, card: str) -> None:
    with pytest.raises(stripe.CardError) as declined:
        charge_saved_card(client, card)
    error = declined.value
    assert (error.http_status, error.code) == (402, "authentication_required")
    assert error.error.payment_intent.status == "requires_payment_method"
    assert error.error.payment_intent.last_payment_error.code == "authentication_required"
    assert error.error.payment_method.customer is not None
    assert client.v1.charges.list().data == []  # the issuer was never asked


def test_on_session_the_member_authenticates_on_the_sandbox_page(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2500,
            "currency": "gbp",
            "payment_method": "pm_card_threeDSecureRequired",
            "confirm": True,
            "return_url": "https://members.example.com/invoices/42",
        }
    )
    assert intent.status == "requires_action"
    assert intent.next_action.type == "redirect_to_url"
    redirect = intent.next_action.redirect_to_url
    assert redirect.return_url == "https://members.example.com/invoices/42"
    page = httpx.get(redirect.url)
    assert page.status_code == 200
    assert "£25.00" in page.text
    assert "Complete authentication" in page.text
    answered = httpx.post(redirect.url, data={"outcome": "succeed"})
    assert answered.status_code == 303
    assert answered.headers["location"] == (
        f"https://members.example.com/invoices/42?payment_intent={intent.id}&payment_intent_client_secret="
        f"{intent.client_secret}&redirect_status=succeeded"
    )
    done = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]})
    assert done.status == "succeeded"
    assert done.latest_charge.payment_method_details.card.three_d_secure.result == "authenticated"
    types = [event.type for event in client.v1.events.list(params={"type": "payment_intent.*"}).data]
    assert types == ["payment_intent.succeeded", "payment_intent.requires_action", "payment_intent.created"]


def test_a_failed_authentication_leaves_the_intent_waiting(client: stripe.StripeClient, control: Control) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 2500, "currency": "gbp", "payment_method": "pm_card_authenticationRequired", **CARD_ONLY}
    )
    intent = client.v1.payment_intents.confirm(intent.id, params={"return_url": "https://example.com/back"})
    assert intent.status == "requires_action"
    answered = control("POST", f"payment_intents/{intent.id}/authenticate", {"succeed": False})
    assert answered.status_code == 200
    assert answered.json()["redirect_url"].endswith("redirect_status=failed")
    failed = client.v1.payment_intents.retrieve(intent.id)
    assert failed.status == "requires_payment_method"
    assert failed.last_payment_error.code == "payment_intent_authentication_failure"
    again = control("POST", f"payment_intents/{intent.id}/authenticate", {"succeed": True})
    assert again.status_code == 409  # nothing to authenticate any more


def test_confirming_with_automatic_payment_methods_needs_a_return_url(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "ada@example.com"})
    method = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    charge: dict[str, Any] = {
        "amount": 1200,
        "currency": "gbp",
        "customer": customer.id,
        "payment_method": method.id,
        "off_session": True,
        "confirm": True,
    }
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.create(params=charge)
    assert refused.value.http_status == 400
    assert str(refused.value.user_message).startswith("A `return_url` must be specified because this Payment Intent")
    assert client.v1.payment_intents.list().data == []  # nothing was created
    never = {**charge, "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"}}
    assert client.v1.payment_intents.create(params=never).status == "succeeded"
    assert client.v1.payment_intents.create(params={**charge, **CARD_ONLY}).status == "succeeded"
    unconfirmed = client.v1.payment_intents.create(
        params={"amount": 1200, "currency": "gbp", "customer": customer.id, "payment_method": method.id}
    )
    assert unconfirmed.status == "requires_confirmation"
    assert unconfirmed.automatic_payment_methods.enabled is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.confirm(unconfirmed.id)
    assert client.v1.payment_intents.retrieve(unconfirmed.id).status == "requires_confirmation"
    confirmed = client.v1.payment_intents.confirm(unconfirmed.id, params={"return_url": "https://example.com/r"})
    assert confirmed.status == "succeeded"


def test_bad_parameters_are_refused_with_stripes_messages(client: stripe.StripeClient) -> None:
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        ({"currency": "gbp"}, "Missing required param: amount.", "amount"),
        ({"amount": "12.50", "currency": "gbp"}, "Invalid integer: 12.50", "amount"),
        ({"amount": 1200, "currency": "gbp", "colour": "blue"}, "Received unknown parameter: colour", "colour"),
        ({"amount": 1200, "currency": "gbq"}, "Invalid currency: gbq.", "currency"),
        ({"amount": 10, "currency": "gbp"}, "Amount must be at least £0.30 gbp", "amount"),
        (
            {"amount": 1200, "currency": "gbp", "off_session": True},
            "You can only use `off_session` when",
            "off_session",
        ),
        ({"amount": 1200, "currency": "gbp", "customer": "cus_nobody"}, "No such customer: 'cus_nobody'", "customer"),
        (
            {"amount": 1200, "currency": "gbp", "automatic_payment_methods": {"enabled": "yes"}},
            "Invalid boolean: yes",
            "automatic_payment_methods[enabled]",
        ),
    ]
    for params, message, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.payment_intents.create(params=params)
        assert str(refused.value.user_message).startswith(message), (params, refused.value.user_message)
        assert refused.value.param == param
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_nothing")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert client.v1.payment_intents.list().data == []


def test_a_test_token_with_a_customer_behaves_like_its_card(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "ada@example.com"})
    intent = client.v1.payment_intents.create(
        params={
            "amount": 999,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": "pm_card_mastercard",
            "confirm": True,
            "off_session": True,
            **CARD_ONLY,
        }
    )
    assert intent.status == "succeeded"
    method = client.v1.payment_methods.retrieve(intent.payment_method)
    assert (method.card.brand, method.customer) == ("mastercard", None)
    with pytest.raises(stripe.CardError):
        client.v1.payment_intents.create(
            params={
                "amount": 999,
                "currency": "eur",
                "customer": customer.id,
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
                **CARD_ONLY,
            }
        )


def test_cancel_and_update(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(params={"amount": 1500, "currency": "gbp", **CARD_ONLY})
    assert intent.status == "requires_payment_method"
    updated = client.v1.payment_intents.update(
        intent.id, params={"amount": 1600, "metadata": {"invoice_id": "inv_7"}, "description": "Meeting room"}
    )
    assert (updated.amount, updated.metadata["invoice_id"], updated.description) == (1600, "inv_7", "Meeting room")
    canceled = client.v1.payment_intents.cancel(intent.id, params={"cancellation_reason": "requested_by_customer"})
    assert (canceled.status, canceled.canceled_at, canceled.cancellation_reason) == (
        "canceled",
        START_TS,
        "requested_by_customer",
    )
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payment_intents.cancel(intent.id)
    assert again.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError) as confirm:
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert confirm.value.code == "payment_intent_unexpected_state"


def test_the_async_client_as_the_adapter_builds_it(server: RunningSandbox, key: str) -> None:
    async def charge() -> tuple[str, str]:
        client = sdk(server.stripe_url, key, sync=False)
        try:
            customer = await client.v1.customers.create_async(params={"email": "ada@example.com"})
            intent = await client.v1.payment_intents.create_async(
                params={
                    "amount": 1200,
                    "currency": "gbp",
                    "customer": customer.id,
                    "payment_method": "pm_card_visa",
                    "confirm": True,
                    "off_session": True,
                    **CARD_ONLY,
                }
            )
            try:
                await client.v1.payment_intents.create_async(
                    params={
                        "amount": 1200,
                        "currency": "gbp",
                        "payment_method": "pm_card_chargeDeclined",
                        "confirm": True,
                        **CARD_ONLY,
                    }
                )
            except stripe.CardError as error:
                return intent.status, str(error.code)
            return intent.status, "no error"
        finally:
            await client._requestor._get_http_client().close_async()

    assert asyncio.run(charge()) == ("succeeded", "card_declined")


def test_customers_are_created_read_updated_listed_and_deleted(client_for: ClientFactory) -> None:
    client = client_for()
    ada = client.v1.customers.create(
        params={
            "email": "ada@example.com",
            "name": "Ada",
            "metadata": {"flexbill_id": "c1"},
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    assert ada.invoice_settings.default_payment_method is not None
    assert ada.invoice_settings.default_payment_method.startswith("pm_")
    client.v1.customers.create(params={"email": "bob@example.com"})
    assert [c.id for c in client.v1.customers.list(params={"email": "ada@example.com"}).data] == [ada.id]
    renamed = client.v1.customers.update(ada.id, params={"name": "Ada Lovelace", "metadata": {"flexbill_id": ""}})
    assert (renamed.name, renamed.metadata.to_dict()) == ("Ada Lovelace", {})
    deleted = client.v1.customers.delete(ada.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.retrieve(ada.id)
