"""Idempotency-Key and injected faults: retries never charge twice, whatever went wrong the first time."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe

from flexbill.sandbox import SandboxClock
from flexbill.sandbox.stripe import StripeSandbox
from flexbill.sandbox.stripe.model import account_id_for
from tests.sandbox.stripe.conftest import ClientFactory
from tests.sandbox.stripe.support import Control

KEY = "charge:inv_0042:v1"


def _intent_params(client: stripe.StripeClient, amount: int = 1200, card: str = "pm_card_visa") -> dict[str, Any]:
    customer = client.v1.customers.create(params={"email": "ada@example.com"})
    method = client.v1.payment_methods.attach(card, params={"customer": customer.id})
    return {
        "amount": amount,
        "currency": "gbp",
        "customer": customer.id,
        "payment_method": method.id,
        "off_session": True,
        "confirm": True,
        "payment_method_types": ["card"],
        "metadata": {"invoice_id": "inv_0042"},
    }


def _create(client: stripe.StripeClient, params: dict[str, Any], key: str = KEY) -> Any:
    return client.v1.payment_intents.create(params=params, options={"idempotency_key": key})


def test_a_retry_with_the_same_key_gets_the_same_intent_and_one_charge(client: stripe.StripeClient) -> None:
    params = _intent_params(client)
    first = _create(client, params)
    second = _create(client, params)
    assert second.id == first.id
    assert second.latest_charge == first.latest_charge
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert second.last_response.headers["Original-Request"] == first.last_response.request_id
    assert len(client.v1.charges.list().data) == 1
    assert len(client.v1.payment_intents.list().data) == 1


def test_the_same_key_with_other_parameters_is_refused(client: stripe.StripeClient) -> None:
    params = _intent_params(client)
    _create(client, params)
    with pytest.raises(stripe.IdempotencyError) as refused:
        _create(client, {**params, "amount": 1300})
    assert refused.value.http_status == 400
    assert str(refused.value.user_message).startswith(
        "Keys for idempotent requests can only be used with the same parameters they were first used with."
    )
    reordered = dict(reversed(list(params.items())))  # the same parameters in another order are the same request
    assert _create(client, reordered).amount == 1200
    assert len(client.v1.payment_intents.list().data) == 1


def test_a_decline_is_saved_under_its_key(client: stripe.StripeClient) -> None:
    params = _intent_params(client, card="pm_card_chargeDeclinedInsufficientFunds")
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as declined:
            _create(client, params)
        errors.append(declined.value)
    assert errors[0].error.payment_intent.id == errors[1].error.payment_intent.id
    assert errors[1].headers["Idempotent-Replayed"] == "true"
    assert len(client.v1.charges.list().data) == 1  # one failed attempt, not two


def test_a_request_refused_by_validation_saves_nothing(client: stripe.StripeClient) -> None:
    params = _intent_params(client)
    with pytest.raises(stripe.InvalidRequestError):
        _create(client, {**params, "amount": "twelve"})
    assert _create(client, params).status == "succeeded"  # the key was still free


def test_a_key_longer_than_255_characters_is_refused(client: stripe.StripeClient) -> None:
    params = _intent_params(client)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        _create(client, params, key="k" * 256)
    assert "1 to 255 characters" in str(refused.value.user_message)
    assert _create(client, params, key="k" * 255).status == "succeeded"


def test_keys_are_forgotten_after_24_hours_of_sandbox_time(client: stripe.StripeClient, clock: SandboxClock) -> None:
    params = _intent_params(client)
    first = _create(client, params)
    clock.advance(timedelta(hours=23, minutes=59))
    assert _create(client, params).id == first.id
    clock.advance(timedelta(minutes=2))
    assert _create(client, params).id != first.id


def test_a_retry_while_the_first_request_runs_gets_a_409(
    client: stripe.StripeClient, control: Control, stripe_sandbox: StripeSandbox
) -> None:
    params = _intent_params(client)
    control.fault("payment_intents.create", "timeout", seconds=0.5)
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(_create(client, params)))
    first.start()
    deadline = time.monotonic() + 5
    while stripe_sandbox.idempotency.snapshot()["running"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(stripe.APIError) as conflict:
        _create(client, params)
    assert time.monotonic() - started < 0.4  # refused at once, not held behind the first
    assert conflict.value.http_status == 409
    assert conflict.value.error.type == "idempotency_error"
    assert client.v1.customers.list().data  # other requests are not blocked by the held one
    first.join(timeout=5)
    assert results[0].status == "succeeded"
    assert _create(client, params).id == results[0].id


def test_a_500_is_saved_under_its_key(client: stripe.StripeClient, control: Control) -> None:
    params = _intent_params(client)
    control.fault("payment_intents.create", "server_error")
    for replayed in (None, "true"):
        with pytest.raises(stripe.APIError) as failed:
            _create(client, params)
        assert (failed.value.http_status, failed.value.error.type) == (500, "api_error")
        assert failed.value.headers.get("Idempotent-Replayed") == replayed
    assert client.v1.payment_intents.list().data == []  # the work was not done
    assert _create(client, params, key="charge:inv_0042:v2").status == "succeeded"


def test_a_lost_response_charged_and_the_retry_returns_the_charge(
    client: stripe.StripeClient, control: Control, key: str
) -> None:
    params = _intent_params(client)
    control.fault("payment_intents.create", "lost_response")
    with pytest.raises(stripe.APIConnectionError):
        _create(client, params)
    account = control.account(account_id_for(key))
    assert [intent["status"] for intent in account["payment_intents"]] == ["succeeded"]
    retried = _create(client, params)
    assert retried.status == "succeeded"
    assert retried.id == account["payment_intents"][0]["id"]
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(client.v1.charges.list().data) == 1
    logged = control.http.get("/_sandbox/requests", params={"account": account_id_for(key)}).json()
    assert [entry["fault"] for entry in logged if entry["operation"] == "payment_intents.create"] == [
        "lost_response",
        None,
    ]


def test_a_client_timeout_while_the_charge_still_happens(client_for: ClientFactory, control: Control, key: str) -> None:
    impatient = client_for(key, timeout=0.2)
    params = _intent_params(impatient)
    control.fault("refunds.create", "timeout", seconds=0.6)  # other operations are not held
    control.fault("payment_intents.create", "timeout", seconds=0.6)
    with pytest.raises(stripe.APIConnectionError):
        _create(impatient, params)
    deadline = time.monotonic() + 5
    while not control.account(account_id_for(key))["charges"] and time.monotonic() < deadline:
        time.sleep(0.02)
    retried = _create(impatient, params)
    assert retried.status == "succeeded"
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(impatient.v1.charges.list().data) == 1


def test_an_injected_429_does_nothing(client: stripe.StripeClient, control: Control) -> None:
    params = _intent_params(client)
    fired_before = control("GET", "faults").json()["fired"]["rate_limited"]
    control.fault("payment_intents.*", "rate_limited", times=2)
    for _ in range(2):
        with pytest.raises(stripe.RateLimitError) as limited:
            _create(client, params)
        assert (limited.value.http_status, limited.value.error.code) == (429, "rate_limit")
    assert _create(client, params).status == "succeeded"  # not saved: the key runs the request now
    faults = control("GET", "faults").json()
    assert (faults["fired"]["rate_limited"], faults["pending"]) == (fired_before + 2, [])


def test_faults_must_name_an_operation_the_sandbox_has(control: Control) -> None:
    refused = control("POST", "faults", {"operation": "payment_intent.create", "kind": "server_error"})
    assert refused.status_code == 422
    assert "payment_intents.create" in refused.json()["error"]
    assert control("POST", "faults", {"operation": "refunds.create", "kind": "timeout"}).status_code == 422


def test_keys_are_per_account(client_for: ClientFactory) -> None:
    london, berlin = client_for(), client_for()
    first = _create(london, _intent_params(london))
    second = _create(berlin, _intent_params(berlin))
    assert first.id != second.id


def test_replays_over_raw_http_keep_the_status_and_body(http: httpx.Client, key: str) -> None:
    auth = {"Authorization": f"Bearer {key}", "Idempotency-Key": "raw-1"}
    body = {
        "amount": "1200",
        "currency": "gbp",
        "payment_method": "pm_card_chargeDeclined",
        "confirm": "true",
        "payment_method_types[0]": "card",
    }
    first = http.post("/v1/payment_intents", data=body, headers=auth)
    second = http.post("/v1/payment_intents", data=body, headers=auth)
    assert first.status_code == second.status_code == 402
    assert first.content == second.content
    assert first.headers["request-id"] != second.headers["request-id"]
    assert second.headers["original-request"] == first.headers["request-id"]
    assert second.headers["idempotency-key"] == "raw-1"
