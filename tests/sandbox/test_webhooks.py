"""Webhooks over real HTTP: signed, batched, retried, droppable, and the intent-to-receive check."""

from __future__ import annotations

import base64
import hashlib
import hmac

from flexbill.sandbox import RunningSandbox
from flexbill.sandbox.xero import XeroSandbox
from tests.sandbox.support import Xero, receiver, validate_webhook

KEY = "sPdUc0sXh5Rz3f+ExampleWebhookKey=="


def _signature(body: bytes, key: str = KEY) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def test_changes_are_posted_signed_and_batched(xero: Xero, sandbox: XeroSandbox) -> None:
    sandbox.webhooks.batch_seconds = 0.3  # long enough for both changes to fall in one batch
    with receiver() as hook:
        sandbox.webhooks.configure(hook.url, KEY)
        contact = xero.contact("Acme Ltd")
        invoice = xero.invoice(contact["ContactID"])
        assert sandbox.webhooks.flush()
        received = hook.wait_for(1)
    assert len(received) == 1  # both changes in one batch
    delivery = received[0]
    assert delivery.headers["x-xero-signature"] == _signature(delivery.body)
    assert delivery.headers["content-type"] == "application/json"
    payload = delivery.json()
    validate_webhook(payload)
    assert (payload["firstEventSequence"], payload["lastEventSequence"]) == (1, 2)
    assert len(payload["entropy"]) == 20
    events = payload["events"]
    assert [(e["eventCategory"], e["eventType"], e["resourceId"]) for e in events] == [
        ("CONTACT", "CREATE", contact["ContactID"]),
        ("INVOICE", "CREATE", invoice["InvoiceID"]),
    ]
    assert events[1]["tenantId"] == sandbox.tenant_id
    assert events[1]["tenantType"] == "ORGANISATION"
    assert events[1]["eventDateUtc"] == "2026-11-02T09:30:00.000"
    resource = events[1]["resourceUrl"]
    assert resource.endswith(f"/xero/api.xro/2.0/Invoices/{invoice['InvoiceID']}")
    fetched = xero.http.get(resource.split("testserver")[-1], headers=xero.headers())
    assert fetched.json()["Invoices"][0]["InvoiceNumber"] == "INV-0001"


def test_updates_credit_notes_and_outside_changes_send_events(
    remote: Xero, sandbox: XeroSandbox, server: RunningSandbox
) -> None:
    with receiver() as hook:
        sandbox.webhooks.configure(hook.url, KEY)
        contact_id = remote.contact("Acme Ltd")["ContactID"]
        invoice = remote.invoice(contact_id)
        note = remote.credit_note(contact_id)
        assert sandbox.webhooks.flush()
        remote.control("POST", f"invoices/{invoice['InvoiceNumber']}/pay", {"amount": "20.00"})
        remote.control("POST", f"contacts/{contact_id}", {"EmailAddress": "new@acme.example"})
        assert remote.control("POST", "webhooks/flush").json()["flushed"] is True
        payloads = [r.json() for r in hook.requests]
    events = [(e["eventCategory"], e["eventType"]) for p in payloads for e in p["events"]]
    assert events == [
        ("CONTACT", "CREATE"),
        ("INVOICE", "CREATE"),
        ("CREDITNOTE", "CREATE"),
        ("INVOICE", "UPDATE"),
        ("CONTACT", "UPDATE"),
    ]
    credit_events = [e for p in payloads for e in p["events"] if e["eventCategory"] == "CREDITNOTE"]
    assert credit_events[0]["data"] == {"Type": "ACCRECCREDIT", "Status": "AUTHORISED"}
    assert credit_events[0]["resourceId"] == note["CreditNoteID"]
    for payload in payloads:
        validate_webhook(payload)
    validate_webhook({**payloads[0], "events": credit_events}, credit_note=True)
    assert [p["firstEventSequence"] for p in payloads] == sorted(p["firstEventSequence"] for p in payloads)
    assert credit_events[0]["resourceUrl"] == f"{server.xero_api_url}/CreditNotes/{note['CreditNoteID']}"


def test_failed_deliveries_are_retried_then_given_up(xero: Xero, sandbox: XeroSandbox) -> None:
    with receiver(answers=[500, 503]) as hook:
        sandbox.webhooks.configure(hook.url, KEY)
        xero.contact("Acme Ltd")
        assert sandbox.webhooks.flush()
        attempts = hook.wait_for(3)
        assert [a.body for a in attempts[1:]] == [attempts[0].body] * 2  # the same payload, the same signature
        status = sandbox.webhooks.status()
        assert status["deliveries"][-1] == {
            "first_sequence": 1,
            "last_sequence": 1,
            "events": 1,
            "attempts": 3,
            "status": "delivered",
            "last_response": "200",
            "at": "2026-11-02T09:30:00.000",
        }
        hook.default = 500
        xero.contact("Beta GmbH")
        assert sandbox.webhooks.flush()
    status = sandbox.webhooks.status()
    assert status["deliveries"][-1]["status"] == "failed"
    assert status["counts"]["failed"] == 1
    assert status["counts"]["delivered"] == 1


def test_dropped_webhooks_leave_a_gap_in_the_sequence(xero: Xero, sandbox: XeroSandbox) -> None:
    with receiver() as hook:
        sandbox.webhooks.configure(hook.url, KEY)
        xero.control("POST", "faults", {"kind": "drop_webhooks", "count": 2})
        xero.contact("Dropped 1")
        xero.contact("Dropped 2")
        kept = xero.contact("Kept")
        assert sandbox.webhooks.flush()
        payloads = [r.json() for r in hook.wait_for(1)]
    events = [e for p in payloads for e in p["events"]]
    assert [e["resourceId"] for e in events] == [kept["ContactID"]]
    assert payloads[0]["firstEventSequence"] == 3
    assert sandbox.webhooks.status()["counts"]["dropped"] == 2


def test_intent_to_receive_passes_for_a_receiver_that_checks_signatures(xero: Xero) -> None:
    with receiver(verify_with=KEY) as hook:
        xero.control("PUT", "webhooks", {"url": hook.url, "key": KEY})
        result = xero.control("POST", "webhooks/intent-to-receive").json()
        requests = hook.requests
    assert result["status"] == "OK"
    assert [(c["signature"], c["expected"], c["status"]) for c in result["checks"]] == [
        ("incorrect", 401, 401),
        ("correct", 200, 200),
        ("incorrect", 401, 401),
        ("correct", 200, 200),
    ]
    payload = requests[0].json()
    assert (payload["events"], payload["firstEventSequence"], payload["lastEventSequence"]) == ([], 0, 0)
    assert requests[1].headers["x-xero-signature"] == _signature(requests[1].body)
    assert requests[0].headers["x-xero-signature"] != _signature(requests[0].body)
    assert xero.control("GET", "webhooks").json()["intent_to_receive"]["status"] == "OK"


def test_intent_to_receive_fails_for_a_receiver_that_accepts_anything(xero: Xero) -> None:
    with receiver(default=200) as hook:
        xero.control("PUT", "webhooks", {"url": hook.url, "key": KEY})
        result = xero.control("POST", "webhooks/intent-to-receive", {"rounds": 2}).json()
    assert result["status"] == "FAILED"
    assert [c["ok"] for c in result["checks"]] == [False, True]


def test_intent_to_receive_needs_a_configured_webhook(xero: Xero) -> None:
    assert xero.control("POST", "webhooks/intent-to-receive").status_code == 409


def test_no_url_no_events(xero: Xero, sandbox: XeroSandbox) -> None:
    xero.contact("Acme Ltd")
    assert sandbox.webhooks.status()["counts"]["events"] == 0


def test_an_unreachable_receiver_is_recorded(xero: Xero, sandbox: XeroSandbox) -> None:
    with receiver() as hook:
        url = hook.url
    sandbox.webhooks.configure(url, KEY)  # nothing listens there any more
    xero.contact("Acme Ltd")
    assert sandbox.webhooks.flush()
    delivery = sandbox.webhooks.status()["deliveries"][-1]
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 3
    assert delivery["last_response"].startswith("ConnectError")
