"""Injected faults: 429s, server errors, slow answers, answers lost after the change was saved, dropped webhooks."""

from __future__ import annotations

import time

import httpx
import pytest

from flexbill.sandbox.xero import XeroSandbox
from flexbill.sandbox.xero.gateway import ResponseLost
from tests.sandbox.support import Xero, line


def _invoice(contact_id: str) -> dict[str, object]:
    return {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": [line()]}]}


def test_an_injected_429_does_nothing_and_says_when_to_retry(xero: Xero) -> None:
    contact_id = xero.contact()["ContactID"]
    fault = xero.control(
        "POST", "faults", {"kind": "rate_limit", "method": "PUT", "path": "*/Invoices", "count": 2, "retry_after": 7}
    )
    assert fault.status_code == 201
    for _ in range(2):
        refused = xero.put("Invoices", _invoice(contact_id))
        assert refused.status_code == 429
        assert (refused.headers["retry-after"], refused.headers["x-rate-limit-problem"]) == ("7", "minute")
    assert xero.put("Invoices", _invoice(contact_id)).status_code == 200  # the count is spent
    assert len(xero.get("Invoices").json()["Invoices"]) == 1
    daily = xero.control("POST", "faults", {"kind": "rate_limit", "problem": "concurrent"})
    assert daily.status_code == 201
    concurrent = xero.get("Contacts")
    assert concurrent.headers["x-rate-limit-problem"] == "concurrent"
    assert "retry-after" not in concurrent.headers
    state = xero.control("GET", "state").json()
    assert state["calls"]["throttled_by_problem"] == {"minute": 2, "concurrent": 1}
    assert state["faults"]["fired"]["rate_limit"] == 3


@pytest.mark.parametrize("status", [500, 503])
def test_an_injected_server_error_changes_nothing(xero: Xero, status: int) -> None:
    contact_id = xero.contact()["ContactID"]
    xero.control(
        "POST", "faults", {"kind": "server_error", "method": "PUT", "path": "/api.xro/2.0/Invoices", "status": status}
    )
    failed = xero.put("Invoices", _invoice(contact_id))
    assert failed.status_code == status
    assert failed.json()["Status"] == status
    assert xero.get("Invoices").json()["Invoices"] == []
    assert xero.get("Contacts").status_code == 200  # other paths are untouched


def test_latency_delays_the_answer(xero: Xero) -> None:
    xero.control("POST", "faults", {"kind": "latency", "path": "*/Organisation", "seconds": 0.15})
    started = time.monotonic()
    assert xero.get("Organisation").status_code == 200
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    xero.get("Organisation")
    assert time.monotonic() - started < 0.15


def test_a_lost_answer_drops_the_connection_after_the_invoice_is_saved(remote: Xero, sandbox: XeroSandbox) -> None:
    contact_id = remote.contact()["ContactID"]
    remote.control("POST", "faults", {"kind": "lose_response", "method": "PUT", "path": "*/Invoices"})
    with pytest.raises(httpx.RemoteProtocolError):
        remote.put("Invoices", _invoice(contact_id))
    invoices = remote.get("Invoices").json()["Invoices"]
    assert [i["InvoiceNumber"] for i in invoices] == ["INV-0001"]  # committed all the same
    assert remote.get("Organisation").status_code == 200  # the server is fine
    assert sandbox.stats.snapshot()["lost_responses"] == 1


def test_a_lost_answer_can_be_a_gateway_timeout(remote: Xero) -> None:
    contact_id = remote.contact()["ContactID"]
    remote.control("POST", "faults", {"kind": "lose_response", "path": "*/Invoices", "mode": "gateway_timeout"})
    timed_out = remote.put("Invoices", _invoice(contact_id))
    assert timed_out.status_code == 504
    assert timed_out.headers["content-type"] == "text/html"
    assert len(remote.get("Invoices").json()["Invoices"]) == 1


def test_a_lost_answer_in_process_raises(xero: Xero) -> None:
    """FastAPI's TestClient cannot drop a connection: the test sees ResponseLost, the change is saved."""
    contact_id = xero.contact()["ContactID"]
    xero.control("POST", "faults", {"kind": "lose_response", "path": "*/Invoices"})
    with pytest.raises(ResponseLost):
        xero.put("Invoices", _invoice(contact_id))
    assert len(xero.get("Invoices").json()["Invoices"]) == 1


def test_a_lost_token_answer_is_recovered_by_the_grace_period(remote: Xero) -> None:
    remote.control("POST", "faults", {"kind": "lose_response", "path": "/identity/connect/token"})
    old = remote.refresh_token
    with pytest.raises(httpx.RemoteProtocolError):
        remote.refresh()
    remote.refresh_token = old
    remote.refresh()  # the previous refresh token still works within 30 minutes
    assert remote.get("Organisation").status_code == 200


def test_faults_can_be_listed_and_cleared(xero: Xero) -> None:
    xero.control("POST", "faults", {"kind": "server_error", "count": None})
    xero.control("POST", "faults", {"kind": "drop_webhooks", "count": 3})
    pending = xero.control("GET", "faults").json()["pending"]
    assert [(f["kind"], f["count"]) for f in pending] == [("server_error", None), ("drop_webhooks", 3)]
    assert xero.get("Organisation").status_code == 500
    assert xero.get("Organisation").status_code == 500  # until cleared
    assert xero.control("DELETE", "faults").json()["pending"] == []
    assert xero.get("Organisation").status_code == 200
    assert xero.control("POST", "faults", {"kind": "meteor"}).status_code == 422
    assert xero.control("POST", "faults", {"kind": "server_error", "status": 404}).status_code == 422
