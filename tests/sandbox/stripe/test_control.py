"""Accounts, keys, the rate limit, disputes and the control endpoints."""

from __future__ import annotations

import httpx
import pytest
import stripe

from flexbill.sandbox import RunningSandbox, running_sandbox
from flexbill.sandbox.stripe import StripeSandbox
from flexbill.sandbox.stripe.model import account_id_for
from tests.sandbox.stripe.conftest import ClientFactory
from tests.sandbox.stripe.support import Control, charge_saved_card, sdk


def test_each_secret_key_is_its_own_account(client_for: ClientFactory, control: Control) -> None:
    london_key, berlin_key = "sk_test_london_0001", "sk_test_berlin_0001"
    london, berlin = client_for(london_key), client_for(berlin_key)
    customer = london.v1.customers.create(params={"email": "ada@example.com"})
    charge_saved_card(london)
    with pytest.raises(stripe.InvalidRequestError) as elsewhere:
        berlin.v1.customers.retrieve(customer.id)
    assert (elsewhere.value.http_status, elsewhere.value.code) == (404, "resource_missing")
    assert berlin.v1.payment_intents.list().data == []
    assert berlin.v1.events.list().data == []
    assert control.account(account_id_for(london_key))["counts"]["payment_intents"] == 1
    assert control.account(account_id_for(berlin_key))["counts"]["customers"] == 0
    assert account_id_for(london_key) != account_id_for(berlin_key)
    assert account_id_for(london_key) == account_id_for("sk_test_london_0001")  # the same after a restart


def test_keys_are_checked(server: RunningSandbox, http: httpx.Client) -> None:
    for key, message in [
        ("", "You did not provide an API key."),
        ("pk_test_abc123", "This API call cannot be made with a publishable API key."),
        ("not_a_key", "Invalid API Key provided: ****_key"),
    ]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        answer = http.get("/v1/customers", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"]["message"].startswith(message), answer.text
        assert answer.json()["error"]["type"] == "invalid_request_error"
        assert answer.headers["request-id"].startswith("req_")
    with pytest.raises(stripe.AuthenticationError):
        sdk(server.stripe_url, "pk_test_abc123").v1.customers.list()
    basic = http.get("/v1/customers", auth=("sk_test_basic_0001", ""))
    assert basic.status_code == 200  # curl -u sk_test_...: works too


def test_every_answer_carries_a_request_id_and_the_version(http: httpx.Client, key: str) -> None:
    answer = http.get("/v1/customers", headers={"Authorization": f"Bearer {key}", "Stripe-Version": "2024-06-20"})
    assert answer.status_code == 200
    assert answer.headers["stripe-version"] == "2024-06-20"
    assert answer.json() == {"object": "list", "data": [], "has_more": False, "url": "/v1/customers"}
    default = http.get("/v1/customers", headers={"Authorization": f"Bearer {key}"})
    assert default.headers["stripe-version"] == stripe.api_version
    unknown = http.get("/v1/subscriptions", headers={"Authorization": f"Bearer {key}"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/subscriptions).")
    as_json = http.post("/v1/customers", json={"email": "a@b.co"}, headers={"Authorization": f"Bearer {key}"})
    assert as_json.status_code == 400
    assert "application/x-www-form-urlencoded" in as_json.json()["error"]["message"]
    error = http.get("/v1/customers/cus_nothing", headers={"Authorization": f"Bearer {key}"}).json()["error"]
    assert set(error) == {"code", "doc_url", "message", "param", "request_log_url", "type"}  # only what applies
    logged = httpx.get(error["request_log_url"]).json()
    assert (logged["status"], logged["operation"], logged["error_code"]) == (
        404,
        "customers.retrieve",
        "resource_missing",
    )


def test_the_rate_limit_is_25_a_second_per_account(client_for: ClientFactory, control: Control) -> None:
    assert control("PUT", "limits", {"per_second": 3}).json() == {"per_second": 3}
    busy, quiet = client_for(), client_for()
    for _ in range(3):
        busy.v1.customers.list()
    with pytest.raises(stripe.RateLimitError) as limited:
        busy.v1.customers.list()
    assert (limited.value.http_status, limited.value.error.code) == (429, "rate_limit")
    assert quiet.v1.customers.list().data == []  # another account has its own second
    assert control.state()["rate_limit"]["refused"] == 1
    assert StripeSandbox().limiter.limits.per_second == 25  # Stripe's test-mode default


def test_a_disputed_charge(client: stripe.StripeClient, control: Control) -> None:
    intent = charge_saved_card(client, amount=4500)
    opened = control("POST", f"charges/{intent.latest_charge}/dispute", {"reason": "fraudulent"})
    assert opened.status_code == 200
    dispute = client.v1.disputes.retrieve(opened.json()["id"])
    assert (dispute.amount, dispute.charge, dispute.payment_intent, dispute.reason, dispute.status) == (
        4500,
        intent.latest_charge,
        intent.id,
        "fraudulent",
        "needs_response",
    )
    assert client.v1.charges.retrieve(intent.latest_charge).disputed is True
    event = client.v1.events.list(params={"type": "charge.dispute.created"}).data[0]
    assert event.data.object.id == dispute.id
    assert event.request.id is None  # the cardholder's bank, not an API request
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert refused.value.code == "charge_disputed"
    assert control("POST", f"charges/{intent.latest_charge}/dispute", {}).status_code == 409
    assert control("POST", "charges/ch_nothing/dispute", {}).status_code == 404
    assert [d.id for d in client.v1.disputes.list(params={"charge": intent.latest_charge}).data] == [dispute.id]


def test_state_and_reset(client: stripe.StripeClient, control: Control, key: str) -> None:
    intent = charge_saved_card(client)
    account = control.account(account_id_for(key))
    assert account["counts"]["payment_intents"] == 1
    assert account["payment_intents"][0]["id"] == intent.id
    assert account["charges"][0]["status"] == "succeeded"
    assert [e["type"] for e in account["events"]][-1] == "payment_intent.succeeded"
    client.v1.webhook_endpoints.create(params={"url": "https://example.com/hook", "enabled_events": ["*"]})
    state = control.state()
    assert state["now"].startswith("2026-11-26T12:00:00")
    assert state["requests"]["by_operation"]["payment_intents.create"] >= 1
    logged = control.http.get("/_sandbox/requests", params={"account": account_id_for(key)}).json()
    assert [entry["operation"] for entry in logged].count("payment_intents.create") == 1
    reset = control("POST", "reset", {})
    assert reset.status_code == 200
    assert client.v1.payment_intents.list().data == []
    assert len(client.v1.webhook_endpoints.list().data) == 1  # kept unless asked
    control("POST", "reset", {"webhook_endpoints": True})
    assert client.v1.webhook_endpoints.list().data == []


def test_the_docs_and_the_home_page(server: RunningSandbox, http: httpx.Client) -> None:
    docs = http.get("/_sandbox/docs")
    assert docs.status_code == 200
    paths = http.get("/_sandbox/openapi.json").json()["paths"]
    for path in (
        "/_sandbox/state",
        "/_sandbox/faults",
        "/_sandbox/charges/{charge_id}/dispute",
        "/_sandbox/checkout/{session_id}/complete",
        "/_sandbox/payment_intents/{intent_id}/authenticate",
        "/_sandbox/events/{event_id}/redeliver",
        "/_sandbox/webhooks/flush",
        "/_sandbox/reset",
    ):
        assert path in paths, path
    home = httpx.get(server.base_url)
    assert "/stripe/v1" in home.text
    assert "/stripe/_sandbox/docs" in home.text


def test_the_server_sets_the_public_url() -> None:
    with running_sandbox() as running:
        assert running.stripe_url == f"{running.base_url}/stripe"
        assert running.stripe.public_url == running.stripe_url
        assert running.stripe.clock is running.xero.clock  # one sandbox time for every sandbox
        session = sdk(running.stripe_url, "sk_test_public_url").v1.checkout.sessions.create(
            params={"mode": "setup", "currency": "gbp"}
        )
        assert session.url.startswith(f"{running.stripe_url}/checkout/cs_test_")
