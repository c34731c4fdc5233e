"""Idempotency-Key: a retry gets the first answer and changes nothing; a reused key with another body is refused."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
import pytest

from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.xero import XeroSandbox
from tests.sandbox.support import Xero, line


def _invoice(contact_id: str, reference: str = "Nov") -> dict[str, object]:
    return {
        "Invoices": [
            {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "Reference": reference, "LineItems": [line()]}
        ]
    }


def test_the_same_key_and_body_replays_the_first_answer(xero: Xero, sandbox: XeroSandbox) -> None:
    contact_id = xero.contact()["ContactID"]
    key = {"Idempotency-Key": "invoice:42:v1"}
    first = xero.put("Invoices", _invoice(contact_id), headers=key)
    second = xero.put("Invoices", _invoice(contact_id), headers=key)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert len(xero.get("Invoices").json()["Invoices"]) == 1
    assert second.headers["x-minlimit-remaining"] != first.headers["x-minlimit-remaining"]  # still a call
    assert sandbox.idempotency.snapshot()["replays"] == 1


def test_a_rejected_request_is_replayed_too(xero: Xero) -> None:
    bad = {"Invoices": [{"Type": "ACCREC", "LineItems": [line()]}]}
    key = {"Idempotency-Key": "bad-1"}
    assert xero.put("Invoices", bad, headers=key).status_code == 400
    assert xero.put("Invoices", bad, headers=key).status_code == 400


def test_the_same_key_with_another_body_is_refused(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    key = {"Idempotency-Key": "invoice:43:v1"}
    assert xero.put("Invoices", _invoice(contact_id), headers=key).status_code == 200
    other = xero.put("Invoices", _invoice(contact_id, reference="Dec"), headers=key)
    assert other.status_code == 400
    assert "was already used for a different request" in other.json()["Message"]
    elsewhere = xero.post("Invoices", _invoice(contact_id), headers=key)
    assert elsewhere.status_code == 400
    assert len(xero.get("Invoices").json()["Invoices"]) == 1


@pytest.mark.parametrize(("key", "message"), [("", "is empty"), ("   ", "is empty"), ("k" * 129, "128 characters")])
def test_bad_keys_are_refused(xero: Xero, key: str, message: str) -> None:
    response = xero.put("Contacts", {"Name": "Acme Ltd"}, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert message in response.json()["Message"]
    assert xero.get("Contacts").json()["Contacts"] == []


def test_a_key_of_128_characters_is_fine(xero: Xero) -> None:
    assert xero.put("Contacts", {"Name": "Acme Ltd"}, headers={"Idempotency-Key": "k" * 128}).status_code == 200


def test_keys_are_kept_24_hours_of_sandbox_time(xero: Xero, clock: SandboxClock) -> None:
    contact_id = xero.contact()["ContactID"]
    key = {"Idempotency-Key": "invoice:44:v1"}
    xero.put("Invoices", _invoice(contact_id), headers=key)
    clock.advance(timedelta(hours=23, minutes=59))
    xero.put("Invoices", _invoice(contact_id), headers=key)
    assert len(xero.get("Invoices").json()["Invoices"]) == 1
    clock.advance(timedelta(minutes=2))
    xero.put("Invoices", _invoice(contact_id), headers=key)
    assert len(xero.get("Invoices").json()["Invoices"]) == 2


def test_keys_belong_to_one_app(xero: Xero) -> None:
    other_app = Xero(xero.http, client_id="another-app")
    contact_id = xero.contact()["ContactID"]
    key = {"Idempotency-Key": "shared"}
    xero.put("Invoices", _invoice(contact_id), headers=key)
    other_app.put("Invoices", _invoice(contact_id), headers=key)
    assert len(xero.get("Invoices").json()["Invoices"]) == 2


def test_a_lost_answer_is_recovered_by_retrying_with_the_key(remote: Xero) -> None:
    """The connector's case: the invoice is saved, the answer never arrives, the retry must not duplicate it."""
    contact_id = remote.contact()["ContactID"]
    remote.control("POST", "faults", {"kind": "lose_response", "method": "PUT", "path": "/api.xro/2.0/Invoices"})
    key = {"Idempotency-Key": "invoice:45:v1"}
    with pytest.raises(httpx.RemoteProtocolError):
        remote.put("Invoices", _invoice(contact_id), headers=key)
    retried = remote.put("Invoices", _invoice(contact_id), headers=key)
    assert retried.status_code == 200
    invoices = remote.get("Invoices").json()["Invoices"]
    assert [i["InvoiceID"] for i in invoices] == [retried.json()["Invoices"][0]["InvoiceID"]]


def test_a_retry_that_overtakes_the_first_request_waits_for_its_answer(remote: Xero, sandbox: XeroSandbox) -> None:
    """The first request is slow (an injected delay while it holds the key); the retry with the same key waits
    and gets the same answer rather than creating the invoice twice."""
    contact_id = remote.contact()["ContactID"]
    sandbox.faults.add("latency", method="PUT", path="*/Invoices", seconds=0.3)
    key = {"Idempotency-Key": "invoice:46:v1"}
    answers: list[httpx.Response] = []

    def first() -> None:
        with httpx.Client(base_url=str(remote.http.base_url), timeout=5) as client:
            answers.append(
                Xero(client, token=remote.token, tenant_id=remote.tenant_id).put(
                    "Invoices", _invoice(contact_id), headers=key
                )
            )

    slow = threading.Thread(target=first)
    slow.start()
    deadline = time.monotonic() + 5
    while not sandbox.idempotency.snapshot()["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    retry = remote.put("Invoices", _invoice(contact_id), headers=key)
    slow.join()
    assert retry.status_code == 200
    assert retry.content == answers[0].content
    assert len(remote.get("Invoices").json()["Invoices"]) == 1
