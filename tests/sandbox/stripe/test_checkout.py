"""Hosted Checkout through its HTML form (as a member's browser does), and through the control endpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe

from flexbill.sandbox import RunningSandbox, SandboxClock
from flexbill.sandbox.stripe.model import account_id_for
from tests.sandbox.stripe.support import Control


def _payment_session(client: stripe.StripeClient, server: RunningSandbox, **extra: Any) -> Any:
    customer = client.v1.customers.create(params={"email": "ada@example.com", "name": "Ada Lovelace"})
    return client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": customer.id,
            "line_items": [
                {
                    "price_data": {"currency": "gbp", "unit_amount": 1200, "product_data": {"name": "INV-0042"}},
                    "quantity": 1,
                },
                {
                    "price_data": {"currency": "gbp", "unit_amount": 250, "product_data": {"name": "Printing"}},
                    "quantity": 2,
                },
            ],
            "payment_intent_data": {"metadata": {"invoice_id": "inv_0042"}, "description": "Invoice INV-0042"},
            "metadata": {"invoice_id": "inv_0042"},
            "client_reference_id": "inv_0042",
            "success_url": f"{server.base_url}/healthz?paid={{CHECKOUT_SESSION_ID}}",
            "cancel_url": "https://members.example.com/invoices/inv_0042",
            **extra,
        }
    )


def test_a_member_pays_on_the_hosted_page(
    client: stripe.StripeClient, server: RunningSandbox, control: Control, key: str
) -> None:
    session = _payment_session(client, server)
    named = control("PUT", f"accounts/{account_id_for(key)}", {"business_name": "Demo Coworking London"})
    assert named.status_code == 200
    assert (session.status, session.payment_status, session.amount_total, session.currency) == (
        "open",
        "unpaid",
        1700,
        "gbp",
    )
    assert session.payment_intent is None  # made when the member pays, as Checkout does
    assert session.url == f"{server.stripe_url}/checkout/{session.id}"
    with httpx.Client(follow_redirects=False) as browser:
        page = browser.get(session.url)
        assert page.status_code == 200
        for text in (
            "Demo Coworking London",
            "£17.00",
            "INV-0042",
            "Printing \u00d7 2",  # the multiplication sign
            "pm_card_chargeDeclined",
            "https://members.example.com/invoices/inv_0042",
            "ada@example.com",
        ):
            assert text in page.text, text
        declined = browser.post(session.url, data={"payment_method": "pm_card_chargeDeclined", "email": "a@b.co"})
        assert declined.status_code == 402
        assert "Your card was declined." in declined.text
        assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
        paid = browser.post(session.url, data={"payment_method": "pm_card_visa", "email": "ada@example.com"})
        assert paid.status_code == 303
        assert paid.headers["location"] == f"{server.base_url}/healthz?paid={session.id}"
        landed = browser.get(paid.headers["location"])
        assert landed.status_code == 200
        again = browser.post(session.url, data={"payment_method": "pm_card_visa"})
        assert again.status_code == 400  # a complete session cannot be paid twice
        assert "This payment is complete." in browser.get(session.url).text
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (done.status, done.payment_status, done.url) == ("complete", "paid", None)
    assert done.customer_details.email == "ada@example.com"
    intent = done.payment_intent
    assert (intent.status, intent.amount, intent.metadata["invoice_id"]) == ("succeeded", 1700, "inv_0042")
    assert intent.description == "Invoice INV-0042"
    method = client.v1.payment_methods.retrieve(intent.payment_method)
    assert method.customer == done.customer  # saved on the member's customer
    saved = client.v1.payment_methods.list(params={"customer": done.customer}).data
    assert [m.id for m in saved] == [method.id]  # not the declined card
    charges = client.v1.charges.list(params={"payment_intent": intent.id}).data
    assert [c.status for c in charges] == ["succeeded", "failed"]  # the declined attempt, then the paid one
    types = [event.type for event in client.v1.events.list(params={"limit": 100}).data]
    for wanted in ("checkout.session.completed", "payment_intent.succeeded", "charge.succeeded", "charge.failed"):
        assert wanted in types
    completed = client.v1.events.list(params={"type": "checkout.session.completed"}).data
    assert [event.data.object.id for event in completed] == [session.id]


def test_a_member_saves_a_card_in_setup_mode(client: stripe.StripeClient, server: RunningSandbox) -> None:
    customer = client.v1.customers.create(params={"email": "ada@example.com"})
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "setup",
            "currency": "gbp",
            "customer": customer.id,
            "setup_intent_data": {"metadata": {"flexbill_customer": "c_1"}},
            "success_url": f"{server.base_url}/healthz?saved={{CHECKOUT_SESSION_ID}}",
            "cancel_url": "https://members.example.com/cards",
        }
    )
    assert (session.payment_status, session.amount_total) == ("no_payment_required", None)
    with httpx.Client(follow_redirects=True) as browser:
        page = browser.get(session.url)
        assert "Save a card" in page.text
        saved = browser.post(session.url, data={"payment_method": "pm_card_mastercard"})
        assert saved.status_code == 200
        assert str(saved.url) == f"{server.base_url}/healthz?saved={session.id}"
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete"
    setup = client.v1.setup_intents.retrieve(done.setup_intent)
    assert (setup.status, setup.customer, setup.metadata["flexbill_customer"]) == ("succeeded", customer.id, "c_1")
    method = client.v1.payment_methods.retrieve(setup.payment_method)
    assert (method.customer, method.card.brand) == (customer.id, "mastercard")
    types = {event.type for event in client.v1.events.list().data}
    assert {"setup_intent.succeeded", "payment_method.attached", "checkout.session.completed"} <= types
    charged = client.v1.payment_intents.create(
        params={
            "amount": 5000,
            "currency": "gbp",
            "customer": customer.id,
            "payment_method": method.id,
            "off_session": True,
            "confirm": True,
            "payment_method_types": ["card"],
        }
    )
    assert charged.status == "succeeded"  # the saved card is charged later, off session


def test_a_card_needing_3d_secure_authenticates_during_checkout(
    client: stripe.StripeClient, server: RunningSandbox
) -> None:
    session = _payment_session(client, server)
    with httpx.Client(follow_redirects=False) as browser:
        challenged = browser.post(session.url, data={"payment_method": "pm_card_threeDSecureRequired"})
        assert challenged.status_code == 303
        challenge_url = challenged.headers["location"]
        assert "/authenticate/pi_" in challenge_url
        assert "Complete authentication" in browser.get(challenge_url).text
        finished = browser.post(challenge_url, data={"outcome": "succeed"})
        assert finished.status_code == 303
        assert finished.headers["location"].endswith(f"paid={session.id}")
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_the_control_endpoint_completes_a_checkout_like_the_form(
    client: stripe.StripeClient, server: RunningSandbox, control: Control
) -> None:
    session = _payment_session(client, server)
    declined = control("POST", f"checkout/{session.id}/complete", {"payment_method": "pm_card_chargeDeclined"})
    assert declined.status_code == 402
    assert declined.json()["outcome"] == "declined"
    paid = control("POST", f"checkout/{session.id}/complete", {"payment_method": "pm_card_amex"})
    assert paid.status_code == 200
    body = paid.json()
    assert (body["outcome"], body["session"]["status"]) == ("complete", "complete")
    assert body["redirect_url"].endswith(f"paid={session.id}")
    assert control("POST", f"checkout/{session.id}/complete", {}).status_code == 409
    unknown = control("POST", "checkout/cs_test_nothing/complete", {})
    assert unknown.status_code == 404


def test_an_expired_session_cannot_be_paid(
    client: stripe.StripeClient, server: RunningSandbox, control: Control, clock: SandboxClock
) -> None:
    session = _payment_session(client, server)
    expired = client.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    assert client.v1.events.list(params={"type": "checkout.session.expired"}).data[0].data.object.id == session.id
    assert "expired" in httpx.get(session.url).text
    assert control("POST", f"checkout/{session.id}/complete", {}).status_code == 409
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id)
    later = _payment_session(client, server)
    clock.advance(timedelta(hours=24))
    assert client.v1.checkout.sessions.retrieve(later.id).status == "expired"  # its 24 hours are up


def test_bad_sessions_are_refused(client: stripe.StripeClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"mode": "payment", "success_url": "https://example.com/ok"}, "`line_items` is required in `payment` mode."),
        ({"mode": "setup", "success_url": "https://example.com/ok"}, "Missing required param: currency."),
        (
            {"mode": "payment", "line_items": [{"price": "price_123", "quantity": 1}]},
            "No such price: 'price_123'",
        ),
        (
            {
                "mode": "payment",
                "line_items": [
                    {
                        "price_data": {"currency": "gbp", "unit_amount": 1200, "product_data": {"description": "x"}},
                        "quantity": 1,
                    }
                ],
            },
            "Missing required param: line_items[0][price_data][product_data][name].",
        ),
        ({"mode": "setup", "currency": "gbp", "success_url": "not a url"}, "Not a valid URL: not a url"),
    ]
    for params, message in cases:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.checkout.sessions.create(params=params)
        assert str(refused.value.user_message).startswith(message), (params, refused.value.user_message)
