"""Every object the sandbox returns has at least the top-level fields of Stripe's official example of it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import stripe

from tests.sandbox.stripe.support import Control, charge_saved_card, fixtures, receiver, shape_problems


def _raw(http: httpx.Client, key: str, path: str) -> dict[str, Any]:
    answer = http.get(path, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_objects_match_stripes_examples(
    client: stripe.StripeClient, control: Control, http: httpx.Client, key: str
) -> None:
    with receiver() as hook:
        endpoint = client.v1.webhook_endpoints.create(params={"url": hook.url, "enabled_events": ["*"]})
        intent = charge_saved_card(client)
        refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 100})
        dispute = control("POST", f"charges/{intent.latest_charge}/dispute", {}).json()
        session = client.v1.checkout.sessions.create(
            params={
                "mode": "setup",
                "currency": "gbp",
                "customer": intent.customer,
                "success_url": "https://example.com/ok",
            }
        )
        completed = control("POST", f"checkout/{session.id}/complete", {}).json()["session"]
        control.flush()
        delivered = hook.wait_for(1)[0].json()
    objects: list[tuple[str, dict[str, Any]]] = [
        ("customer", _raw(http, key, f"/v1/customers/{intent.customer}")),
        ("payment_method", _raw(http, key, f"/v1/payment_methods/{intent.payment_method}")),
        ("payment_intent", _raw(http, key, f"/v1/payment_intents/{intent.id}")),
        ("charge", _raw(http, key, f"/v1/charges/{intent.latest_charge}")),
        ("refund", _raw(http, key, f"/v1/refunds/{refund.id}")),
        ("dispute", dispute),
        ("checkout.session", _raw(http, key, f"/v1/checkout/sessions/{session.id}")),
        ("checkout.session", completed),
        ("setup_intent", _raw(http, key, f"/v1/setup_intents/{completed['setup_intent']}")),
        ("event", _raw(http, key, "/v1/events")["data"][0]),
        ("event", delivered),
        ("webhook_endpoint", _raw(http, key, f"/v1/webhook_endpoints/{endpoint.id}")),
    ]
    problems = [problem for resource, body in objects for problem in shape_problems(body, resource)]
    assert problems == []
    for resource, body in objects:
        assert body["object"] == fixtures()[resource]["object"]
        assert body.get("livemode", False) is False  # test mode (a refund has no livemode field)


def test_the_check_itself_notices_a_missing_field_and_a_wrong_type() -> None:
    example = json.loads(json.dumps(fixtures()["refund"]))
    del example["currency"]
    example["amount"] = "100"
    assert shape_problems(example, "refund") == [
        "refund.amount: string, Stripe's example has number",
        "refund: missing currency",
    ]
