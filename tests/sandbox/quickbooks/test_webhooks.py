"""Webhooks: signed notices in the CloudEvents and the legacy formats, retried on failure, logged and flushable."""

from __future__ import annotations

from typing import Any

from tests.sandbox.quickbooks.support import QuickBooks, intuit_signature, line
from tests.sandbox.support import Received, receiver

VERIFIER = "verifier-token-123"


def configure(qbo: QuickBooks, url: str, fmt: str | None = None) -> dict[str, Any]:
    settings: dict[str, Any] = {"url": url, "verifier_token": VERIFIER}
    if fmt is not None:
        settings["format"] = fmt
    response = qbo.control("PUT", "webhooks", settings)
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()
    return status


def events(requests: list[Received]) -> list[tuple[str, str, str]]:
    """(entity, id, operation) of every notice received, in both formats."""
    found = []
    for request in requests:
        payload = request.json()
        if isinstance(payload, list):
            for event in payload:
                _, entity, past, _ = event["type"].split(".")
                found.append((entity, event["intuitentityid"], past))
        else:
            for notification in payload["eventNotifications"]:
                for entity in notification["dataChangeEvent"]["entities"]:
                    found.append((entity["name"], entity["id"], entity["operation"]))
    return found


def test_cloudevents_by_default_signed_with_the_verifier_token(qbo: QuickBooks) -> None:
    with receiver() as hook:
        assert configure(qbo, hook.url)["format"] == "cloudevents"
        customer = qbo.customer()
        assert qbo.control("POST", "webhooks/flush").json()["flushed"] is True
        request = hook.wait_for(1)[0]
    assert request.headers["intuit-signature"] == intuit_signature(request.body, VERIFIER)
    assert request.headers["intuit-signature"] != intuit_signature(request.body, "another-token")
    payload = request.json()
    assert isinstance(payload, list)
    event = payload[0]
    assert event["specversion"] == "1.0"
    assert event["type"] == "qbo.customer.created.v1"
    assert event["intuitentityid"] == customer["Id"]
    assert event["intuitaccountid"] == qbo.realm_id
    assert event["datacontenttype"] == "application/json"
    assert event["time"].endswith("Z")
    assert event["id"]


def test_legacy_notifications_and_the_invoice_update_a_payment_causes(qbo: QuickBooks) -> None:
    with receiver() as hook:
        configure(qbo, hook.url, "legacy")
        customer = qbo.customer()
        invoice = qbo.invoice(customer["Id"], line("10.00"))
        payment = qbo.ok(qbo.payment(customer["Id"], "12.00", ("Invoice", invoice["Id"], "12.00")), "Payment")
        qbo.post(
            "payment",
            {"Id": payment["Id"], "SyncToken": "0", "sparse": True},
            params={"operation": "update", "include": "void"},
        )
        qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "2"}, params={"operation": "delete"})
        qbo.control("POST", "webhooks/flush")
        requests = hook.wait_for(1)
    payload = requests[0].json()
    notification = payload["eventNotifications"][0]
    assert notification["realmId"] == qbo.realm_id
    entity = notification["dataChangeEvent"]["entities"][0]
    assert set(entity) == {"name", "id", "operation", "lastUpdated"}
    assert entity["lastUpdated"] == "2026-11-02T09:30:00+0000"
    assert requests[0].headers["intuit-signature"] == intuit_signature(requests[0].body, VERIFIER)
    assert events(requests) == [
        ("Customer", customer["Id"], "Create"),
        ("Invoice", invoice["Id"], "Create"),
        ("Payment", payment["Id"], "Create"),
        ("Invoice", invoice["Id"], "Update"),
        ("Payment", payment["Id"], "Void"),
        ("Invoice", invoice["Id"], "Update"),
        ("Invoice", invoice["Id"], "Delete"),
    ]


def test_failed_deliveries_are_retried_then_logged(qbo: QuickBooks) -> None:
    with receiver(answers=[500, 503]) as hook:
        configure(qbo, hook.url)
        qbo.customer()
        qbo.control("POST", "webhooks/flush")
        assert len(hook.wait_for(3)) == 3
    status = qbo.control("GET", "webhooks").json()
    delivery = status["deliveries"][-1]
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 3
    assert status["counts"]["delivered"] == 1
    with receiver(default=500) as failing:
        configure(qbo, failing.url)
        qbo.customer("Beta GmbH")
        qbo.control("POST", "webhooks/flush")
        failing.wait_for(3)
    status = qbo.control("GET", "webhooks").json()
    assert status["deliveries"][-1]["status"] == "failed"
    assert status["deliveries"][-1]["last_response"] == "500"
    assert status["counts"]["failed"] == 1


def test_user_changes_in_quickbooks_send_notices(qbo: QuickBooks) -> None:
    with receiver() as hook:
        configure(qbo, hook.url)
        customer = qbo.customer()
        invoice = qbo.invoice(customer["Id"], line("10.00"))
        paid = qbo.control("POST", f"invoices/{invoice['DocNumber']}/pay", {"amount": "5.00", "reference": "BACS"})
        assert paid.status_code == 200, paid.text
        qbo.control("POST", f"customers/{customer['Id']}", {"Notes": "edited in QuickBooks"})
        qbo.control("POST", "webhooks/flush")
        requests = hook.wait_for(1)
    seen = events(requests)
    payment_id = paid.json()["Payment"]["Id"]
    assert ("payment", payment_id, "created") in seen
    assert ("invoice", invoice["Id"], "updated") in seen
    assert ("customer", customer["Id"], "updated") in seen


def test_dropped_notices_never_arrive(qbo: QuickBooks) -> None:
    with receiver() as hook:
        configure(qbo, hook.url)
        qbo.control("POST", "faults", {"kind": "drop_webhooks", "count": 1})
        qbo.customer("Dropped Ltd")
        second = qbo.customer("Delivered Ltd")
        qbo.control("POST", "webhooks/flush")
        requests = hook.wait_for(1)
    assert events(requests) == [("customer", second["Id"], "created")]
    assert qbo.control("GET", "webhooks").json()["counts"]["dropped"] == 1
