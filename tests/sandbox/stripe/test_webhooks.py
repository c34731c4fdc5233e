"""Webhooks over real HTTP: signed as Stripe signs them (the SDK verifies them), in order, retried, redelivered."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time

import pytest
import stripe

from flexbill.sandbox.stripe import sign_payload
from flexbill.sandbox.stripe.model import account_id_for
from tests.sandbox.stripe.conftest import ClientFactory
from tests.sandbox.stripe.support import Control, charge_saved_card, receiver


def test_sign_payload_is_stripes_scheme() -> None:
    payload = b'{"id":"evt_1","object":"event"}'
    header = sign_payload("whsec_abc", payload, 1_767_225_600)
    expected = hmac.new(b"whsec_abc", b"1767225600." + payload, hashlib.sha256).hexdigest()
    assert header == f"t=1767225600,v1={expected}"
    now = int(time.time())
    event = stripe.Webhook.construct_event(payload, sign_payload("whsec_abc", payload, now), "whsec_abc")
    assert event.id == "evt_1"
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(payload, sign_payload("whsec_abc", payload, now - 301), "whsec_abc")


def test_events_are_delivered_signed_and_in_order(client: stripe.StripeClient, control: Control) -> None:
    with receiver() as hook:
        endpoint = client.v1.webhook_endpoints.create(params={"url": hook.url, "enabled_events": ["*"]})
        assert endpoint.secret.startswith("whsec_")
        intent = client.v1.payment_intents.create(
            params={
                "amount": 1200,
                "currency": "gbp",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "payment_method_types": ["card"],
            },
            options={"idempotency_key": "charge:inv_9:v1"},
        )
        control.flush()
        received = hook.wait_for(3)
    events = []
    for delivery in received:
        header = delivery.headers["stripe-signature"]
        timestamp = int(header.split(",")[0].removeprefix("t="))
        assert abs(timestamp - time.time()) < 60  # wall-clock time, though sandbox time stands at 2026-11-26
        events.append(stripe.Webhook.construct_event(delivery.body, header, endpoint.secret))
        assert delivery.headers["content-type"].startswith("application/json")
    assert [e.type for e in events] == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    succeeded = events[2]
    assert succeeded.data.object.id == intent.id
    assert succeeded.data.object.status == "succeeded"
    assert succeeded.request.id == intent.last_response.request_id
    assert succeeded.request.idempotency_key == "charge:inv_9:v1"
    assert (succeeded.livemode, succeeded.api_version) == (False, stripe.api_version)
    assert succeeded.pending_webhooks == 1
    fetched = client.v1.events.retrieve(succeeded.id)
    assert fetched.pending_webhooks == 0  # delivered since
    assert fetched.data.object.id == intent.id


def test_endpoints_get_only_the_events_they_want(client: stripe.StripeClient, control: Control) -> None:
    with receiver() as wanted, receiver() as disabled:
        client.v1.webhook_endpoints.create(
            params={"url": wanted.url, "enabled_events": ["payment_intent.payment_failed", "charge.refunded"]}
        )
        off = client.v1.webhook_endpoints.create(params={"url": disabled.url, "enabled_events": ["*"]})
        client.v1.webhook_endpoints.update(off.id, params={"disabled": True})
        succeeded = charge_saved_card(client)
        with contextlib.suppress(stripe.CardError):
            charge_saved_card(client, "pm_card_chargeDeclined")
        client.v1.refunds.create(params={"payment_intent": succeeded.id})
        control.flush()
        received = wanted.wait_for(2)
        assert disabled.requests == []
    assert [json.loads(r.body)["type"] for r in received] == ["payment_intent.payment_failed", "charge.refunded"]


def test_a_failing_receiver_is_retried_then_given_up(client: stripe.StripeClient, control: Control, key: str) -> None:
    with receiver(answers=[500, 503]) as flaky, receiver(default=500) as broken:
        client.v1.webhook_endpoints.create(params={"url": flaky.url, "enabled_events": ["customer.created"]})
        client.v1.webhook_endpoints.create(params={"url": broken.url, "enabled_events": ["customer.created"]})
        customer = client.v1.customers.create(params={"email": "ada@example.com"})
        control.flush()
        attempts = flaky.wait_for(3)
        assert len(broken.wait_for(3)) == 3
    assert len({r.body for r in attempts}) == 1  # the same event each time
    assert len({r.headers["stripe-signature"] for r in attempts}) >= 1
    deliveries = control.account(account_id_for(key))["deliveries"]
    by_url = {d["url"]: d for d in deliveries}
    assert (by_url[flaky.url]["status"], by_url[flaky.url]["attempts"]) == ("delivered", 3)
    assert (by_url[broken.url]["status"], by_url[broken.url]["attempts"]) == ("failed", 3)
    assert by_url[broken.url]["event"] == client.v1.events.list().data[0].id
    assert customer.id in attempts[0].body.decode()


def test_an_event_can_be_delivered_again(client: stripe.StripeClient, control: Control) -> None:
    with receiver() as hook:
        client.v1.webhook_endpoints.create(params={"url": hook.url, "enabled_events": ["customer.created"]})
        client.v1.customers.create(params={"email": "ada@example.com"})
        control.flush()
        event_id = json.loads(hook.wait_for(1)[0].body)["id"]
        again = control("POST", f"events/{event_id}/redeliver", {"times": 2})
        assert again.json() == {"event": event_id, "queued": 2}
        control.flush()
        received = hook.wait_for(3)
    assert [json.loads(r.body)["id"] for r in received] == [event_id] * 3
    assert control("POST", "events/evt_nothing/redeliver", {}).status_code == 404


def test_endpoints_are_listed_and_deleted(client_for: ClientFactory, control: Control) -> None:
    client = client_for()
    with receiver() as hook:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": hook.url, "enabled_events": ["*"], "description": "flexbill"}
        )
        listed = client.v1.webhook_endpoints.list().data
        assert [(e.id, e.description) for e in listed] == [(endpoint.id, "flexbill")]
        assert "secret" not in listed[0]  # shown once, when created
        assert client.v1.webhook_endpoints.delete(endpoint.id).deleted is True
        client.v1.customers.create(params={"email": "ada@example.com"})
        control.flush()
        assert hook.requests == []
    other = client_for()
    assert other.v1.webhook_endpoints.list().data == []  # endpoints belong to their account
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.webhook_endpoints.create(params={"url": "ftp://example.com", "enabled_events": ["*"]})
    assert refused.value.param == "url"
