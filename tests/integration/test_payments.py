"""Getting paid through the Stripe sandbox over real HTTP: saved cards charged on the due date, declines and their
retries, 3-D Secure, unclear outcomes resolved by the janitor, pay-now pages, webhooks and refunds — and, under
every fault, no invoice charged twice and no payment recorded twice."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import stripe
from fastapi.testclient import TestClient
from sqlalchemy import select

from flexbill.bootstrap import Context
from flexbill.customers import service as customers
from flexbill.invoicing.store import CreditNoteRow, InvoiceRow, PaymentRow
from flexbill.payments import charging
from flexbill.payments.store import ChargeAttemptRow
from flexbill.sandbox.server import RunningSandbox
from flexbill.worker import RetryLater
from tests.conftest import ON_POSTGRESQL
from tests.support import Catalog, make_customer

DUE = date(2026, 12, 15)  # a bill run on 1 December, 14 days to pay
SECRET_KEY = "sk_test_flexbill_lon"


# --- helpers -------------------------------------------------------------------------------------------------


def stripe_client(sandbox: RunningSandbox) -> stripe.StripeClient:
    """The tests' own look at the account, as a person would take in the dashboard. It shares the account's rate
    limit with flexbill, so it waits and asks again when refused (429), as Stripe's SDK does."""
    return stripe.StripeClient(
        SECRET_KEY,
        base_addresses={"api": sandbox.stripe_url},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
        max_network_retries=5,
    )


def add_gateway(client: TestClient, sandbox: RunningSandbox, cat: Catalog, webhook_url: str | None = None) -> str:
    secret = "whsec_flexbill_tests_0123456789"
    if webhook_url is not None:
        endpoint = stripe_client(sandbox).v1.webhook_endpoints.create(
            params={"url": webhook_url, "enabled_events": ["*"]}
        )
        secret = str(endpoint.secret)
    created = client.post(
        "/api/v1/payments/gateways",
        json={
            "location_id": str(cat.location_id),
            "provider": "stripe",
            "secret_key": SECRET_KEY,
            "webhook_secret": secret,
            "base_url": sandbox.stripe_url,
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def member(ctx: Context, cat: Catalog, name: str, card: str | None, client: TestClient) -> uuid.UUID:
    with ctx.sessions() as db, db.begin():
        customer_id = make_customer(db, cat, name=name)
        customers.create_membership(
            db,
            customers.NewMembership(
                customer_id=customer_id, plan_id=cat.hot_desk_id, location_id=cat.location_id,
                start_date=date(2026, 12, 1), quantity=Decimal(1),
            ),
        )  # fmt: skip
    if card is not None:
        saved = client.post(
            f"/api/v1/customers/{customer_id}/payment-methods", json={"provider": "stripe", "payment_method": card}
        )
        assert saved.status_code == 201, saved.text
        assert saved.json()["is_default"] is True
    return customer_id


def bill(ctx: Context) -> list[uuid.UUID]:
    from flexbill.billing.service import run_bill_run

    return run_bill_run(ctx.sessions, ctx.clock, date(2026, 12, 1)).invoice_ids


def auto_charge(client: TestClient, **rules: object) -> None:
    changed = client.patch("/api/v1/settings/billing", json={"auto_charge": True, **rules})
    assert changed.status_code == 200, changed.text


def invoice_of(client: TestClient, invoice_id: uuid.UUID) -> dict[str, Any]:
    response = client.get(f"/api/v1/invoices/{invoice_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def succeeded_intents(sandbox: RunningSandbox, invoice_id: uuid.UUID) -> int:
    """How many times Stripe took money for the invoice (what the member sees on their statement)."""
    intents = stripe_client(sandbox).v1.payment_intents.list(params={"limit": 100})
    return sum(
        1
        for intent in intents.data
        if intent.status == "succeeded" and intent.to_dict()["metadata"].get("flexbill_invoice_id") == str(invoice_id)
    )


def payments_of(ctx: Context, invoice_id: uuid.UUID) -> list[PaymentRow]:
    with ctx.readers() as db:
        return list(db.scalars(select(PaymentRow).where(PaymentRow.invoice_id == invoice_id)))


def fault(sandbox: RunningSandbox, operation: str, kind: str, times: int = 1, seconds: float = 0) -> None:
    response = httpx.post(
        f"{sandbox.stripe_url}/_sandbox/faults",
        json={"operation": operation, "kind": kind, "times": times, "seconds": seconds},
    )
    assert response.status_code in (200, 201), response.text


@pytest.fixture
def stripe_sandbox() -> Any:
    from flexbill.sandbox.server import start_sandbox

    running = start_sandbox(time_scale=60)
    yield running
    running.stop()


# --- the month runs itself -----------------------------------------------------------------------------------


def test_a_saved_card_is_charged_on_the_due_date_once(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    add_gateway(client, stripe_sandbox, cat)
    auto_charge(client)
    customer_id = member(ctx, cat, "Ada Ltd", "pm_card_visa", client)
    member(ctx, cat, "Bo Ltd", None, client)  # no card: left for a bank transfer
    invoices = bill(ctx)
    assert len(invoices) == 2

    before = charging.run_due(ctx, DUE - timedelta(days=1))
    assert before.charges == {}

    report = charging.run_due(ctx, DUE)
    assert report.charges == {"succeeded": 1}
    paid = next(i for i in invoices if invoice_of(client, i)["customer_id"] == str(customer_id))
    body = invoice_of(client, paid)
    assert body["status"] == "paid"
    assert body["amount_due"] == "0.00"
    assert body["payment_failed"] is False
    [payment] = body["payments"]
    assert payment["source"] == "gateway"
    assert payment["method"] == "card"
    assert payment["amount"] == body["total"] == "360.00"
    assert payment["status"] == "succeeded"
    assert succeeded_intents(stripe_sandbox, paid) == 1

    # The same day again, and the next: nothing more is charged.
    assert charging.run_due(ctx, DUE).charges == {}
    assert charging.run_due(ctx, DUE + timedelta(days=1)).charges == {}
    assert succeeded_intents(stripe_sandbox, paid) == 1
    assert len(payments_of(ctx, paid)) == 1
    [attempt] = client.get(f"/api/v1/invoices/{paid}/charges").json()
    assert (attempt["number"], attempt["kind"], attempt["status"]) == (1, "auto", "succeeded")


def test_a_declined_card_flags_the_invoice_and_is_retried_three_times_three_days_apart(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    add_gateway(client, stripe_sandbox, cat)
    auto_charge(client)
    member(ctx, cat, "Dee Ltd", "pm_card_chargeDeclinedInsufficientFunds", client)
    [invoice_id] = bill(ctx)

    assert charging.run_due(ctx, DUE).charges == {"failed": 1}
    body = invoice_of(client, invoice_id)
    assert body["status"] == "awaiting_payment"
    assert body["payment_failed"] is True
    assert "insufficient funds" in body["payment_failure_reason"].lower()

    tried = []
    for offset in range(1, 13):
        if charging.run_due(ctx, DUE + timedelta(days=offset)).charges:
            tried.append(offset)
    assert tried == [3, 6, 9]  # three retries, three days apart, then no more
    attempts = client.get(f"/api/v1/invoices/{invoice_id}/charges").json()
    assert [a["status"] for a in attempts] == ["failed"] * 4
    assert succeeded_intents(stripe_sandbox, invoice_id) == 0


def test_a_card_that_needs_3d_secure_is_not_retried_and_the_member_gets_a_link_to_pay(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    add_gateway(client, stripe_sandbox, cat)
    auto_charge(client)
    member(ctx, cat, "Eve Ltd", "pm_card_authenticationRequired", client)
    [invoice_id] = bill(ctx)

    assert charging.run_due(ctx, DUE).charges == {"requires_action": 1}
    body = invoice_of(client, invoice_id)
    assert body["payment_failed"] is True
    assert "3-D Secure" in body["payment_failure_reason"]
    assert all(not charging.run_due(ctx, DUE + timedelta(days=d)).charges for d in range(1, 10))


def test_an_invoice_paid_in_the_books_before_the_due_date_is_not_charged(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox, auto_sync: None
) -> None:
    from flexbill.accounting.store import SyncRecordRow
    from tests.integration.test_xero_sync import connect, drain, map_codes
    from tests.integration.test_xero_sync_rules import pay_in_xero

    connection_id = connect(client, stripe_sandbox, cat.location_id)
    map_codes(client, connection_id)
    add_gateway(client, stripe_sandbox, cat)
    auto_charge(client)
    member(ctx, cat, "Fay Ltd", "pm_card_visa", client)
    [invoice_id] = bill(ctx)
    drain(ctx)
    with ctx.readers() as db:
        record = db.scalars(select(SyncRecordRow).where(SyncRecordRow.record_id == invoice_id)).one()
    assert record.external_id is not None
    pay_in_xero(stripe_sandbox, record.external_id)  # the member paid by bank transfer; the books know, we do not

    assert charging.run_due(ctx, DUE).charges == {"not charged": 1}
    body = invoice_of(client, invoice_id)
    assert body["status"] == "paid"
    assert [p["source"] for p in body["payments"]] == ["accounting"]
    assert succeeded_intents(stripe_sandbox, invoice_id) == 0


# --- faults at every step of a charge --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lost_response", "server_error", "timeout", "rate_limited"])
def test_an_unclear_answer_is_resolved_with_the_same_key_and_the_invoice_is_charged_once(
    ctx: Context,
    cat: Catalog,
    client: TestClient,
    stripe_sandbox: RunningSandbox,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flexbill.payments.gateways.stripe import client as stripe_adapter

    monkeypatch.setattr(stripe_adapter, "TIMEOUT_SECONDS", 1.0)
    monkeypatch.setattr(charging, "RECHECK_UNKNOWN", timedelta(seconds=0.2))
    add_gateway(client, stripe_sandbox, cat)
    auto_charge(client)
    member(ctx, cat, "Gus Ltd", "pm_card_visa", client)
    [invoice_id] = bill(ctx)
    fault(stripe_sandbox, "payment_intents.create", kind, times=1, seconds=2)

    with ctx.sessions() as db, db.begin():
        plan = charging.plan_due_work(db, ctx.clock, DUE)
    outcome = charging.charge_invoices(ctx, _tasks(ctx, plan.charges))
    with ctx.readers() as db:
        [attempt] = db.scalars(select(ChargeAttemptRow).where(ChargeAttemptRow.invoice_id == invoice_id))
        assert attempt.status == "unknown", (kind, outcome)
    # Staff cannot record a transfer over a charge whose outcome is not known yet.
    refused = client.post(f"/api/v1/invoices/{invoice_id}/payments", json={"date": "2026-12-15", "amount": "360.00"})
    assert refused.status_code == 409, refused.text
    assert "in progress" in refused.json()["message"]

    time.sleep(2.5 if kind == "timeout" else 0.3)  # a held request finishes at the sandbox first
    if kind == "server_error":
        # A 5xx is kept under its key and answered again: the janitor looks the charge up, finds none, stops
        # sending it after a while and closes it; the next day's work charges with a new key.
        assert isinstance(charging.resolve_attempt(ctx, attempt.id), RetryLater)  # sent again: the saved 500
        ctx.clock.instant += charging.RESEND_FOR + charging.GIVE_UP_LOOKING_AFTER  # type: ignore[attr-defined]
    charging.resolve_attempt(ctx, attempt.id)
    if kind == "server_error":
        assert invoice_of(client, invoice_id)["status"] == "awaiting_payment"
        assert charging.run_due(ctx, DUE + timedelta(days=1)).charges == {"succeeded": 1}
    body = invoice_of(client, invoice_id)
    assert body["status"] == "paid"
    assert len(body["payments"]) == 1
    assert succeeded_intents(stripe_sandbox, invoice_id) == 1
    charging.run_due(ctx, DUE + timedelta(days=2))
    assert succeeded_intents(stripe_sandbox, invoice_id) == 1


def _tasks(ctx: Context, keys: list[str]) -> list[Any]:
    from flexbill.tasks.service import Task
    from flexbill.tasks.store import TaskRow

    with ctx.readers() as db:
        rows = db.scalars(select(TaskRow).where(TaskRow.key.in_(keys))).all()
        return [Task(row.id, row.kind, row.key, row.group, dict(row.payload), row.attempts, row.run_at) for row in rows]


@pytest.mark.postgres_only
@ON_POSTGRESQL
def test_four_workers_charging_the_same_invoices_at_once_charge_each_once(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_gateway(client, stripe_sandbox, cat)
    auto_charge(client)
    for index in range(8):
        member(ctx, cat, f"Member {index} Ltd", "pm_card_visa", client)
    invoices = bill(ctx)
    with ctx.sessions() as db, db.begin():
        charging.plan_due_work(db, ctx.clock, DUE)
    # This race is about never charging twice; a charge the rate limit turns away is tried on another day (its own
    # test), which would leave an invoice unpaid here. Four workers at once are well within a live account's limit.
    raised = httpx.put(f"{stripe_sandbox.stripe_url}/_sandbox/limits", json={"per_second": 1000})
    assert raised.status_code == 200, raised.text
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def race() -> None:
        try:
            barrier.wait()
            for invoice_id in invoices:
                charging.charge_once(ctx, invoice_id, 1, DUE)
        except BaseException as error:  # reported below: a thread's failure must fail the test
            errors.append(error)

    threads = [threading.Thread(target=race) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Whatever the sandbox's rate limit left unclear, the janitor settles.
    for _ in range(5):
        ctx.clock.instant += charging.JANITOR_AFTER * 2  # type: ignore[attr-defined]
        charging.sweep_open_attempts(ctx)
    for invoice_id in invoices:
        assert succeeded_intents(stripe_sandbox, invoice_id) == 1
        assert len(payments_of(ctx, invoice_id)) == 1
        assert invoice_of(client, invoice_id)["status"] == "paid"


def test_a_success_learnt_after_an_attempt_was_closed_is_still_recorded(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    from flexbill.payments.model import AttemptStatus
    from flexbill.payments.ports import ChargeResult

    add_gateway(client, stripe_sandbox, cat)
    auto_charge(client)
    member(ctx, cat, "Lou Ltd", "pm_card_visa", client)
    [invoice_id] = bill(ctx)
    assert charging.run_due(ctx, DUE).charges == {"succeeded": 1}
    with ctx.sessions() as db, db.begin():
        [attempt] = db.scalars(select(ChargeAttemptRow).where(ChargeAttemptRow.invoice_id == invoice_id))
        [payment] = db.scalars(select(PaymentRow).where(PaymentRow.invoice_id == invoice_id))
        intent_id = payment.external_id
        # Pretend flexbill had given up on it, and no payment was recorded.
        attempt.status, attempt.payment_id = "canceled", None
        db.delete(payment)
        invoice = db.get(InvoiceRow, invoice_id)
        assert invoice is not None
        invoice.amount_paid, invoice.status = Decimal(0), "awaiting_payment"
    late = ChargeResult(AttemptStatus.SUCCEEDED, intent_id, Decimal("360.00"), "GBP")
    assert charging.apply_charge_result(ctx, attempt.id, late) == AttemptStatus.SUCCEEDED
    assert invoice_of(client, invoice_id)["status"] == "paid"
    # And once succeeded, nothing moves it back.
    failed = ChargeResult(AttemptStatus.FAILED, intent_id, failure_code="card_declined")
    assert charging.apply_charge_result(ctx, attempt.id, failed) == AttemptStatus.SUCCEEDED
    assert len(payments_of(ctx, invoice_id)) == 1


def test_a_disputed_payment_flags_its_invoice_which_is_never_charged_again(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    from flexbill.web.app import create_app
    from tests.support import serving

    with serving(create_app(ctx)) as base_url:
        add_gateway(client, stripe_sandbox, cat, webhook_url=f"{base_url}/webhooks/stripe")
        auto_charge(client)
        member(ctx, cat, "Max Ltd", "pm_card_visa", client)
        [invoice_id] = bill(ctx)
        charging.run_due(ctx, DUE)
        [payment] = payments_of(ctx, invoice_id)
        assert payment.external_id is not None
        intent = stripe_client(stripe_sandbox).v1.payment_intents.retrieve(payment.external_id)
        disputed = httpx.post(
            f"{stripe_sandbox.stripe_url}/_sandbox/charges/{intent.latest_charge}/dispute",
            json={"reason": "fraudulent"},
        )
        assert disputed.status_code == 200, disputed.text
        httpx.post(f"{stripe_sandbox.stripe_url}/_sandbox/flush")
        _wait_for(lambda: invoice_of(client, invoice_id)["disputed"])


def test_an_abandoned_payment_page_is_closed_by_the_janitor_and_charging_resumes(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    from flexbill.payments.checkout import PAGE_LIFETIME, start_pay_now

    add_gateway(client, stripe_sandbox, cat)
    auto_charge(client)
    member(ctx, cat, "Ned Ltd", "pm_card_visa", client)
    [invoice_id] = bill(ctx)
    url = start_pay_now(ctx, invoice_id, success_url="http://x/done", cancel_url="http://x/back")
    assert url.startswith(stripe_sandbox.stripe_url)
    assert charging.run_due(ctx, DUE).charges == {}  # not charged while the member has the page open
    # A transfer recorded by staff meanwhile is not held up by the open page.
    ctx.clock.instant += PAGE_LIFETIME + timedelta(minutes=1)  # type: ignore[attr-defined]
    charging.sweep_open_attempts(ctx)
    [page] = client.get(f"/api/v1/invoices/{invoice_id}/charges").json()
    assert (page["kind"], page["status"]) == ("checkout", "canceled")
    session = stripe_client(stripe_sandbox).v1.checkout.sessions.retrieve(page["provider_id"])
    assert session.status == "expired"  # closed at the gateway too: it cannot be paid any more
    assert charging.run_due(ctx, DUE + timedelta(days=1)).charges == {"succeeded": 1}


def test_removing_a_payment_method_detaches_it_at_the_gateway_and_keeps_the_history(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    add_gateway(client, stripe_sandbox, cat)
    auto_charge(client)
    customer_id = member(ctx, cat, "Oli Ltd", "pm_card_visa", client)
    [invoice_id] = bill(ctx)
    charging.run_due(ctx, DUE)
    [method] = client.get(f"/api/v1/customers/{customer_id}/payment-methods").json()
    removed = client.delete(f"/api/v1/customers/{customer_id}/payment-methods/{method['id']}")
    assert removed.status_code == 204, removed.text
    assert client.get(f"/api/v1/customers/{customer_id}/payment-methods").json() == []
    at_stripe = stripe_client(stripe_sandbox).v1.payment_methods.retrieve(method["provider_id"])
    assert at_stripe.customer is None
    [attempt] = client.get(f"/api/v1/invoices/{invoice_id}/charges").json()
    assert attempt["status"] == "succeeded"
    unknown = client.post(
        f"/api/v1/customers/{customer_id}/payment-methods", json={"provider": "stripe", "payment_method": "pm_nope"}
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["field"] == "payment_method"


# --- pay now, webhooks -------------------------------------------------------------------------------------


def test_pay_now_on_the_hosted_page_and_the_same_webhooks_three_times_out_of_order_record_one_payment(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    from flexbill.links import pay_url
    from flexbill.sandbox.stripe import sign_payload
    from flexbill.web.app import create_app
    from tests.support import serving

    with serving(create_app(ctx)) as base_url:
        ctx.settings.public_url = base_url
        add_gateway(client, stripe_sandbox, cat, webhook_url=f"{base_url}/webhooks/stripe")
        member(ctx, cat, "Hal Ltd", None, client)
        [invoice_id] = bill(ctx)
        link = pay_url(ctx.settings, invoice_id)

        page = httpx.get(link)
        assert page.status_code == 200
        assert "Pay invoice" in page.text
        assert "360.00" in page.text
        assert httpx.get(link.replace("token=", "token=x")).status_code == 404  # a forged link opens nothing

        to_stripe = httpx.post(link, follow_redirects=False)
        assert to_stripe.status_code == 303, to_stripe.text
        checkout_url = to_stripe.headers["location"]
        # A second click goes back to the same page: one way to pay one balance.
        assert httpx.post(link, follow_redirects=False).headers["location"] == checkout_url

        checkout_id = checkout_url.rstrip("/").rsplit("/", 1)[1]
        done = httpx.post(
            f"{stripe_sandbox.stripe_url}/_sandbox/checkout/{checkout_id}/complete",
            json={"payment_method": "pm_card_visa"},
        )
        assert done.status_code == 200, done.text
        httpx.post(f"{stripe_sandbox.stripe_url}/_sandbox/flush")
        _wait_for(lambda: invoice_of(client, invoice_id)["status"] == "paid")

        # The member's browser comes back; the gateway re-delivers every event three times, newest first.
        assert "Thank you" in httpx.get(f"{base_url}/pay/{invoice_id}/done?token={link.rsplit('=', 1)[1]}").text
        events = stripe_client(stripe_sandbox).v1.events.list(params={"limit": 100}).data
        secret = _webhook_secret(ctx)
        for _ in range(3):
            for event in events:
                body = json.dumps(event.to_dict()).encode()
                signature = sign_payload(secret, body, int(time.time()))
                answer = httpx.post(
                    f"{base_url}/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}
                )
                assert answer.status_code == 200, answer.text
    body = invoice_of(client, invoice_id)
    assert body["status"] == "paid"
    assert len(body["payments"]) == 1
    assert len(payments_of(ctx, invoice_id)) == 1
    assert succeeded_intents(stripe_sandbox, invoice_id) == 1
    # The card the member paid with is kept for the next automatic charges.
    methods = client.get(f"/api/v1/customers/{body['customer_id']}/payment-methods").json()
    assert [m["is_default"] for m in methods] == [True]


def _webhook_secret(ctx: Context) -> str:
    from flexbill.payments.service import account_of
    from flexbill.payments.store import GatewayRow

    with ctx.readers() as db:
        return account_of(ctx.settings, db.scalars(select(GatewayRow)).one()).webhook_secret


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_tampered_or_stale_webhook_gets_400_and_changes_nothing(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    from flexbill.payments.store import GatewayEventRow
    from flexbill.sandbox.stripe import sign_payload

    add_gateway(client, stripe_sandbox, cat)
    member(ctx, cat, "Ida Ltd", None, client)
    [invoice_id] = bill(ctx)
    secret = _webhook_secret(ctx)
    event = {
        "id": "evt_forged",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {"id": "pi_forged", "object": "payment_intent", "status": "succeeded", "amount": 36000,
                            "currency": "gbp", "metadata": {"flexbill_invoice_id": str(invoice_id)}}},
    }  # fmt: skip
    body = json.dumps(event).encode()
    good = sign_payload(secret, body, int(time.time()))
    tampered = body.replace(b"36000", b"99")
    stale = sign_payload(secret, body, int(time.time()) - 301)
    for payload, signature in (
        (tampered, good),
        (body, stale),
        (body, ""),
        (body, sign_payload("whsec_other", body, int(time.time()))),
    ):
        answer = client.post("/webhooks/stripe", content=payload, headers={"Stripe-Signature": signature})
        assert answer.status_code == 400, answer.text
    assert invoice_of(client, invoice_id)["payments"] == []
    with ctx.readers() as db:
        assert db.scalars(select(GatewayEventRow)).all() == []


# --- refunds -------------------------------------------------------------------------------------------------


def test_a_refund_gives_money_back_once_credits_the_invoice_and_refuses_more_than_was_paid(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    add_gateway(client, stripe_sandbox, cat)
    auto_charge(client)
    member(ctx, cat, "Jo Ltd", "pm_card_visa", client)
    [invoice_id] = bill(ctx)
    charging.run_due(ctx, DUE)
    [payment] = invoice_of(client, invoice_id)["payments"]

    too_much = client.post(f"/api/v1/payments/{payment['id']}/refund", json={"amount": "360.01"})
    assert too_much.status_code == 422, too_much.text
    assert "is more than the 360.00 GBP left to refund on this payment" in too_much.json()["message"]

    refunded = client.post(
        f"/api/v1/payments/{payment['id']}/refund", json={"amount": "60.00", "reason": "Desk broken"}
    )
    assert refunded.status_code == 201, refunded.text
    refund = refunded.json()
    assert (refund["status"], refund["amount"]) == ("succeeded", "60.00")
    assert refund["provider_id"].startswith("re_")
    body = invoice_of(client, invoice_id)
    assert body["status"] == "paid"  # what is refunded is credited: the member owes nothing, and is not charged
    assert body["amount_paid"] == "300.00"
    assert body["amount_credited"] == "60.00"
    [after] = body["payments"]
    assert (after["status"], after["amount_refunded"]) == ("partially_refunded", "60.00")
    with ctx.readers() as db:
        [note] = db.scalars(select(CreditNoteRow).where(CreditNoteRow.invoice_id == invoice_id))
        assert note.total == Decimal("60.00")
        assert "Desk broken" in note.reason

    rest = client.post(f"/api/v1/payments/{payment['id']}/refund", json={})
    assert rest.status_code == 201, rest.text
    assert rest.json()["amount"] == "300.00"
    again = client.post(f"/api/v1/payments/{payment['id']}/refund", json={})
    assert again.status_code == 409, again.text
    charge = stripe_client(stripe_sandbox).v1.payment_intents.retrieve(payment["reference"].split()[-1])
    refunds = stripe_client(stripe_sandbox).v1.refunds.list(params={"payment_intent": charge.id}).data
    assert sorted(r.amount for r in refunds) == [6000, 30000]
    with ctx.readers() as db:
        assert db.get(InvoiceRow, invoice_id).status == "paid"  # type: ignore[union-attr]
    assert charging.run_due(ctx, DUE + timedelta(days=3)).charges == {}


def test_a_refund_whose_answer_was_lost_is_settled_by_asking_again_and_made_once(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    add_gateway(client, stripe_sandbox, cat)
    auto_charge(client)
    member(ctx, cat, "Pia Ltd", "pm_card_visa", client)
    [invoice_id] = bill(ctx)
    charging.run_due(ctx, DUE)
    [payment] = invoice_of(client, invoice_id)["payments"]
    fault(stripe_sandbox, "refunds.create", "lost_response")

    lost = client.post(f"/api/v1/payments/{payment['id']}/refund", json={"amount": "60.00"})
    assert lost.status_code == 502, lost.text
    assert "may have been made" in lost.json()["message"]
    other = client.post(f"/api/v1/payments/{payment['id']}/refund", json={"amount": "10.00"})
    assert other.status_code == 409, other.text  # the open one first
    again = client.post(f"/api/v1/payments/{payment['id']}/refund", json={"amount": "60.00"})
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "succeeded"
    refunds = stripe_client(stripe_sandbox).v1.refunds.list(params={"payment_intent": payment["reference"].split()[-1]})
    assert [r.amount for r in refunds.data] == [6000]
    assert client.get(f"/api/v1/payments/{payment['id']}/refunds").json()[0]["status"] == "succeeded"


def test_money_paid_twice_is_recorded_and_refunding_the_excess_leaves_the_invoice_paid(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    from flexbill.payments.checkout import start_pay_now

    add_gateway(client, stripe_sandbox, cat)
    member(ctx, cat, "Quin Ltd", None, client)
    [invoice_id] = bill(ctx)
    checkout_url = start_pay_now(ctx, invoice_id, success_url="http://x/done", cancel_url="http://x/back")
    # Staff record the member's bank transfer while the member is on the payment page; then the member pays too.
    transfer = client.post(f"/api/v1/invoices/{invoice_id}/payments", json={"date": "2026-12-02", "amount": "360.00"})
    assert transfer.status_code == 201, transfer.text
    checkout_id = checkout_url.rstrip("/").rsplit("/", 1)[1]
    paid = httpx.post(
        f"{stripe_sandbox.stripe_url}/_sandbox/checkout/{checkout_id}/complete", json={"payment_method": "pm_card_visa"}
    )
    assert paid.status_code == 200, paid.text
    from flexbill.payments.checkout import resolve_checkout

    [attempt] = client.get(f"/api/v1/invoices/{invoice_id}/charges").json()
    resolve_checkout(ctx, uuid.UUID(attempt["id"]))
    body = invoice_of(client, invoice_id)
    assert body["amount_due"] == "-360.00"  # never lost: the money is recorded, and shows as owed back
    card = next(p for p in body["payments"] if p["source"] == "gateway")
    refunded = client.post(f"/api/v1/payments/{card['id']}/refund", json={"reason": "Paid twice"})
    assert refunded.status_code == 201, refunded.text
    assert refunded.json()["credit_note_id"] is None  # the excess goes back; nothing is owed less
    body = invoice_of(client, invoice_id)
    assert (body["status"], body["amount_due"], body["amount_credited"]) == ("paid", "0.00", "0.00")


def test_a_refund_made_in_the_gateways_dashboard_and_a_late_failure_event_reach_flexbill_once(
    ctx: Context, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox
) -> None:
    from flexbill.sandbox.stripe import sign_payload
    from flexbill.web.app import create_app
    from tests.support import serving

    with serving(create_app(ctx)) as base_url:
        add_gateway(client, stripe_sandbox, cat, webhook_url=f"{base_url}/webhooks/stripe")
        auto_charge(client)
        member(ctx, cat, "Ray Ltd", "pm_card_visa", client)
        [invoice_id] = bill(ctx)
        charging.run_due(ctx, DUE)
        [payment] = payments_of(ctx, invoice_id)
        assert payment.external_id is not None
        stripe_client(stripe_sandbox).v1.refunds.create(params={"payment_intent": payment.external_id, "amount": 2000})
        httpx.post(f"{stripe_sandbox.stripe_url}/_sandbox/flush")
        _wait_for(lambda: invoice_of(client, invoice_id)["payments"][0]["amount_refunded"] == "20.00")

        # A "payment failed" event with an id never seen before, about the same payment, arriving last.
        intent = stripe_client(stripe_sandbox).v1.payment_intents.retrieve(payment.external_id).to_dict()
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {"code": "card_declined", "message": "Declined."}
        late = {"id": "evt_late_failure", "object": "event", "type": "payment_intent.payment_failed",
                "created": int(time.time()), "data": {"object": intent}}  # fmt: skip
        body = json.dumps(late).encode()
        answer = httpx.post(
            f"{base_url}/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": sign_payload(_webhook_secret(ctx), body, int(time.time()))},
        )
        assert answer.status_code == 200, answer.text
    after = invoice_of(client, invoice_id)
    assert after["status"] == "paid"
    assert after["payment_failed"] is False
    assert after["amount_credited"] == "20.00"
    [attempt] = client.get(f"/api/v1/invoices/{invoice_id}/charges").json()
    assert attempt["status"] == "succeeded"
