"""Outgoing webhooks end to end over real HTTP: endpoints registered through the API, events published by the real
flows (bill run, issue, void, credit note, payments by hand and through the Stripe sandbox, refunds, a sync the
Xero sandbox refuses), posted by the worker to a receiver listening on loopback, signed so that the documented
``verify`` accepts them, retried on the documented schedule while the receiver fails, and re-sent on request."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flexbill import __version__
from flexbill.access.service import create_api_key
from flexbill.bootstrap import Context
from flexbill.clock import FixedClock
from flexbill.customers import service as customers
from flexbill.events.model import SignatureError, retry_schedule, verify
from flexbill.events.service import DELIVER_TASK, attempts_of
from flexbill.events.store import WebhookAttemptRow, WebhookDeliveryRow, WebhookEventRow
from flexbill.payments import charging
from flexbill.sandbox.server import RunningSandbox
from flexbill.tasks.service import next_due_at, pending_count
from flexbill.tasks.store import TaskRow
from flexbill.web.app import create_app
from flexbill.worker import Worker, default_handlers
from tests.integration.test_payments import DUE, add_gateway, auto_charge, bill, member
from tests.integration.test_payments import stripe_sandbox as stripe_sandbox  # a fixture, used here too
from tests.integration.test_xero_sync import connect, drain, map_codes
from tests.support import Catalog, make_customer

RUN = date(2026, 12, 1)
ALL_EVENT_TYPES = [
    "invoice.created", "invoice.issued", "invoice.updated", "invoice.paid", "invoice.voided", "payment.succeeded",
    "payment.failed", "payment.refunded", "credit_note.created", "sync.failed",
]  # fmt: skip


# --- a receiver on loopback ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class Receiver:
    """An HTTP server in a thread of the test, on a free port: keeps every request, and answers ``status``
    (200 unless told otherwise; the first ``failures`` requests get ``failure_status``)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status = 200
        self.failures = 0
        self.failure_status = 500
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                answer_status = receiver._record(Received(self.path, headers, body))
                answer = b'{"received": true}' if answer_status < 300 else b"receiver unavailable, try later"
                self.send_response(answer_status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/flexbill/events"

    def _record(self, request: Received) -> int:
        with self._lock:
            self.requests.append(request)
            if self.failures > 0:
                self.failures -= 1
                return self.failure_status
            return self.status

    def types(self) -> list[str]:
        return [request.event["type"] for request in self.requests]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(autouse=True)
def _receivers_on_this_machine(ctx: Context) -> None:
    """The receivers under test listen on 127.0.0.1, which flexbill refuses unless told (see the last tests)."""
    ctx.settings = ctx.settings.model_copy(update={"webhooks_allow_private": True})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.start()
    yield running
    running.stop()


# --- helpers ---------------------------------------------------------------------------------------------------


def register(client: TestClient, url: str, event_types: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, "description": "the integration under test"}
    if event_types is not None:
        body["event_types"] = event_types
    created = client.post("/api/v1/webhook-endpoints", json=body)
    assert created.status_code == 201, created.text
    answer: dict[str, Any] = created.json()
    assert answer["secret"].startswith("whsec_")
    return answer


def deliver(ctx: Context) -> None:
    """Run the worker until nothing is due now (deliveries, and whatever else the flow queued)."""
    Worker(ctx, default_handlers(ctx), poll_interval=0.05).run_until_idle()


def deliver_in_time(ctx: Context, clock: FixedClock, *, rounds: int = 50) -> None:
    """Run the worker to the end of every delivery, moving the clock on to each retry as it comes due."""
    worker = Worker(ctx, default_handlers(ctx), poll_interval=0.05)
    for _ in range(rounds):
        worker.run_until_idle()
        with ctx.readers() as db:
            if pending_count(db, DELIVER_TASK) == 0:
                return
            due = next_due_at(db, [DELIVER_TASK], clock.now())
        assert due is not None
        clock.instant = max(clock.instant, due)
    raise AssertionError("the deliveries did not end")


def one_member(ctx: Context, cat: Catalog, name: str = "Solo Ltd") -> uuid.UUID:
    with ctx.sessions() as db, db.begin():
        customer_id = make_customer(db, cat, name=name)
        customers.create_membership(
            db,
            customers.NewMembership(
                customer_id=customer_id, plan_id=cat.hot_desk_id, location_id=cat.location_id,
                start_date=date(2026, 11, 1), quantity=Decimal(1),
            ),
        )  # fmt: skip
    return customer_id


def bill_run(client: TestClient) -> list[str]:
    made = client.post("/api/v1/bill-runs", json={"date": RUN.isoformat()})
    assert made.status_code == 201, made.text
    return [str(invoice["id"]) for invoice in made.json()["invoices"]]


def counts(ctx: Context) -> tuple[int, int, int]:
    """(events, deliveries, delivery tasks) in the database."""
    with ctx.readers() as db:
        events = db.scalar(select(func.count()).select_from(WebhookEventRow)) or 0
        deliveries = db.scalar(select(func.count()).select_from(WebhookDeliveryRow)) or 0
        tasks = db.scalar(select(func.count()).select_from(TaskRow).where(TaskRow.kind == DELIVER_TASK)) or 0
    return events, deliveries, tasks


def assert_genuine(request: Received, secret: str, clock: FixedClock) -> None:
    """The delivery as a receiver checks it: the documented headers, and a signature ``verify`` accepts."""
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"flexbill/{__version__}"
    assert request.headers["flexbill-event-id"] == request.event["id"]
    assert request.headers["flexbill-event-type"] == request.event["type"]
    verify(request.body, request.headers["flexbill-signature"], secret, now=time.time())


# --- events where they happen ------------------------------------------------------------------------------------


def test_a_bill_run_posts_created_and_issued_for_each_invoice_signed_with_the_api_shape(
    ctx: Context, clock: FixedClock, client: TestClient, cat: Catalog, receiver: Receiver
) -> None:
    endpoint = register(client, receiver.url)
    assert endpoint["event_types"] == ["*"]
    one_member(ctx, cat, "Ada Ltd")
    one_member(ctx, cat, "Bo Ltd")
    invoice_ids = bill_run(client)
    deliver(ctx)

    assert sorted(receiver.types()) == ["invoice.created"] * 2 + ["invoice.issued"] * 2
    for request in receiver.requests:
        assert request.path == "/flexbill/events"
        assert_genuine(request, endpoint["secret"], clock)
        event = request.event
        assert event["id"].startswith("evt_")
        assert event["created"] == "2026-11-26T12:00:00Z"
        assert event["data"]["object_type"] == "invoice"
        # The object is the API's own representation of the invoice (nothing changed since).
        invoice = event["data"]["object"]
        assert invoice["id"] in invoice_ids
        assert invoice == client.get(f"/api/v1/invoices/{invoice['id']}").json()
        assert invoice["status"] == "awaiting_payment"
        assert invoice["number"].startswith("LON-")
    assert len({request.event["id"] for request in receiver.requests}) == 4

    # The API lists what was published, newest first, and finds each by its id.
    events = client.get("/api/v1/events").json()["items"]
    assert len(events) == 4
    assert sorted(event["id"] for event in events) == sorted(r.event["id"] for r in receiver.requests)
    first = receiver.requests[0].event
    assert client.get(f"/api/v1/events/{first['id']}").json() == first
    assert client.get("/api/v1/events", params={"type": "invoice.issued"}).json()["items"][0]["type"] == (
        "invoice.issued"
    )
    missing = client.get(f"/api/v1/events/evt_{uuid.UUID(int=1).hex}")
    assert missing.status_code == 404, missing.text


def test_with_no_endpoint_listening_a_bill_run_writes_no_event_and_no_task(
    ctx: Context, client: TestClient, cat: Catalog, receiver: Receiver
) -> None:
    # One endpoint wants only declines, another is disabled: neither wants what a bill run tells.
    register(client, receiver.url, ["payment.failed"])
    disabled = register(client, receiver.url)
    changed = client.patch(f"/api/v1/webhook-endpoints/{disabled['id']}", json={"enabled": False})
    assert changed.status_code == 200, changed.text
    for index in range(3):
        one_member(ctx, cat, f"Member {index} Ltd")
    assert len(bill_run(client)) == 3
    deliver(ctx)

    assert counts(ctx) == (0, 0, 0)
    assert receiver.requests == []


def test_a_draft_issued_part_paid_credited_and_another_voided_tells_each_step(
    ctx: Context, clock: FixedClock, client: TestClient, cat: Catalog, receiver: Receiver
) -> None:
    endpoint = register(client, receiver.url)
    assert client.patch("/api/v1/settings/billing", json={"issue_mode": "draft"}).status_code == 200
    one_member(ctx, cat, "Ada Ltd")
    one_member(ctx, cat, "Bo Ltd")
    first, second = bill_run(client)
    deliver(ctx)
    assert receiver.types() == ["invoice.created", "invoice.created"]  # drafts: not issued yet
    assert {r.event["data"]["object"]["status"] for r in receiver.requests} == {"draft"}

    def step(method: str, path: str, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        seen = len(receiver.requests)
        answer = client.request(method, f"/api/v1{path}", json=body)
        assert answer.status_code in (200, 201), answer.text
        deliver(ctx)
        return [request.event for request in receiver.requests[seen:]]

    [issued] = step("POST", f"/invoices/{first}/issue")
    assert (issued["type"], issued["data"]["object"]["status"]) == ("invoice.issued", "awaiting_payment")
    assert issued["data"]["object"]["number"] == "LON-0001"

    paid_part = step("POST", f"/invoices/{first}/payments", {"date": "2026-12-02", "amount": "100.00"})
    assert [e["type"] for e in paid_part] == ["payment.succeeded", "invoice.updated"]
    assert paid_part[0]["data"]["object_type"] == "payment"
    assert (paid_part[0]["data"]["object"]["amount"], paid_part[0]["data"]["object"]["source"]) == ("100.00", "manual")
    invoice = paid_part[1]["data"]["object"]
    assert (invoice["status"], invoice["amount_due"], len(invoice["payments"])) == ("partially_paid", "620.00", 1)

    credited = step("POST", f"/invoices/{first}/credit-notes", {"amount": "620.00", "reason": "Goodwill"})
    assert [e["type"] for e in credited] == ["credit_note.created", "invoice.paid"]
    assert credited[0]["data"]["object"]["total"] == "620.00"
    assert (credited[1]["data"]["object"]["status"], credited[1]["data"]["object"]["amount_due"]) == ("paid", "0.00")

    [voided] = step("POST", f"/invoices/{second}/void")
    assert (voided["type"], voided["data"]["object"]["id"], voided["data"]["object"]["status"]) == (
        "invoice.voided", second, "voided",
    )  # fmt: skip
    for request in receiver.requests:
        assert_genuine(request, endpoint["secret"], clock)


def test_an_endpoint_gets_only_the_types_it_subscribes_to(
    ctx: Context, client: TestClient, cat: Catalog, receiver: Receiver
) -> None:
    register(client, receiver.url, ["invoice.voided", "invoice.voided", "payment.succeeded"])
    one_member(ctx, cat)
    [invoice_id] = bill_run(client)
    assert client.post(f"/api/v1/invoices/{invoice_id}/void").status_code == 200
    deliver(ctx)

    assert receiver.types() == ["invoice.voided"]
    assert counts(ctx) == (1, 1, 1)  # the bill run's events were not even written


def test_a_card_charged_and_a_card_declined_through_stripe_post_payment_events_and_a_refund_tells_too(
    ctx: Context, clock: FixedClock, cat: Catalog, client: TestClient, stripe_sandbox: RunningSandbox,
    receiver: Receiver,
) -> None:  # fmt: skip
    endpoint = register(client, receiver.url, ["payment.succeeded", "payment.failed", "payment.refunded",
                                               "invoice.paid", "invoice.updated", "credit_note.created"])  # fmt: skip
    add_gateway(client, stripe_sandbox, cat)
    auto_charge(client)
    paying = member(ctx, cat, "Ada Ltd", "pm_card_visa", client)
    member(ctx, cat, "Dee Ltd", "pm_card_chargeDeclinedInsufficientFunds", client)
    invoice_ids = bill(ctx)
    assert charging.run_due(ctx, DUE).charges == {"succeeded": 1, "failed": 1}  # the worker delivers as it goes
    deliver(ctx)

    by_type = {request.event["type"]: request.event["data"] for request in receiver.requests}
    assert sorted(by_type) == ["invoice.paid", "payment.failed", "payment.succeeded"]
    payment = by_type["payment.succeeded"]["object"]
    assert (payment["source"], payment["method"], payment["amount"]) == ("gateway", "card", "360.00")
    paid = by_type["invoice.paid"]["object"]
    assert (paid["customer_id"], paid["status"]) == (str(paying), "paid")
    assert paid["payments"][0]["id"] == payment["id"]
    declined = by_type["payment.failed"]
    assert declined["object_type"] == "charge_attempt"
    assert declined["object"]["status"] == "failed"
    assert "insufficient funds" in declined["object"]["failure_message"].lower()
    charges = [charge for i in invoice_ids for charge in client.get(f"/api/v1/invoices/{i}/charges").json()]
    assert declined["object"] == next(charge for charge in charges if charge["status"] == "failed")

    seen = len(receiver.requests)
    refunded = client.post(f"/api/v1/payments/{payment['id']}/refund", json={"amount": "60.00"})
    assert refunded.status_code == 201, refunded.text
    deliver(ctx)
    after = [request.event for request in receiver.requests[seen:]]
    assert sorted(e["type"] for e in after) == ["credit_note.created", "invoice.updated", "payment.refunded"]
    refund_event = next(e for e in after if e["type"] == "payment.refunded")["data"]["object"]
    assert (refund_event["status"], refund_event["amount_refunded"]) == ("partially_refunded", "60.00")
    invoice_event = next(e for e in after if e["type"] == "invoice.updated")["data"]["object"]
    assert (invoice_event["status"], invoice_event["amount_credited"]) == ("paid", "60.00")
    for request in receiver.requests:
        assert_genuine(request, endpoint["secret"], clock)


def test_a_record_the_accounting_system_refuses_posts_sync_failed(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None, receiver: Receiver
) -> None:
    register(client, receiver.url, ["sync.failed"])
    connection_id = connect(client, sandbox, cat.location_id)
    mapped = client.put(
        f"/api/v1/accounting/connections/{connection_id}/mappings",
        json={"accounts": {"200-LON": "200", "210-LON": "260"}, "tax_rates": {"VAT20-LON": "OUTPUT2"},
              "payment_account": "090"},
    )  # fmt: skip
    assert mapped.status_code == 200, mapped.text
    one_member(ctx, cat)
    [invoice_id] = bill_run(client)  # mapped when issued ...
    unmapped = client.put(
        f"/api/v1/accounting/connections/{connection_id}/mappings",
        json={"accounts": {"200-LON": "200", "210-LON": "260"}, "tax_rates": {"ZERO-LON": "ZERORATEDOUTPUT"},
              "payment_account": "090"},
    )  # fmt: skip
    assert unmapped.status_code == 200, unmapped.text  # ... and not any more when it is sent
    drain(ctx)

    [request] = receiver.requests
    event = request.event
    assert (event["type"], event["data"]["object_type"]) == ("sync.failed", "invoice")
    invoice = event["data"]["object"]
    assert invoice["id"] == invoice_id
    assert invoice["accounting"]["status"] == "failed"
    assert invoice["accounting"]["error"] == "not mapped in the connection: tax rate VAT20-LON"


def test_xeros_number_updates_the_invoice_and_a_payment_made_in_xero_pays_it(
    ctx: Context, client: TestClient, sandbox: RunningSandbox, cat: Catalog, auto_sync: None, receiver: Receiver
) -> None:
    register(client, receiver.url, ["invoice.updated", "invoice.paid", "payment.succeeded"])
    connection_id = connect(client, sandbox, cat.location_id)
    map_codes(client, connection_id)
    one_member(ctx, cat)
    [invoice_id] = bill_run(client)
    drain(ctx)

    [numbered] = [request.event for request in receiver.requests]  # Xero numbers the invoices of this connection
    assert numbered["type"] == "invoice.updated"
    assert numbered["data"]["object"]["id"] == invoice_id
    assert numbered["data"]["object"]["number"].startswith("INV-")
    assert numbered["data"]["object"]["accounting"]["status"] == "synced"

    external_id = numbered["data"]["object"]["accounting"]["external_id"]
    paid = httpx.post(f"{sandbox.xero_url}/_sandbox/invoices/{external_id}/pay", json={"date": "2026-12-03"})
    assert paid.status_code == 200, paid.text
    pulled = client.post(f"/api/v1/accounting/connections/{connection_id}/pull")
    assert pulled.status_code == 200, pulled.text
    drain(ctx)

    by_type = {request.event["type"]: request.event["data"]["object"] for request in receiver.requests[1:]}
    assert sorted(by_type) == ["invoice.paid", "payment.succeeded"]
    assert (by_type["payment.succeeded"]["source"], by_type["payment.succeeded"]["amount"]) == ("accounting", "720.00")
    assert (by_type["invoice.paid"]["status"], by_type["invoice.paid"]["amount_due"]) == ("paid", "0.00")


# --- delivery: retries, giving up, re-sending, disabling -------------------------------------------------------


def _one_voided_invoice(ctx: Context, client: TestClient, cat: Catalog) -> str:
    one_member(ctx, cat)
    [invoice_id] = bill_run(client)
    voided = client.post(f"/api/v1/invoices/{invoice_id}/void")
    assert voided.status_code == 200, voided.text
    return invoice_id


def test_a_failing_receiver_is_retried_on_the_schedule_for_a_day_then_the_delivery_fails(
    ctx: Context, clock: FixedClock, client: TestClient, cat: Catalog, receiver: Receiver
) -> None:
    endpoint = register(client, receiver.url, ["invoice.voided"])
    receiver.status = 503
    published_at = clock.now()
    _one_voided_invoice(ctx, client, cat)
    deliver_in_time(ctx, clock)

    # 0, 1 min, 6 min, 36 min, 2 h 36, 8 h 36, 20 h 36, and a last try when the day is up.
    schedule = retry_schedule(published_at)
    assert len(schedule) == len(receiver.requests) == 8
    [delivery_id] = [
        uuid.UUID(d["id"]) for d in client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["items"]
    ]
    with ctx.readers() as db:
        tried_at = [attempt.attempted_at for attempt in attempts_of(db, [delivery_id])[delivery_id]]
    assert [at.replace(tzinfo=UTC) if at.tzinfo is None else at for at in tried_at] == schedule
    assert schedule[-1] - schedule[0] == timedelta(days=1)
    assert len({request.body for request in receiver.requests}) == 1  # the same event, byte for byte

    [delivery] = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["items"]
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 8
    assert delivery["last_status_code"] == 503
    assert delivery["last_error"] == "gave up after a day of attempts: the endpoint answered 503"
    assert delivery["next_attempt_at"] is None
    assert [entry["attempt"] for entry in delivery["log"]] == list(range(1, 9))
    assert [datetime.fromisoformat(entry["attempted_at"]) for entry in delivery["log"]] == schedule
    assert {entry["status_code"] for entry in delivery["log"]} == {503}
    assert delivery["log"][0]["response_excerpt"] == "receiver unavailable, try later"
    assert all(entry["duration_ms"] >= 0 for entry in delivery["log"])
    with ctx.readers() as db:
        [task] = db.scalars(select(TaskRow).where(TaskRow.kind == DELIVER_TASK))
        assert (task.status, task.attempts) == ("failed", 8)


def test_a_receiver_that_recovers_gets_the_event_at_the_next_retry(
    ctx: Context, clock: FixedClock, client: TestClient, cat: Catalog, receiver: Receiver
) -> None:
    endpoint = register(client, receiver.url, ["invoice.voided"])
    receiver.failures = 2
    _one_voided_invoice(ctx, client, cat)
    started = clock.now()
    deliver_in_time(ctx, clock)

    assert len(receiver.requests) == 3
    assert clock.now() - started == timedelta(minutes=6)  # 1 minute, then 5 more
    [delivery] = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["items"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 3, 200)
    assert delivery["last_error"] is None
    assert [entry["status_code"] for entry in delivery["log"]] == [500, 500, 200]
    assert delivery["log"][2]["response_excerpt"] == '{"received": true}'


def test_an_unreachable_receiver_is_logged_with_the_network_error(
    ctx: Context, clock: FixedClock, client: TestClient, cat: Catalog
) -> None:
    closed = Receiver()  # bound, then closed: nothing listens on its port
    url = closed.url
    closed.server.server_close()
    endpoint = register(client, url, ["invoice.voided"])
    _one_voided_invoice(ctx, client, cat)
    deliver(ctx)

    [delivery] = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["items"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("pending", 1, None)
    assert delivery["last_error"].startswith("ConnectError")
    assert datetime.fromisoformat(delivery["next_attempt_at"]) == clock.now() + timedelta(minutes=1)


def test_a_delivery_is_resent_on_request_with_the_same_event_and_a_fresh_signature(
    ctx: Context, clock: FixedClock, client: TestClient, cat: Catalog, receiver: Receiver
) -> None:
    endpoint = register(client, receiver.url, ["invoice.voided"])
    _one_voided_invoice(ctx, client, cat)
    deliver(ctx)
    [delivery] = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["items"]
    assert delivery["status"] == "delivered"

    clock.instant += timedelta(days=3)
    resent = client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries/{delivery['id']}/resend")
    assert resent.status_code == 202, resent.text
    assert resent.json()["status"] == "pending"
    deliver(ctx)

    first, again = receiver.requests
    assert again.body == first.body
    assert again.headers["flexbill-event-id"] == first.headers["flexbill-event-id"]
    assert_genuine(again, endpoint["secret"], clock)  # signed afresh, at the time it was sent
    with pytest.raises(SignatureError):  # a signature is good for five minutes: replaying the first one later fails
        verify(first.body, first.headers["flexbill-signature"], endpoint["secret"], now=time.time() + 301)
    [after] = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["items"]
    assert (after["id"], after["status"], after["attempts"]) == (delivery["id"], "delivered", 2)

    unknown = client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries/{uuid.UUID(int=5)}/resend")
    assert unknown.status_code == 404, unknown.text


def test_a_disabled_endpoint_gets_no_further_attempts_and_nothing_new(
    ctx: Context, clock: FixedClock, client: TestClient, cat: Catalog, receiver: Receiver
) -> None:
    endpoint = register(client, receiver.url, ["invoice.voided", "invoice.issued"])
    receiver.status = 500
    _one_voided_invoice(ctx, client, cat)
    deliver(ctx)
    assert sorted(receiver.types()) == ["invoice.issued", "invoice.voided"]  # each failed once, to be retried

    disabled = client.patch(f"/api/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": False})
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["enabled"] is False
    one_member(ctx, cat, "Later Ltd")
    bill_run(client)  # issued while it is disabled
    deliver_in_time(ctx, clock)

    assert len(receiver.requests) == 2
    deliveries = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["items"]
    assert len(deliveries) == 2
    assert {(d["status"], d["last_error"]) for d in deliveries} == {("cancelled", "the endpoint was disabled")}
    delivery = deliveries[0]
    refused = client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries/{delivery['id']}/resend")
    assert refused.status_code == 409, refused.text

    # Deleted: gone from the API.
    deleted = client.delete(f"/api/v1/webhook-endpoints/{endpoint['id']}")
    assert deleted.status_code == 204, deleted.text
    assert client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}").status_code == 404
    assert client.get("/api/v1/webhook-endpoints").json()["items"] == []


def test_a_delivery_queued_before_its_endpoint_was_deleted_is_cancelled_unsent(
    ctx: Context, client: TestClient, cat: Catalog, receiver: Receiver
) -> None:
    endpoint = register(client, receiver.url, ["invoice.voided"])
    _one_voided_invoice(ctx, client, cat)
    assert client.delete(f"/api/v1/webhook-endpoints/{endpoint['id']}").status_code == 204
    deliver(ctx)

    assert receiver.requests == []
    with ctx.readers() as db:
        [delivery] = db.scalars(select(WebhookDeliveryRow))
        assert (delivery.status, delivery.last_error) == ("cancelled", "the endpoint was deleted")
        assert db.scalars(select(WebhookAttemptRow)).all() == []


def test_a_rolled_secret_signs_the_next_deliveries_and_the_old_one_no_longer_verifies(
    ctx: Context, clock: FixedClock, client: TestClient, cat: Catalog, receiver: Receiver
) -> None:
    endpoint = register(client, receiver.url, ["invoice.voided"])
    rolled = client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/roll-secret")
    assert rolled.status_code == 200, rolled.text
    new_secret = rolled.json()["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != endpoint["secret"]
    _one_voided_invoice(ctx, client, cat)
    deliver(ctx)

    [request] = receiver.requests
    assert_genuine(request, new_secret, clock)
    with pytest.raises(SignatureError):
        verify(request.body, request.headers["flexbill-signature"], endpoint["secret"], now=time.time())


# --- the API: validation, scopes, secrets ------------------------------------------------------------------------


def test_endpoints_are_validated_field_by_field(client: TestClient) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"url": "http://hooks.example.com/in"}, "url", "use https"),
        ({"url": "hooks.example.com/in"}, "url", "is not an absolute http(s) URL"),
        ({"url": "https://user:pw@hooks.example.com/in"}, "url", "no user name or password"),
        ({"url": "https://hooks.example.com/in", "event_types": ["invoice.paid", "invoice.payed"]},
         "event_types.1", "'invoice.payed' is not an event type"),
        ({"url": "https://hooks.example.com/in", "colour": "red"}, "colour", "is not a field of this request"),
        ({}, "url", "is required"),
    ]  # fmt: skip
    for body, field, words in cases:
        refused = client.post("/api/v1/webhook-endpoints", json=body)
        assert refused.status_code == 422, (body, refused.text)
        answer = refused.json()
        assert answer["field"] == field, answer
        assert words in answer["message"], answer
    assert client.get("/api/v1/webhook-endpoints").json()["items"] == []

    made = register(client, "https://hooks.example.com/in", [])
    assert made["event_types"] == ["*"]
    for body, field in (({"url": None}, "url"), ({"event_types": ["nope"]}, "event_types.0")):
        refused = client.patch(f"/api/v1/webhook-endpoints/{made['id']}", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == field
    changed = client.patch(
        f"/api/v1/webhook-endpoints/{made['id']}",
        json={"url": "http://localhost:9000/in", "event_types": ALL_EVENT_TYPES[:2], "description": "local"},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["url"], changed.json()["event_types"]) == ("http://localhost:9000/in", ALL_EVENT_TYPES[:2])
    assert client.get(f"/api/v1/webhook-endpoints/{uuid.UUID(int=9)}").status_code == 404


def test_reading_needs_read_writing_needs_write_and_the_secret_is_shown_only_when_made_or_rolled(
    ctx: Context, client: TestClient
) -> None:
    made = register(client, "https://hooks.example.com/in")
    with ctx.sessions() as db, db.begin():
        read_only = create_api_key(db, "reporting", frozenset({"read"})).key
    with TestClient(create_app(ctx), headers={"Authorization": f"Bearer {read_only}"}) as reader:
        listed = reader.get("/api/v1/webhook-endpoints")
        assert listed.status_code == 200, listed.text
        assert "secret" not in listed.json()["items"][0]
        assert "secret" not in reader.get(f"/api/v1/webhook-endpoints/{made['id']}").json()
        assert reader.get("/api/v1/events").status_code == 200
        assert reader.get(f"/api/v1/webhook-endpoints/{made['id']}/deliveries").status_code == 200
        for method, path in (
            ("POST", "/api/v1/webhook-endpoints"),
            ("PATCH", f"/api/v1/webhook-endpoints/{made['id']}"),
            ("DELETE", f"/api/v1/webhook-endpoints/{made['id']}"),
            ("POST", f"/api/v1/webhook-endpoints/{made['id']}/roll-secret"),
            ("POST", f"/api/v1/webhook-endpoints/{made['id']}/deliveries/{uuid.UUID(int=1)}/resend"),
        ):
            refused = reader.request(method, path, json={"url": "https://hooks.example.com/other"})
            assert refused.status_code == 403, (method, path, refused.text)
            assert "lacks the 'write' scope" in refused.json()["message"]
    assert "secret" not in client.get(f"/api/v1/webhook-endpoints/{made['id']}").json()  # write scope: neither
    with TestClient(create_app(ctx)) as anonymous:
        assert anonymous.get("/api/v1/events").status_code == 401


def test_events_are_not_sent_to_a_private_address_unless_the_operator_allows_it(
    ctx: Context, client: TestClient, cat: Catalog, receiver: Receiver
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"webhooks_allow_private": False})
    endpoint = register(client, receiver.url, ["invoice.voided"])
    _one_voided_invoice(ctx, client, cat)
    deliver(ctx)

    assert receiver.requests == []  # nothing reached the machine's own port
    [delivery] = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["items"]
    assert delivery["status"] == "pending"  # tried again later, and failed after a day like any other refusal
    assert delivery["last_error"] == (
        "not sent: 127.0.0.1 is 127.0.0.1, a private or local address; flexbill sends events only to public "
        "addresses unless FLEXBILL_WEBHOOKS_ALLOW_PRIVATE is true"
    )
